"""A partition's customer index from its snapshot: the same index as one built from every
record, records changed since the snapshot indexed again, without re-normalising the rest."""

from __future__ import annotations

import json
import os
import pickle
import zlib
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from listd.keyspace import Keys
from listd.notifications import snapshot
from listd.notifications.config import WebhookConfig
from listd.notifications.customers import (
    CustomerIndex,
    CustomerVocabulary,
    Prepared,
    record_check,
)
from listd.notifications.dispatcher import Dispatcher, Partition
from listd.notifications.watchlist import Customer, WatchlistStore, customer_from_json
from listd.pipeline.lease import Lease
from listd.screening import ScreeningIndex
from listd.screening.tokens import tokenize
from listd.settings import Settings
from tests.notifications.conftest import Client, Receiver, person, subscribe

ROWS = [
    Customer("A-1", "Aslanbek Tokhtarovich Zhumagaliev", "person", iin="900101300123"),
    Customer("A-2", "Мирна Мабанза"),
    Customer("A-3", "A. K. Seitkaliyev"),  # initials
    Customer("A-4", "AamirAli Khan"),  # a second reading (words mended)
    Customer("A-5", "Kazakh Trade LLP", "entity", identifiers=("AB1234567",)),
]
NAMES = ["Aslanbek Zhumagaliev", "Mirna Mabanza", "Aslan Seitkaliyev", "Aamir Ali Khan"]


def found(index: CustomerIndex, name: str) -> dict[str, dict[str, set[str]]]:
    return index.candidates([person(1, name)], 0.6)


def test_a_dumped_index_loads_as_the_same_index() -> None:
    index = CustomerIndex()
    for n in range(300):
        index.put("s1", Customer(f"F-{n}", f"Fillername{n} Otherword{n % 17}"), n + 1)
    for row in ROWS:
        index.put("s2", row, 7)
    index.remove("s1", "F-3")
    loaded = CustomerIndex.load(index.dump())
    assert len(loaded) == len(index) == 304
    assert loaded.checks("s1") == index.checks("s1") and loaded.checks("s2")["A-5"] == 7
    for name in [*NAMES, "Fillername5 Otherword5"]:
        assert found(loaded, name) == found(index, name) != {}, name


def test_a_snapshot_keeps_every_field_of_its_tokens() -> None:
    """A field left out of the snapshot changes what a loaded index finds: a Wade-Giles
    customer's pinyin readings (`Token.chinese`) and its joined given name (`joined`)."""
    index = CustomerIndex()
    names = ["Hsi Chin-ping", "Mao Tse-tung", "Usama bin Ladin", "김정은", *(r.name for r in ROWS)]
    for n, name in enumerate(names):
        index.put("s", Customer(f"T-{n}", name), 1)
    loaded = CustomerIndex.load(index.dump())
    assert set(loaded.vocab.tokens) == set(index.vocab.tokens)
    assert any(t.chinese for t in index.vocab.tokens) and any(t.joined for t in index.vocab.tokens)
    for name in ["Xi Jinping", "Mao Zedong"]:
        assert found(loaded, name) == found(index, name) != {}, name


@pytest.fixture
async def sub(make_api: Any, keys: dict[str, str], receivers: Any) -> dict[str, Any]:
    """bank-a subscribed to blocking.required; no dispatcher runs (the tests drive one)."""
    api: Client = await make_api(dispatch=False)
    rx: Receiver = await receivers()
    return await subscribe(api, keys["bank-a"], rx, events=["blocking.required"])


async def holding(
    redis: Redis, k: Keys, session: aiohttp.ClientSession, config: WebhookConfig, sub_id: str
) -> tuple[Dispatcher, int, Lease]:
    """A dispatcher (not running) and the lease of `sub_id`'s partition, acquired."""
    dispatcher = Dispatcher(redis, k, ScreeningIndex(), ["un"], session, config)
    number = dispatcher.partition(sub_id)
    lease = Lease(redis, k.partition_lease(number), k.partition_fence(number))
    assert await lease.acquire()
    return dispatcher, number, lease


