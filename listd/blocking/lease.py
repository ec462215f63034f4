"""A lease in Redis that elects one process among several listd instances.

`SET key token NX PX ttl` takes it; the holder renews it every third of the TTL, and
a holder that dies (or stalls) loses it when the TTL runs out. Each acquisition also
increments a fencing number, recorded with the work done under it. Writes that must
come from the holder only check the token inside their own Lua script
(`Lease.token` against `Lease.key`), so a process that lost the lease without noticing
(a long GC pause, a network split) cannot write after its successor took over.

Used by the webhook dispatcher; the scheduler can elect one scraper the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from typing import cast

from redis.asyncio import Redis

from listd.errors import ListdError
from listd.logs import get_logger

log = get_logger(__name__)

# KEYS: lease, fence. ARGV: token, ttl ms, holder to steal from ("" = none).
_ACQUIRE = """
local held = redis.call('GET', KEYS[1])
if held and held ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return redis.call('INCR', KEYS[2])
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class LeaseLost(ListdError):
    """The lease expired or was taken over; the holder must stop its work."""

    code = "lease_lost"


class Lease:
    """One named lease. `run(work)` campaigns for it and runs `work` while holding it."""

    def __init__(self, redis: Redis, key: str, fence_key: str, ttl: float = 15.0) -> None:
        self.redis = redis
        self.key = key
        self.fence_key = fence_key
        self.ttl_ms = max(int(ttl * 1000), 300)
        self.token = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(8)}"
        self.fence = 0  # fencing number of the current tenure; 0 while not holding

    async def acquire(self) -> bool:
        """Take the lease if it is free (or its holder on this host is dead)."""
        holder = cast(str | None, await self.redis.get(self.key))
        steal = holder if holder is not None and _holder_dead(holder) else ""
        fence = int(
            await self.redis.eval(
                _ACQUIRE, 2, self.key, self.fence_key, self.token, self.ttl_ms, steal
            )
        )
        if not fence:
            return False
        if steal:
            log.warning("took over the lease of a dead process", key=self.key, holder=steal)
        self.fence = fence
        return True

    async def renew(self) -> bool:
        return bool(await self.redis.eval(_RENEW, 1, self.key, self.token, self.ttl_ms))

    async def release(self) -> None:
        self.fence = 0
        await self.redis.eval(_RELEASE, 1, self.key, self.token)

    async def _keep(self, halt: asyncio.Event) -> None:
        while not halt.is_set():
            await _pause(halt, self.ttl_ms / 3000)
            if not halt.is_set() and not await self.renew():
                raise LeaseLost(f"lease {self.key} was lost", fence=self.fence)

    async def run(
        self,
        work: Callable[[asyncio.Event], Awaitable[None]],
        stop: asyncio.Event,
        grace: float = 5.0,
    ) -> None:
        """Until `stop` is set: wait for the lease, run `work(halt)` while it is held.

        When the lease is lost or `stop` is set, `halt` is set: `work` checks it between
        steps and returns. Cancellation comes only after `grace` seconds, and is not
        waited for forever: redis-py does not always finish a cancelled command.
        """
        while not stop.is_set():
            if not await self.acquire():
                await _pause(stop, self.ttl_ms / 3000)
                continue
            log.info("lease acquired", key=self.key, fence=self.fence)
            halt = asyncio.Event()
            keeper = asyncio.create_task(self._keep(halt), name=f"lease:{self.key}")
            worker = asyncio.create_task(_call(work, halt), name=f"work:{self.key}")
            stopper = asyncio.create_task(stop.wait())
            tasks = {keeper, worker, stopper}
            try:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                halt.set()
                stopper.cancel()
                await asyncio.wait({keeper, worker}, timeout=grace)
                for task in tasks:
                    task.cancel()
                await asyncio.wait(tasks, timeout=grace)
            lost = _failure(keeper)
            failed = _failure(worker)
            if isinstance(lost, LeaseLost):
                log.error("lease lost; work stopped", key=self.key, fence=self.fence)
            elif failed is not None:
                # The work failed (Redis down, a bug): give the lease up, retry later.
                log.error("elected work failed", key=self.key, error=repr(failed))
                await _pause(stop, self.ttl_ms / 1000)
            with contextlib.suppress(Exception):
                await asyncio.shield(self.release())


def _failure(task: asyncio.Task[None]) -> BaseException | None:
    if not task.done() or task.cancelled():
        return None
    return task.exception()


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds` or until `stop` is set (asyncio.timeout: see delivery._sleep)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()


async def _call(work: Callable[[asyncio.Event], Awaitable[None]], halt: asyncio.Event) -> None:
    await work(halt)


def _holder_dead(holder: str) -> bool:
    """True when `holder` names a process on this host that no longer exists."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
