"""What listd needs of its Redis server: a supported version, checked once at start-up,
and fallbacks for the few commands newer than the oldest server supported.

The floor is Redis 6.2 (so any Valkey): listd trims streams with `XTRIM MINID` and pages
them with exclusive `XRANGE`/`XREVRANGE` bounds (`(id`), both new in 6.2. Newer commands are used
only with a fallback: `HSCAN ... NOVALUES` (Redis 7.4, Valkey 8) by `hash_fields`, and
`XINFO GROUPS`' `lag` (Redis 7.0) by the metrics. docs/operations.md lists the servers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from listd.errors import ConfigError

MINIMUM = (6, 2)


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """The server's own name and version, and the Redis version it is compatible with
    (Valkey reports `redis_version:7.2.4` whatever its own `valkey_version`)."""

    name: str
    version: str
    redis_version: str

    @property
    def compatible(self) -> tuple[int, int]:
        return _major_minor(self.redis_version)

    def __str__(self) -> str:
        shown = f"{self.name.capitalize()} {self.version}"
        if self.version != self.redis_version:
            shown += f" (Redis {self.redis_version} compatible)"
        return shown


def _major_minor(version: str) -> tuple[int, int]:
    parts = (version.split(".") + ["0", "0"])[:2]
    try:
        return int(parts[0]), int(parts[1])
    except ValueError:
        return 0, 0


def parse_info(info: dict[str, Any]) -> ServerInfo:
    """ServerInfo from `INFO server`'s fields."""
    redis_version = str(info.get("redis_version", ""))
    name = str(info.get("server_name") or ("valkey" if "valkey_version" in info else "redis"))
    version = str(info.get(f"{name}_version") or redis_version)
    return ServerInfo(name=name, version=version, redis_version=redis_version)


async def server_info(redis: Redis) -> ServerInfo | None:
    """What the server says it is, or None where `INFO` is refused (ACL, renamed)."""
    try:
        info: dict[str, Any] = await redis.info("server")
    except ResponseError:
        return None
    return parse_info(info)


def require_supported(found: ServerInfo, where: str) -> None:
    """Refuse a server older than listd's minimum, naming both versions."""
    if found.compatible >= MINIMUM:
        return
    floor = ".".join(map(str, MINIMUM))
    raise ConfigError(
        f"the Redis server at {where} is {found}; listd needs Redis {floor} or later "
        "(or any Valkey): see 'Supported Redis servers' in docs/operations.md",
        key="LISTD_REDIS_URL",
    )


async def hash_fields(redis: Redis, key: str, count: int = 5000) -> AsyncIterator[str]:
    """Every field of the hash `key`, without its values where the server can
    (`HSCAN ... NOVALUES`: Redis 7.4, Valkey 8); older servers send the values too."""
    cursor = 0
    novalues = True
    while True:
        if novalues:
            try:
                cursor, fields = await redis.hscan(key, cursor, count=count, no_values=True)
            except ResponseError as exc:
                # Older servers answer "ERR syntax error" to the unknown option, before
                # anything is read, so starting over without it loses no field.
                if cursor != 0 or "syntax" not in str(exc).lower():
                    raise
                novalues = False
                continue
        else:
            cursor, pairs = await redis.hscan(key, cursor, count=count)
            fields = list(pairs)
        for field in fields:
            yield str(field)
        if cursor == 0:
            return
