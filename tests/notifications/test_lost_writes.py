"""Writes a Redis fail-over took back. Replication is asynchronous: a primary that dies
before its replica received its last writes leaves, on the promoted replica, a partition
cursor behind what the dispatcher wrote and outbox entries missing (they were written in
one script). These tests put a single server in that state by hand, the way the promoted
replica would hold it (tests/notifications/test_cluster_failover.py does it for real on
a cluster), and check that the events are raised again and sent at most once more."""

from __future__ import annotations

from collections import Counter
from typing import Any

from redis.asyncio import Redis

from listd.keyspace import Keys
from listd.notifications.events import Event
from listd.notifications.outbox import Batch
from listd.notifications.partitions import partition_of
from listd.settings import Settings
from tests.helpers import eventually, until
from tests.notifications.conftest import Client, Receiver, designate, person, subscribe

FEED = ["designation.added"]


async def lose(redis: Redis, keys: Keys, sub_id: str, cursor: int, settled: str | None) -> None:
    """What a replica promoted before it received the fan-out of the deltas after
    `cursor` holds: the partition cursor there, none of their events, the delivery cursor
    at `settled`."""
    await redis.set(keys.partition_cursor(partition_of(sub_id, 64)), cursor)
    stream = keys.sub_events(sub_id)
    for entry_id, fields in await redis.xrange(stream, "-", "+"):
        if int(fields["s"]) > cursor:
            await redis.xdel(stream, entry_id)
            await redis.hdel(keys.sub_deliveries(sub_id), fields["i"])
    if settled is None:  # nothing was settled before
        await redis.hdel(keys.sub_cursor(sub_id), "cursor")
    else:
        await redis.hset(keys.sub_cursor(sub_id), "cursor", settled)


async def test_a_partition_cursor_taken_back_raises_its_events_again(
    api: Client, keys: dict[str, str], receivers: Any, redis: Redis, settings: Settings
) -> None:
    rx: Receiver = await receivers()
    sub = await subscribe(api, keys["bank-a"], rx, events=FEED)
    k = Keys(settings.key_prefix)
    settled = await redis.hget(k.sub_cursor(sub["id"]), "cursor")
    (seq,) = await designate(redis, settings, person(930, "Lost Person"))
    await eventually(lambda: len(rx.events) == 1, what="the first copy")
    await lose(redis, k, sub["id"], seq - 1, settled)
    # No new delta comes: the worker notices the cursor went back by itself.
    await eventually(lambda: rx.duplicates == 1, 30, "the event raised and sent again")
    assert len(rx.events) == 1 and rx.events[0]["data"]["entity_id"] == "un:QDi.930"
    sent = [r for r in rx.requests if r["headers"]["Listd-Event-Type"] == "designation.added"]
    assert len({r["headers"]["Listd-Idempotency-Key"] for r in sent}) == 1
    cursor = k.partition_cursor(partition_of(sub["id"], 64))
    await until(lambda: _equals(redis, cursor, seq), 10, "the cursor written again")
    # A delta published after a loss is fanned out after the lost ones, in order.
    await until(lambda: _settled(redis, k, sub["id"]), 10, "the outbox settled")
    settled = await redis.hget(k.sub_cursor(sub["id"]), "cursor")
    (lost,) = await designate(redis, settings, person(931, "Second Lost"))
    await eventually(lambda: len(rx.events) == 2)
    await lose(redis, k, sub["id"], lost - 1, settled)
    (new,) = await designate(redis, settings, person(932, "After The Loss"))
    await eventually(lambda: len(rx.events) == 3, 30, "the delta after the loss")
    await eventually(lambda: rx.duplicates == 2, 30, "the lost one sent again")
    assert [e["delta_seq"] for e in rx.events] == [seq, lost, new]


async def _settled(redis: Redis, keys: Keys, sub_id: str) -> bool:
    newest = await redis.xrevrange(keys.sub_events(sub_id), count=1)
    return bool(newest) and newest[0][0] == await redis.hget(keys.sub_cursor(sub_id), "cursor")


async def _equals(redis: Redis, key: str, value: int) -> bool:
    return int(await redis.get(key) or 0) == value


async def test_a_lane_sends_no_entry_gone_from_its_outbox(
    api: Client, keys: dict[str, str], receivers: Any, redis: Redis, settings: Settings
) -> None:
    rx: Receiver = await receivers()
    sub = await subscribe(api, keys["bank-a"], rx, events=FEED)
    k = Keys(settings.key_prefix)
    settled = await redis.hget(k.sub_cursor(sub["id"]), "cursor")
    rx.delay = 0.5  # the first event is in flight while its entry is lost
    first, second = await designate(
        redis, settings, person(940, "First In Flight"), person(941, "Second Read Along")
    )
    await eventually(lambda: len(rx.requests) == 2, what="the first event in flight")
    await lose(redis, k, sub["id"], first - 1, settled)
    await eventually(lambda: len(rx.events) == 2, 30, "both events")
    sent = Counter(
        r["headers"]["Listd-Event-Id"]
        for r in rx.requests
        if r["headers"]["Listd-Event-Type"] == "designation.added"
    )
    # The one in flight reaches the receiver twice; the one read with it, whose entry
    # was gone before it was sent, once (from the events raised again).
    assert sent == Counter({rx.events[0]["id"]: 2, rx.events[1]["id"]: 1})
    assert [e["delta_seq"] for e in rx.events] == [first, second]
    assert rx.duplicates == 1


async def test_a_batch_guarded_by_a_missing_entry_writes_nothing(
    redis: Redis, settings: Settings
) -> None:
    k = Keys(settings.key_prefix)
    stream = k.sub_events("s")
    entry = await redis.xadd(stream, {"i": "evt_1", "t": "x", "s": "1", "e": "{}"})
    kept = Batch(k.partition_lease(0))
    kept.present(stream, entry)
    kept.hset(k.sub_cursor("s"), "cursor", entry)
    assert await kept.run(redis) == 0
    assert await redis.hget(k.sub_cursor("s"), "cursor") == entry
    await redis.xdel(stream, entry)
    gone = Batch(k.partition_lease(0))
    gone.present(stream, entry)
    gone.xadd(stream, Event("evt_2", "x", "{}", 2))
    assert await gone.run(redis) == -1
    assert await redis.xlen(stream) == 0
