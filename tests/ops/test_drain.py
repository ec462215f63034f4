"""SIGTERM drains the real daemon: a sync in flight is abandoned with the store
consistent, a webhook delivery in flight finishes or stays pending, and the process
exits 0 well within the unit's TimeoutStopSec; a restart carries on."""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path
from typing import Any, cast

import aiohttp
from redis.asyncio import Redis

from listd.keyspace import Keys
from listd.pipeline.store import Store
from listd.settings import Settings
from tests.conftest import SourceServer, un_file
from tests.helpers import until
from tests.notifications.conftest import Receiver
from tests.ops.conftest import Daemon, Start
from tests.ops.test_failover import subscribe

ROOT = Path(__file__).resolve().parents[2]


def stop_timeout() -> float:
    """TimeoutStopSec of systemd/listd.service: the drain must end well before it."""
    unit = (ROOT / "systemd" / "listd.service").read_text()
    found = re.search(r"^TimeoutStopSec=(\d+)", unit, re.MULTILINE)
    assert found is not None
    return float(found.group(1))


async def sigterm(daemon: Daemon) -> float:
    """SIGTERM; returns the seconds until the process exited with status 0."""
    started = time.monotonic()
    daemon.signal(signal.SIGTERM)
    code = await daemon.wait(stop_timeout())
    took = time.monotonic() - started
    assert code == 0, daemon.log.read_text()[-3000:]
    return took


async def leading(daemon: Daemon) -> None:
    async def check() -> bool:
        return await daemon.role() == "leader"

    await until(check, what=f"{daemon.name} leading")


async def test_sigterm_during_a_sync_keeps_the_store_consistent(
    start_daemon: Start, source_server: SourceServer, redis: Redis, settings: Settings
) -> None:
    keys = Keys(settings.key_prefix)
    store = Store(redis, keys)
    source_server.put("/un.xml", un_file("2018-06-07").read_bytes())
    first = await start_daemon("first")
    await leading(first)

    async def has_version() -> bool:
        return await store.current_version("un") is not None

    await until(has_version, what="the first sync")
    before = await store.current_version("un")
    seq = await store.last_seq()

    # The next poll hangs on a slow source: SIGTERM lands while the sync is in flight.
    source_server.delay = 30.0
    source_server.put("/un.xml", un_file("2018-06-21").read_bytes())
    asked = len(source_server.requests)

    async def in_flight() -> bool:
        state = await store.state("un")
        return len(source_server.requests) > asked and state.get("status_detail") == "syncing"

    await until(in_flight, what="a sync in flight")
    took = await sigterm(first)
    print(f"\nSIGTERM during a sync: exit 0 after {took:.2f} s")  # noqa: T201 - the figure
    assert took < 30
    assert first.logged("syncs in flight abandoned")
    # The previous version still serves, nothing was published, no lock or lease is left.
    assert await store.current_version("un") == before
    assert await store.last_seq() == seq
    assert not await redis.exists(keys.sync_lock("un"), keys.lease("leader"))
    last = (await store.history("un", 1))[0]
    assert last["outcome"] == "failed" and "cancelled" in last["error"]

    # A restart syncs the new list normally.
    source_server.delay = 0.0
    second = await start_daemon("second")
    await leading(second)

    async def published() -> bool:
        return await store.last_seq() == seq + 2

    await until(published, what="the sync after the restart")
    added = {d.entity_id for d in (await store.read_deltas(seq, 10))[0]}
    assert added == {"un:QDi.413", "un:QDi.414"}
    assert (await store.state("un"))["status"] == "ok"
    assert await sigterm(second) < 30


