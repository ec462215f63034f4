"""Subscriptions: a subscriber's webhook endpoint, what it wants to hear, and its secrets.

A subscription belongs to one organisation (`Principal.org`); nothing about it is
visible to another. It starts `pending` and becomes `active` once a test delivery
(`ping`) succeeded; a receiver answering 410 Gone makes it `disabled` until the
subscriber changes it. Events are queued in every state and delivered only when
active, so a subscription that is not yet verified, or switched off, misses nothing.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field, replace
from typing import Any, cast

from redis.asyncio import Redis

from listd.errors import NotFound
from listd.keyspace import Keys
from listd.notifications.signing import new_secret
from listd.pipeline.delta import Delta
from listd.pipeline.store import now_iso
from listd.screening import DEFAULT_THRESHOLD

EVENTS = (
    "designation.added",
    "designation.amended",
    "designation.removed",
    "blocking.required",
    "blocking.lifted",
)
DEFAULT_EVENTS = ("blocking.required", "blocking.lifted")
# Which amended designations raise events (designation.amended, blocking.required):
# "identity" only those whose names, birth dates, documents... changed (`delta.classify`),
# "all" every one, comments and links too. Additions and removals always do.
AMENDMENTS = ("identity", "all")
STATUSES = ("pending", "active", "disabled")
ROTATION_OVERLAP_S = 24 * 3600  # how long the previous secret keeps signing by default
_FORGET_PAGE = 500  # keys per DEL when a sliced subscription's shortlists are deleted


@dataclass(frozen=True, slots=True)
class Secret:
    value: str
    created: str
    expires: float | None = None  # unix time; set on the previous secret during rotation


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    org: str
    url: str
    events: tuple[str, ...] = DEFAULT_EVENTS
    sources: tuple[str, ...] = ()  # empty: every source
    programs: tuple[str, ...] = ()  # empty: every programme
    threshold: float = DEFAULT_THRESHOLD
    amendments: str = "identity"  # one of AMENDMENTS
    status: str = "pending"
    status_reason: str | None = None
    description: str | None = None
    created: str = ""
    updated: str = ""
    created_seq: int = 0  # last delta sequence when created: older deltas are not its news
    secrets: tuple[Secret, ...] = field(default=(), repr=False)

    def wants(self, event_type: str) -> bool:
        return event_type in self.events

    def hears(self, delta: Delta) -> bool:
        """Whether a published delta may raise events for this subscription at all."""
        return self.amendments == "all" or delta.klass == "identity"

    def covers(self, source: str, programs: tuple[str, ...] | list[str]) -> bool:
        """Whether a designation of `source` under `programs` concerns this subscription."""
        if self.sources and source not in self.sources:
            return False
        return not self.programs or any(p in self.programs for p in programs)

    def signing_secrets(self, now: float | None = None) -> list[str]:
        """Secrets that sign a delivery now: the current one, and the previous one while
        its rotation overlap lasts."""
        t = time.time() if now is None else now
        return [s.value for s in self.secrets if s.expires is None or s.expires > t]

    def public(self) -> dict[str, Any]:
        """The subscription as the API shows it (never the secrets themselves)."""
        return {
            "id": self.id,
            "url": self.url,
            "events": list(self.events),
            "sources": list(self.sources),
            "programs": list(self.programs),
            "threshold": self.threshold,
            "amendments": self.amendments,
            "status": self.status,
            "status_reason": self.status_reason,
            "description": self.description,
            "created": self.created,
            "updated": self.updated,
            "secrets": [
                {
                    "created": s.created,
                    "expires": _iso(s.expires) if s.expires is not None else None,
                    "hint": s.value[-4:],
                }
                for s in self.secrets
            ],
        }


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _to_hash(sub: Subscription) -> dict[str, str]:
    return {
        "id": sub.id,
        "org": sub.org,
        "url": sub.url,
        "events": json.dumps(list(sub.events)),
        "sources": json.dumps(list(sub.sources)),
        "programs": json.dumps(list(sub.programs)),
        "threshold": repr(sub.threshold),
        "amendments": sub.amendments,
        "status": sub.status,
        "status_reason": sub.status_reason or "",
        "description": sub.description or "",
        "created": sub.created,
        "updated": sub.updated,
        "created_seq": str(sub.created_seq),
        "secrets": json.dumps(
            [{"value": s.value, "created": s.created, "expires": s.expires} for s in sub.secrets]
        ),
    }


def from_hash(data: dict[str, str]) -> Subscription:
    return Subscription(
        id=data["id"],
        org=data["org"],
        url=data["url"],
        events=tuple(json.loads(data.get("events") or "[]")),
        sources=tuple(json.loads(data.get("sources") or "[]")),
        programs=tuple(json.loads(data.get("programs") or "[]")),
        threshold=float(data.get("threshold") or DEFAULT_THRESHOLD),
        amendments=data.get("amendments") or "identity",  # absent: stored before it existed
        status=data.get("status") or "pending",
        status_reason=data.get("status_reason") or None,
        description=data.get("description") or None,
        created=data.get("created", ""),
        updated=data.get("updated", ""),
        created_seq=int(data.get("created_seq") or 0),
        secrets=tuple(Secret(**s) for s in json.loads(data.get("secrets") or "[]")),
    )


class SubscriptionStore:
    """Subscriptions in Redis, always read fresh (a few fields; cheap to HGETALL)."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def create(self, sub: Subscription) -> tuple[Subscription, str]:
        """Store a new subscription with a fresh id and secret; returns both."""
        secret = new_secret()
        now = now_iso()
        seq = int(await self.redis.get(self.keys.delta_seq()) or 0)
        sub = replace(
            sub,
            id="sub_" + secrets.token_hex(12),
            status="pending",
            created=now,
            updated=now,
            created_seq=seq,
            secrets=(Secret(secret, now),),
        )
        mapping: dict[Any, Any] = _to_hash(sub)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.subscription(sub.id), mapping=mapping)
            if self.keys.cluster:
                # The registry is in another slot: the subscription first, then its listing
                # (a crash between leaves a subscription nobody was told of, never a
                # listed id without its record).
                await pipe.execute()
            pipe.sadd(self.keys.subscriptions(), sub.id)
            pipe.sadd(self.keys.org_subscriptions(sub.org), sub.id)
            await pipe.execute()
        return sub, secret

    async def get(self, sub_id: str) -> Subscription | None:
        data = cast(dict[str, str], await self.redis.hgetall(self.keys.subscription(sub_id)))
        return from_hash(data) if data.get("id") else None

    async def owned(self, org: str, sub_id: str) -> Subscription:
        """The subscription `sub_id` if `org` owns it; NotFound otherwise (also for
        another organisation's id, so ids reveal nothing)."""
        sub = await self.get(sub_id)
        if sub is None or sub.org != org:
            raise NotFound(f"no subscription {sub_id!r}", id=sub_id)
        return sub

    async def list_for(self, org: str) -> list[Subscription]:
        ids = sorted(cast(set[str], await self.redis.smembers(self.keys.org_subscriptions(org))))
        subs = [await self.get(i) for i in ids]
        return [s for s in subs if s is not None and s.org == org]

    async def ids(self) -> list[str]:
        return sorted(cast(set[str], await self.redis.smembers(self.keys.subscriptions())))

    async def all(self) -> list[Subscription]:
        ids = await self.ids()
        if not ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for sub_id in ids:
                pipe.hgetall(self.keys.subscription(sub_id))
            rows = cast(list[dict[str, str]], await pipe.execute())
        return [from_hash(r) for r in rows if r.get("id")]

    async def save(self, sub: Subscription) -> Subscription:
        sub = replace(sub, updated=now_iso())
        mapping: dict[Any, Any] = _to_hash(sub)
        await self.redis.hset(self.keys.subscription(sub.id), mapping=mapping)
        return sub

    async def set_status(self, sub_id: str, status: str, reason: str | None = None) -> None:
        """Change only the status fields (the dispatcher may write others meanwhile)."""
        mapping: dict[Any, Any] = {
            "status": status,
            "status_reason": reason or "",
            "updated": now_iso(),
        }
        await self.redis.hset(self.keys.subscription(sub_id), mapping=mapping)

    async def rotate(self, sub: Subscription, overlap_s: float) -> tuple[Subscription, str]:
        """A new current secret; the old one keeps signing for `overlap_s` seconds."""
        secret = new_secret()
        now = time.time()
        previous = [
            replace(
                s, expires=now + overlap_s if s.expires is None else min(s.expires, now + overlap_s)
            )
            for s in sub.secrets[:1]
            if overlap_s > 0
        ]
        rotated = replace(sub, secrets=(Secret(secret, now_iso()), *previous))
        return await self.save(rotated), secret

    async def delete(self, sub: Subscription) -> None:
        """Delete the subscription and everything kept for it, its slices' included."""
        k = self.keys
        async with self.redis.pipeline(transaction=True) as pipe:
            if k.cluster:
                # The registry is in another slot: unlisted first (the dispatcher stops
                # serving it), then its keys, all in the partition's slot, deleted.
                pipe.srem(k.subscriptions(), sub.id)
                pipe.srem(k.org_subscriptions(sub.org), sub.id)
                await pipe.execute()
            pipe.srem(k.watchlist_dirty_of(sub.id), sub.id)
            pipe.delete(
                k.subscription(sub.id),
                k.sub_events(sub.id),
                k.sub_cursor(sub.id),
                k.sub_deliveries(sub.id),
                k.sub_dead(sub.id),
                k.sub_matches(sub.id),
                k.watchlist(sub.id),
                k.watchlist_meta(sub.id),
                k.watchlist_pending(sub.id),
            )
            if not k.cluster:
                pipe.srem(k.subscriptions(), sub.id)
                pipe.srem(k.org_subscriptions(sub.org), sub.id)
            await pipe.execute()
        # Read once its watchlist is gone: it is sliced no more after this (a mark under
        # way may still add it: harmless, no slice is built for a subscription gone).
        slices = int(await self.redis.hget(k.dispatch_sliced(), sub.id) or 0)
        if slices:
            await self._forget_slices(sub, slices)

    async def _forget_slices(self, sub: Subscription, slices: int) -> None:
        """The rest of a sliced subscription, once its hash is gone (the writers of its
        slice change streams and shortlists write only while it exists, in their
        scripts): the streams, the shortlists its home has not used, then its slicing.
        Its slices' snapshots are written again without it by the workers holding them
        (`Slicer`)."""
        k = self.keys
        await self.redis.delete(*[k.slice_changes(sub.id, j) for j in range(slices)])
        home = int(await self.redis.get(k.partition_cursor(k.partition_of(sub.id))) or 0)
        newest = int(await self.redis.get(k.delta_seq()) or 0)
        # Shortlists are written for the deltas after the home's cursor only (and
        # deleted as it passes them): those still there are in this range.
        seqs = range(max(home, sub.created_seq) + 1, newest + 1)
        for at in range(0, len(seqs), _FORGET_PAGE):
            await self.redis.delete(
                *[k.slice_found(sub.id, s) for s in seqs[at : at + _FORGET_PAGE]]
            )
        await self.redis.hdel(k.dispatch_sliced(), sub.id)
