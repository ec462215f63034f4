"""The leader lease and the sync lock: one holder, fencing numbers, takeover after expiry or
death."""

from __future__ import annotations

import asyncio
import sys

import pytest
from redis.asyncio import Redis

from listd.errors import SyncInProgress
from listd.pipeline.lease import Lease, SourceLock
from listd.settings import Settings


def lease(redis: Redis, settings: Settings, ttl: float = 0.6) -> Lease:
    k = settings.keys
    return Lease(redis, k.lease("test"), k.fence("test"), ttl)


async def test_one_holder_at_a_time_with_increasing_fences(
    redis: Redis, settings: Settings
) -> None:
    a, b = lease(redis, settings), lease(redis, settings)
    assert await a.acquire() and a.fence == 1
    assert not await b.acquire()
    assert await a.renew()
    await a.release()
    assert await b.acquire() and b.fence == 2
    assert not await a.renew()  # a no longer holds it


async def test_a_lease_still_held_by_its_own_token_is_taken_at_once(
    redis: Redis, settings: Settings
) -> None:
    """What redis-py's retry of the acquire finds when the first try landed but its reply
    was lost, or what a leader finds when Redis returns from a short outage: its own token.
    It leads again at once, under a new fence, instead of waiting out the TTL."""
    a, b = lease(redis, settings, ttl=60), lease(redis, settings, ttl=60)
    assert await a.acquire() and a.fence == 1
    assert await a.acquire() and a.fence == 2
    assert not await b.acquire()


async def test_an_expired_lease_is_taken_over(redis: Redis, settings: Settings) -> None:
    a, b = lease(redis, settings, ttl=0.3), lease(redis, settings, ttl=0.3)
    assert await a.acquire()
    await asyncio.sleep(0.4)  # a stalls without renewing
    assert await b.acquire() and b.fence == 2
    assert not await a.renew()


async def test_a_dead_holder_on_this_host_is_replaced_at_once(
    redis: Redis, settings: Settings
) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import os; print(os.getpid())", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()  # the process has exited: its pid names nobody
    gone = lease(redis, settings, ttl=60)
    gone.token = f"{gone.token.split(':')[0]}:{out.decode().strip()}:feedbeef"
    assert await gone.acquire()
    assert await lease(redis, settings, ttl=60).acquire()


async def dead_pid() -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import os; print(os.getpid())", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()  # the process has exited: its pid names nobody
    return out.decode().strip()


async def test_the_sync_lock_of_a_dead_sync_is_taken_over_and_a_live_one_is_not(
    redis: Redis, settings: Settings
) -> None:
    key = settings.keys.sync_lock("un")
    mine = SourceLock(redis, key)
    host = mine.token.split(":")[0]
    await redis.set(key, f"{host}:{await dead_pid()}:feedbeef", px=60_000)
    await mine.acquire()
    assert await redis.get(key) == mine.token
    assert 0 < await redis.pttl(key) <= 60_000
    with pytest.raises(SyncInProgress, match=f"another sync holds {key} \\({mine.token}\\)"):
        await SourceLock(redis, key).acquire()  # this process is alive
    await mine.release()
    assert await redis.get(key) is None


async def test_a_sync_lock_is_released_when_its_heartbeat_lost_its_cancellation(
    redis: Redis, settings: Settings
) -> None:
    """The heartbeat's renewal loses the cancellation `release` sends it (Python 3.11's
    asyncio.wait_for in redis-py's command write can): the heartbeat must still stop, or
    `release` waits for it forever and the sync never ends."""
    entered = asyncio.Event()
    lost: list[bool] = []

    class Losing(SourceLock):
        async def extend(self) -> None:
            if not entered.is_set():
                entered.set()
                try:
                    await asyncio.sleep(5)
                except asyncio.CancelledError:
                    lost.append(True)  # as wait_for does: the cancellation goes nowhere
            await super().extend()

    key = settings.keys.sync_lock("un")
    lock = Losing(redis, key)
    lock.ttl_ms = 300  # a heartbeat every 0.1 s
    await lock.acquire()
    await asyncio.wait_for(entered.wait(), 5)
    release = asyncio.create_task(lock.release())
    done, _ = await asyncio.wait({release}, timeout=3)
    assert release in done, "release waits for a heartbeat that goes on renewing"
    assert lost == [True]
    assert await redis.get(key) is None


async def test_work_stops_when_the_lease_is_lost(redis: Redis, settings: Settings) -> None:
    holder = lease(redis, settings, ttl=0.3)
    started, halted = asyncio.Event(), asyncio.Event()

    async def work(halt: asyncio.Event) -> None:
        started.set()
        await halt.wait()
        halted.set()

    stop = asyncio.Event()
    runner = asyncio.create_task(holder.run(work, stop, grace=1.0))
    await asyncio.wait_for(started.wait(), 5)
    await redis.set(holder.key, "someone-else")  # stolen (an operator, a split brain)
    await asyncio.wait_for(halted.wait(), 5)
    stop.set()
    await asyncio.wait_for(runner, 5)
