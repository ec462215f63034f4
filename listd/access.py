"""Who may do what: users, API keys, terms of use, registrations and maintenance windows.

Keys are random secrets shown once, stored only as sha256 hashes, looked up by that hash
(so timing depends on a digest an attacker cannot steer) and expire. Each key belongs to
a user (name, organisation, role, status). A request is admitted by one Lua script
that reads the key, its user's status, the maintenance windows and the key's rate
counter together; read-only routes may reuse that answer for a second, provisionally:
the request's journal append confirms it against the access epoch every block bumps,
so a block takes effect on the next request on every instance (see `Gate`).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
import ssl
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from listd.audit import Actor, Confirm, Journal, StoreHealth
from listd.errors import (
    AgreementRequired,
    BadRequest,
    Blocked,
    ConfigError,
    Conflict,
    Forbidden,
    ListdError,
    Maintenance,
    NotFound,
    RateLimited,
    StoreUnavailable,
    Unauthorized,
)
from listd.keys import Keys
from listd.store import now_iso

# screener: screen and read entities; subscriber: its own subscriptions and watchlists;
# auditor: its organisation's journal; operator: registrations, users, keys;
# admin: sources, held lists, configuration.
ROLES = ("screener", "subscriber", "auditor", "operator", "admin")
# admin may do what a screener or a subscriber may (its own organisation's data), but
# not what an operator or an auditor does: identities and the journal are separate duties.
_IMPLIED = {"admin": frozenset({"screener", "subscriber"})}
# Roles an outside organisation may apply for; operators and admins run listd itself.
APPLICABLE_ROLES = ("screener", "subscriber", "auditor")
# During maintenance only these are served, so they can manage the window and the lists.
MAINTAINERS = frozenset({"operator", "admin"})
_PREFIX = "lk_"
_NAME = re.compile(r"[\w][\w .@()'&,/+-]{0,99}")
RATE_WINDOW = 60  # seconds: rate limits count requests per key per minute
SYSTEM = Actor(name="listd", via="internal")


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_name(value: Any, field: str) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value.strip()):
        raise BadRequest(
            f"{field} must be 1-100 letters, digits, spaces or .@()'&,/+- and start with a "
            "letter or digit",
            field=field,
        )
    return value.strip()


def check_role(value: Any, field: str = "role") -> str:
    if value not in ROLES:
        raise BadRequest(f"{field} must be one of {', '.join(ROLES)}", field=field)
    return str(value)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: the user's name and role, the credential and the organisation."""

    name: str
    role: str
    key_id: str  # first 12 hex of the key hash: safe to log
    org: str  # the organisation the key belongs to; data is never shared across orgs
    user: str = ""  # user id
    via: str = "key"  # key | cert

    def require(self, *roles: str) -> None:
        if self.role not in roles and not _IMPLIED.get(self.role, frozenset()) & set(roles):
            raise Forbidden(f"this route needs role {' or '.join(roles)}", role=self.role)

    def require_org(self, org: str) -> None:
        """Refuse (403) anything about another organisation."""
        if org != self.org:
            raise Forbidden("that belongs to another organisation", org=self.org)

    def actor(self) -> Actor:
        return Actor(self.name, self.org, self.role, self.user, self.key_id, self.via)


# --- terms of use ---------------------------------------------------------------------------
DEFAULT_TERMS = """\
Terms of use of listd

1. You use this service only to meet the obligations of a reporting entity under the
   Law of the Republic of Kazakhstan "On Countering the Legalisation (Laundering) of
   Proceeds from Crime and the Financing of Terrorism" and the targeted financial
   sanctions it implements.
2. Every screening and every read of a listed person's record states its legal basis
   (onboarding, transaction, periodic review, a competent authority's request, or
   another ground with a case reference). Every request is recorded in a journal that
   your organisation's auditor and the operator can inspect.
3. Information obtained is confidential. You do not pass it to third parties, nor use it
   to tip off a customer, except as the law requires.
4. Credentials are personal to your organisation. Keep them secret, rotate them before
   they expire, and tell the operator at once if one may be compromised: it will be
   blocked.
5. The operator may block a credential that breaks these terms.
"""


