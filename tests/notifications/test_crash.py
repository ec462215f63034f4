"""Crash safety: a dispatcher SIGKILLed between "delta published" and "webhook sent"
loses nothing; a delta read by a leader that died before fanning it out is fanned out."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from listd.keyspace import Keys
from listd.notifications.outbox import GROUP
from listd.notifications.partitions import partition_of
from listd.notifications.routes import BLOCKING
from listd.notifications.subscriptions import SubscriptionStore
from listd.settings import Settings
from tests.helpers import eventually, until
from tests.notifications.conftest import (
    Client,
    Receiver,
    StartWorker,
    designate,
    person,
    screened,
    subscribe,
    sync,
    upload,
)


async def test_sigkill_between_delta_and_delivery_delivers_after_restart(
    make_api: Callable[..., Awaitable[Client]],
    keys: dict[str, str],
    receivers: Any,
    redis: Redis,
    settings: Settings,
    start_dispatcher: StartWorker,
) -> None:
    api = await make_api(dispatch=False)  # the API alone; dispatchers run as processes
    await sync(redis, settings, "2018-06-07")
    rx: Receiver = await receivers()
    events = ["blocking.required", "designation.added"]
    sub = await subscribe(api, keys["bank-a"], rx, events=events)
    await upload(
        api,
        keys["bank-a"],
        sub["id"],
        [
            {"reference": "C-1", "name": "Мирна Мабанза"},
            {"reference": "C-2", "name": "Иванов Сергей"},
        ],
    )
    first = await start_dispatcher()
    await until(lambda: screened(redis, settings, sub["id"]), what="upload screened")
    await rx.stop()  # the receiver is down: nothing can be delivered yet
    await sync(redis, settings, "2018-06-21")  # QDi.413 and QDi.414 added
    k = Keys(settings.key_prefix)

    async def fanned_out() -> bool:
        cursor = await redis.get(k.partition_cursor(partition_of(sub["id"], 64)))
        done = int(cursor or 0) == int(await redis.get(k.delta_seq()))
        return await redis.xlen(k.sub_events(sub["id"])) == 3 and done

    await until(fanned_out, what="fan-out of both deltas")
    first.send_signal(signal.SIGKILL)
    assert await first.wait() == -signal.SIGKILL
    assert rx.events == []

    await rx.start()
    await start_dispatcher()  # takes over at once: the old holder's pid is gone
    await eventually(lambda: len(rx.events) == 3, what="every event after the restart")
    assert [e["type"] for e in rx.events] == [
        "designation.added", "blocking.required", "designation.added"
    ]  # fmt: skip
    assert rx.events[1]["data"]["customer"]["reference"] == "C-1"
    assert rx.duplicates == 0 and rx.bad_signatures == 0


async def test_a_delta_read_but_not_fanned_out_is_fanned_out_by_the_next_leader(
    make_api: Callable[..., Awaitable[Client]],
    keys: dict[str, str],
    receivers: Any,
    redis: Redis,
    settings: Settings,
) -> None:
    api = await make_api(dispatch=False)
    rx: Receiver = await receivers()
    await subscribe(api, keys["bank-a"], rx, events=["designation.added"])
    k = Keys(settings.key_prefix)
    await redis.xgroup_create(k.deltas(), GROUP, id="0", mkstream=True)
    (seq,) = await designate(redis, settings, person(600, "Read Then Crashed"))
    # A leader read the delta, then died before its fan-out script ran.
    read = await redis.xreadgroup(GROUP, "dispatcher", {k.deltas(): ">"}, count=10)
    assert read[0][1][0][0] == f"{seq}-0"
    leader = await make_api()
    assert leader is not None
    await eventually(lambda: len(rx.events) == 1)
    assert rx.events[0]["delta_seq"] == seq


async def test_a_redis_error_in_the_fan_out_pauses_the_worker_which_then_goes_on(
    api: Client, keys: dict[str, str], receivers: Any, redis: Redis, settings: Settings
) -> None:
    """`lead` runs its work in a TaskGroup, which raises what failed wrapped in an
    ExceptionGroup: `run` must still take it for the Redis error it is, and start again."""
    rx: Receiver = await receivers()
    await subscribe(api, keys["bank-a"], rx, events=["designation.added"])
    dispatcher = api.app[BLOCKING].dispatcher
    assert dispatcher is not None
    drain = dispatcher.drain
    failed: list[bool] = []

    async def failing_once() -> bool:
        if not failed:
            failed.append(True)
            raise RedisConnectionError("Connection reset by peer (injected)")
        return await drain()

    dispatcher.drain = failing_once  # type: ignore[method-assign]
    await eventually(lambda: bool(failed), 60, "the injected error")
    await designate(redis, settings, person(610, "After The Error"))
    await eventually(lambda: len(rx.events) == 1, 60, "the event after the error")
    assert rx.events[0]["data"]["entity_id"] == "un:QDi.610"


async def test_a_cancellation_lost_in_a_redis_call_still_stops_the_worker_for_its_restart(
    api: Client,
    keys: dict[str, str],
    receivers: Any,
    redis: Redis,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On Python 3.11 redis-py writes each command through asyncio.wait_for, which returns
    the result instead of raising when a cancellation lands as the write completes. The
    delivery loop's read of the subscriptions is made to lose its cancellation that way
    while the fan-out fails: the loop must still stop, so the worker starts again and
    delivers (it went on until shutdown, and the next designation reached nobody)."""
    rx: Receiver = await receivers()
    await subscribe(api, keys["bank-a"], rx, events=["designation.added"])
    dispatcher = api.app[BLOCKING].dispatcher
    assert dispatcher is not None
    drain = dispatcher.drain
    reading = asyncio.Event()
    lost: list[bool] = []
    ids = SubscriptionStore.ids

    async def ids_losing_a_cancellation(self: SubscriptionStore) -> list[str]:
        task = asyncio.current_task()
        if not lost and task is not None and task.get_name() == "webhook-lanes":
            reading.set()
            try:
                await asyncio.sleep(5)
            except asyncio.CancelledError:
                lost.append(True)  # as wait_for does: the cancellation goes nowhere
        return await ids(self)

    async def failing_while_the_subscriptions_are_read() -> bool:
        if not lost:
            await reading.wait()
            raise RedisConnectionError("Connection reset by peer (injected)")
        return await drain()

    monkeypatch.setattr(SubscriptionStore, "ids", ids_losing_a_cancellation)
    dispatcher.drain = failing_while_the_subscriptions_are_read  # type: ignore[method-assign]
    await eventually(lambda: bool(lost), 30, "the cancellation lost")
    await designate(redis, settings, person(611, "After The Lost Cancellation"))
    await eventually(lambda: len(rx.events) == 1, 30, "the event after the restart")
    assert rx.events[0]["data"]["entity_id"] == "un:QDi.611"
