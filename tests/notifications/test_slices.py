"""A big subscription's customers indexed in slices by other partitions: each planted
customer alerted once, in delta order, with the slices' worker in this process, and with
worker processes of which the one indexing a slice is SIGKILLed mid-fan-out (on one
server and on a Redis Cluster)."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import structlog
from redis.asyncio import Redis

from listd.keyspace import Keys
from listd.notifications.config import WebhookConfig
from listd.notifications.routes import BLOCKING
from listd.notifications.slices import Slicer, slice_of, slice_partition
from listd.settings import Settings
from tests.helpers import auth, eventually, until
from tests.notifications.conftest import (
    PLANTED,
    Client,
    Receiver,
    StartWorker,
    designate,
    person,
    screened,
    subscribe,
    upload,
)

FILLERS = [{"reference": f"F-{i}", "name": f"Fillername{i} Otherword{i % 97}"} for i in range(300)]
ROWS = FILLERS + [{"reference": f"P-{n}", "name": name} for n, name in enumerate(PLANTED)]


def alerted(rx: Receiver) -> list[tuple[str, str]]:
    """(customer reference, designation) of each blocking.required received, in order."""
    return [
        (a["data"]["customer"]["reference"], a["data"]["designation"]["entity_id"])
        for a in rx.of_type("blocking.required")
    ]


async def sliced(
    make_api: Callable[..., Awaitable[Client]],
    keys: dict[str, str],
    receivers: Callable[[], Awaitable[Receiver]],
    redis: Redis,
    settings: Settings,
    config: WebhookConfig,
) -> tuple[Client, str, Receiver]:
    """An API whose one subscription (bank A's, ROWS screened, posting to the receiver
    returned) is cut in 4 slices over 8 partitions, every slice built."""
    api = await make_api(cfg=replace(config, partitions=8, slice_customers=100, slices=4))
    dispatcher = api.app[BLOCKING].dispatcher
    rx = await receivers()
    sub = await subscribe(api, keys["bank-a"], rx, events=["blocking.required"])
    await upload(api, keys["bank-a"], sub["id"], ROWS)
    await until(lambda: screened(redis, settings, sub["id"]), what="upload screened")
    await eventually(lambda: dispatcher.slicer.ready() and len(dispatcher.slicer.pieces) == 4)
    return api, str(sub["id"]), rx


async def test_a_sliced_subscription_alerts_each_planted_customer_once(
    make_api: Callable[..., Awaitable[Client]],
    keys: dict[str, str],
    receivers: Callable[[], Awaitable[Receiver]],
    redis: Redis,
    settings: Settings,
    config: WebhookConfig,
) -> None:
    cfg = replace(config, partitions=8, slice_customers=100, slices=4)
    api = await make_api(cfg=cfg)
    dispatcher = api.app[BLOCKING].dispatcher
    big_rx, small_rx = await receivers(), await receivers()
    big = await subscribe(api, keys["bank-a"], big_rx, events=["blocking.required"])
    small = await subscribe(api, keys["bank-b"], small_rx, events=["blocking.required"])
    await upload(api, keys["bank-a"], big["id"], ROWS)
    await upload(api, keys["bank-b"], small["id"], ROWS[-30:])  # under the threshold
    for sub in (big, small):
        await until(lambda s=sub: screened(redis, settings, s["id"]), what="upload screened")
    k = settings.keys
    assert await redis.hgetall(k.dispatch_sliced()) == {big["id"]: "4"}

    async def sliced() -> bool:
        return len(dispatcher.slicer.pieces) == 4 and len(dispatcher.slicer.index) == len(ROWS)

    await until(sliced, 30, "the big watchlist indexed in four slices")
    # Its home indexes none of it; each slice holds its own customers only.
    assert dispatcher.customers.count(big["id"]) == 0
    assert dispatcher.customers.count(small["id"]) == 30
    for j in range(4):
        mine = {r["reference"] for r in ROWS if slice_of(r["reference"], 4) == j}
        assert set(dispatcher.slicer.index.checks(f"{big['id']}/{j}")) == mine

    for n, name in enumerate(PLANTED[:3]):
        await designate(redis, settings, person(900 + n, name))
    # A customer added once sliced goes to its slice (through the change stream): a
    # designation published afterwards finds it.
    late = {"reference": "L-1", "name": "Nurlan Serikovich Abenov"}
    await upload(api, keys["bank-a"], big["id"], [late], patch=True)
    await until(lambda: screened(redis, settings, big["id"]), what="late customer screened")
    await designate(redis, settings, person(910, late["name"]))
    await designate(redis, settings, person(903, PLANTED[3]))
    wanted = [(f"P-{n}", f"un:QDi.{900 + n}") for n in range(3)]
    wanted += [("L-1", "un:QDi.910"), ("P-3", "un:QDi.903")]

    await eventually(
        lambda: len(alerted(big_rx)) >= len(wanted), 30, "the big subscription alerted"
    )
    await eventually(lambda: len(alerted(small_rx)) >= 4, 30, "the small subscription alerted")
    await asyncio.sleep(0.5)  # nothing more arrives
    assert alerted(big_rx) == wanted, "each planted customer once, in delta order"
    assert alerted(small_rx) == [w for w in wanted if w[0] != "L-1"]
    assert big_rx.duplicates == small_rx.duplicates == 0


async def test_a_shortlist_takes_what_was_logged_after_it_and_not_one_trimmed_away(
    make_api: Callable[..., Awaitable[Client]],
    keys: dict[str, str],
    receivers: Callable[[], Awaitable[Receiver]],
    redis: Redis,
    settings: Settings,
    config: WebhookConfig,
) -> None:
    """The home completes a slice's shortlist with the customers logged in the slice's
    change stream after the entry it was made at, and refuses (waits for again) one
    whose entry is gone: its maker may have missed changes trimmed with it."""
    api, sub_id, rx = await sliced(make_api, keys, receivers, redis, settings, config)
    dispatcher = api.app[BLOCKING].dispatcher
    k, seq = settings.keys, 10_000  # a delta no slice worker answers: the test does
    part = dispatcher.parts[dispatcher.partition(sub_id)]
    marks = [await redis.xadd(k.slice_changes(sub_id, j), {"mark": "t"}) for j in range(4)]

    async def reply(j: int, refs: dict[str, list[str]], applied: str) -> None:
        body = {"refs": refs, "applied": applied, "cutoff": 0.5}
        await redis.hset(k.slice_found(sub_id, seq), str(j), json.dumps(body))

    home = slice_of("P-0", 4)
    for j in range(4):
        await reply(j, {"P-0": ["un:X"]} if j == home else {}, marks[j])
    later = next(r["reference"] for r in FILLERS if slice_of(r["reference"], 4) == 1)
    await redis.xadd(k.slice_changes(sub_id, 1), {"refs": json.dumps([later])})
    found = await dispatcher.slicer.shortlist(part, sub_id, {"un:X": seq}, 0.6)
    assert found == {"P-0": {"un:X"}, later: {"un:X"}}

    # Slice 2's entry trimmed away: its shortlist is refused until written again.
    await redis.xadd(k.slice_changes(sub_id, 2), {"mark": "u"})
    newest = (await redis.xrevrange(k.slice_changes(sub_id, 2), count=1))[0][0]
    await redis.xtrim(k.slice_changes(sub_id, 2), minid=newest, approximate=False)
    waiting = asyncio.create_task(dispatcher.slicer.shortlist(part, sub_id, {"un:X": seq}, 0.6))

    async def refused() -> bool:
        return not await redis.hexists(k.slice_found(sub_id, seq), "2")

    await until(refused, 10, "the stale shortlist refused")
    await asyncio.sleep(0.2)
    assert not waiting.done()
    await reply(2, {}, newest)
    assert await asyncio.wait_for(waiting, 10) == found


@pytest.mark.store
@pytest.mark.cluster
async def test_shortlists_go_once_used_and_a_deleted_sliced_subscription_leaves_nothing(
    make_api: Callable[..., Awaitable[Client]],
    keys: dict[str, str],
    receivers: Callable[[], Awaitable[Receiver]],
    redis: Redis,
    settings: Settings,
    config: WebhookConfig,
) -> None:
    """The home deletes a delta's shortlists in the script that fans it out; deleting a
    sliced subscription deletes its change streams, unused shortlists and slicing, its
    slices leave the index and their snapshots, and a fan-out waiting for its
    shortlists goes on without them."""
    api, sub_id, rx = await sliced(make_api, keys, receivers, redis, settings, config)
    dispatcher = api.app[BLOCKING].dispatcher
    k = settings.keys
    home = dispatcher.partition(sub_id)
    pieces = {slice_partition(home, j, 4, 8) for j in range(4)}

    async def snapshots() -> bool:
        return all([await redis.hexists(k.slice_snapshot(n), "meta") for n in pieces])

    await until(snapshots, 30, "the slices' snapshots written")
    await designate(redis, settings, person(900, PLANTED[0]))
    await eventually(lambda: alerted(rx) == [("P-0", "un:QDi.900")], 30, "the alert")

    async def named(part: str) -> list[str]:
        return [key async for key in redis.scan_iter(match=k.pattern()) if part in key]

    assert await named(":slice:found:") == []  # used, so deleted with the fan-out

    part = dispatcher.parts[home]
    waiting = asyncio.create_task(dispatcher.slicer.shortlist(part, sub_id, {"un:X": 10_000}, 0.6))
    await asyncio.sleep(0.2)
    assert not waiting.done()  # no slice answers a delta that was never published
    deleted = await api.delete(f"/v1/subscriptions/{sub_id}", headers=auth(keys["bank-a"]))
    assert deleted.status in (200, 204), await deleted.text()
    assert await asyncio.wait_for(waiting, 10) == {}  # deleted: waits no more

    async def forgotten() -> bool:
        if dispatcher.slicer.pieces or len(dispatcher.slicer.index):
            return False
        metas = [await redis.hget(k.slice_snapshot(n), "meta") for n in pieces]
        return not any(metas) and not await named(sub_id)

    await until(forgotten, 30, "every trace of the sliced subscription gone")
    assert await redis.hgetall(k.dispatch_sliced()) == {}


async def test_a_home_waiting_for_shortlists_holds_back_none_of_its_workers_other_partitions(
    make_api: Callable[..., Awaitable[Client]],
    keys: dict[str, str],
    receivers: Callable[[], Awaitable[Receiver]],
    redis: Redis,
    settings: Settings,
    config: WebhookConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While a sliced subscription's home waits for its slices' shortlists (none is
    written), the worker's other partitions fan the next deltas out and their uploads are
    screened (not the home's); the home then alerts in delta order once the slices answer."""
    api = await make_api(cfg=replace(config, partitions=8, slice_customers=100, slices=4))
    dispatcher = api.app[BLOCKING].dispatcher
    big_rx = await receivers()
    big = await subscribe(api, keys["bank-a"], big_rx, events=["blocking.required"])
    home = dispatcher.partition(big["id"])
    small_rx = await receivers()
    for _ in range(20):  # a subscription in another partition than the big one's home
        small = await subscribe(api, keys["bank-b"], small_rx, events=["blocking.required"])
        if dispatcher.partition(small["id"]) != home:
            break
    assert dispatcher.partition(small["id"]) != home
    await upload(api, keys["bank-a"], big["id"], ROWS)
    await upload(api, keys["bank-b"], small["id"], ROWS[-6:])
    for sub in (big, small):
        await until(lambda s=sub: screened(redis, settings, s["id"]), what="upload screened")
    await eventually(lambda: dispatcher.slicer.ready() and len(dispatcher.slicer.pieces) == 4)

    async def silent() -> bool:  # the slices answer nothing (their worker stalled)
        return False

    monkeypatch.setattr(dispatcher.slicer, "_answer", silent)
    await designate(redis, settings, person(900, PLANTED[0]))
    await eventually(lambda: alerted(small_rx) == [("P-0", "un:QDi.900")], 30, "first alert")
    await designate(redis, settings, person(901, PLANTED[1]))
    await eventually(lambda: len(alerted(small_rx)) == 2, 15, "the next delta, home waiting")
    late = {"reference": "L-1", "name": "Nurlan Serikovich Abenov"}
    await upload(api, keys["bank-a"], big["id"], [late], patch=True)
    await upload(api, keys["bank-b"], small["id"], [late], patch=True)
    await until(lambda: screened(redis, settings, small["id"]), 15, "an upload screened")
    assert alerted(big_rx) == []  # its home still waits
    assert home in dispatcher._deferred
    # Not the home's upload: screened against lists newer than its cursor, it could
    # alert before the deltas it has not fanned out.
    assert not await screened(redis, settings, big["id"])

    monkeypatch.undo()  # the slices answer again
    wanted = [("P-0", "un:QDi.900"), ("P-1", "un:QDi.901")]
    await eventually(lambda: len(alerted(big_rx)) >= 2, 30, "the big subscription alerted")
    await asyncio.sleep(0.5)  # nothing more arrives
    assert alerted(big_rx) == alerted(small_rx) == wanted
    assert big_rx.duplicates == small_rx.duplicates == 0
    await until(lambda: screened(redis, settings, big["id"]), 15, "the home's upload screened")