async def change_after_snapshot(redis: Redis, k: Keys, sub_id: str) -> None:
    """One customer changed, one removed, one added, each written as an upload writes it,
    then settled (as their old owner's drain would: not pending any more)."""
    store = WatchlistStore(redis, k)
    await store._mark(sub_id, {"A-2": Customer("A-2", "Gulnara Abdrakhmanova").to_json()}, [])
    await store._mark(sub_id, {}, ["A-4"])
    await store._mark(sub_id, {"A-6": Customer("A-6", "Dauren Nurmukhambetov").to_json()}, [])
    await redis.delete(k.watchlist_pending(sub_id))


@pytest.mark.parametrize("lose_log", [False, True], ids=["change-log", "log-lost"])
async def test_a_partition_taken_over_loads_its_snapshot_and_catches_up(
    lose_log: bool,
    sub: dict[str, Any],
    redis: Redis,
    settings: Settings,
    config: WebhookConfig,
) -> None:
    k = Keys(settings.key_prefix)
    records = {c.reference: c.to_json() for c in ROWS} | {
        f"F-{n}": Customer(f"F-{n}", f"Fillername{n} Otherword{n % 17}").to_json()
        for n in range(2000)
    }
    await redis.hset(k.watchlist(sub["id"]), mapping=records)
    async with aiohttp.ClientSession() as session:
        dispatcher, number, lease = await holding(redis, k, session, config, sub["id"])
        first = dispatcher.parts[number] = Partition(number, lease)
        await dispatcher._build(first)
        assert first.source == "records" and dispatcher.indexed() == 2005
        await dispatcher._snapshot(first)
        await change_after_snapshot(redis, k, sub["id"])
        if lose_log:
            await redis.delete(k.watchlist_changes(number))
        dispatcher.parts.pop(number)
        dispatcher._drop_partition(number)
        assert dispatcher.indexed() == 0
        second = dispatcher.parts[number] = Partition(number, lease)
        await dispatcher._build(second)
        await lease.release()
        index = dispatcher.customers
    assert second.source == "snapshot"
    # From the change log only the three customers written since are read; without it,
    # every record (2,005 now) is read and compared with the snapshot's check.
    assert second.read == (2005 if lose_log else 3)
    now = await redis.hgetall(k.watchlist(sub["id"]))
    assert index.checks(sub["id"]) == {r: record_check(v) for r, v in now.items()}
    fresh = CustomerIndex()
    for raw in now.values():
        fresh.put(sub["id"], customer_from_json(raw))
    for name in [*NAMES, "Gulnara Abdrakhmanova", "Dauren Nurmukhambetov"]:
        assert found(index, name) == found(fresh, name), name
    assert "A-2" not in found(index, "Mirna Mabanza").get(sub["id"], {})
    assert "A-6" in found(index, "Dauren Nurmukhambetov")[sub["id"]]


def test_indexes_sharing_a_vocabulary_find_what_each_would_alone() -> None:
    """A worker's partitions share one vocabulary, and a read looks each listed name up in
    it once (`prepared`) for all of them."""
    vocab = CustomerVocabulary()
    first, second, alone = CustomerIndex(vocab), CustomerIndex(vocab), CustomerIndex()
    for row in ROWS[:2]:
        first.put("s1", row)
    for index in (second, alone):
        for row in ROWS[2:]:
            index.put("s2", row)
        for n in range(200):
            index.put("s2", Customer(f"F-{n}", f"Fillername{n} Aslanbek{n % 7}"))
    loaded = CustomerIndex.load(second.dump(), vocab)  # a partition taken over
    for name in NAMES:
        prepared = Prepared(vocab)  # for one set of designations
        entities = [person(1, name)]
        first.candidates(entities, 0.6, None, prepared)  # works the names out
        expected = alone.candidates(entities, 0.6)
        assert second.candidates(entities, 0.6, None, prepared) == expected, name
        assert loaded.candidates(entities, 0.6, None, prepared) == expected, name
        assert (prepared.worked, prepared.reused) == (1, 2)