async def test_sigterm_during_webhook_delivery_loses_nothing(
    start_daemon: Start,
    source_server: SourceServer,
    redis: Redis,
    settings: Settings,
    subscriber_key: str,
    http: aiohttp.ClientSession,
) -> None:
    keys = Keys(settings.key_prefix)
    store = Store(redis, keys)
    source_server.put("/un.xml", un_file("2018-06-07").read_bytes())
    env = {"LISTD_WEBHOOK_TIMEOUT": "5"}
    first = await start_daemon("first", **env)
    await leading(first)

    async def has_version() -> bool:
        return await store.current_version("un") is not None

    await until(has_version, what="the first sync")
    rx = Receiver()
    await rx.start()
    try:
        sub = await subscribe(http, first, subscriber_key, rx)

        # 1. A slow receiver (2 s, within the 5 s timeout): SIGTERM while the first of
        # two events is being posted. That POST finishes; the second waits in the outbox.
        rx.delay = 2.0
        source_server.put("/un.xml", un_file("2018-06-21").read_bytes())
        await until(lambda: _requests(rx, 2), what="the first event posted")
        took = await sigterm(first)
        print(f"\nSIGTERM during a delivery: exit 0 after {took:.2f} s")  # noqa: T201
        assert took < 20
        assert len(rx.events) == 1 and len(rx.requests) == 2  # the ping, one event
        records = await _records(redis, keys, sub["id"])
        assert records[rx.events[0]["id"]]["status"] == "delivered"
        assert not await redis.exists(keys.lease("leader"))

        # 2. Restarted: the second event goes out; the first is not sent again. Then a
        # receiver slower than the timeout: SIGTERM mid-POST leaves that event pending.
        rx.delay = 0.0
        second = await start_daemon("second", **env)
        await until(lambda: _events(rx, 2), what="the second event after the restart")
        rx.delay = 10.0
        posted = len(rx.requests)
        source_server.put("/un.xml", un_file("2018-08-24").read_bytes())
        await until(lambda: _requests(rx, posted + 1), what="an event posted to the slow receiver")
        pending_key = rx.requests[-1]["headers"]["Listd-Idempotency-Key"]
        took = await sigterm(second)
        print(f"SIGTERM with a receiver slower than the timeout: exit 0 after {took:.2f} s")  # noqa: T201
        assert took < 20
        records = await _records(redis, keys, sub["id"])
        assert records[pending_key]["status"] == "retrying"
        assert "timed out" in records[pending_key]["attempts"][-1]["error"]

        # 3. Restarted again: the pending event is delivered under the same key, then
        # everything after it.
        rx.delay = 0.0
        third = await start_daemon("third", **env)
        total = 2 + 28  # 2018-06-21 added two; 2018-08-24 has 28 changes

        async def everything() -> bool:
            return len({r["headers"]["Listd-Idempotency-Key"] for r in rx.requests[1:]}) >= total

        await until(everything, what="every event after the second restart")
        retried = [r for r in rx.requests if r["headers"]["Listd-Idempotency-Key"] == pending_key]
        assert [r["headers"]["Listd-Delivery-Attempt"] for r in retried] == ["1", "2"]
        assert json.loads(retried[0]["body"]) == json.loads(retried[1]["body"])
        await until(lambda: _settled(redis, keys, sub["id"]), what="the outbox settled")
        records = await _records(redis, keys, sub["id"])
        outbox = cast(
            list[tuple[str, dict[str, str]]], await redis.xrange(keys.sub_events(sub["id"]))
        )
        assert len(outbox) == total
        assert {records[f["i"]]["status"] for _, f in outbox} == {"delivered"}
        assert {e["id"] for e in rx.events} == {f["i"] for _, f in outbox}
        assert rx.bad_signatures == 0
        assert await sigterm(third) < 20
    finally:
        await rx.stop()


async def _requests(rx: Receiver, count: int) -> bool:
    return len(rx.requests) >= count


async def _events(rx: Receiver, count: int) -> bool:
    return len(rx.events) >= count


async def _records(redis: Redis, keys: Keys, sub_id: str) -> dict[str, dict[str, Any]]:
    raw = cast(dict[str, str], await redis.hgetall(keys.sub_deliveries(sub_id)))
    return {k: json.loads(v) for k, v in raw.items()}


async def _settled(redis: Redis, keys: Keys, sub_id: str) -> bool:
    last = cast(list[tuple[str, Any]], await redis.xrevrange(keys.sub_events(sub_id), count=1))
    return bool(last) and await redis.hget(keys.sub_cursor(sub_id), "cursor") == last[0][0]
