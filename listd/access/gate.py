"""The gate: one script per request admits a credential.

A request is admitted by one Lua script that reads the key, its user's status, the
maintenance windows and the key's rate counter together; read-only routes may reuse that
answer for a second, provisionally: the request's journal append confirms it against the
access epoch every block bumps, so a block takes effect on the next request on every
instance (see `Gate`). TLS client certificates are the other credential (`tls_context`,
`Gate.admit_cert`).
"""

from __future__ import annotations

import math
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from redis.asyncio import Redis

from listd.access.keys import User, hash_key, principal_of
from listd.access.maintenance import check_maintenance
from listd.access.roles import MAINTAINERS, Principal
from listd.access.terms import Terms
from listd.audit.writer import Confirm
from listd.clock import SYSTEM_CLOCK, Clock
from listd.connection import OUTAGE, StoreHealth
from listd.errors import (
    AgreementRequired,
    Blocked,
    ConfigError,
    ListdError,
    RateLimited,
    StoreUnavailable,
    Unauthorized,
)
from listd.keyspace import Keys

RATE_WINDOW = 60  # seconds: rate limits count requests per key per minute


# KEYS: the key's hash, the maintenance windows, the key's rate counter, the access epoch.
# The user's record is read by a key the script builds from the key record: it shares
# the access group's hash tag (`{prefix}`, on a cluster `{prefix:access}`), so it lives
# in the same slot as the declared keys, which Redis Cluster and Valkey accept. Also
# returns the epoch and the start of the next window (0: none), which bound how long the
# answer may be cached.
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
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.clock = clock  # rate-limit windows, key expiry, the admission cache
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
        now = self.clock.time()
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
        except OUTAGE:
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
        now = self.clock.time()
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