async def test_a_home_set_aside_for_shortlists_reuses_the_lookup_of_its_deltas(
    make_api: Callable[..., Awaitable[Client]],
    keys: dict[str, str],
    receivers: Callable[[], Awaitable[Receiver]],
    redis: Redis,
    settings: Settings,
    config: WebhookConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A home partition set aside until its slices answer is read again apart; with the
    same deltas it takes the lookup the worker's other partitions made of them (nothing of
    its own changed in the index meanwhile) instead of looking the whole index up again:
    that second lookup set the p99 of the bench (2-4 s at 2 M customers)."""
    api = await make_api(cfg=replace(config, partitions=8, slice_customers=100, slices=4))
    dispatcher = api.app[BLOCKING].dispatcher
    big_rx = await receivers()
    big = await subscribe(api, keys["bank-a"], big_rx, events=["blocking.required"])
    home = dispatcher.partition(big["id"])
    near: tuple[dict[str, Any], Receiver] | None = None  # in the home partition
    far: tuple[dict[str, Any], Receiver] | None = None  # in another
    for _ in range(60):
        rx = await receivers()
        sub = await subscribe(api, keys["bank-b"], rx, events=["blocking.required"])
        if dispatcher.partition(sub["id"]) == home and near is None:
            near = sub, rx
        elif dispatcher.partition(sub["id"]) != home and far is None:
            far = sub, rx
        else:
            resp = await api.delete(f"/v1/subscriptions/{sub['id']}", headers=auth(keys["bank-b"]))
            assert resp.status == 204, await resp.text()
        if near is not None and far is not None:
            break
    assert near is not None and far is not None
    await upload(api, keys["bank-a"], big["id"], ROWS)
    for sub, _ in (near, far):
        await upload(api, keys["bank-b"], sub["id"], ROWS[-6:])
    for sub in (big, near[0], far[0]):
        await until(lambda s=sub: screened(redis, settings, s["id"]), what="upload screened")
    await eventually(lambda: dispatcher.slicer.ready() and len(dispatcher.slicer.pieces) == 4)
    lookups: list[int] = []
    candidates = dispatcher.customers.candidates

    def counted(*args: Any) -> Any:
        lookups.append(1)
        return candidates(*args)

    async def silent() -> bool:  # the slices have not answered yet
        return False

    monkeypatch.setattr(dispatcher.customers, "candidates", counted)
    monkeypatch.setattr(dispatcher.slicer, "_answer", silent)
    await designate(redis, settings, person(900, PLANTED[0]))
    await eventually(lambda: alerted(far[1]) == [("P-0", "un:QDi.900")], 30, "the other partition")
    await eventually(lambda: home in dispatcher._deferred, 15, "the home set aside")
    assert alerted(near[1]) == alerted(big_rx) == []
    monkeypatch.setattr(dispatcher.slicer, "_answer", Slicer._answer.__get__(dispatcher.slicer))
    await eventually(lambda: len(alerted(big_rx)) >= 1, 30, "the big subscription alerted")
    await eventually(lambda: len(alerted(near[1])) >= 1, 30, "its neighbour alerted")
    await asyncio.sleep(0.5)  # nothing more arrives
    assert alerted(big_rx) == alerted(near[1]) == [("P-0", "un:QDi.900")]
    assert lookups == [1], "the delta looked up once in the worker's index"


async def test_a_delta_s_names_are_worked_out_once_for_a_worker_s_partitions_and_slices(
    make_api: Callable[..., Awaitable[Client]],
    keys: dict[str, str],
    receivers: Callable[[], Awaitable[Receiver]],
    redis: Redis,
    settings: Settings,
    config: WebhookConfig,
) -> None:
    """A worker looks each delta up in its partitions' index and in its slices' (each
    logging what it waited for): the designation's names are worked out by the first of
    the two and taken as they are by the other, and both still find their customers."""
    api, big_id, big_rx = await sliced(make_api, keys, receivers, redis, settings, config)
    small_rx = await receivers()
    small = await subscribe(api, keys["bank-b"], small_rx, events=["blocking.required"])
    await upload(api, keys["bank-b"], small["id"], ROWS[-6:])
    await until(lambda: screened(redis, settings, small["id"]), what="upload screened")
    dispatcher = api.app[BLOCKING].dispatcher
    await eventually(lambda: dispatcher.customers.count(small["id"]) == 6)
    with structlog.testing.capture_logs() as logs:
        await designate(redis, settings, person(900, PLANTED[0]))
        await eventually(lambda: alerted(big_rx) == [("P-0", "un:QDi.900")], 30, "the big one")
        await eventually(lambda: alerted(small_rx) == [("P-0", "un:QDi.900")], 30, "the small")
    lookups = [e for e in logs if e["event"] == "index lookup"]
    assert sorted(e["lookup"] for e in lookups) == ["partitions", "slices"], lookups
    assert sum(e["names_worked"] for e in lookups) == 1, lookups
    assert sum(e["names_reused"] for e in lookups) == 1, lookups
    assert all(e["entities"] == 1 and e["lock_wait_s"] is not None for e in lookups)


async def test_a_slice_partition_taken_while_the_slices_wanted_are_worked_out_keeps_its_snapshot(
    make_api: Callable[..., Awaitable[Client]],
    keys: dict[str, str],
    receivers: Callable[[], Awaitable[Receiver]],
    redis: Redis,
    settings: Settings,
    config: WebhookConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A partition the dispatcher takes while the slicer is between working out the slices
    it wants and reading the snapshots of the partitions newly held (a dead worker's are
    all taken at once) is taken up from its snapshot. The slicer's earlier view wanted no
    slice there, so the snapshot was taken for one of a deleted subscription, deleted,
    and the slice built again from its records: a takeover's whole cost, seen in CI as a
    survivor that loaded one of the two slices it took over."""
    api, sub_id, _ = await sliced(make_api, keys, receivers, redis, settings, config)
    dispatcher = api.app[BLOCKING].dispatcher
    slicer = dispatcher.slicer
    k = settings.keys
    number = slicer.pieces[f"{sub_id}/0"].partition

    async def snapshotted() -> bool:
        return bool(await redis.hget(k.slice_snapshot(number), "meta"))

    await until(snapshotted, 30, "its snapshot")

    check = slicer._check_snapshots
    raced: list[int] = []

    async def late(*args: Any) -> None:  # the dispatcher takes it back meanwhile
        if number not in dispatcher.parts and not raced:
            raced.append(number)
            await eventually(lambda: number in dispatcher.parts, 30, "the partition taken back")
        await check(*args)

    # Taken back only once given up whole and once the slicer is past working out what it
    # wants without it (the dispatcher's balancing, beside this test, would take it back
    # at once).
    may_take = asyncio.Event()
    take = dispatcher._take

    async def gated(share: int) -> None:
        await may_take.wait()
        await take(share)

    built: list[tuple[Any, ...]] = []
    build = slicer._build

    async def counted(*args: Any) -> None:
        built.append(args)
        await build(*args)

    monkeypatch.setattr(slicer, "_check_snapshots", late)
    monkeypatch.setattr(slicer, "_build", counted)
    monkeypatch.setattr(dispatcher, "_take", gated)
    await dispatcher._give_up(number)
    await eventually(lambda: bool(raced), 30, "the slicer working without the partition")
    may_take.set()
    piece = f"{sub_id}/0"
    await eventually(lambda: piece in slicer.pieces and slicer.ready(), 30, "the slice taken up")
    await asyncio.sleep(0.5)  # a snapshot deleted would be gone by now
    assert built == [], "built again from its records"
    assert await snapshotted()


