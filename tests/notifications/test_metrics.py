"""GET /metrics after a real sync, a screening and webhook deliveries of every outcome."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from listd.keyspace import Keys
from listd.pipeline.store import Store
from listd.settings import Settings
from tests.helpers import auth, eventually, until
from tests.notifications.conftest import Client, Receiver, subscribe, sync, upload
from tests.notifications.test_dispatch import CUSTOMERS


async def scrape(api: Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    resp = await api.get("/metrics")  # no credential: Prometheus scrapes it
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(await resp.text())
        for sample in family.samples
    }


async def test_metrics_after_sync_screening_and_deliveries(
    api: Client, keys: dict[str, str], receivers: Any, redis: Redis, settings: Settings
) -> None:
    await sync(redis, settings, "2018-06-07")
    good: Receiver = await receivers()
    sub = await subscribe(api, keys["bank-a"], good, events=["blocking.required"], threshold=0.8)
    await upload(api, keys["bank-a"], sub["id"], CUSTOMERS)
    refusing: Receiver = await receivers()
    await subscribe(api, keys["bank-b"], refusing, events=["designation.added"])
    refusing.script = [400] * 10  # refused for good: each event goes to the dead letters
    down: Receiver = await receivers()
    await subscribe(api, keys["bank-b"], down, events=["designation.added"])
    down.script = [503] * 1000  # retried with back-off: the events wait in the queue
    result = await sync(redis, settings, "2018-06-21")  # adds QDi.413 and QDi.414

    async def loaded() -> bool:
        versions = (await (await api.get("/readyz")).json())["versions"]
        return bool(versions.get("un") == result.version)

    await until(loaded, what="the new list in the index")
    resp = await api.post(
        "/v1/screen",
        json={"name": "Myrna Ajijul Mabanza", "basis": "onboarding"},
        headers=auth(keys["screener"]),
    )
    assert resp.status == 200 and (await resp.json())["matches"]
    await eventually(lambda: len(good.events) == 1, what="the blocking alert")
    await eventually(lambda: len(refusing.requests) >= 3, what="two refusals after the ping")
    await eventually(lambda: len(down.requests) >= 3, what="retries")
    k = Keys(settings.key_prefix)

    async def fanned_out() -> bool:
        # Partitions are fanned out one after another, idle ones' cursors written last:
        # under load the retries above can come before.
        last = int(await redis.get(k.delta_seq()) or 0)
        cursors = [await redis.get(k.partition_cursor(n)) for n in range(64)]
        return all(int(c) == last for c in cursors if c is not None)

    await until(fanned_out, what="every partition's cursor at the last delta")

    m = await scrape(api)
    un = (("source", "un"),)
    store = Store(redis, Keys(settings.key_prefix))
    assert time.time() - m["listd_source_last_success_timestamp_seconds", un] < 60
    assert 0 <= m["listd_source_data_age_seconds", un] < 60
    assert m["listd_source_entities", un] == result.entities
    assert m["listd_source_last_sync_duration_seconds", un] > 0
    assert m["listd_source_sync_failures", un] == 0
    assert m["listd_source_held", un] == 0 and m["listd_source_stale", un] == 0
    assert m["listd_deltas_published", ()] == await store.last_seq() > 0
    assert m["listd_screen_latency_seconds_count", (("route", "screen"),)] == 1
    assert m["listd_screen_queries_total", (("result", "match"), ("route", "screen"))] == 1
    assert m["listd_http_requests_total", (("outcome", "ok"), ("route", "/v1/screen"))] == 1
    deliveries = {
        labels[0][1]: value
        for (name, labels), value in m.items()
        if name == "listd_webhook_deliveries_total"
    }
    assert deliveries["delivered"] >= 1  # the alert (pings are not deliveries of events)
    assert deliveries["failed"] >= 2 and deliveries["retry"] >= 2
    assert m["listd_webhook_dead_letters", ()] >= 2
    assert m["listd_webhook_queue_depth", ()] >= 2  # the down receiver's two events
    assert m["listd_webhook_fanout_lag", ()] == 0
    assert m["listd_webhook_subscriptions", (("status", "active"),)] == 3
    assert m["listd_journal_entries", ()] >= 5 and m["listd_journal_live_entries", ()] >= 5
