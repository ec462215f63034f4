"""Open the Redis connection listd runs on: a configured server (directly or through
Redis Sentinel) or the embedded one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qs, unquote

from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from listd.embedded import EmbeddedRedis
from listd.errors import ConfigError
from listd.logs import get_logger
from listd.server import require_supported, server_info
from listd.settings import Settings

log = get_logger(__name__)

SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
SENTINEL_PORT = 26379
# What an unreachable Redis raises (as opposed to a refusal such as a script error).
OUTAGE = (RedisConnectionError, RedisTimeoutError, OSError)


@dataclass(frozen=True, slots=True)
class SentinelURL:
    """`redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service[/db]`
    with optional `?sentinel_password=...&sentinel_username=...` (when the sentinels
    themselves require a password). The credentials are the master's; `rediss+sentinel`
    speaks TLS to the master and the sentinels."""

    sentinels: list[tuple[str, int]]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_username: str | None = None
    sentinel_password: str | None = None
    tls: bool = False


def parse_sentinel_url(url: str) -> SentinelURL:
    """Parse a sentinel URL; ConfigError names what is wrong."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in SENTINEL_SCHEMES:
        raise _bad(url, f"the scheme must be one of {', '.join(SENTINEL_SCHEMES)}")
    rest, _, query = rest.partition("?")
    location, _, path = rest.partition("/")
    credentials, at, hosts = location.rpartition("@")
    if not at:
        credentials, hosts = "", location
    username = password = None
    if credentials:
        user, colon, secret = credentials.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    sentinels = [_host_port(part, url) for part in hosts.split(",")]
    parts = [unquote(p) for p in path.split("/") if p]
    if not parts:
        raise _bad(url, "the master's service name is missing (…/mymaster)")
    if len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):
        raise _bad(url, "the path must be /SERVICE or /SERVICE/DB")
    options = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    known = {"sentinel_password", "sentinel_username"}
    if set(options) - known:
        raise _bad(url, f"unknown option {sorted(set(options) - known)[0]!r}")
    return SentinelURL(
        sentinels=sentinels,
        service=parts[0],
        db=int(parts[1]) if len(parts) == 2 else 0,
        username=username,
        password=password,
        sentinel_username=options.get("sentinel_username") or None,
        sentinel_password=options.get("sentinel_password") or None,
        tls=scheme == "rediss+sentinel",
    )


def _host_port(part: str, url: str) -> tuple[str, int]:
    if part.startswith("["):  # [IPv6]:port
        host, _, tail = part[1:].partition("]")
        port = tail.removeprefix(":")
    else:
        host, _, port = part.partition(":")
    if not host:
        raise _bad(url, "a sentinel host is empty")
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise _bad(url, f"bad port {port!r}")
    return host, int(port) if port else SENTINEL_PORT


def _bad(url: str, why: str) -> ConfigError:
    shown = url.split("@")[-1]  # never echo a password
    return ConfigError(f"LISTD_REDIS_URL ({shown}): {why}", key="LISTD_REDIS_URL")


class _SentinelMaster(Redis):
    """The master's client; closing it also closes the connections to the sentinels."""

    watchers: Sentinel | None = None

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        if self.watchers is not None:
            for watcher in self.watchers.sentinels:
                await watcher.aclose()


def sentinel_client(parsed: SentinelURL) -> Redis:
    """A client for the master Sentinel names; it follows a fail-over by itself."""
    sentinel_kwargs: dict[str, object] = {"socket_timeout": 5.0, "ssl": parsed.tls}
    if parsed.sentinel_password:
        sentinel_kwargs["password"] = parsed.sentinel_password
        sentinel_kwargs["username"] = parsed.sentinel_username
    sentinel = Sentinel(parsed.sentinels, sentinel_kwargs=sentinel_kwargs)
    master: _SentinelMaster = sentinel.master_for(
        parsed.service,
        redis_class=_SentinelMaster,
        db=parsed.db,
        username=parsed.username,
        password=parsed.password,
        ssl=parsed.tls,
        decode_responses=True,
        health_check_interval=30,
        max_connections=200,
    )
    master.watchers = sentinel
    return master


def cluster_client(url: str) -> Redis:
    """A Redis Cluster client: `url` (redis:// or rediss://) names one node, the others are
    discovered from it and followed through resharding and fail-over.

    The result is typed as `Redis`: RedisCluster answers the same commands, scripts and
    pipelines (a transaction must name keys of one slot, which `Keys(cluster=True)`
    arranges), and pub/sub reaches every node's subscribers."""
    try:
        cluster = RedisCluster.from_url(
            url,
            decode_responses=True,
            health_check_interval=30,
            max_connections=200,
            require_full_coverage=False,
        )
    except ValueError as exc:
        raise ConfigError(f"LISTD_REDIS_URL is not a valid Redis URL: {exc}") from exc
    return cast(Redis, cluster)


