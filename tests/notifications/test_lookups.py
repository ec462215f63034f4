"""A worker's customer lookups: each logs what it waited for (a thread, the index lock and
what held it) beside its own time."""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import Any

import aiohttp
import structlog
from redis.asyncio import Redis

from listd.notifications.config import WebhookConfig
from listd.notifications.dispatcher import Dispatcher
from listd.screening import ScreeningIndex
from listd.settings import Settings


class _Noticed:
    """The index lock, telling the test when a thread starts waiting for it."""

    def __init__(self, lock: threading.Lock) -> None:
        self.lock, self.asked = lock, threading.Event()

    def __enter__(self) -> None:
        self.asked.set()
        self.lock.acquire()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.lock.release()


async def test_a_lookup_logs_its_wait_for_the_index_lock_and_what_held_it(
    redis: Redis, settings: Settings, config: WebhookConfig
) -> None:
    async with aiohttp.ClientSession() as session:
        dispatcher = Dispatcher(redis, settings.keys, ScreeningIndex(), ["un"], session, config)
        held, go = threading.Event(), threading.Event()

        def snapshot_copy() -> None:  # a holder of the lock, named in the lookup's log
            held.set()
            go.wait()

        holder = asyncio.ensure_future(asyncio.to_thread(dispatcher._locked, snapshot_copy))
        try:
            await asyncio.to_thread(held.wait)
            noticed = _Noticed(dispatcher._lock)
            dispatcher._lock = noticed  # type: ignore[assignment]
            with structlog.testing.capture_logs() as logs:
                lookup = asyncio.ensure_future(
                    dispatcher._lookup("partitions", dispatcher.customers.candidates, [], 0.5)
                )
                await asyncio.to_thread(noticed.asked.wait, 30)
                go.set()
                await holder
                assert await lookup == {}
        finally:
            go.set()  # the holder's thread ends whatever failed
        found: list[dict[str, Any]] = [e for e in logs if e["event"] == "index lookup"]
        assert len(found) == 1
        event = found[0]
        assert event["lookup"] == "partitions"
        assert event["lock_held_by"].endswith("snapshot_copy")
        assert event["holds_before"] == 0
        assert event["lock_wait_s"] > 0 and event["queued_s"] >= 0
        assert event["cpu_s"] >= 0 and event["wall_s"] >= 0
        assert dispatcher._holder == ""
