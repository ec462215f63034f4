"""Registrations: applications for access, submitted by an organisation and decided
by an operator, who admits it with one user and key per requested role."""

from __future__ import annotations

import json
import secrets
from typing import Any, cast

from redis.asyncio import Redis

from listd.access.keys import KeyStore, iso, redis_mapping
from listd.audit.entries import Actor
from listd.clock import SYSTEM_CLOCK, Clock
from listd.errors import BadRequest, Conflict, NotFound
from listd.keyspace import Keys
from listd.pipeline.store import now_iso

_REG_FIELDS = ("organisation", "bin", "legal_ground", "status", "submitted", "decided",
               "decided_by", "reason", "org", "ip", "id")  # fmt: skip


def registration_json(record: dict[str, str], sla_hours: float, now: float) -> dict[str, Any]:
    out: dict[str, Any] = {k: record[k] for k in _REG_FIELDS if record.get(k)}
    out["contact"] = json.loads(record.get("contact") or "{}")
    out["roles"] = json.loads(record.get("roles") or "[]")
    submitted = float(record.get("submitted_ts") or now)
    out["overdue"] = record.get("status") == "pending" and now - submitted > sla_hours * 3600
    return out


class Registrations:
    """Applications for access: submitted by an organisation, decided by an operator."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        store: KeyStore,
        sla_hours: float,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.clock = clock
        self.redis = redis
        self.keys = keys
        self.store = store
        self.sla_hours = sla_hours

    async def submit(
        self,
        organisation: str,
        bin_: str,
        contact: dict[str, str],
        roles: list[str],
        legal_ground: str,
        ip: str = "",
    ) -> dict[str, Any]:
        now = self.clock.time()
        pending = cast(list[str], await self.redis.zrange(self.keys.registrations_pending(), 0, -1))
        for other in pending:
            if await self.redis.hget(self.keys.registration(other), "bin") == bin_:
                raise Conflict(f"an application for BIN {bin_} is already pending", id=other)
        reg_id = "r-" + secrets.token_hex(6)
        record = {
            "id": reg_id,
            "organisation": organisation,
            "bin": bin_,
            "contact": json.dumps(contact, ensure_ascii=False, sort_keys=True),
            "roles": json.dumps(roles),
            "legal_ground": legal_ground,
            "status": "pending",
            "submitted": iso(now),
            "submitted_ts": f"{now:.3f}",
            "ip": ip,
        }
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.registration(reg_id), mapping=redis_mapping(record))
            pipe.zadd(self.keys.registrations(), {reg_id: now})
            pipe.zadd(self.keys.registrations_pending(), {reg_id: now})
            await pipe.execute()
        actor = Actor(name=contact.get("name", ""), org=bin_, via="public")
        await self.store.journal.record(
            actor, "registration.submit", reg_id, bin_, organisation=organisation, roles=roles
        )
        return registration_json(record, self.sla_hours, now)

    async def get(self, reg_id: str) -> dict[str, Any]:
        record = cast(dict[str, str], await self.redis.hgetall(self.keys.registration(reg_id)))
        if not record:
            raise NotFound(f"no registration {reg_id!r}", id=reg_id)
        return registration_json(record, self.sla_hours, self.clock.time())

    async def find(self, status: str | None = None, overdue: bool = False) -> list[dict[str, Any]]:
        source = self.keys.registrations_pending() if overdue else self.keys.registrations()
        ids = cast(list[str], await self.redis.zrange(source, 0, -1))
        found = [await self.get(i) for i in ids]
        return [
            r
            for r in found
            if (status is None or r["status"] == status) and (not overdue or r["overdue"])
        ]

    async def overdue(self) -> int:
        cutoff = self.clock.time() - self.sla_hours * 3600
        return int(await self.redis.zcount(self.keys.registrations_pending(), "-inf", f"({cutoff}"))

    async def _decide(
        self, reg_id: str, status: str, actor: Actor, **fields: str
    ) -> dict[str, Any]:
        key = self.keys.registration(reg_id)
        # Only one decision: the pending index entry is the token both deciders race for.
        if not await self.redis.zrem(self.keys.registrations_pending(), reg_id):
            current = await self.get(reg_id)
            raise Conflict(f"registration {reg_id} is already {current['status']}", id=reg_id)
        await self.redis.hset(
            key,
            mapping=redis_mapping(
                {"status": status, "decided": now_iso(), "decided_by": actor.name, **fields}
            ),
        )
        return await self.get(reg_id)

    async def approve(
        self, reg_id: str, actor: Actor
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Admit the organisation: its org id is its BIN; one user per requested role
        (named after the role) and one key each, returned once."""
        reg = await self.get(reg_id)
        if reg["status"] != "pending":
            raise Conflict(f"registration {reg_id} is already {reg['status']}", id=reg_id)
        org = reg["bin"]
        reg = await self._decide(reg_id, "approved", actor, org=org)
        await self.redis.hset(
            self.keys.org(org),
            mapping={"name": reg["organisation"], "bin": reg["bin"], "registration": reg_id},
        )
        credentials = []
        for role in reg["roles"]:
            user = await self.store.find_user(org, role)
            if user is None:
                user = await self.store.create_user(role, org, role, actor=actor)
            if user.status == "active" and user.role == role:
                credentials.append((await self.store.issue(user.id, actor=actor)).to_json())
        await self.store.journal.record(
            actor, "registration.approve", reg_id, org, roles=reg["roles"]
        )
        return reg, credentials

    async def reject(self, reg_id: str, reason: str, actor: Actor) -> dict[str, Any]:
        if not reason.strip():
            raise BadRequest("a rejection needs a reason", field="reason")
        reg = await self._decide(reg_id, "rejected", actor, reason=reason.strip())
        await self.store.journal.record(
            actor, "registration.reject", reg_id, reg["bin"], reason=reason.strip()
        )
        return reg
