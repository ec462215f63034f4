"""Partitioned dispatch with real worker processes: partitions shared between workers,
moved while deltas arrive, taken over from a worker SIGKILLed mid-fan-out; every planted
customer alerted once (the receiver drops at most the one in-flight redelivery)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

import listd.notifications.dispatcher
from listd.keyspace import Keys
from listd.model import entity_from_dict
from listd.notifications.config import WebhookConfig
from listd.notifications.dispatcher import Dispatcher, Partition
from listd.notifications.events import Event
from listd.notifications.outbox import Batch, CursorGap
from listd.notifications.partitions import beat, fair_share, partition_of
from listd.notifications.routes import BLOCKING
from listd.notifications.watchlist import Customer
from listd.pipeline.lease import Lease
from listd.screening import ScreeningIndex
from listd.settings import Settings
from tests.helpers import eventually, until
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

PARTITIONS = 16
Start = Callable[[], Awaitable[asyncio.subprocess.Process]]
# Published one after another while partitions move to a joining worker (as many as that
# takes); every subscription holds a customer of each of these too.
MOVING = [
    "Abylai Akhmetov", "Baurzhan Bekmukhambetov", "Chingiz Dzhaksybekov", "Daniyar Ermekbayev",
    "Erlan Gabdullin", "Farkhad Iskakov", "Galymzhan Kuanyshev", "Islambek Mukhtarov",
    "Kanat Nurpeisov", "Madiyar Omarbekov", "Nursultan Rakhimzhanov", "Olzhas Sadvakasov",
    "Rustem Tulegenov", "Sanzhar Utemisov", "Talgat Yessimov", "Ulanbek Zhunusov",
    "Yerbol Alibekov", "Zhandos Baimukhanov", "Armangul Karimzhanov", "Bolatbek Lukpanov",
    "Dinmukhamed Sarsenbayev", "Ermukhan Dosmagambetov", "Kairat Kenzhebulatov",
    "Meirambek Myrzakhmetov", "Nurzhan Orazbayev", "Saken Shaimerdenov",
    "Temirlan Tasmagambetov", "Ualikhan Zhakupov", "Zhaksylyk Yergaliyev", "Adilbek Kapparov",
]  # fmt: skip


def test_partition_of_is_stable_and_shares_are_fair() -> None:
    assert partition_of("sub_abc", 64) == partition_of("sub_abc", 64) == 2717526707 % 64
    spread = Counter(partition_of(f"sub_{i}", 64) for i in range(6400))
    assert len(spread) == 64 and max(spread.values()) < 3 * min(spread.values())
    assert [fair_share(64, n) for n in (0, 1, 2, 3, 4, 64, 100)] == [64, 64, 32, 22, 16, 1, 1]


@pytest.fixture
def start_worker(start_dispatcher: StartWorker) -> Start:
    """A dispatcher worker of a deployment with PARTITIONS partitions."""
    return lambda: start_dispatcher(60, LISTD_DISPATCH_PARTITIONS=str(PARTITIONS))


async def holders(redis: Redis, keys: Keys) -> Counter[str]:
    """How many partitions each worker (by its lease token) holds."""
    found = [await redis.get(keys.partition_lease(n)) for n in range(PARTITIONS)]
    return Counter(str(h) for h in found if h)


async def test_partitions_move_and_a_killed_workers_partitions_are_taken_over(
    make_api: Callable[..., Awaitable[Client]],
    keys: dict[str, str],
    receivers: Callable[[], Awaitable[Receiver]],
    redis: Redis,
    settings: Settings,
    start_worker: Start,
    config: WebhookConfig,
) -> None:
    k = Keys(settings.key_prefix)
    # The API alone, with the workers' partition count; the workers run as processes.
    api = await make_api(dispatch=False, cfg=replace(config, partitions=PARTITIONS))
    # Subscriptions until both halves of the partitions (one worker each, later) have two.
    subs: list[tuple[dict[str, Any], Receiver]] = []
    while len(subs) < 40:
        rx = await receivers()
        sub = await subscribe(api, keys["bank-a"], rx, events=["blocking.required"])
        subs.append((sub, rx))
        halves = Counter(partition_of(s["id"], PARTITIONS) < PARTITIONS // 2 for s, _ in subs)
        if len(subs) >= 6 and min(halves[True], halves[False]) >= 2:
            break
    fillers = [
        {"reference": f"F-{i}", "name": f"Fillername{i} Otherword{i % 97}"} for i in range(300)
    ]
    planted = [{"reference": f"P-{n}", "name": name} for n, name in enumerate(PLANTED)]
    planted += [{"reference": f"M-{n}", "name": name} for n, name in enumerate(MOVING)]
    for sub, _ in subs:
        await upload(api, keys["bank-a"], sub["id"], fillers + planted)

    first = await start_worker()
    for sub, _ in subs:
        await until(lambda s=sub: screened(redis, settings, s["id"]), what="upload screened")
    assert list((await holders(redis, k)).values()) == [PARTITIONS]  # one worker: all

    # Partitions move while deltas keep arriving: a second worker joins, and from its
    # first heartbeat (the first worker then gives up half of its partitions) until the
    # shares are even, a designation is published every 0.1 s.
    published = [(901, "P-0")]
    await designate(redis, settings, person(901, PLANTED[0]))
    joining = asyncio.create_task(start_worker())

    async def balanced() -> bool:
        return sorted((await holders(redis, k)).values()) == [PARTITIONS // 2] * 2

    async def joined() -> bool:
        return int(await redis.zcard(k.dispatch_workers())) == 2

    await until(joined, 60, "the second worker's heartbeat")
    during = 0  # designations published while the shares were uneven
    for n, name in enumerate(MOVING):
        even = await balanced()
        await designate(redis, settings, person(950 + n, name))
        published.append((950 + n, f"M-{n}"))
        during += not even
        if even:
            break
        await asyncio.sleep(0.1)
    await joining
    await until(balanced, 30, "each worker serving half the partitions")
    assert during >= 1, "no delta was published while the partitions moved"
    await designate(redis, settings, person(904, PLANTED[3]))
    published.append((904, "P-3"))

    # The first worker is killed in the middle of fanning out and delivering.
    await designate(redis, settings, person(905, PLANTED[4]))
    await designate(redis, settings, person(906, PLANTED[5]))
    published += [(905, "P-4"), (906, "P-5")]
    await asyncio.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    assert await first.wait() == -signal.SIGKILL

    async def everyone_alerted() -> bool:
        return all(len(rx.of_type("blocking.required")) >= len(published) for _, rx in subs)

    await until(everyone_alerted, 60, "every planted customer alerted in every subscription")
    await asyncio.sleep(1.0)  # nothing more arrives
    assert len(await holders(redis, k)) == 1  # the survivor took every partition
    for sub, rx in subs:
        alerts = rx.of_type("blocking.required")
        refs = [a["data"]["customer"]["reference"] for a in alerts]
        assert sorted(refs) == sorted(ref for _, ref in published), sub["id"]
        assert [a["data"]["designation"]["entity_id"] for a in alerts] == [
            f"un:QDi.{number}" for number, _ in published
        ], "per-subscription order follows the deltas"
        assert rx.duplicates <= 1 and rx.bad_signatures == 0
    assert sum(rx.duplicates for _, rx in subs) <= len(subs)


async def test_a_delta_batch_applies_only_after_the_one_before_it(
    redis: Redis, settings: Settings
) -> None:
    """A partition's batches go out pipelined; one that fails must stop those after it,
    or the cursor would pass the delta it did not fan out."""
    k = Keys(settings.key_prefix)
    cursor, stream = k.partition_cursor(0), k.sub_events("s")
    await redis.set(cursor, 2)
    gap = Batch(k.partition_lease(0))
    gap.advance(cursor, 5, after=3)  # the batch of delta 3 did not apply
    gap.xadd(stream, Event("evt_1", "designation.added", "{}", 5))
    with pytest.raises(CursorGap):
        await gap.run(redis)
    assert await redis.get(cursor) == "2" and not await redis.exists(stream)
    ok = Batch(k.partition_lease(0))
    ok.advance(cursor, 3, after=2)
    assert await ok.run(redis) == 0 and await redis.get(cursor) == "3"
    again = Batch(k.partition_lease(0))
    again.advance(cursor, 3, after=2)
    assert await again.run(redis) == -1  # fanned out already


async def test_a_partition_given_up_during_its_fan_out_leaves_the_delta_to_its_next_owner(
    api: Client, keys: dict[str, str], receivers: Any, redis: Redis, settings: Settings
) -> None:
    """`_give_up` drops a partition's customers from the index before it releases the
    lease: a fan-out of that partition running meanwhile must not write what it found
    (nothing), or it would advance the cursor past the delta's alerts."""
    rx: Receiver = await receivers()
    sub = await subscribe(api, keys["bank-a"], rx, events=["blocking.required"])
    await upload(api, keys["bank-a"], sub["id"], [{"reference": "C-1", "name": PLANTED[0]}])
    await until(lambda: screened(redis, settings, sub["id"]), what="upload screened")
    dispatcher = api.app[BLOCKING].dispatcher
    assert dispatcher is not None
    number = dispatcher.partition(sub["id"])
    lookup = dispatcher.customers.candidates
    given_up: list[int] = []

    def given_up_meanwhile(*args: Any) -> Any:
        # What `_give_up` does from the other task while the lookup waits for the lock.
        if not given_up:
            given_up.append(dispatcher.parts.pop(number).number)
            for sub_id in dispatcher._subs_of(number):
                dispatcher.customers.drop(sub_id)
        return lookup(*args)

    dispatcher.customers.candidates = given_up_meanwhile  # type: ignore[method-assign]
    await designate(redis, settings, person(920, PLANTED[0]))
    # The worker takes the partition back (its share is every partition) and fans the
    # delta out from the cursor it left.
    await eventually(lambda: len(rx.of_type("blocking.required")) == 1, 30, "the alert")
    assert given_up == [number]
    assert rx.events[0]["data"]["customer"]["reference"] == "C-1" and rx.duplicates == 0