def test_a_snapshot_loaded_on_a_vocabulary_numbering_its_words_otherwise_finds_the_same() -> None:
    """A worker's vocabulary holds words of other partitions first, in another order than
    the snapshot's: the postings are renumbered (and sorted again) on loading."""
    index = CustomerIndex()
    for row in ROWS:
        index.put("s", row, 3)
    for n in range(500):
        index.put("s", Customer(f"F-{n}", f"Fillername{n} Mabanza{n % 11}"), n + 1)
    vocab = CustomerVocabulary()
    for word in reversed(["Zhumagaliev", "Mabanza", "Khan", "Kazakh", "Seitkaliyev"]):
        for token in tokenize(word, "any"):
            vocab.intern(token)
    loaded = CustomerIndex.load(index.dump(), vocab)
    assert loaded.checks("s") == index.checks("s")
    for name in [*NAMES, "Fillername7 Mabanza7", "Mirna Mabanza3"]:
        assert found(loaded, name) == found(index, name) != {}, name


def test_an_index_compacted_after_many_removals_finds_the_same() -> None:
    index, fresh = CustomerIndex(), CustomerIndex()
    for n in range(10_000):
        index.put("s", Customer(f"F-{n}", f"Fillername{n} Otherword{n % 13}"), n + 1)
    for row in ROWS:
        index.put("s", row, 5)
        fresh.put("s", row, 5)
    for n in range(10_000):
        if n % 100:
            index.remove("s", f"F-{n}")
        else:
            fresh.put("s", Customer(f"F-{n}", f"Fillername{n} Otherword{n % 13}"), n + 1)
    assert index._slots < 5000  # compacted: the dead slots are gone
    assert len(index) == len(fresh) == 105
    assert index.checks("s") == fresh.checks("s")
    for name in [*NAMES, "Fillername300 Otherword1", "Fillername301 Otherword2"]:
        assert found(index, name) == found(fresh, name), name
    assert found(index, "Fillername300 Otherword1") != {}


def _repacked(blob: bytes, change: Any) -> bytes:
    """`blob` with its arrays changed by `change` and written again whole (a valid CRC):
    what a party able to write to Redis could store."""
    data = snapshot.read(blob)
    change(data.arrays)
    return snapshot.write(data)


@pytest.mark.parametrize(
    "change",
    [
        lambda a: a.update(pairs=a["pairs"] + 1000),  # postings of slots that do not exist
        lambda a: a.update(tokens=a["tokens"] + 10_000),  # words that do not exist
        lambda a: a.update(code=a["code"] + 3),  # subscriptions that do not exist
        lambda a: a.update(tstart=a["tstart"] + 10_000),  # token ranges outside
        lambda a: a.update(rlen=a["rlen"] * 100),  # references outside
        lambda a: a.update(rslots=a["rslots"] + 1000),
        lambda a: a.update(dkeys=a["dkeys"][::-1].copy()),  # not sorted
        lambda a: a.update(flags=a["flags"] | 1),  # readings without their customer
        lambda a: a.update(shadows=a["shadows"] + 1),
        lambda a: a.update(band=a["band"] + 40),
        lambda a: a.update(refs=a["refs"] | 0x80),  # not UTF-8
        lambda a: a.update(check=a["check"][:-1].copy()),  # columns of different lengths
    ],
)
def test_a_snapshot_whose_arrays_point_outside_is_refused(change: Any) -> None:
    index = CustomerIndex()
    for row in ROWS:
        index.put("s", row, 7)
    blob = index.dump()
    assert len(CustomerIndex.load(blob)) == 5
    with pytest.raises(ValueError, match="snapshot"):
        CustomerIndex.load(_repacked(blob, change))


