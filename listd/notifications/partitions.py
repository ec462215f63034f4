"""Partitions of the notification work, and how dispatcher workers share them.

Every subscription belongs to one of a fixed number of partitions (`partition_of`, a
stable hash of its id; `LISTD_DISPATCH_PARTITIONS`, 64 by default). A dispatcher
worker serves a partition only while it holds the partition's fenced lease
(`Keys.partition_lease`), renewed like the leader lease; every write of the
partition's fan-out and deliveries checks that lease in its script, so a worker that
lost it (a pause, a network split) cannot write after its successor took over.

Workers announce themselves in `Keys.dispatch_workers` with a heartbeat in Redis time.
Each takes at most its fair share, ceil(partitions / live workers), of the free
partitions, and gives up what it holds beyond that share when others join; a dead
worker's heartbeat and leases run out within the TTL (at once when it died on the
same host: its pid is gone) and the survivors take its partitions.
"""

from __future__ import annotations

import asyncio
import math
import zlib

from redis.asyncio import Redis
from redis.exceptions import RedisError

from listd import waits
from listd.errors import ConfigError, PartitionsMismatch
from listd.keyspace import Keys
from listd.logs import get_logger

log = get_logger(__name__)

# KEYS: workers zset. ARGV: token, "1" beat / "0" leave, ttl ms. Returns live workers.
_BEAT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if ARGV[2] == '1' then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
return redis.call('ZCARD', KEYS[1])
"""


def partition_of(sub_id: str, partitions: int) -> int:
    """The partition of a subscription: stable across processes, versions and machines."""
    return zlib.crc32(sub_id.encode()) % partitions


def fair_share(partitions: int, workers: int) -> int:
    """The most partitions one of `workers` live workers takes."""
    return math.ceil(partitions / max(workers, 1))


async def check_partitions(redis: Redis, keys: Keys, partitions: int) -> None:
    """Record the partition count on first use; refuse a process configured otherwise
    (two counts at once would put a subscription in two partitions, and on a cluster
    file its keys in another slot). Workers and API instances both check here."""
    await redis.set(keys.dispatch_partitions(), partitions, nx=True)
    recorded = int(await redis.get(keys.dispatch_partitions()) or partitions)
    if recorded != partitions:
        raise ConfigError(
            f"LISTD_DISPATCH_PARTITIONS is {partitions} here but {recorded} in Redis; "
            "every instance must use the same number",
            key="LISTD_DISPATCH_PARTITIONS",
            configured=partitions,
            recorded=recorded,
        )


class PartitionCheck:
    """The API's side of `check_partitions`: its keys (`Keys.partitions`, from
    LISTD_DISPATCH_PARTITIONS) name where uploads and subscriptions are filed, so an API
    configured with another count than the workers' would file them where no worker
    reads. Checked once Redis answers (`run`, from start-up) and before every request
    that files or reads by partition (`require`); while refused, those answer 503."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self.passed = False
        self.error: ConfigError | None = None
        self.refused = asyncio.Event()  # set once the count is found mismatched

    async def require(self) -> None:
        """Return if the count was found the same (checking now if not yet); raise
        PartitionsMismatch if not, RedisError/OSError while Redis cannot tell."""
        if self.error is None and not self.passed:
            try:
                await check_partitions(self.redis, self.keys, self.keys.partitions)
                self.passed = True
            except ConfigError as exc:
                if self.error is None:
                    self.error = exc
                    log.error("partition count refused", **exc.detail, error=exc.message)
                    self.refused.set()
        if self.error is not None:
            raise PartitionsMismatch(self.error.message, **self.error.detail)

    async def run(self, stop: asyncio.Event, retry: float = 1.0) -> None:
        """Check as soon as Redis answers (every `retry` seconds until then), once."""
        while not stop.is_set() and not self.passed and self.error is None:
            try:
                await self.require()
            except PartitionsMismatch:
                return
            except (RedisError, OSError) as exc:
                log.warning("partition count not checked yet: redis unreachable", error=str(exc))
                await waits.wait(stop, retry)


async def beat(redis: Redis, keys: Keys, token: str, ttl_ms: int, alive: bool = True) -> int:
    """Renew (or withdraw) this worker's heartbeat; returns the live workers."""
    found = await redis.eval(
        _BEAT, 1, keys.dispatch_workers(), token, "1" if alive else "0", ttl_ms
    )
    return int(found)
