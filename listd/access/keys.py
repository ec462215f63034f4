"""Users and their API keys.

Keys are random secrets shown once, stored only as sha256 hashes, looked up by that hash
(so timing depends on a digest an attacker cannot steer) and expire. Each key belongs to
a user (name, organisation, role, status).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, cast

from redis.asyncio import Redis

from listd.access.roles import Principal, check_name, check_role
from listd.access.terms import TERMS
from listd.audit.entries import Actor
from listd.audit.journal import Journal
from listd.clock import SYSTEM_CLOCK, Clock
from listd.errors import BadRequest, Blocked, Conflict, NotFound, Unauthorized
from listd.keyspace import Keys
from listd.pipeline.store import now_iso

_PREFIX = "lk_"
SYSTEM = Actor(name="listd", via="internal")


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class User:
    id: str
    name: str
    org: str
    role: str
    status: str  # active | blocked
    created: str
    created_by: str = ""
    cert_subject: str = ""
    blocked_at: str = ""
    block_reason: str = ""

    def to_json(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v}


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new key: the only time the secret exists outside the client."""

    secret: str
    key_id: str
    user: str
    name: str
    role: str
    org: str
    expires: int

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.secret,
            "key_id": self.key_id,
            "user": self.user,
            "name": self.name,
            "role": self.role,
            "org": self.org,
            "expires": iso(self.expires),
        }


def redis_mapping(fields: Mapping[str, str | int]) -> dict[Any, Any]:
    """A hash's fields as redis-py's (invariant) mapping type wants them."""
    return dict(fields)


async def bump_epoch(redis: Redis, keys: Keys) -> None:
    """After a change that can refuse a credential: API processes stop answering from
    their admission caches (see `Gate`). Always after the change, never before."""
    await redis.incr(keys.access_epoch())


