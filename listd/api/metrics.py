"""Prometheus metrics: one registry per application (no process-wide globals)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from listd.keyspace import Keys
from listd.notifications.outbox import GROUP
from listd.pipeline.store import Store, age_minutes

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_QUEUE_CAP = 100_000  # events counted per subscription; beyond, the gauge says "at least"
# Entries after the cursor, counted in Redis so the events themselves stay there.
_WAITING = """
return #redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', tonumber(ARGV[2]))
"""


class _Deliveries(Collector):
    """listd_webhook_deliveries_total{outcome}: totals kept in Redis, exported as counters."""

    def __init__(self, totals: dict[str, int]) -> None:
        self.totals = totals

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "listd_webhook_deliveries",
            "Webhook delivery attempts by outcome (delivered, retry, failed, dead, disabled).",
            labels=["outcome"],
        )
        for outcome in sorted({"delivered", "retry", "failed", "dead", *self.totals}):
            family.add_metric([outcome], self.totals.get(outcome, 0))
        yield family


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        by_source = ["source"]
        self.last_success = Gauge(
            "listd_source_last_success_timestamp_seconds",
            "Unix time of the source's last successful sync.", by_source, registry=r,
        )  # fmt: skip
        self.age = Gauge(
            "listd_source_data_age_seconds",
            "Seconds since the source's last successful sync.", by_source, registry=r,
        )  # fmt: skip
        self.entities = Gauge(
            "listd_source_entities", "Entities in the snapshot now serving.", by_source, registry=r
        )
        self.duration = Gauge(
            "listd_source_last_sync_duration_seconds",
            "Duration of the source's last sync attempt.", by_source, registry=r,
        )  # fmt: skip
        self.failures = Gauge(
            "listd_source_sync_failures",
            "Failed sync attempts of the source since it was first synced.", by_source, registry=r,
        )  # fmt: skip
        self.held = Gauge(
            "listd_source_held", "1 while a snapshot of the source is held.", by_source, registry=r
        )
        self.stale = Gauge(
            "listd_source_stale",
            "1 when the source is older than its bound.",
            by_source,
            registry=r,
        )
        self.up = Gauge(
            "listd_source_up", "1 if the last sync attempt succeeded.", by_source, registry=r
        )
        self.deltas = Gauge(
            "listd_deltas_published", "Sequence number of the last published delta.", registry=r
        )
        self.leader = Gauge(
            "listd_leader",
            "1 while this instance is the leader (runs the scrapers and the dispatcher).",
            registry=r,
        )
        self.index_entities = Gauge(
            "listd_index_entities", "Entities in this process's screening index.", registry=r
        )
        self.screen_latency = Histogram(
            "listd_screen_latency_seconds",
            "Time to score one screening request (single or batch).",
            ["route"], buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.requests = Counter(
            "listd_http_requests", "HTTP requests by route and outcome.",
            ["route", "outcome"], registry=r,
        )  # fmt: skip
        self.screenings = Counter(
            "listd_screen_queries",
            "Screening queries answered, by route and result (match: at least one match).",
            ["route", "result"], registry=r,
        )  # fmt: skip
        self.webhook_queue = Gauge(
            "listd_webhook_queue_depth",
            "Webhook events waiting for delivery, over all subscriptions.", registry=r,
        )  # fmt: skip
        self.webhook_fanout_lag = Gauge(
            "listd_webhook_fanout_lag",
            "Deltas not yet turned into webhook events by the dispatcher.", registry=r,
        )  # fmt: skip
        self.dead_letters = Gauge(
            "listd_webhook_dead_letters",
            "Webhook events in the dead-letter lists (failed or out of retries).", registry=r,
        )  # fmt: skip
        self.webhook_subscriptions = Gauge(
            "listd_webhook_subscriptions", "Subscriptions by status.", ["status"], registry=r
        )
        self._deliveries: dict[str, int] = {}
        r.register(_Deliveries(self._deliveries))

    async def refresh(self, store: Store, sources: dict[str, float], index_size: int) -> None:
        """Read the shared state from Redis (one pass) before an exposition."""
        now = time.time()
        for name, bound in sources.items():
            state = await store.state(name)
            age = age_minutes(state.get("last_success"), now)
            if age is not None:
                self.last_success.labels(name).set(now - age * 60)
                self.age.labels(name).set(age * 60)
            self.entities.labels(name).set(int(state.get("entities", 0)))
            self.failures.labels(name).set(int(state.get("failures", 0)))
            self.held.labels(name).set(int(state.get("status") == "held"))
            self.stale.labels(name).set(int(age is not None and age > bound))
            self.up.labels(name).set(int(state.get("status") in {"ok", "held"}))
            if state.get("last_duration"):
                self.duration.labels(name).set(float(state["last_duration"]))
        self.deltas.set(await store.last_seq())
        self.index_entities.set(index_size)
        await self._webhooks(store.redis, store.keys)

    async def _webhooks(self, redis: Redis, keys: Keys) -> None:
        """Delivery totals, queue depth and dead letters, read from the shared outbox."""
        totals: dict[str, int] = {}
        for key in keys.webhook_stats_keys():  # one on a single server; one a partition
            for k, v in cast(dict[str, str], await redis.hgetall(key)).items():
                totals[k] = totals.get(k, 0) + int(v)
        self._deliveries.clear()
        self._deliveries.update(totals)
        ids = sorted(cast(set[str], await redis.smembers(keys.subscriptions())))
        # Two round trips whatever the number of subscriptions.
        async with redis.pipeline(transaction=False) as pipe:
            for sub_id in ids:
                pipe.hget(keys.sub_cursor(sub_id), "cursor")
                pipe.llen(keys.sub_dead(sub_id))
                pipe.hget(keys.subscription(sub_id), "status")
            found = await pipe.execute()
        cursors, dead, status_of = found[0::3], found[1::3], found[2::3]
        async with redis.pipeline(transaction=False) as pipe:
            for sub_id, cursor in zip(ids, cursors, strict=True):
                pipe.eval(_WAITING, 1, keys.sub_events(sub_id), cursor or "0-0", _QUEUE_CAP)
            waiting = await pipe.execute()
        queued = sum(int(n) for n in waiting)
        statuses = dict.fromkeys(("pending", "active", "disabled"), 0)
        for status in status_of:
            statuses[str(status or "pending")] = statuses.get(str(status or "pending"), 0) + 1
        self.webhook_queue.set(queued)
        self.dead_letters.set(sum(int(n) for n in dead))
        for status, count in statuses.items():
            self.webhook_subscriptions.labels(status).set(count)
        self.webhook_fanout_lag.set(await _fanout_lag(redis, keys))

    def render(self) -> web.Response:
        body = generate_latest(self.registry)
        response = web.Response(body=body)
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response


async def _fanout_lag(redis: Redis, keys: Keys) -> int:
    """Deltas the slowest partition has not fanned out yet (by its cursor); before any
    partition worker ran, what the single dispatcher's consumer group has not read."""
    partitions = int(await redis.get(keys.dispatch_partitions()) or 0)
    if partitions:
        async with redis.pipeline(transaction=False) as pipe:
            for number in range(partitions):
                pipe.get(keys.partition_cursor(number))
            pipe.get(keys.delta_seq())
            *cursors, last = await pipe.execute()
        started = [int(c) for c in cursors if c is not None]
        return max(0, int(last or 0) - min(started)) if started else 0
    with contextlib.suppress(ResponseError):  # no stream or no group yet: nothing lags
        for group in await redis.xinfo_groups(keys.deltas()):
            if group.get("name") == GROUP:
                return await _lag(redis, keys.deltas(), group)
    return 0


async def _lag(redis: Redis, stream: str, group: dict[str, Any]) -> int:
    """Entries of `stream` the group has not read. XINFO GROUPS says so from Redis 7.0,
    unless entries were deleted after its position (then `lag` is nil); count them then."""
    if group.get("lag") is not None:
        return int(group["lag"])
    after = str(group["last-delivered-id"])
    return int(await redis.eval(_WAITING, 1, stream, after, _QUEUE_CAP))
