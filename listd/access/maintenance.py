"""Maintenance windows: announced periods during which only operators and admins are
served (`MAINTAINERS`), so they can manage the window and the lists."""

from __future__ import annotations

import json
import math
import secrets
from typing import Any, cast

from redis.asyncio import Redis

from listd.access.keys import iso
from listd.access.roles import MAINTAINERS
from listd.audit.entries import Actor
from listd.audit.journal import Journal
from listd.clock import SYSTEM_CLOCK, Clock
from listd.errors import BadRequest, Maintenance, NotFound
from listd.keyspace import Keys
from listd.pipeline.store import now_iso


def check_maintenance(ends: int, now: float, role: str | None) -> None:
    """Refuse (503) while a window runs, unless `role` maintains the service."""
    if ends > now and role not in MAINTAINERS:
        raise Maintenance(
            f"listd is under announced maintenance until {iso(ends)}",
            retry_after=math.ceil(ends - now),
            until=iso(ends),
        )


class MaintenanceWindows:
    """Announced windows during which only operators and admins are served."""

    def __init__(
        self, redis: Redis, keys: Keys, journal: Journal, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self.clock = clock
        self.redis = redis
        self.keys = keys
        self.journal = journal

    async def announce(self, start: float, end: float, reason: str, actor: Actor) -> dict[str, Any]:
        now = self.clock.time()
        if end <= start:
            raise BadRequest("end must be after start", field="end")
        if end <= now:
            raise BadRequest("the window is already over", field="end")
        if end - start > 7 * 86400:
            raise BadRequest("a window may last at most 7 days", field="end")
        window = {
            "id": "m-" + secrets.token_hex(4),
            "start": iso(start),
            "end": iso(math.ceil(end)),
            "reason": reason,
            "announced_by": actor.name,
            "announced": now_iso(),
        }
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(self.keys.maintenance(), {f"{math.ceil(end)}|{window['id']}": int(start)})
            pipe.hset(self.keys.maintenance_windows(), window["id"], json.dumps(window))
            pipe.incr(self.keys.access_epoch())
            await pipe.execute()
        await self.journal.record(
            actor, "maintenance.announce", window["id"], start=window["start"], end=window["end"]
        )
        await self._prune(now)
        return window

    async def windows(self) -> list[dict[str, Any]]:
        """Windows not over yet, soonest first, each with `active`."""
        now = self.clock.time()
        members = cast(list[tuple[str, float]], await self.redis.zrange(
            self.keys.maintenance(), 0, -1, withscores=True
        ))  # fmt: skip
        raw = cast(dict[str, str], await self.redis.hgetall(self.keys.maintenance_windows()))
        out = []
        for member, start in members:
            end, _, window_id = member.partition("|")
            if int(end) <= now or window_id not in raw:
                continue
            window = json.loads(raw[window_id])
            window["active"] = start <= now < int(end)
            out.append(window)
        return out

    async def cancel(self, window_id: str, actor: Actor) -> None:
        raw = await self.redis.hget(self.keys.maintenance_windows(), window_id)
        if not raw:
            raise NotFound(f"no maintenance window {window_id!r}", id=window_id)
        members = cast(list[str], await self.redis.zrange(self.keys.maintenance(), 0, -1))
        async with self.redis.pipeline(transaction=True) as pipe:
            for member in members:
                if member.endswith(f"|{window_id}"):
                    pipe.zrem(self.keys.maintenance(), member)
            pipe.hdel(self.keys.maintenance_windows(), window_id)
            pipe.incr(self.keys.access_epoch())
            await pipe.execute()
        await self.journal.record(actor, "maintenance.cancel", window_id)

    async def _prune(self, now: float) -> None:
        members = cast(list[str], await self.redis.zrange(self.keys.maintenance(), 0, -1))
        for member in members:
            end, _, window_id = member.partition("|")
            if int(end) < now - 86400:
                await self.redis.zrem(self.keys.maintenance(), member)
                await self.redis.hdel(self.keys.maintenance_windows(), window_id)