async def test_a_sliced_subscription_newer_than_a_delta_of_the_same_read_waits_for_no_shortlist(
    make_api: Callable[..., Awaitable[Client]],
    keys: dict[str, str],
    receivers: Callable[[], Awaitable[Receiver]],
    redis: Redis,
    settings: Settings,
    start_dispatcher: StartWorker,
    config: WebhookConfig,
) -> None:
    """One partition: an older subscription hears both deltas of a read, the sliced one
    created between them only the second. Its slices answer only deltas newer than it,
    so its home must not wait for a shortlist of the first (it waited forever)."""
    api = await make_api(dispatch=False, cfg=replace(config, partitions=1))
    old_rx, big_rx = await receivers(), await receivers()
    old = await subscribe(api, keys["bank-b"], old_rx, events=["blocking.required"])
    await upload(api, keys["bank-b"], old["id"], ROWS[-6:])
    await designate(redis, settings, person(900, PLANTED[0]))
    big = await subscribe(api, keys["bank-a"], big_rx, events=["blocking.required"])
    await upload(api, keys["bank-a"], big["id"], ROWS)
    await designate(redis, settings, person(901, PLANTED[1]))
    env = {"LISTD_DISPATCH_SLICE_CUSTOMERS": "100", "LISTD_DISPATCH_SLICES": "4"}
    await start_dispatcher(60, LISTD_DISPATCH_PARTITIONS="1", **env)
    # P-1 by the delta (through the slices), P-0 by its upload's screening (the lists).
    await eventually(lambda: len(alerted(big_rx)) >= 2, 30, "the sliced subscription alerted")
    await eventually(lambda: len(alerted(old_rx)) >= 2, 30, "the older one alerted")
    await asyncio.sleep(0.5)
    assert sorted(alerted(big_rx)) == [("P-0", "un:QDi.900"), ("P-1", "un:QDi.901")]
    triggers = {a["data"]["customer"]["reference"]: a["trigger"] for a in big_rx.events}
    assert triggers == {"P-0": "watchlist", "P-1": "delta"}
    assert alerted(old_rx) == [("P-0", "un:QDi.900"), ("P-1", "un:QDi.901")]
    assert await redis.hget(settings.keys.dispatch_sliced(), big["id"]) == "1"