def client(url: str, cluster: bool = False) -> Redis:
    """A client for a redis://, rediss://, unix:// or redis+sentinel:// URL; with `cluster`,
    for the Redis Cluster the redis:// or rediss:// URL names a node of."""
    if cluster:
        return cluster_client(url)
    if url.split("://", 1)[0] in SENTINEL_SCHEMES:
        return sentinel_client(parse_sentinel_url(url))
    try:
        # A blocking pool waits for a free connection under load instead of failing.
        pool = BlockingConnectionPool.from_url(
            url, decode_responses=True, health_check_interval=30, max_connections=200, timeout=10
        )
        return Redis.from_pool(pool)  # the client owns the pool: aclose() closes it
    except ValueError as exc:
        raise ConfigError(f"LISTD_REDIS_URL is not a valid Redis URL: {exc}") from exc


# How long a publication on a cluster waits for a replica to hold it.
REPLICATION_WAIT_MS = 2000
# How long a primary's count of linked replicas is trusted before it is asked again.
_REPLICAS_TTL_S = 5.0
_replicas: dict[str, tuple[float, int]] = {}  # node name -> (asked at, linked replicas)


async def _linked_replicas(nodes: RedisCluster, node: ClusterNode) -> int:
    asked = _replicas.get(node.name)
    now = time.monotonic()
    if asked is None or now - asked[0] > _REPLICAS_TTL_S:
        info = await nodes.info("replication", target_nodes=node)
        asked = (now, int(info.get("connected_slaves", 0)))
        _replicas[node.name] = asked
        if asked[1] == 0:
            log.warning(
                "cluster primary has no linked replica: a fail-over would lose writes",
                node=node.name,
            )
    return asked[1]


async def eval_replicated(
    redis: Redis, cluster: bool, script: str, numkeys: int, *args: str | int
) -> Any:
    """EVAL `script`; on a cluster, then WAIT until a replica of the primary that ran it
    holds its writes (and everything written there before), so that a fail-over right
    after cannot lose what the caller goes on to announce as done. Both go down the same
    connection (a pipeline to that node), as WAIT counts that connection's writes. A
    primary with no linked replica (its replica died, or it was just promoted) is not
    waited for: nothing could confirm.

    Redis replicates asynchronously: until the WAIT returns, a reader may already see
    writes that a fail-over would drop (docs/operations.md, "Redis Cluster")."""
    if not cluster:
        return await redis.eval(script, numkeys, *args)
    nodes = cast(RedisCluster, redis)
    node = nodes.get_node_from_key(str(args[0]))
    if node is None:
        raise RedisConnectionError(f"no cluster node serves {args[0]!r} now")
    if await _linked_replicas(nodes, node) == 0:
        return await redis.eval(script, numkeys, *args)
    async with nodes.pipeline(transaction=False) as pipe:
        pipe.eval(script, numkeys, *args)
        pipe.execute_command("WAIT", 1, REPLICATION_WAIT_MS, target_nodes=node)
        result, replicas = await pipe.execute()
    if int(replicas) < 1:
        _replicas.pop(node.name, None)  # ask again next time
        log.warning(
            "written on a cluster primary but no replica confirmed it yet",
            node=node.name,
            waited_ms=REPLICATION_WAIT_MS,
        )
    return result


@asynccontextmanager
async def open_redis(settings: Settings) -> AsyncIterator[Redis]:
    """Yield a connected client to a supported server; start (and afterwards stop) the
    embedded server if needed."""
    async with open_server(settings) as (redis, _):
        yield redis


@asynccontextmanager
async def open_server(settings: Settings) -> AsyncIterator[tuple[Redis, EmbeddedRedis | None]]:
    """Like `open_redis`, also yielding the embedded server when one is used (the daemon
    supervises it when it is the owner)."""
    embedded: EmbeddedRedis | None = None
    url = settings.redis_url
    if url is None:
        embedded = EmbeddedRedis(settings.state_dir)
        url = await asyncio.to_thread(embedded.start)
    redis = client(url, cluster=settings.redis_cluster)
    shown = url.rpartition("@")[2]  # never log the password
    try:
        try:
            await redis.ping()
            found = await server_info(redis)
        except (RedisError, OSError) as exc:
            raise ConfigError(f"cannot reach Redis at {shown}: {exc}") from exc
        if found is None:
            log.warning("redis server version unknown: INFO is refused", url=shown)
        else:
            require_supported(found, shown)
            log.info(
                "redis server",
                server=found.name,
                version=found.version,
                redis_version=found.redis_version,
                url=shown,
            )
        yield redis, embedded
    finally:
        await redis.aclose()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


class StoreHealth:
    """Whether Redis answered lately. After a failure, callers skip Redis for `backoff`
    seconds (answering from memory) instead of each waiting out a connection attempt."""

    def __init__(self, backoff: float = 1.0) -> None:
        self.backoff = backoff
        self.down_since: float | None = None
        self._retry_at = 0.0

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def should_try(self, now: float) -> bool:
        return self.down_since is None or now >= self._retry_at

    def failed(self, now: float) -> None:
        if self.down_since is None:
            self.down_since = now
            log.warning("redis unreachable: answering from memory, journaling to the spool")
        self._retry_at = now + self.backoff

    def ok(self) -> None:
        if self.down_since is not None:
            log.info("redis reachable again", down_seconds=round(time.time() - self.down_since, 1))
            self.down_since = None
