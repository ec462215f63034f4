"""Open the Redis connection listd runs on: a configured server or the embedded one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

from listd.embedded import EmbeddedRedis
from listd.errors import ConfigError
from listd.settings import Settings


def client(url: str) -> Redis:
    """A client for a redis://, rediss:// or unix:// URL."""
    try:
        # A blocking pool waits for a free connection under load instead of failing.
        pool = BlockingConnectionPool.from_url(
            url, decode_responses=True, health_check_interval=30, max_connections=200, timeout=10
        )
        return Redis.from_pool(pool)  # the client owns the pool: aclose() closes it
    except ValueError as exc:
        raise ConfigError(f"LISTD_REDIS_URL is not a valid Redis URL: {exc}") from exc


@asynccontextmanager
async def open_redis(settings: Settings) -> AsyncIterator[Redis]:
    """Yield a connected client; start (and afterwards stop) the embedded server if needed."""
    embedded: EmbeddedRedis | None = None
    url = settings.redis_url
    if url is None:
        embedded = EmbeddedRedis(settings.state_dir)
        url = await asyncio.to_thread(embedded.start)
    redis = client(url)
    try:
        try:
            await redis.ping()
        except (RedisError, OSError) as exc:
            raise ConfigError(f"cannot reach Redis at {url}: {exc}") from exc
        yield redis
    finally:
        await redis.aclose()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