@dataclass(frozen=True, slots=True)
class Terms:
    text: str
    version: str  # first 16 hex of the sha256 of the text

    @classmethod
    def of(cls, text: str) -> Terms:
        return cls(text, hashlib.sha256(text.encode()).hexdigest()[:16])

    @classmethod
    def load(cls, path: Path | None) -> Terms:
        """The terms in `path`, or the packaged text."""
        if path is None:
            return cls.of(DEFAULT_TERMS)
        try:
            return cls.of(path.read_text("utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read LISTD_TERMS_FILE {path}: {exc.strerror}") from exc


TERMS = Terms.of(DEFAULT_TERMS)


# --- users and keys -------------------------------------------------------------------------
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
            "expires": _iso(self.expires),
        }


def _hash(fields: Mapping[str, str | int]) -> dict[Any, Any]:
    """A hash's fields as redis-py's (invariant) mapping type wants them."""
    return dict(fields)


async def bump_epoch(redis: Redis, keys: Keys) -> None:
    """After a change that can refuse a credential: API processes stop answering from
    their admission caches (see `Gate`). Always after the change, never before."""
    await redis.incr(keys.access_epoch())


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def key_json(record: dict[str, str], now: float | None = None) -> dict[str, Any]:
    """A key as operators see it: never the secret nor its hash."""
    now = time.time() if now is None else now
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
        "expires": _iso(expires) if expires is not None else None,
        "agreed": record.get("agreed_at") or None,
    }
    for extra in ("rotated_from", "rotated_to", "rate_limit", "block_reason"):
        if record.get(extra):
            out[extra] = int(record[extra]) if extra == "rate_limit" else record[extra]
    return out