# As many as the API's keys name on a cluster (`Keys.partitions`).
PARTITIONS = 64
SLICES = 4


async def holder(redis: Redis, keys: Keys, number: int) -> str:
    return str(await redis.get(keys.partition_lease(number)) or "")


@pytest.mark.store
@pytest.mark.cluster
async def test_a_slice_worker_killed_mid_fan_out_is_taken_over_and_alerts_once(
    make_api: Callable[..., Awaitable[Client]],
    keys: dict[str, str],
    receivers: Callable[[], Awaitable[Receiver]],
    redis: Redis,
    settings: Settings,
    start_dispatcher: StartWorker,
    tmp_path: Path,
) -> None:
    k = settings.keys
    env = {
        "LISTD_DISPATCH_PARTITIONS": str(PARTITIONS),
        "LISTD_DISPATCH_SLICE_CUSTOMERS": "100",
        "LISTD_DISPATCH_SLICES": str(SLICES),
    }
    api = await make_api(dispatch=False)  # the API alone; the workers run as processes
    rx = await receivers()
    sub = await subscribe(api, keys["bank-a"], rx, events=["blocking.required"])
    await upload(api, keys["bank-a"], sub["id"], ROWS)
    home = k.partition_of(sub["id"])
    pieces = [slice_partition(home, j, SLICES, PARTITIONS) for j in range(SLICES)]

    # The first worker takes every partition; the second, joining, takes the upper half
    # (the first gives up its highest): each then indexes two of the four slices.
    first = await start_dispatcher(60, **env)
    await until(lambda: screened(redis, settings, sub["id"]), what="upload screened")
    second = await start_dispatcher(60, **env)

    async def split() -> bool:
        owners = {await holder(redis, k, n) for n in range(PARTITIONS // 2, PARTITIONS)}
        return len(owners) == 1 and f":{second.pid}:" in owners.pop()

    await until(split, 30, "the second worker holding the upper half")
    assert await redis.hget(k.dispatch_sliced(), sub["id"]) == str(SLICES)
    home_pid = first.pid if home < PARTITIONS // 2 else second.pid
    victim = second if home_pid == first.pid else first
    lost = [n for n in pieces if f":{victim.pid}:" in await holder(redis, k, n)]
    assert len(lost) == 2, (home, pieces)

    async def snapshots() -> bool:  # each slice written by the worker indexing it now
        found = [await redis.hget(k.slice_snapshot(n), "meta") for n in pieces]
        return all(found)

    await until(snapshots, 30, "every slice's snapshot written")
    await designate(redis, settings, person(900, PLANTED[0]))
    await eventually(lambda: len(alerted(rx)) >= 1, 30, "the first alert")

    # Killed mid-fan-out: the next designations are published just before.
    published = [(0, 900)]
    for n in (1, 2):
        await designate(redis, settings, person(900 + n, PLANTED[n]))
        published.append((n, 900 + n))
    survivor = first if victim is second else second
    survivor_log = tmp_path / f"worker-{0 if survivor is first else 1}.log"
    loaded = survivor_log.read_text().count("slices loaded")
    await asyncio.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    assert await victim.wait() == -signal.SIGKILL
    for n in (3, 4):  # while its slices are taken over
        await designate(redis, settings, person(900 + n, PLANTED[n]))
        published.append((n, 900 + n))

    await eventually(lambda: len(alerted(rx)) >= len(published), 60, "every planted customer")
    await asyncio.sleep(1.0)  # nothing more arrives
    for n in pieces:
        assert f":{survivor.pid}:" in await holder(redis, k, n)
    # It took the killed worker's two slices over from their snapshots.
    assert survivor_log.read_text().count("slices loaded") == loaded + 2
    wanted = [(f"P-{n}", f"un:QDi.{number}") for n, number in published]
    assert alerted(rx) == wanted, "each planted customer once, in delta order"
    assert rx.duplicates <= 1 and rx.bad_signatures == 0


def test_slices_are_spread_over_the_partitions() -> None:
    assert [slice_partition(13, j, 4, 16) for j in range(4)] == [13, 1, 5, 9]
    assert [slice_partition(0, j, 8, 64) for j in range(8)] == [0, 8, 16, 24, 32, 40, 48, 56]
    refs = [f"C-{i}" for i in range(4000)]
    spread = [sum(slice_of(r, 4) == j for r in refs) for j in range(4)]
    assert min(spread) > 900 and slice_of("C-1", 4) == slice_of("C-1", 4)
