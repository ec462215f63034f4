"""Prometheus metrics: one registry per application (no process-wide globals)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from listd.store import Store, age_minutes

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


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

    def render(self) -> web.Response:
        body = generate_latest(self.registry)
        response = web.Response(body=body)
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response