class KeyStore:
    """Users and their API keys. Changes are journaled as administrative actions."""

    def __init__(
        self, redis: Redis, keys: Keys, ttl_days: float = 30.0, journal: Journal | None = None
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl_days = ttl_days
        self.journal = journal or Journal(redis, keys)

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
            pipe.hset(self.keys.user(user.id), mapping=_hash(user.to_json()))
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
        await self.redis.hset(self.keys.user(user_id), mapping=_hash(fields))
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
        expires = int(time.time() + days * 86400)
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
            pipe.hset(self.keys.api_key(digest), mapping=_hash(record))
            pipe.sadd(self.keys.api_keys(), digest)
            pipe.sadd(self.keys.user_keys(user.id), digest)
            await pipe.execute()
        await self.journal.record(
            actor, "key.create", digest[:12], user.org, user=user.id, expires=_iso(expires)
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
        now = time.time()
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
        now = time.time()
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
            old_expires=_iso(ends),
        )
        return new, _iso(ends)

    async def set_key_status(
        self, key_id: str, status: str, reason: str = "", actor: Actor = SYSTEM
    ) -> dict[str, Any]:
        record = await self.record(key_id)
        digest = await self._digest(key_id)
        fields = {"status": status}
        if status == "blocked":
            fields["block_reason"] = reason
        await self.redis.hset(self.keys.api_key(digest), mapping=_hash(fields))
        await bump_epoch(self.redis, self.keys)
        action = "key.block" if status == "blocked" else "key.unblock"
        await self.journal.record(actor, action, key_id, record.get("org", ""), reason=reason)
        return key_json(await self.record(key_id))

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
        return principal_of(record, status, digest, time.time())


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


# --- the gate: one script per request -------------------------------------------------------
# KEYS: the key's hash, the maintenance windows, the key's rate counter, the access epoch.
# The user's record is read by a key the script builds from the key record: it shares
# the `{prefix}` hash tag, so it lives in the same cluster slot. Also returns the epoch
# and the start of the next window (0: none), which bound how long the answer may be
# cached.
_GATE = """
local now = tonumber(ARGV[1])
local ends = 0
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])) do
  local e = tonumber(string.match(m, '^(%d+)|'))
  if e and e > now and e > ends then ends = e end
end
local epoch = tonumber(redis.call('GET', KEYS[4]) or '0')
local following = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[1], '+inf', 'WITHSCORES',
                             'LIMIT', 0, 1)
local next_start = 0
if #following > 0 then next_start = tonumber(following[2]) end
local rec = redis.call('HGETALL', KEYS[1])
if #rec == 0 then return {ends, 0, '', rec, epoch, next_start} end
local user = ''
for i = 1, #rec, 2 do
  if rec[i] == 'user' then
    user = redis.call('HGET', ARGV[2] .. rec[i + 1], 'status') or 'missing'
  end
end
local count = redis.call('INCR', KEYS[3])
if count == 1 then redis.call('EXPIRE', KEYS[3], ARGV[3]) end
return {ends, count, user, rec, epoch, next_start}
"""


def check_maintenance(ends: int, now: float, role: str | None) -> None:
    """Refuse (503) while a window runs, unless `role` maintains the service."""
    if ends > now and role not in MAINTAINERS:
        raise Maintenance(
            f"listd is under announced maintenance until {_iso(ends)}",
            retry_after=math.ceil(ends - now),
            until=_iso(ends),
        )


@dataclass(frozen=True, slots=True)
class Admission:
    """A credential that checked out, and what the rest of the gate decides on."""

    principal: Principal
    now: float
    maintenance_ends: int  # 0: no window running
    agreed: str  # the terms version the credential accepted ("" if none)
    terms: str  # the current terms version
    count: int  # requests of the credential in this rate window, this one included
    limit: int  # 0: no limit
    # Answered from this process's cache: the journal append confirms it (or not).
    confirm: Confirm | None = None
    # Redis is unreachable: admitted from what was seen of the credential lately.
    degraded: bool = False

    def check(self, agreement_exempt: bool = False) -> None:
        """Maintenance (503), terms not accepted (403), over the rate limit (429)."""
        check_maintenance(self.maintenance_ends, self.now, self.principal.role)
        if not agreement_exempt and self.agreed != self.terms:
            raise AgreementRequired(
                "accept the terms of use first: GET /v1/agreement, then POST /v1/agreement "
                '{"accept": true}',
                terms=self.terms,
            )
        if self.limit and self.count > self.limit:
            raise rate_limited(self.limit, self.now)


def rate_limited(limit: int, now: float) -> RateLimited:
    window_ends = (int(now // RATE_WINDOW) + 1) * RATE_WINDOW
    return RateLimited(
        f"more than {limit} requests this minute",
        retry_after=math.ceil(window_ends - now),
        limit=limit,
    )


@dataclass(slots=True)
class _Seen:
    """What the gate last read of a key in Redis."""

    digest: str
    principal: Principal
    agreed: str
    limit: int
    expires: float  # inf: never
    checked: float  # when it was read
    fresh_until: float  # cache answers until then (0: never)
    epoch: int
    maintenance_ends: int
    window: int  # rate window of `count`
    count: int  # requests in `window` known to Redis, plus those admitted here since


_SEEN_MAX = 100_000
_OUTAGE = (RedisConnectionError, RedisTimeoutError, OSError)


def _roll(seen: _Seen, now: float) -> int:
    """The current rate window; the local count restarts when it is a new one."""
    window = int(now // RATE_WINDOW)
    if seen.window != window:
        seen.window, seen.count = window, 0
    return window


class Gate:
    """Admits a request: the credential is known, active, unexpired and its user active;
    then (`Admission.check`) no maintenance for non-maintainers, terms accepted unless the
    route is exempt, and within the rate limit.

    Read-only routes may be admitted from a per-process cache (`cache_seconds`) of the
    last answer of the admission script. Such an admission is provisional: the request's
    journal entry is appended only if the access epoch (bumped by every block, unblock,
    expiry change, terms acceptance and maintenance change) is still the one the cached
    answer was read at, and the rate counter, incremented there, is within the limit;
    otherwise the answer is withheld and the request admitted afresh. When Redis is
    unreachable, a credential seen admitted within `grace_seconds` is admitted
    (`degraded`); any other gets 503.
    """

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        terms: Terms,
        rate_limit: int,
        *,
        cache_seconds: float = 0.0,
        grace_seconds: float = 0.0,
        health: StoreHealth | None = None,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.terms = terms
        self.rate_limit = rate_limit
        self.cache_seconds = cache_seconds
        self.grace_seconds = grace_seconds
        self.health = health or StoreHealth()
        self.epoch = -1  # the newest access epoch seen in Redis
        self._seen: dict[str, _Seen] = {}
        self._script = redis.register_script(_GATE)

    def learn_epoch(self, epoch: int) -> None:
        """The access epoch as Redis last reported it; a change voids every cached answer."""
        self.epoch = epoch

    def counted(self, key_id: str, window: int, count: int) -> None:
        """The rate counter of a confirmed request, as the journal append returned it."""
        seen = self._seen.get(key_id)
        if seen is not None and seen.window == window:
            seen.count = max(seen.count, count)

    async def admit(self, secret: str, cached: bool = False) -> Admission:
        """Admit a key: one round trip reading the key, its user's status, maintenance and
        the rate counter; or, with `cached`, the cached answer when it still holds."""
        now = time.time()
        digest = hash_key(secret)
        seen = self._seen.get(digest[:12])
        if seen is not None and seen.digest != digest:
            seen = None
        if cached and seen is not None:
            hit = self._cached(seen, now)
            if hit is not None:
                return hit
        if not self.health.should_try(now):
            return self._degraded(digest, seen, now)
        try:
            ends, count, user_status, flat, epoch, next_start = await self._script(
                keys=[
                    self.keys.api_key(digest),
                    self.keys.maintenance(),
                    self.keys.rate(digest[:12], int(now // RATE_WINDOW)),
                    self.keys.access_epoch(),
                ],
                args=[int(now), self.keys.user_prefix(), 2 * RATE_WINDOW],
            )
        except _OUTAGE:
            self.health.failed(now)
            return self._degraded(digest, seen, now)
        self.health.ok()
        self.learn_epoch(int(epoch))
        record = dict(zip(flat[::2], flat[1::2], strict=True))
        try:
            principal = principal_of(record, str(user_status), digest, now)
        except ListdError:
            self._seen.pop(digest[:12], None)  # refused: never admitted from memory again
            raise
        admission = Admission(
            principal=principal,
            now=now,
            maintenance_ends=int(ends),
            agreed=record.get("agreed", ""),
            terms=self.terms.version,
            count=int(count),
            limit=int(record.get("rate_limit") or self.rate_limit),
        )
        expires = float(record["expires"]) if record.get("expires") else math.inf
        fresh = min(now + self.cache_seconds, float(next_start) or math.inf, expires)
        if len(self._seen) >= _SEEN_MAX:
            self._seen.clear()
        self._seen[digest[:12]] = _Seen(
            digest=digest,
            principal=principal,
            agreed=admission.agreed,
            limit=admission.limit,
            expires=expires,
            checked=now,
            fresh_until=fresh if self.cache_seconds > 0 else 0.0,
            epoch=int(epoch),
            maintenance_ends=int(ends),
            window=int(now // RATE_WINDOW),
            count=int(count),
        )
        return admission

    def _cached(self, seen: _Seen, now: float) -> Admission | None:
        """The cached answer, if it is fresh and admits: anything else asks Redis."""
        if now >= seen.fresh_until or seen.epoch != self.epoch or self.health.down:
            return None
        if seen.agreed != self.terms.version:
            return None
        if seen.maintenance_ends > now and seen.principal.role not in MAINTAINERS:
            return None
        window = _roll(seen, now)
        if seen.limit and seen.count >= seen.limit:
            return None  # maybe over: let the script count and decide
        rate = self.keys.rate(seen.principal.key_id, window)
        return self._from_seen(seen, now, confirm=Confirm(seen.epoch, rate, seen.limit))

    def _degraded(self, digest: str, seen: _Seen | None, now: float) -> Admission:
        """Redis is unreachable: admit what was seen admitted lately, refuse the rest."""
        if seen is None or now - seen.checked > self.grace_seconds:
            raise StoreUnavailable(
                "the store (Redis) is unreachable and this credential was not seen recently; "
                "retry later",
                field="Authorization",
                key_id=digest[:12],
            )
        if seen.expires <= now:
            raise Unauthorized("API key expired", key_id=digest[:12])
        _roll(seen, now)
        return self._from_seen(seen, now, degraded=True)

    def _from_seen(
        self, seen: _Seen, now: float, *, confirm: Confirm | None = None, degraded: bool = False
    ) -> Admission:
        """Admit (and count) a request from what was last seen of its key."""
        seen.count += 1
        return Admission(
            principal=seen.principal,
            now=now,
            maintenance_ends=seen.maintenance_ends if seen.maintenance_ends > now else 0,
            agreed=seen.agreed,
            terms=self.terms.version,
            count=seen.count,
            limit=seen.limit,
            confirm=confirm,
            degraded=degraded,
        )

    async def admit_cert(self, user: User) -> Admission:
        """The same for a user authenticated by a TLS client certificate."""
        now = time.time()
        if user.status != "active":
            raise Blocked("this user is blocked; ask your operator", user=user.id)
        principal = Principal(
            user.name, user.role, "cert-" + user.id.removeprefix("u-"), user.org, user.id, "cert"
        )
        rate = self.keys.rate(principal.key_id, int(now // RATE_WINDOW))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hget(self.keys.cert_agreement(user.id), "agreed")
            pipe.incr(rate)
            pipe.expire(rate, 2 * RATE_WINDOW)
            agreed, count, _ = await pipe.execute()
        return Admission(
            principal=principal,
            now=now,
            maintenance_ends=await self.maintenance_ends(now),
            agreed=agreed or "",
            terms=self.terms.version,
            count=int(count),
            limit=self.rate_limit,
        )

    async def maintenance_ends(self, now: float) -> int:
        """End of the maintenance window running at `now` (0 when none is)."""
        members = cast(
            list[str], await self.redis.zrangebyscore(self.keys.maintenance(), "-inf", int(now))
        )
        ends = [int(m.split("|", 1)[0]) for m in members]
        return max((e for e in ends if e > now), default=0)


# --- TLS client certificates ---------------------------------------------------------------
def tls_context(cert: Path, key: Path, client_ca: Path | None) -> ssl.SSLContext:
    """The server's TLS context. With `client_ca`, clients may present a certificate issued
    by it (optional: API keys keep working); its subject names a user (`cert_subject`)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
        if client_ca is not None:
            context.load_verify_locations(cafile=client_ca)
            context.verify_mode = ssl.CERT_OPTIONAL
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the TLS certificate, key or client CA: {exc}") from exc
    return context


# --- maintenance windows --------------------------------------------------------------------
class MaintenanceWindows:
    """Announced windows during which only operators and admins are served."""

    def __init__(self, redis: Redis, keys: Keys, journal: Journal) -> None:
        self.redis = redis
        self.keys = keys
        self.journal = journal

    async def announce(self, start: float, end: float, reason: str, actor: Actor) -> dict[str, Any]:
        now = time.time()
        if end <= start:
            raise BadRequest("end must be after start", field="end")
        if end <= now:
            raise BadRequest("the window is already over", field="end")
        if end - start > 7 * 86400:
            raise BadRequest("a window may last at most 7 days", field="end")
        window = {
            "id": "m-" + secrets.token_hex(4),
            "start": _iso(start),
            "end": _iso(math.ceil(end)),
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
        now = time.time()
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


# --- registrations --------------------------------------------------------------------------
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

    def __init__(self, redis: Redis, keys: Keys, store: KeyStore, sla_hours: float) -> None:
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
        now = time.time()
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
            "submitted": _iso(now),
            "submitted_ts": f"{now:.3f}",
            "ip": ip,
        }
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.registration(reg_id), mapping=_hash(record))
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
        return registration_json(record, self.sla_hours, time.time())

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
        cutoff = time.time() - self.sla_hours * 3600
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
            mapping=_hash(
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
