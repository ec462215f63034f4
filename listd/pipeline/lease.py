"""A lease in Redis that elects one process among several listd instances: the leader.

`SET key token NX PX ttl` takes it; the holder renews it every third of the TTL, and
a holder that dies (or stalls) loses it when the TTL runs out. Each acquisition also
increments a fencing number, recorded with the work done under it. Writes that must
come from the holder only check the token inside their own Lua script
(`Lease.token` against `Lease.key`), so a process that lost the lease without noticing
(a long GC pause, a network split) cannot write after its successor took over.

The same `Lock` underlies each source's sync lock (`SourceLock`): no fencing number,
a longer TTL, and a sync that finds it busy waits or gives up.

One lease, `LEADER`, elects the instance that runs the scrapers (the scheduler) and the
webhook dispatcher together; every instance serves the API. The publication script of
a sync (`Store.activate`) and every dispatcher write (`outbox.Batch`) check the token.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import cast

from redis.asyncio import Redis
from redis.exceptions import RedisError

from listd import waits
from listd.errors import ListdError, SyncInProgress
from listd.logs import get_logger
from listd.settings import DEFAULT_TTL as DEFAULT_TTL  # the leader lease: LISTD_LEADER_TTL

log = get_logger(__name__)

LEADER = "leader"  # the lease name: Keys.lease(LEADER), Keys.fence(LEADER)

SYNC_LOCK_TTL_MS = 60 * 1000  # a source's sync lock: renewed every 20 s while the sync runs
_SYNC_LOCK_POLL_S = 0.5  # how often a sync waiting for the lock tries again

# KEYS: lock[, its fence counter]. ARGV: token, ttl ms, holder to steal from ("" = none).
# Held by this token already: redis-py retried the script after a dropped reply.
# Returns 0 (another holds it), else the new fencing number (1 for a lock without one).
_ACQUIRE = """
local held = redis.call('GET', KEYS[1])
if held and held ~= ARGV[3] and held ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if #KEYS < 2 then return 1 end
return redis.call('INCR', KEYS[2])
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
# For taking and renewing many leases in one pipeline (the dispatcher's partitions).
ACQUIRE, RENEW = _ACQUIRE, _RENEW
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(slots=True)
class Role:
    """This instance's part, shown by /readyz and the `listd_leader` gauge."""

    instance: str  # the lease token: host, pid and a random part
    leader: bool = False
    fence: int = 0  # fencing number of the current tenure; 0 as a follower
    since: float = field(default_factory=time.time)  # unix time of the last transition

    def change(self, leader: bool, fence: int = 0) -> None:
        self.leader, self.fence, self.since = leader, fence, time.time()

    def to_json(self) -> dict[str, object]:
        return {
            "role": "leader" if self.leader else "follower",
            "instance": self.instance,
            "fence": self.fence,
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.since)),
        }


class LeaseLost(ListdError):
    """The lease expired or was taken over; the holder must stop its work."""

    status = 503
    code = "lease_lost"


class Lock:
    """A token in Redis that one process at a time holds, for `ttl_ms` unless renewed.

    The token names the holder (host, pid, random part), so a holder killed on this host
    is noticed at once (its pid is gone) and its lock taken over; one killed elsewhere
    blocks the lock until the TTL runs out. Renewal and release only touch our own token.
    """

    def __init__(self, redis: Redis, key: str, ttl_ms: int, fence_key: str = "") -> None:
        self.redis = redis
        self.key = key
        self.fence_key = fence_key
        self.ttl_ms = ttl_ms
        self.token = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(8)}"

    async def take(self) -> tuple[int, str | None, bool]:
        """Take the lock if it is free, already ours, or its holder on this host is dead.
        Returns the fencing number (0: another holds it), the holder seen before, and
        whether it was taken over from that (dead) holder."""
        holder = cast(str | None, await self.redis.get(self.key))
        steal = holder if holder is not None and holder_dead(holder) else ""
        keys = [self.key, self.fence_key] if self.fence_key else [self.key]
        fence = int(
            await self.redis.eval(_ACQUIRE, len(keys), *keys, self.token, self.ttl_ms, steal)
        )
        return fence, holder, bool(fence and steal)

    async def renew(self) -> bool:
        return bool(await self.redis.eval(_RENEW, 1, self.key, self.token, self.ttl_ms))

    async def release(self) -> None:
        await self.redis.eval(_RELEASE, 1, self.key, self.token)