def iso(ts: float) -> str:
    """A Unix time as ISO 8601 UTC to the second, as every access record shows it."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def key_json(record: dict[str, str], now: float) -> dict[str, Any]:
    """A key as operators see it (its status at `now`): never the secret nor its hash."""
    expires = int(record["expires"]) if record.get("expires") else None
    status = record.get("status") or "active"
    if status == "active" and expires is not None and expires <= now:
        status = "expired"
    out: dict[str, Any] = {
        "key_id": record.get("key_id", ""),
        "user": record.get("user") or None,
        "name": record.get("name"),
        "role": record.get("role"),
        "org": record.get("org"),
        "status": status,
        "created": record.get("created"),
        "expires": iso(expires) if expires is not None else None,
        "agreed": record.get("agreed_at") or None,
    }
    for extra in ("rotated_from", "rotated_to", "rate_limit", "block_reason"):
        if record.get(extra):
            out[extra] = int(record[extra]) if extra == "rate_limit" else record[extra]
    return out


class KeyStore:
    """Users and their API keys. Changes are journaled as administrative actions."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        ttl_days: float = 30.0,
        journal: Journal | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl_days = ttl_days
        self.journal = journal or Journal(redis, keys)
        self.clock = clock  # key expiry

    # --- users ------------------------------------------------------------------------------
    async def create_user(
        self,
        name: str,
        org: str,
        role: str,
        *,
        cert_subject: str | None = None,
        actor: Actor = SYSTEM,
    ) -> User:
        name, org = check_name(name, "name"), check_name(org, "org")
        role = check_role(role)
        user = User(
            id="u-" + secrets.token_hex(6),
            name=name,
            org=org,
            role=role,
            status="active",
            created=now_iso(),
            created_by=actor.name,
            cert_subject=(cert_subject or "").strip(),
        )
        if user.cert_subject and not await self.redis.hsetnx(
            self.keys.cert_users(), user.cert_subject, user.id
        ):
            raise Conflict("that certificate subject is another user's", field="cert_subject")
        claimed = await self.redis.hsetnx(self.keys.user_names(), json.dumps([org, name]), user.id)
        if not claimed:
            if user.cert_subject:
                await self.redis.hdel(self.keys.cert_users(), user.cert_subject)
            raise Conflict(f"organisation {org} already has a user named {name!r}", field="name")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.user(user.id), mapping=redis_mapping(user.to_json()))
            pipe.sadd(self.keys.users(), user.id)
            await pipe.execute()
        await self.journal.record(actor, "user.create", user.id, org, role=role, name=name)
        return user

    async def user(self, user_id: str) -> User:
        record = cast(dict[str, str], await self.redis.hgetall(self.keys.user(user_id)))
        if not record:
            raise NotFound(f"no user {user_id!r}", user=user_id)
        return User(**{k: v for k, v in record.items() if k in User.__dataclass_fields__})

    async def find_user(self, org: str, name: str) -> User | None:
        user_id = await self.redis.hget(self.keys.user_names(), json.dumps([org, name]))
        return await self.user(str(user_id)) if user_id else None

    async def user_by_cert(self, subject: str) -> User | None:
        user_id = await self.redis.hget(self.keys.cert_users(), subject)
        return await self.user(str(user_id)) if user_id else None

    async def users(self, org: str | None = None) -> list[User]:
        ids = sorted(cast(set[str], await self.redis.smembers(self.keys.users())))
        found = [await self.user(i) for i in ids]
        return [u for u in found if org is None or u.org == org]

    async def set_user_status(
        self, user_id: str, status: str, reason: str = "", actor: Actor = SYSTEM
    ) -> User:
        """Block or unblock a user; a block stops every key of the user at once."""
        user = await self.user(user_id)
        fields = {"status": status}
        if status == "blocked":
            fields |= {"blocked_at": now_iso(), "block_reason": reason}
        await self.redis.hset(self.keys.user(user_id), mapping=redis_mapping(fields))
        if status == "active":
            await self.redis.hdel(self.keys.user(user_id), "blocked_at", "block_reason")
        await bump_epoch(self.redis, self.keys)
        action = "user.block" if status == "blocked" else "user.unblock"
        await self.journal.record(actor, action, user_id, user.org, reason=reason)
        return await self.user(user_id)

    # --- keys -------------------------------------------------------------------------------
    async def create(
        self, name: str, role: str, ttl_days: float | None = None, org: str | None = None
    ) -> str:
        """A key for user `name` of `org` (default: the name), creating the user if it is
        new; return the secret, never retrievable again."""
        return (await self.key_for(name, role, org, ttl_days=ttl_days)).secret

    async def key_for(
        self,
        name: str,
        role: str,
        org: str | None = None,
        *,
        ttl_days: float | None = None,
        rate_limit: int | None = None,
        actor: Actor = SYSTEM,
    ) -> IssuedKey:
        """`create`, with the whole key returned."""
        check_role(role)
        name = check_name(name, "name")
        org = check_name(org or name, "org")
        user = await self.find_user(org, name)
        if user is None:
            user = await self.create_user(name, org, role, actor=actor)
        elif user.role != role:
            raise Conflict(
                f"user {name!r} of {org} has role {user.role}; a key has its user's role",
                field="role",
            )
        return await self.issue(user.id, ttl_days=ttl_days, rate_limit=rate_limit, actor=actor)

    async def issue(
        self,
        user_id: str,
        *,
        ttl_days: float | None = None,
        rate_limit: int | None = None,
        rotated_from: str = "",
        actor: Actor = SYSTEM,
    ) -> IssuedKey:
        """A new key for an active user."""
        user = await self.user(user_id)
        if user.status != "active":
            raise Conflict(f"user {user_id} is {user.status}", user=user_id)
        days = self.ttl_days if ttl_days is None else ttl_days
        if not days > 0:
            raise BadRequest("expiry must be a positive number of days", field="expires_days")
        while True:
            secret = _PREFIX + secrets.token_urlsafe(32)
            digest = hash_key(secret)
            if await self.redis.hsetnx(self.keys.api_key_ids(), digest[:12], digest):
                break
        expires = int(self.clock.time() + days * 86400)
        record: dict[str, str | int] = {
            "key_id": digest[:12],
            "user": user.id,
            "name": user.name,
            "role": user.role,
            "org": user.org,
            "status": "active",
            "created": now_iso(),
            "created_by": actor.name,
            "expires": expires,
        }
        if rate_limit is not None:
            record["rate_limit"] = rate_limit
        if rotated_from:
            record["rotated_from"] = rotated_from
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.api_key(digest), mapping=redis_mapping(record))
            pipe.sadd(self.keys.api_keys(), digest)
            pipe.sadd(self.keys.user_keys(user.id), digest)
            await pipe.execute()
        await self.journal.record(
            actor, "key.create", digest[:12], user.org, user=user.id, expires=iso(expires)
        )
        return IssuedKey(secret, digest[:12], user.id, user.name, user.role, user.org, expires)

    async def _digest(self, secret_or_key_id: str) -> str:
        if secret_or_key_id.startswith(_PREFIX):
            return hash_key(secret_or_key_id)
        digest = await self.redis.hget(self.keys.api_key_ids(), secret_or_key_id)
        if not digest:
            raise NotFound(f"no key {secret_or_key_id!r}", key_id=secret_or_key_id)
        return str(digest)

    async def record(self, secret_or_key_id: str) -> dict[str, str]:
        digest = await self._digest(secret_or_key_id)
        record = cast(dict[str, str], await self.redis.hgetall(self.keys.api_key(digest)))
        if not record:
            raise NotFound("no such key")
        record.setdefault("key_id", digest[:12])
        return record

    async def list_keys(
        self, user_id: str | None = None, org: str | None = None
    ) -> list[dict[str, Any]]:
        source = self.keys.user_keys(user_id) if user_id else self.keys.api_keys()
        digests = sorted(cast(set[str], await self.redis.smembers(source)))
        async with self.redis.pipeline(transaction=False) as pipe:
            for digest in digests:
                pipe.hgetall(self.keys.api_key(digest))
            records = cast(list[dict[str, str]], await pipe.execute())
        now = self.clock.time()
        out = []
        for digest, record in zip(digests, records, strict=True):
            if record and (org is None or record.get("org") == org):
                out.append(key_json({"key_id": digest[:12], **record}, now))
        return sorted(out, key=lambda k: (k["org"] or "", k["created"] or "", k["key_id"]))

    async def rotate(
        self, key_id: str, overlap_hours: float = 24.0, actor: Actor = SYSTEM
    ) -> tuple[IssuedKey, str]:
        """A successor of key `key_id`; the old key keeps working `overlap_hours` more (never
        past its own expiry). Returns the new key and the old key's new expiry."""
        if not 0 <= overlap_hours <= 24 * 30:
            raise BadRequest("overlap_hours must be between 0 and 720", field="overlap_hours")
        old = await self.record(key_id)
        now = self.clock.time()
        if (old.get("status") or "active") != "active":
            raise Conflict(f"key {key_id} is {old.get('status')}; it cannot be rotated")
        if old.get("expires") and int(old["expires"]) <= now:
            raise Conflict(f"key {key_id} has expired; issue a new one")
        if not old.get("user"):
            raise Conflict(f"key {key_id} has no user (created before users existed)")
        limit = int(old["rate_limit"]) if old.get("rate_limit") else None
        new = await self.issue(old["user"], rate_limit=limit, rotated_from=key_id, actor=actor)
        ends = int(now + overlap_hours * 3600)
        if old.get("expires"):
            ends = min(ends, int(old["expires"]))
        digest = await self._digest(key_id)
        await self.redis.hset(
            self.keys.api_key(digest), mapping={"expires": ends, "rotated_to": new.key_id}
        )
        await bump_epoch(self.redis, self.keys)
        await self.journal.record(
            actor,
            "key.rotate",
            key_id,
            old.get("org", ""),
            successor=new.key_id,
            old_expires=iso(ends),
        )
        return new, iso(ends)

    async def set_key_status(
        self, key_id: str, status: str, reason: str = "", actor: Actor = SYSTEM
    ) -> dict[str, Any]:
        record = await self.record(key_id)
        digest = await self._digest(key_id)
        fields = {"status": status}
        if status == "blocked":
            fields["block_reason"] = reason
        await self.redis.hset(self.keys.api_key(digest), mapping=redis_mapping(fields))
        await bump_epoch(self.redis, self.keys)
        action = "key.block" if status == "blocked" else "key.unblock"
        await self.journal.record(actor, action, key_id, record.get("org", ""), reason=reason)
        return key_json(await self.record(key_id), self.clock.time())

    async def accept_agreement(
        self, secret_or_key_id: str, version: str = TERMS.version, actor: Actor | None = None
    ) -> str:
        """Record that the key accepted terms `version`; journaled. Returns the time."""
        record = await self.record(secret_or_key_id)
        digest = await self._digest(secret_or_key_id)
        at = now_iso()
        await self.redis.hset(
            self.keys.api_key(digest), mapping={"agreed": version, "agreed_at": at}
        )
        who = actor or Actor(
            record.get("name", ""), record.get("org", ""), record.get("role", ""),
            record.get("user", ""), digest[:12],
        )  # fmt: skip
        await self.journal.record(
            who, "agreement.accept", digest[:12], record.get("org", ""), terms=version
        )
        return at

    async def cert_agreement(self, user_id: str) -> dict[str, str]:
        """The terms acceptance of the user's certificate credential (agreed, agreed_at)."""
        return cast(dict[str, str], await self.redis.hgetall(self.keys.cert_agreement(user_id)))

    async def accept_cert_agreement(self, user_id: str, version: str, actor: Actor) -> str:
        """The same for a user's TLS client certificate credential."""
        at = now_iso()
        await self.redis.hset(
            self.keys.cert_agreement(user_id), mapping={"agreed": version, "agreed_at": at}
        )
        user = await self.user(user_id)
        await self.journal.record(actor, "agreement.accept", user_id, user.org, terms=version)
        return at

    async def authenticate(self, secret: str) -> Principal:
        """The principal of a key, with every check but rate limits and maintenance."""
        digest = hash_key(secret)
        record = cast(dict[str, str], await self.redis.hgetall(self.keys.api_key(digest)))
        status = ""
        if record.get("user"):
            found = await self.redis.hget(self.keys.user(record["user"]), "status")
            status = str(found) if found else "missing"
        return principal_of(record, status, digest, self.clock.time())


def principal_of(record: dict[str, str], user_status: str, digest: str, now: float) -> Principal:
    """Check a key record (and its user's status); 401 or 403 if it may not be used."""
    if not record:
        raise Unauthorized("unknown API key")
    if record.get("status", "active") != "active":
        raise Blocked("this API key is blocked; ask your operator", key_id=digest[:12])
    if user_status == "blocked":
        raise Blocked("this user is blocked; ask your operator", key_id=digest[:12])
    if user_status == "missing":
        raise Unauthorized("the user of this API key no longer exists")
    if record.get("expires") and int(record["expires"]) <= now:
        raise Unauthorized("API key expired", key_id=digest[:12])
    return Principal(
        name=record["name"],
        role=record["role"],
        key_id=digest[:12],
        org=record.get("org") or record["name"],
        user=record.get("user", ""),
    )