def test_a_corrupt_or_truncated_snapshot_is_refused() -> None:
    index = CustomerIndex()
    for row in ROWS:
        index.put("s", row, 7)
    blob = index.dump()
    raw = bytearray(zlib.decompress(blob))
    raw[-40] ^= 0x01  # one bit of the body
    for bad in [blob[: len(blob) // 2], zlib.compress(bytes(raw)), zlib.compress(raw[:-7]), b""]:
        with pytest.raises(ValueError, match="snapshot"):
            CustomerIndex.load(bytes(bad))


class _Planted:
    """What a party able to write to Redis could store as a snapshot: unpickled by plain
    `pickle.loads`, it would run a command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def test_a_snapshot_that_names_code_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    # The format before this one: pickled frames (read by a restricted unpickler).
    planted = {"version": 2, "frames": 0, "tokens": [_Planted(marker)], "subs": []}
    head = pickle.dumps(planted)
    old = zlib.compress(len(head).to_bytes(8, "big") + head)
    # This format with a pickle where its words are, the header made to match.
    index = CustomerIndex()
    index.put("s", ROWS[0])
    raw = zlib.decompress(index.dump())
    size = int.from_bytes(raw[8:12], "big")
    header = json.loads(raw[12 : 12 + size])
    body = raw[12 + size :][: -header["words"]] + head
    header |= {"words": len(head), "crc": zlib.crc32(body)}
    fields = json.dumps(header).encode()
    new = zlib.compress(raw[:8] + len(fields).to_bytes(4, "big") + fields + body)
    for blob in (old, new):
        with pytest.raises(ValueError, match="snapshot"):
            CustomerIndex.load(blob)
    assert not marker.exists()


@pytest.mark.parametrize("spoiled", ["cut in half", "written by other name rules"])
async def test_a_partition_whose_snapshot_is_refused_is_built_from_its_records(
    sub: dict[str, Any],
    redis: Redis,
    settings: Settings,
    config: WebhookConfig,
    monkeypatch: pytest.MonkeyPatch,
    spoiled: str,
) -> None:
    k = Keys(settings.key_prefix)
    await redis.hset(k.watchlist(sub["id"]), mapping={c.reference: c.to_json() for c in ROWS})
    async with aiohttp.ClientSession() as session:
        dispatcher, number, lease = await holding(redis, k, session, config, sub["id"])
        first = dispatcher.parts[number] = Partition(number, lease)
        await dispatcher._build(first)
        with monkeypatch.context() as m:
            if spoiled == "written by other name rules":
                m.setattr(snapshot, "rules", lambda: "0123456789abcdef")
            await dispatcher._snapshot(first)
        if spoiled == "cut in half":
            meta = json.loads(await redis.hget(k.partition_snapshot(number), "meta"))
            field = f"{meta['generation']}:0"
            chunk = await redis.hget(k.partition_snapshot(number), field)
            await redis.hset(k.partition_snapshot(number), field, chunk[: len(chunk) // 2])
        dispatcher.parts.pop(number)
        dispatcher._drop_partition(number)
        second = dispatcher.parts[number] = Partition(number, lease)
        await dispatcher._build(second)
        await lease.release()
    assert second.source == "records" and dispatcher.indexed() == 5
    assert "A-2" in found(dispatcher.customers, "Mirna Mabanza")[sub["id"]]


def test_a_snapshot_made_by_other_name_rules_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # A customer's tokens are the rules' of the code that wrote the snapshot: after an
    # upgrade that reads `アイマン・ザワヒリ` as two words, a snapshot holding it as one
    # (`aimanzawahiri`) would keep that customer unfound by every lookup.
    index = CustomerIndex()
    for row in ROWS:
        index.put("s", row, 7)
    with monkeypatch.context() as m:
        m.setattr(snapshot, "rules", lambda: "0123456789abcdef")
        older = index.dump()
    with pytest.raises(ValueError, match="other name rules"):
        CustomerIndex.load(older)
    assert len(CustomerIndex.load(index.dump())) == len(index)


def test_the_rules_digest_covers_the_code_that_reads_a_name() -> None:
    from listd.normalize import names, translit
    from listd.screening import variants, words

    covered = {
        p.relative_to(snapshot._PACKAGE).as_posix()
        for pattern in snapshot.RULE_FILES
        for p in snapshot._PACKAGE.glob(pattern)
    }
    for module in (names, translit, words, variants, snapshot):
        assert (
            Path(module.__file__ or "").resolve().relative_to(snapshot._PACKAGE).as_posix()
            in covered
        )
    assert Path(CustomerIndex.put.__code__.co_filename).name == "customers.py"
    assert "notifications/customers.py" in covered
    assert snapshot.rules() == snapshot.rules.__wrapped__()  # the same code, the same digest


async def test_a_snapshot_trims_the_change_log_to_its_mark(
    sub: dict[str, Any],
    redis: Redis,
    settings: Settings,
    config: WebhookConfig,
) -> None:
    k = Keys(settings.key_prefix)
    await WatchlistStore(redis, k)._mark(sub["id"], {c.reference: c.to_json() for c in ROWS}, [])
    async with aiohttp.ClientSession() as session:
        dispatcher, number, lease = await holding(redis, k, session, config, sub["id"])
        part = dispatcher.parts[number] = Partition(number, lease)
        await dispatcher._build(part)
        assert part.read == 5  # no snapshot yet: every record
        assert [f["sub"] for _, f in await redis.xrange(k.watchlist_changes(number))] == [sub["id"]]
        await dispatcher._snapshot(part)
        await change_after_snapshot(redis, k, sub["id"])
        await dispatcher._snapshot(part)
        await lease.release()
    meta = json.loads(await redis.hget(k.partition_snapshot(number), "meta"))
    entries = await redis.xrange(k.watchlist_changes(number))
    # Only the latest snapshot's mark is left: what it holds is never read again.
    assert entries == [(meta["log"], {"snapshot": meta["generation"]})]


async def test_a_change_pending_at_the_snapshot_and_drained_after_it_is_taken_over(
    sub: dict[str, Any],
    redis: Redis,
    settings: Settings,
    config: WebhookConfig,
) -> None:
    """Written before the snapshot's mark, indexed by its owner only after the snapshot:
    in neither the snapshot nor the pending set, so the log must name it after the mark."""
    k = Keys(settings.key_prefix)
    store = WatchlistStore(redis, k)
    await store._mark(sub["id"], {c.reference: c.to_json() for c in ROWS}, [])
    await redis.delete(k.watchlist_pending(sub["id"]))
    late = Customer("A-7", "Dauren Nurmukhambetov")
    async with aiohttp.ClientSession() as session:
        dispatcher, number, lease = await holding(redis, k, session, config, sub["id"])
        first = dispatcher.parts[number] = Partition(number, lease)
        await dispatcher._build(first)
        await store._mark(sub["id"], {"A-7": late.to_json()}, [])  # pending, not indexed
        await dispatcher._snapshot(first)
        # Its owner's drain, after the snapshot: indexed, and pending no more.
        dispatcher._apply(
            dispatcher.customers, sub["id"], [late], [record_check(late.to_json())], []
        )
        await redis.delete(k.watchlist_pending(sub["id"]))
        dispatcher.parts.pop(number)
        dispatcher._drop_partition(number)
        second = dispatcher.parts[number] = Partition(number, lease)
        await dispatcher._build(second)
        await lease.release()
    assert second.source == "snapshot" and second.read == 1
    assert "A-7" in found(dispatcher.customers, "Dauren Nurmukhambetov")[sub["id"]]