async def test_a_workers_partitions_are_fanned_out_at_once_after_one_lookup(
    api: Client,
    keys: dict[str, str],
    receivers: Any,
    redis: Redis,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker's partitions go out together: the delta is read and looked up once for
    all of them, then each one's round trips overlap the others' (one after another, a
    subscription in a worker's sixteenth partition waited for the fifteen before)."""
    dispatcher = api.app[BLOCKING].dispatcher
    assert dispatcher is not None
    subs: list[dict[str, Any]] = []
    rxs: list[Receiver] = []
    while len({dispatcher.partition(s["id"]) for s in subs}) < 2:
        rxs.append(await receivers())  # a receiver checks one subscription's signatures
        sub = await subscribe(api, keys["bank-a"], rxs[-1], events=["blocking.required"])
        await upload(api, keys["bank-a"], sub["id"], [{"reference": "C-1", "name": PLANTED[1]}])
        subs.append(sub)
    for sub in subs:
        await until(lambda s=sub["id"]: screened(redis, settings, s), what="upload screened")
    lookups: list[int] = []
    lookup, read = dispatcher.customers.candidates, dispatcher._customers
    inside: set[int] = set()
    both = asyncio.Event()
    met: list[bool] = []

    def counted(*args: Any) -> Any:
        lookups.append(1)
        return lookup(*args)

    async def meeting(wanted: dict[str, dict[str, set[str]]]) -> Any:
        # Each partition's records read waits (5 s at most) for another partition's.
        inside.update(dispatcher.partition(sub_id) for sub_id in wanted)
        if len(inside) >= 2:
            both.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await both.wait()
        met.append(both.is_set())
        return await read(wanted)

    decoded: list[str] = []

    def entity(data: dict[str, Any]) -> Any:
        decoded.append(data["id"])
        return entity_from_dict(data)

    dispatcher.customers.candidates = counted  # type: ignore[method-assign]
    dispatcher._customers = meeting  # type: ignore[method-assign]
    monkeypatch.setattr(listd.notifications.dispatcher, "entity_from_dict", entity)
    await designate(redis, settings, person(921, PLANTED[1]))
    await eventually(lambda: all(len(rx.of_type("blocking.required")) == 1 for rx in rxs), 30)
    assert met and all(met), "a partition's fan-out waited for another's to finish"
    assert lookups == [1]
    assert decoded == ["un:QDi.921"]  # the designation read once for both partitions
    assert all(rx.duplicates == rx.bad_signatures == 0 for rx in rxs)


async def test_deltas_that_raise_nothing_in_a_partition_cost_no_script_each(
    api: Client,
    keys: dict[str, str],
    receivers: Any,
    redis: Redis,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A list's delta is many designations (135 for the UN's 2025-11-15): those raising
    nothing for a partition ride along with the next script instead of one script each."""
    rx: Receiver = await receivers()
    sub = await subscribe(
        api, keys["bank-a"], rx, events=["designation.added"], programs=["UN-1718"]
    )
    k = Keys(settings.key_prefix)
    cursor = k.partition_cursor(partition_of(sub["id"], 64))
    queued: list[list[str]] = []
    queue = Batch.queue

    def counted(self: Batch, pipe: Any) -> None:
        queued.append(list(self.keys))
        queue(self, pipe)

    monkeypatch.setattr(Batch, "queue", counted)
    # Published in entity id order: three the subscription does not hear (UN-1267), the
    # one it hears, two more.
    quiet = [person(n, f"Quiet Person{n}") for n in (960, 961, 962, 964, 965)]
    heard = replace(person(963, "Heard Person"), programs=("UN-1718",))
    seqs = await designate(redis, settings, *quiet, heard)
    await eventually(lambda: len(rx.events) == 1, what="the one event")
    await until(lambda: _at(redis, cursor, seqs[-1]), 10, "the cursor at the last delta")
    assert rx.events[0]["data"]["entity_id"] == "un:QDi.963"
    assert rx.events[0]["delta_seq"] == seqs[3]
    # The event's script (the cursor to its delta), then the cursor to the last delta.
    assert [keys_ for keys_ in queued if cursor in keys_] == [
        [k.partition_lease(partition_of(sub["id"], 64)), cursor, k.sub_events(sub["id"])],
        [k.partition_lease(partition_of(sub["id"], 64)), cursor],
    ]


async def _at(redis: Redis, key: str, seq: int) -> bool:
    return int(await redis.get(key) or 0) == seq


async def test_leases_are_renewed_while_a_partition_given_up_waits_for_the_index(
    redis: Redis, key_names: Keys, config: WebhookConfig
) -> None:
    """Giving a partition up waits for the index lock, which a big partition's install,
    dump or lookup holds for seconds: the renewals of the partitions kept must go on
    meanwhile, or every one of them is lost at once (and taken back and forth)."""
    halt = asyncio.Event()
    async with aiohttp.ClientSession() as session:
        dispatcher = Dispatcher(redis, key_names, ScreeningIndex(), ["un"], session, config)
        worker = asyncio.create_task(dispatcher.lead(halt))
        try:
            await eventually(dispatcher.leading.is_set, 30, "every partition held")
            held = set(dispatcher.parts)
            assert len(held) == config.partitions
            with dispatcher._lock:  # a long index step in a worker thread, say
                # A second live worker: this one's share halves, and it gives up the first
                # partition, which waits for the lock.
                await beat(redis, key_names, "elsewhere:1:peer", 60_000)
                await eventually(lambda: len(dispatcher.parts) < len(held), 10, "a give-up")
                await asyncio.sleep(3 * config.lease_ttl)
                kept = sorted(dispatcher.parts)
                tokens = [await redis.get(key_names.partition_lease(n)) for n in kept]
            assert len(kept) == len(held) - 1
            assert tokens == [dispatcher.token] * len(kept)
            share = fair_share(config.partitions, 2)
            await eventually(lambda: len(dispatcher.parts) == share, 30, "the share given up")
        finally:
            halt.set()
            await worker


async def test_partitions_lost_together_are_dropped_in_one_thread(
    redis: Redis, key_names: Keys, config: WebhookConfig
) -> None:
    """A worker losing all its leases at once (16 partitions) while a lookup holds the
    index lock: their customers leave the index in one worker thread, after the lock is
    free, and the other work handed to the thread pool meanwhile does not wait for them
    (a thread each filled the pool, whatever its size)."""
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(4))
    async with aiohttp.ClientSession() as session:
        dispatcher = Dispatcher(redis, key_names, ScreeningIndex(), ["un"], session, config)
        subs = {f"sub-{n}": dispatcher.partition(f"sub-{n}") for n in range(200)}
        numbers = sorted(set(subs.values()))[:16]
        for sub_id, number in subs.items():
            dispatcher.customers.put(sub_id, Customer("C-1", f"Customer {sub_id}"))
            lease = Lease(
                redis, key_names.partition_lease(number), key_names.partition_fence(number)
            )
            dispatcher.parts[number] = Partition(number, lease)
        lost = [dispatcher.parts[n] for n in numbers]
        kept = len([s for s, n in subs.items() if n not in numbers])
        with dispatcher._lock:  # a lookup running in a worker thread, say
            for part in lost:
                dispatcher._forget(part)
            assert await asyncio.wait_for(asyncio.to_thread(lambda: "served"), 5) == "served"
            assert len(dispatcher.customers) == len(subs)
        await eventually(lambda: len(dispatcher.customers) == kept, 10, "the lost dropped")
        assert sorted(dispatcher.parts) == sorted(set(subs.values()) - set(numbers))
