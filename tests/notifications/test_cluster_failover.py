"""Webhook fan-out on a real Redis Cluster (three primaries, three replicas, on loopback)
while the primary holding most of the subscriptions' partitions fails over, with three
dispatcher worker processes sharing the partitions and the UN 2025-08-02 -> 2025-11-15
delta designating the planted customers:

* `manual`: `CLUSTER FAILOVER` on its replica mid-delivery (clients are redirected);
* `sigkill`: its replication is cut, the delta is fanned out to its partitions (cursors
  and outboxes written on it only), then it is SIGKILLed before their receivers could
  take a webhook: the promoted replica holds the cursors of before the delta and none of
  its events, which a worker must notice and fan out again.

Each planted customer is alerted exactly once; a redelivery is only ever the same event
(same idempotency key, same body)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

import listd.pipeline.ingest
from listd.keyspace import Keys
from listd.scrapers import scraper
from listd.settings import Settings
from tests.cluster_server import LocalCluster, Node
from tests.conftest import un_file
from tests.helpers import eventually, until
from tests.notifications.conftest import (
    Client,
    Receiver,
    StartWorker,
    screened,
    subscribe,
    sync,
    upload,
)

# Designated by the 2025-11-15 list (the Iran snapback, two Haiti listings), absent before.
PLANTED = {
    "IRi.001": "Fereidoun Abbasi-Davani",
    "IRi.010": "Haleh Bakhtiar",
    "IRi.016": "Mohsen Fakhrizadeh-Mahabadi",
    "IRi.028": "Houshang Nobari",
    "HTi.008": "Dimitri Herard",
    "HTi.009": "Kempes Sanon",
}
SUBSCRIPTIONS = 9
WORKERS = 3


@pytest.fixture
def redis_url(redis_cluster: LocalCluster) -> str:
    return redis_cluster.url


@pytest.fixture
def key_names(prefix: str) -> Keys:
    return Keys(prefix, cluster=True)


def replica_of(cluster: LocalCluster, primary: Node) -> Node:
    """The live node replicating `primary`."""
    for node in cluster.nodes:
        if node.process is None or node is primary:
            continue
        info = node.conn().info("replication")
        if info["role"] == "slave" and int(info["master_port"]) == primary.port:
            return node
    raise AssertionError(f"no replica of {primary.port}")


def _content(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "created"}


async def delivered_all(redis: Redis, keys: Keys, sub_ids: list[str]) -> bool:
    """Every partition fanned the whole delta stream out, and every outbox is settled."""
    last = int(await redis.get(keys.delta_seq()) or 0)
    for sub_id in sub_ids:
        cursor = await redis.get(keys.partition_cursor(keys.partition_of(sub_id)))
        if int(cursor or 0) < last:
            return False
        newest = await redis.xrevrange(keys.sub_events(sub_id), count=1)
        settled = await redis.hget(keys.sub_cursor(sub_id), "cursor")
        if newest and newest[0][0] != settled:
            return False
    return True


@pytest.mark.parametrize("how", ["sigkill", "manual"])
async def test_a_primary_failing_over_mid_fan_out_alerts_every_planted_customer_once(
    how: str,
    make_api: Callable[..., Awaitable[Client]],
    keys: dict[str, str],
    receivers: Callable[[], Awaitable[Receiver]],
    redis: Redis,
    settings: Settings,
    redis_cluster: LocalCluster,
    start_dispatcher: StartWorker,
) -> None:
    k = settings.keys
    api = await make_api(dispatch=False)  # the API alone; the workers run as processes
    await sync(redis, settings, "2025-08-02")
    subs: list[tuple[dict[str, Any], Receiver]] = []
    for _ in range(SUBSCRIPTIONS):
        rx = await receivers()
        rx.delay = 0.05  # each outbox takes a while to drain: the fail-over lands mid-way
        sub = await subscribe(api, keys["bank-a"], rx, events=["blocking.required"])
        subs.append((sub, rx))
    fillers = [
        {"reference": f"F-{i}", "name": f"Fillername{i} Otherword{i % 97}"} for i in range(200)
    ]
    planted = [{"reference": ref, "name": name} for ref, name in PLANTED.items()]
    for sub, _ in subs:
        await upload(api, keys["bank-a"], sub["id"], fillers + planted)
    # Leases outlive the fail-over and the cut before it, as in production (15 s against a
    # node timeout of 5 s): the workers keep their partitions through it.
    await asyncio.gather(*(start_dispatcher(90, LISTD_TEST_LEASE_TTL="15") for _ in range(WORKERS)))
    ids = [sub["id"] for sub, _ in subs]
    for sub_id in ids:
        await until(lambda s=sub_id: screened(redis, settings, s), 90, "upload screened")
    assert all(rx.events == [] for _, rx in subs)  # nobody is listed yet

    # The primary serving the partitions of most subscriptions (not the delta stream's:
    # the deltas themselves are not what this test loses) fails over.
    lists = redis_cluster.primary_of(k.deltas())
    by_node: dict[int, list[str]] = defaultdict(list)
    for sub_id in ids:
        node = redis_cluster.primary_of(k.partition_cursor(k.partition_of(sub_id)))
        if node is not lists:
            by_node[node.port].append(sub_id)
    port, hit = max(by_node.items(), key=lambda item: len(item[1]))
    victim = next(n for n in redis_cluster.nodes if n.port == port)
    replica = replica_of(redis_cluster, victim)
    hit_rx = [rx for sub, rx in subs if sub["id"] in hit]
    raw = un_file("2025-11-15").read_bytes()
    await asyncio.to_thread(listd.pipeline.ingest.process, scraper("un"), raw, "un")  # parsed

    if how == "manual":
        await sync(redis, settings, "2025-11-15")
        await eventually(lambda: any(rx.events for rx in hit_rx), 60, "a first alert")
        received = sum(len(rx.events) for rx in hit_rx)
        await asyncio.to_thread(replica.conn().execute_command, "CLUSTER", "FAILOVER")
        assert received < len(PLANTED) * len(hit), "the fail-over came after the deliveries"
    else:
        for rx in hit_rx:
            await rx.stop()  # their events stay in the outboxes
        # The replica can no longer authenticate to its primary: nothing written on the
        # primary from now on reaches it.
        cut = replica.conn()
        cut.config_set("masterauth", "not-the-password")
        cut.execute_command("CLIENT", "KILL", "TYPE", "master")
        await until(
            lambda: asyncio.to_thread(
                lambda: cut.info("replication")["master_link_status"] == "down"
            ),
            10,
            "the replication link down",
        )
        await sync(redis, settings, "2025-11-15")
        last = int(await redis.get(k.delta_seq()) or 0)

        async def fanned_out() -> bool:
            for sub_id in hit:
                cursor = await redis.get(k.partition_cursor(k.partition_of(sub_id)))
                if int(cursor or 0) < last or not await redis.xlen(k.sub_events(sub_id)):
                    return False
            return True

        await until(fanned_out, 60, "the delta fanned out to the victim's partitions")
        victim.kill()
        cut.config_set("masterauth", "")
        for rx in hit_rx:
            await rx.start()  # on the same port

    async def moved() -> bool:
        return redis_cluster.primary_of(k.partition_cursor(k.partition_of(hit[0]))) is replica

    await until(moved, 30, "the replica to take the slots over")
    await until(lambda: delivered_all(redis, k, ids), 60, "every outbox fanned out and settled")

    want = sorted((ref, f"un:{ref}") for ref in PLANTED)
    for sub, rx in subs:
        alerts = rx.of_type("blocking.required")
        got = sorted(
            (a["data"]["customer"]["reference"], a["data"]["designation"]["entity_id"])
            for a in alerts
        )
        assert got == want, sub["id"]
        assert rx.bad_signatures == 0
        # A copy sent again is the same event: same idempotency key, same content. Only
        # `created` differs when the event was raised again (its outbox entry was lost).
        copies: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for request in rx.requests:
            headers = request["headers"]
            if headers["Listd-Event-Type"] != "blocking.required":
                continue  # the subscription's ping
            assert headers["Listd-Idempotency-Key"] == headers["Listd-Event-Id"]
            body = json.loads(request["body"])
            assert body["id"] == headers["Listd-Event-Id"]
            copies[headers["Listd-Idempotency-Key"]].append(body)
        assert len(copies) == len(PLANTED)
        for bodies in copies.values():
            assert all(_content(b) == _content(bodies[0]) for b in bodies), bodies
    duplicates = Counter({sub["id"]: rx.duplicates for sub, rx in subs if rx.duplicates})
    print(f"{how}: duplicates {dict(duplicates)}")  # shown with -s
    assert all(sub_id in hit for sub_id in duplicates), "only the victim's partitions redeliver"
    assert all(n <= 1 for n in duplicates.values()), duplicates
