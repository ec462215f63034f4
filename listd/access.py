"""API keys: random secrets shown once, stored only as sha256 hashes, checked in constant time."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis

from listd.errors import BadRequest, Forbidden, Unauthorized
from listd.keys import Keys
from listd.store import now_iso

ROLES = ("screener", "admin")
_PREFIX = "lk_"


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: the API key's name and role."""

    name: str
    role: str
    key_id: str  # first 12 hex of the key hash: safe to log

    def require(self, *roles: str) -> None:
        # admin may do everything a screener may.
        if self.role not in roles and self.role != "admin":
            raise Forbidden(f"this route needs role {' or '.join(roles)}", role=self.role)


class KeyStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def create(self, name: str, role: str, ttl_days: float | None = None) -> str:
        """Create a key and return the secret; it is never retrievable again."""
        if role not in ROLES:
            raise BadRequest(f"role must be one of {', '.join(ROLES)}", field="role")
        if not name.strip():
            raise BadRequest("name must not be empty", field="name")
        secret = _PREFIX + secrets.token_urlsafe(32)
        digest = hash_key(secret)
        record: dict[Any, Any] = {"name": name.strip(), "role": role, "created": now_iso()}
        if ttl_days is not None:
            record["expires"] = int(time.time() + ttl_days * 86400)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.api_key(digest), mapping=record)
            pipe.sadd(self.keys.api_keys(), digest)
            await pipe.execute()
        return secret

    async def authenticate(self, secret: str) -> Principal:
        digest = hash_key(secret)
        # Looked up by the sha256 of the secret: response timing depends on the
        # digest, which an attacker cannot steer towards a stored one.
        record = cast(dict[str, str], await self.redis.hgetall(self.keys.api_key(digest)))
        if not record:
            raise Unauthorized("unknown API key")
        if "expires" in record and int(record["expires"]) < time.time():
            raise Unauthorized("API key expired")
        return Principal(name=record["name"], role=record["role"], key_id=digest[:12])
