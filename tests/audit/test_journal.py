"""Rule 5: the journal is a hash chain; editing, deleting or reordering entries is found
(with the first broken link); archive files round-trip and are checked end to end."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis

from listd.audit import (
    GENESIS,
    Entry,
    Journal,
    JournalWriter,
    archive_name,
    chain_link,
    content_hash,
    write_archive,
)
from listd.keyspace import Keys
from listd.settings import Settings
from tests.conftest import SCREEN, Api


@pytest.fixture
def journal(redis: Redis, settings: Settings, tmp_path: Path) -> Journal:
    return Journal(redis, settings.keys, tmp_path / "journal")


async def fill(journal: Journal, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        org = "bank-a" if i % 2 else "bank-b"
        at = f"2026-05-{1 + i // 10:02d}T10:00:{i % 60:02d}.000Z"
        await journal.append(
            {"kind": "request", "org": org, "route": "/v1/screen", "n": i, "at": at}
        )


async def rewrite(
    redis: Redis, journal: Journal, change: Callable[[list[Entry]], list[Entry]]
) -> None:
    """What someone with write access to Redis would do: rebuild the stream."""
    entries = change(await journal.read(0, 10_000))
    key = journal.keys.journal()
    await redis.delete(key)
    for e in entries:
        await redis.xadd(key, {"e": e.raw, "p": e.prev, "h": e.link}, id=f"{e.seq}-0")


async def test_concurrent_writers_make_one_chain(redis: Redis, settings: Settings) -> None:
    keys = settings.keys
    writers = [Journal(redis, keys, Path("unused")) for _ in range(3)]
    seqs: list[int] = []
    for wave in range(0, 150, 15):  # 45 at a time: the connection pool's size is the limit
        seqs += await asyncio.gather(
            *(
                w.append({"kind": "request", "n": n})
                for n in range(wave, wave + 15)
                for w in writers
            )
        )
    assert sorted(seqs) == list(range(1, 451))
    verdict = await writers[0].verify()
    assert verdict.ok and (verdict.entries, verdict.first, verdict.last) == (450, 1, 450)
    entries = await writers[0].read(0, 1000)
    assert entries[0].prev == GENESIS
    assert all(b.prev == a.link for a, b in zip(entries, entries[1:], strict=False))
    assert entries[5].link == chain_link(entries[4].link, 6, content_hash(entries[5].raw))
    assert await writers[1].head() == (450, entries[-1].link)


async def test_edit_is_detected(redis: Redis, journal: Journal) -> None:
    await fill(journal, 12)

    def edit(entries: list[Entry]) -> list[Entry]:
        changed = entries[6].raw.replace('"n":6', '"n":66')
        entries[6] = Entry(7, entries[6].prev, entries[6].link, changed)
        return entries

    await rewrite(redis, journal, edit)
    verdict = await journal.verify()
    assert (verdict.ok, verdict.seq) == (False, 7)
    assert verdict.problem == "entry 7 was changed after it was written (the live journal)"


async def test_edit_with_a_recomputed_link_is_detected_at_the_next(
    redis: Redis, journal: Journal
) -> None:
    await fill(journal, 12)

    def edit(entries: list[Entry]) -> list[Entry]:
        e = entries[6]
        raw = e.raw.replace('"n":6', '"n":66')
        entries[6] = Entry(7, e.prev, chain_link(e.prev, 7, content_hash(raw)), raw)
        return entries

    await rewrite(redis, journal, edit)
    verdict = await journal.verify()
    assert (verdict.ok, verdict.seq) == (False, 8)
    assert verdict.problem is not None and "does not follow entry 7" in verdict.problem


async def test_deletion_is_detected(redis: Redis, journal: Journal) -> None:
    await fill(journal, 12)
    await redis.xdel(journal.keys.journal(), "8-0")
    verdict = await journal.verify()
    assert (verdict.ok, verdict.seq, verdict.problem) == (
        False, 8, "entry 8 is missing (the live journal)",
    )  # fmt: skip
    # Deleting the newest entries is found by the head.
    await redis.delete(journal.keys.journal())
    await fill(Journal(journal.redis, Keys("other", cluster=journal.keys.cluster)), 1)
    assert not (await journal.verify()).ok


async def test_truncation_at_the_end_is_detected(redis: Redis, journal: Journal) -> None:
    await fill(journal, 12)
    await redis.xdel(journal.keys.journal(), "12-0")
    verdict = await journal.verify()
    assert (verdict.ok, verdict.seq) == (False, 12)
    assert verdict.problem is not None and "the head says entry 12" in verdict.problem


async def test_reordering_is_detected(redis: Redis, journal: Journal) -> None:
    await fill(journal, 12)

    def swap(entries: list[Entry]) -> list[Entry]:
        a, b = entries[4], entries[5]  # entries 5 and 6 trade places
        entries[4] = Entry(5, b.prev, b.link, b.raw)
        entries[5] = Entry(6, a.prev, a.link, a.raw)
        return entries

    await rewrite(redis, journal, swap)
    verdict = await journal.verify()
    assert (verdict.ok, verdict.seq) == (False, 5)
    assert verdict.problem is not None and "does not follow entry 4" in verdict.problem


async def test_archive_round_trip(redis: Redis, journal: Journal) -> None:
    await fill(journal, 25)
    written = await journal.archive(threshold=10)
    assert [p.name for p in written] == [
        "journal-000000000001-000000000005.jsonl.gz",
        "journal-000000000006-000000000010.jsonl.gz",
        "journal-000000000011-000000000015.jsonl.gz",
    ]
    assert await journal.length() == 10 and await journal.floor() == 15
    with gzip.open(written[1], "rt") as fh:
        lines = [json.loads(line) for line in fh]
    trailer = lines[-1]["trailer"]
    assert (trailer["first"], trailer["last"], trailer["count"]) == (6, 10, 5)
    assert trailer["head"] == lines[-2]["h"] and trailer["prev"] == lines[0]["p"]
    await fill(journal, 3, start=25)
    verdict = await journal.verify()
    assert verdict.ok and (verdict.entries, verdict.archives, verdict.last) == (28, 3, 28)

    everything = [e.fields["n"] async for e in journal.entries()]
    assert everything == list(range(28))
    # A time range across archive files and the live stream (from inclusive, to exclusive).
    ranged = [
        e.fields["n"]
        async for e in journal.entries("2026-05-01T10:00:08.000Z", "2026-05-03T10:00:21.000Z")
    ]
    assert ranged == list(range(8, 21))
    bank_a = [e.fields["n"] async for e in journal.entries(org="bank-a")]
    assert bank_a == list(range(1, 28, 2))
    # An auditor's paging reads across the archive too.
    page, cursor = await journal.for_org("bank-a", after=0, limit=10)
    rest, end = await journal.for_org("bank-a", after=cursor or 0, limit=10)
    assert [e.fields["n"] for e in page + rest] == list(range(1, 28, 2)) and end is None

    # Everything live can be archived; then the live stream is empty and still chained.
    assert len(await journal.archive(threshold=10, everything=True)) == 1
    await fill(journal, 1, start=28)
    assert (await journal.verify()).ok


async def test_archive_tampering_is_detected(redis: Redis, journal: Journal) -> None:
    await fill(journal, 20)
    first, second, *_ = await journal.archive(threshold=8)
    # Edit an entry inside an archive file.
    with gzip.open(second, "rt") as fh:
        lines = fh.read().splitlines()
    item = json.loads(lines[2])
    item["e"] = item["e"].replace('"route":"/v1/screen"', '"route":"/v1/sources"')
    lines[2] = json.dumps(item)
    original = second.read_bytes()
    with gzip.open(second, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    verdict = await journal.verify()
    assert (verdict.ok, verdict.seq) == (False, item["seq"])
    assert (
        verdict.problem == f"entry {item['seq']} was changed after it was written ({second.name})"
    )
    second.write_bytes(original)
    assert (await journal.verify()).ok
    # A lost archive file.
    first.unlink()
    verdict = await journal.verify()
    assert (verdict.ok, verdict.seq) == (False, 1)
    assert verdict.problem == f"archive file {first.name} is missing"


async def test_a_crash_between_file_and_trim_is_harmless(redis: Redis, journal: Journal) -> None:
    await fill(journal, 12)
    entries = await journal.read(0, 5)
    # The file was written, then the process died before trimming the stream.
    assert journal.directory is not None
    write_archive(journal.directory / archive_name(1, 5), entries)
    verdict = await journal.verify()
    assert verdict.ok and verdict.entries == 12
    assert [e.seq async for e in journal.entries()] == list(range(1, 13))
    # The next archive run writes the same file again, then trims.
    assert len(await journal.archive(threshold=10)) == 1
    assert (await journal.verify()).ok and await journal.length() == 7


async def test_an_answer_that_cannot_be_journaled_is_withheld(api: Api, redis: Redis) -> None:
    key = await api.key("screener")
    assert (await api.call("POST", "/v1/screen", key, json=SCREEN)).status == 200
    # Someone rewinds the head: appending would fork the chain, so the script fails.
    head = api.journal.keys.journal_head()
    saved = await redis.get(head)
    await redis.set(head, "1:" + GENESIS)
    refused = await api.call("POST", "/v1/screen", key, json=SCREEN)
    body = await refused.json()
    assert (refused.status, body["error"]) == (503, "journal_unavailable")
    assert "matches" not in body
    await redis.set(head, saved)
    assert (await api.call("POST", "/v1/screen", key, json=SCREEN)).status == 200
    metrics = await (await api.call("GET", "/metrics")).text()
    seq, _ = await api.journal.head()
    assert f"listd_journal_entries {float(seq)}" in metrics
    assert f"listd_journal_live_entries {float(seq)}" in metrics
    assert 'listd_access_refused_total{reason="unauthorized"}' not in metrics


async def test_group_commit_keeps_one_chain(redis: Redis, journal: Journal, tmp_path: Path) -> None:
    writer = JournalWriter(journal, tmp_path / "spool")
    written = await asyncio.gather(
        *(writer.write({"kind": "request", "org": f"bank-{i % 3}", "n": i}) for i in range(200))
    )
    assert sorted(w.seq for w in written if w.seq is not None) == list(range(1, 201))
    assert (await journal.verify()).ok
    page, _ = await journal.for_org("bank-1", limit=1000)
    assert len(page) == len([i for i in range(200) if i % 3 == 1])


async def test_a_spool_left_behind_is_replayed_once(
    redis: Redis, journal: Journal, tmp_path: Path
) -> None:
    """A process died with entries in its spool; one batch of them had reached Redis
    before the connection broke (its writer's progress says so)."""
    await fill(journal, 2)
    spool = tmp_path / "spool"
    spool.mkdir()
    dead = "w-deadbeef0001"
    await redis.set(journal.keys.journal_progress(dead), 7)  # batch 7 was applied
    lines = [
        {"e": {"kind": "request", "n": 1, "at": "2026-05-02T10:00:00.000Z"}, "w": dead, "b": 7},
        {"e": {"kind": "request", "n": 2, "at": "2026-05-02T10:00:01.000Z"}, "w": dead, "b": 8},
        {"e": {"kind": "request", "n": 3, "at": "2026-05-02T10:00:02.000Z", "org": "bank-a"}},
    ]
    text = "".join(json.dumps(line) + "\n" for line in lines) + '{"e": {"kind": "req'
    (spool / f"spool-00000000000000000001-{dead}.jsonl").write_text(text)

    writer = JournalWriter(journal, spool)
    fresh = await writer.write({"kind": "request", "n": 4})
    assert fresh.seq is None  # queued behind the spool, in order
    for _ in range(100):
        if not list(spool.iterdir()):
            break
        await writer.write({"kind": "request", "n": 5})
    entries = await journal.read(2, 100)
    assert [e.fields["n"] for e in entries][:3] == [2, 3, 4]  # batch 7's entry is not doubled
    assert all(e.fields.get("spooled") for e in entries[:3])
    assert not list(spool.iterdir())
    assert (await journal.verify()).ok