class SourceLock(Lock):
    """A per-source lock, so two processes never sync one source at once. A heartbeat
    renews it every third of `SYNC_LOCK_TTL_MS` while the sync runs."""

    def __init__(self, redis: Redis, key: str) -> None:
        super().__init__(redis, key, SYNC_LOCK_TTL_MS)
        self._heartbeat: asyncio.Task[None] | None = None
        self._retry: asyncio.Task[None] | None = None

    async def acquire(
        self, wait: float = 0.0, waiting: Callable[[str], None] | None = None
    ) -> None:
        """Take the lock; while another live sync holds it, wait up to `wait` seconds
        (telling `waiting` once), then SyncInProgress."""
        deadline = time.monotonic() + wait
        told = False
        while True:
            try:
                await self._acquire()
                return
            except SyncInProgress as exc:
                if time.monotonic() >= deadline:
                    if told:
                        exc.message = f"{exc.message}; gave up after waiting {wait:g} s"
                        exc.args = (exc.message,)
                    raise
                if not told:
                    told = True
                    log.info("sync lock busy; waiting", key=self.key, wait_s=wait)
                    if waiting is not None:
                        waiting(f"{exc.message}; waiting up to {wait:g} s for it to finish")
            await waits.sleep(min(_SYNC_LOCK_POLL_S, max(deadline - time.monotonic(), 0.0)))

    async def _acquire(self) -> None:
        try:
            taken, holder, stole = await self.take()
        except (RedisError, OSError, asyncio.CancelledError):
            # The SET may have landed before the connection dropped: it must not outlive us.
            self._release_later()
            raise
        if not taken:
            raise SyncInProgress(f"another sync holds {self.key} ({holder})")
        if stole:
            log.warning("took over the lock of a dead sync", key=self.key, holder=holder)
        self._heartbeat = asyncio.create_task(self._beat(), name=f"lock:{self.key}")

    async def _beat(self) -> None:
        while True:
            await waits.sleep(self.ttl_ms / 3000)
            await self.extend()

    async def extend(self) -> None:
        await self.renew()

    async def release(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            # asyncio.wait, not `await`: a CancelledError raised there would be ours, and
            # suppressing it lost a cancellation of the sync that was releasing.
            await asyncio.wait({self._heartbeat})
            failed = None if self._heartbeat.cancelled() else self._heartbeat.exception()
            if failed is not None and not isinstance(failed, RedisError | OSError):
                raise failed
        try:
            await super().release()
        except (RedisError, OSError) as exc:
            # Redis is away: release it when it returns, or this very process (its pid
            # alive) would find its own lock and skip the source until the TTL ran out.
            log.warning("sync lock not released: redis unreachable", key=self.key, error=str(exc))
            self._release_later()

    def _release_later(self) -> None:
        """Release the lock in the background as soon as Redis answers (within its TTL)."""
        self._retry = asyncio.create_task(self._retry_release(), name=f"unlock:{self.key}")

    async def _retry_release(self) -> None:
        deadline = time.monotonic() + self.ttl_ms / 1000
        while time.monotonic() < deadline:
            await waits.sleep(1.0)
            with contextlib.suppress(RedisError, OSError):
                await Lock.release(self)
                return


class Lease(Lock):
    """One named lease. `run(work)` campaigns for it and runs `work` while holding it."""

    def __init__(self, redis: Redis, key: str, fence_key: str, ttl: float = 15.0) -> None:
        super().__init__(redis, key, max(int(ttl * 1000), 300), fence_key)
        self.fence = 0  # fencing number of the current tenure; 0 while not holding

    async def acquire(self) -> bool:
        """Take the lease if it is free (or its holder on this host is dead)."""
        fence, holder, stole = await self.take()
        if not fence:
            return False
        if stole:
            log.warning("took over the lease of a dead process", key=self.key, holder=holder)
        self.fence = fence
        return True

    async def release(self) -> None:
        self.fence = 0
        await super().release()

    @property
    def held(self) -> bool:
        return self.fence > 0

    async def _keep(self) -> None:
        """Renew every third of the TTL until cancelled; raise LeaseLost when it is gone."""
        while True:
            await waits.sleep(self.ttl_ms / 3000)
            if not await self.renew():
                raise LeaseLost(f"lease {self.key} was lost", fence=self.fence)

    async def run(
        self,
        work: Callable[[asyncio.Event], Awaitable[None]],
        stop: asyncio.Event,
        grace: float = 5.0,
    ) -> None:
        """Until `stop` is set: wait for the lease, run `work(halt)` while it is held.

        When the lease is lost or `stop` is set, `halt` is set: `work` checks it between
        steps and returns. On `stop` the lease is still renewed while the work winds down
        (a successor never overlaps a leader finishing its last delivery), then released
        so a successor takes over at once. Cancellation comes only after `grace` seconds,
        and is not waited for forever: redis-py does not always finish a cancelled command.
        Redis errors while campaigning are logged and retried: an outage pauses the work.
        """
        while not stop.is_set():
            try:
                won = await self.acquire()
            except (RedisError, OSError) as exc:
                log.warning(
                    "lease campaign failed: redis unreachable", key=self.key, error=str(exc)
                )
                won = False
            if not won:
                await _pause(stop, self.ttl_ms / 3000)
                continue
            log.info("lease acquired", key=self.key, fence=self.fence)
            halt = asyncio.Event()
            keeper = asyncio.create_task(self._keep(), name=f"lease:{self.key}")
            worker = asyncio.create_task(_call(work, halt), name=f"work:{self.key}")
            stopper = asyncio.create_task(stop.wait())
            tasks = {keeper, worker, stopper}
            try:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                halt.set()
                stopper.cancel()
                # The keeper goes on renewing (unless the lease is lost) meanwhile.
                await asyncio.wait({worker}, timeout=grace)
                for task in tasks:
                    task.cancel()
                await asyncio.wait(tasks, timeout=grace)
            lost = _failure(keeper)
            failed = _failure(worker)
            if isinstance(lost, LeaseLost):
                log.error("lease lost; work stopped", key=self.key, fence=self.fence)
            elif lost is not None:
                log.error("lease renewal failed; work stopped", key=self.key, error=repr(lost))
            elif failed is not None:
                # The work failed (Redis down, a bug): give the lease up, retry later.
                log.error("elected work failed", key=self.key, error=repr(failed))
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self.release()), 2.0)
            self.fence = 0
            if failed is not None and not stop.is_set():
                await _pause(stop, self.ttl_ms / 1000)


def _failure(task: asyncio.Task[None]) -> BaseException | None:
    if not task.done() or task.cancelled():
        return None
    return task.exception()


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds` or until `stop` is set."""
    await waits.wait(stop, seconds)


async def _call(work: Callable[[asyncio.Event], Awaitable[None]], halt: asyncio.Event) -> None:
    await work(halt)


def holder_dead(holder: str) -> bool:
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
