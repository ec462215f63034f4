"""listd on a real Redis Cluster (three primaries, three replicas, on loopback): the key
groups spread over the primaries, announcements reach subscribers through pub/sub, and
a primary failing over while deltas are published loses none that was confirmed.

The store tests of CLUSTER_TESTS (tests/conftest.py) run on the same cluster too."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError
from structlog.testing import capture_logs

from listd.connection import client
from listd.errors import Conflict
from listd.keyspace import Keys
from listd.notifications.subscriptions import Subscription, SubscriptionStore
from listd.pipeline.store import Snapshot, Store
from listd.pipeline.sync import Syncer
from listd.settings import Settings
from tests.cluster_server import LocalCluster
from tests.conftest import un_file
from tests.helpers import eventually


@pytest.fixture
def redis_url(redis_cluster: LocalCluster) -> str:
    return redis_cluster.url


@pytest.fixture
def key_names(prefix: str) -> Keys:
    return Keys(prefix, cluster=True)


async def test_the_groups_spread_over_the_primaries(
    redis: Redis, settings: Settings, redis_cluster: LocalCluster
) -> None:
    keys = settings.keys
    await Syncer(settings, Store(redis, keys)).sync("un", raw=un_file("2025-11-15").read_bytes())
    subs = SubscriptionStore(redis, keys)
    written = [keys.current("un"), keys.deltas(), keys.subscriptions()]
    owners = {redis_cluster.primary_of(key).port for key in written}
    made: list[Subscription] = []
    # Subscription ids are random: twelve of them fell on two primaries about once in a
    # hundred runs. Made until they reach every primary (or 64: never, if the partitions
    # did not spread).
    while len(made) < 12 or (len(owners) < 3 and len(made) < 64):
        sub = (
            await subs.create(Subscription("", f"bank-{len(made)}", "https://example.com/hook"))
        )[0]
        made.append(sub)
        written.append(keys.subscription(sub.id))
        owners.add(redis_cluster.primary_of(written[-1]).port)
    for key in written:
        assert await redis.exists(key), key
    assert len(owners) == 3  # every primary holds some of listd's keys
    # The registry lists each subscription once, however its keys are spread.
    assert set(await subs.ids()) == {sub.id for sub in made}
    await subs.delete(made[0])
    assert made[0].id not in await subs.ids()
    assert not await redis.exists(keys.subscription(made[0].id))


async def test_an_announcement_reaches_a_subscriber_on_another_node(
    redis: Redis, settings: Settings
) -> None:
    # PUBLISH goes to the node the client picks; the cluster bus carries it to every
    # node, so a subscriber connected anywhere hears it (the API's listener does this).
    listener = client(settings.redis_url or "", cluster=True)
    pubsub = listener.pubsub(ignore_subscribe_messages=True)
    try:
        await pubsub.subscribe(settings.keys.announcements())
        store = Store(redis, settings.keys)
        result = await Syncer(settings, store).sync("un", raw=un_file("2025-11-15").read_bytes())
        deadline = time.monotonic() + 10
        message = None
        while message is None and time.monotonic() < deadline:
            message = await pubsub.get_message(timeout=1.0)
        assert message is not None, "no announcement within 10 s"
        body = json.loads(message["data"])
        assert (body["source"], body["version"]) == ("un", result.version)
        assert body["last"] == await store.last_seq()
    finally:
        await pubsub.aclose()
        await listener.aclose()


@dataclass
class Publications:
    """What a publisher was told: confirmed publications (activate returned) and the
    attempts that failed (the fail-over; applied or not, they must be whole)."""

    confirmed: dict[int, str] = field(default_factory=dict)  # seq -> delta JSON
    versions: list[str] = field(default_factory=list)
    failed: int = 0


async def publish_until(
    store: Store, done: asyncio.Event, out: Publications, deltas_per_version: int = 3
) -> None:
    n = 0
    while not done.is_set():
        n += 1
        version = f"v{n}"
        deltas = [
            (f"un:E{n}.{i}", json.dumps({"entity_id": f"un:E{n}.{i}", "version": version}))
            for i in range(deltas_per_version)
        ]
        try:
            expected = await store.current_version("un")
            first, last = await store.activate(
                "un", Snapshot("un", version, 0, "x"), expected, {"status": "ok"}, deltas
            )
        except (RedisError, OSError, Conflict):
            out.failed += 1
            await asyncio.sleep(0.05)
            continue
        assert last - first + 1 == deltas_per_version
        for seq, (_, document) in zip(range(first, last + 1), deltas, strict=True):
            out.confirmed[seq] = document
        out.versions.append(version)


async def fail_over(cluster: LocalCluster, keys: Keys, out: Publications) -> None:
    """Kill the primary holding the delta stream while `out` fills; return once 10 more
    publications were confirmed after the kill."""
    await eventually(lambda: len(out.versions) >= 20, what="publications before the kill")
    dead = cluster.primary_of(keys.deltas())
    before = len(out.versions)
    killed_at = time.monotonic()
    dead.kill()
    # Publications resume on the promoted replica.
    await eventually(lambda: len(out.versions) >= before + 10, 30, "publications after the kill")
    resumed = time.monotonic() - killed_at
    print(f"publications resumed {resumed:.1f} s after the kill; {out.failed} attempts failed")
    assert cluster.primary_of(keys.deltas()).port != dead.port


async def test_a_primary_failing_over_loses_no_confirmed_delta(
    redis: Redis, settings: Settings, redis_cluster: LocalCluster
) -> None:
    keys = settings.keys
    store = Store(redis, keys)
    out = Publications()
    done = asyncio.Event()
    publisher = asyncio.create_task(publish_until(store, done, out))
    with capture_logs() as logged:
        try:
            await fail_over(redis_cluster, keys, out)
        finally:
            done.set()
            await publisher
    # The promoted replica has no replica of its own (its primary is dead): said, and
    # its publications are not held up waiting for a confirmation that cannot come.
    warned = [e for e in logged if e["event"].startswith("cluster primary has no linked")]
    assert warned, [e["event"] for e in logged]
    promoted = redis_cluster.primary_of(keys.deltas())
    assert promoted.process is not None and warned[-1]["node"] == f"127.0.0.1:{promoted.port}"
    stream = await redis.xrange(keys.deltas(), "-", "+")
    held = {int(entry_id.split("-")[0]): fields["d"] for entry_id, fields in stream}
    lost = {seq for seq in out.confirmed if held.get(seq) != out.confirmed[seq]}
    assert not lost, f"confirmed deltas lost or changed by the fail-over: {sorted(lost)[:10]}"
    # The sequence has no gap: whatever else happened, the stream is 1..last.
    assert sorted(held) == list(range(1, max(held) + 1))
    assert int(await redis.get(keys.delta_seq()) or 0) == max(held)
    assert await store.current_version("un") == out.versions[-1]
