"""The Redis servers listd supports: the version check at start-up, the HSCAN fallback,
and the real daemon syncing, screening and taking a watchlist on each server the store
tests run on (the embedded Valkey and Debian's redis-server)."""

from __future__ import annotations

import json
import os

import aiohttp
import pytest
from redis.asyncio import Redis
from structlog.testing import capture_logs

import listd.server
from listd.access import KeyStore
from listd.api.metrics import Metrics
from listd.connection import open_redis
from listd.embedded import server_binary
from listd.errors import ConfigError
from listd.keyspace import Keys
from listd.notifications.outbox import GROUP
from listd.pipeline.store import Store
from listd.server import ServerInfo, hash_fields, parse_info, require_supported, server_info
from listd.settings import Settings
from tests.conftest import OtherServer, SourceServer, other_server, un_file
from tests.helpers import until
from tests.ops.conftest import Start

# `INFO server` as each server answers it (the fields listd reads, and a neighbour).
VALKEY_9 = {"redis_version": "7.2.4", "server_name": "valkey", "valkey_version": "9.1.2",
            "redis_mode": "standalone"}  # fmt: skip
REDIS_7_0 = {"redis_version": "7.0.15", "redis_mode": "standalone"}
REDIS_6_2 = {"redis_version": "6.2.14", "redis_mode": "standalone"}
REDIS_6_0 = {"redis_version": "6.0.16", "redis_mode": "standalone"}


def test_server_info_names_the_server_and_the_redis_version_it_speaks() -> None:
    valkey = parse_info(VALKEY_9)
    assert valkey == ServerInfo("valkey", "9.1.2", "7.2.4") and valkey.compatible == (7, 2)
    assert str(valkey) == "Valkey 9.1.2 (Redis 7.2.4 compatible)"
    assert str(parse_info(REDIS_7_0)) == "Redis 7.0.15"
    for supported in (VALKEY_9, REDIS_7_0, REDIS_6_2, {"redis_version": "8.2.1"}):
        require_supported(parse_info(supported), "unix:///run/redis.sock")


def test_a_server_older_than_6_2_is_refused_naming_both_versions() -> None:
    with pytest.raises(ConfigError) as caught:
        require_supported(parse_info(REDIS_6_0), "10.0.0.5:6379/0")
    message = caught.value.message
    assert "Redis 6.0.16" in message and "Redis 6.2 or later" in message
    assert "10.0.0.5:6379/0" in message and caught.value.detail["key"] == "LISTD_REDIS_URL"


async def test_server_info_of_the_running_server(
    redis: Redis, request: pytest.FixtureRequest
) -> None:
    found = await server_info(redis)
    assert found is not None
    if request.node.callspec.params["redis_url"] == "valkey":
        if not os.environ.get("LISTD_REDIS_URL"):  # then it is the embedded server
            embedded = OtherServer.find(server_binary()).version
            assert (found.name, found.version) == ("valkey", embedded)
    else:
        assert found.name == "redis"
        assert found.version == found.redis_version == other_server(request.config).version
    require_supported(found, "the test server")


async def test_hash_fields_lists_every_field_once(redis: Redis, key_names: Keys) -> None:
    keys = key_names
    small, large, missing = keys.watchlist("small"), keys.watchlist("large"), keys.watchlist("x")
    await redis.hset(small, mapping={f"s{i}": "v" for i in range(10)})  # a listpack
    for start in range(0, 12_000, 4000):  # a hashtable, scanned over several pages
        await redis.hset(large, mapping={f"l{i}": "{}" for i in range(start, start + 4000)})
    assert sorted([f async for f in hash_fields(redis, small)]) == sorted(
        f"s{i}" for i in range(10)
    )
    fields = [f async for f in hash_fields(redis, large, count=1000)]
    assert len(fields) == 12_000 and set(fields) == {f"l{i}" for i in range(12_000)}
    assert [f async for f in hash_fields(redis, missing)] == []


async def test_start_up_logs_the_server_and_refuses_one_below_the_minimum(
    redis: Redis, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = await server_info(redis)
    assert found is not None
    with capture_logs() as logged:
        async with open_redis(settings) as opened:
            assert await opened.ping()
    (event,) = [e for e in logged if e["event"] == "redis server"]
    assert (event["server"], event["version"]) == (found.name, found.version)
    # The same server with the floor raised above it (no Redis older than 6.2 installs
    # from a package registry): refused before anything runs, both versions named.
    major, minor = found.compatible
    monkeypatch.setattr(listd.server, "MINIMUM", (major, minor + 1))
    with pytest.raises(ConfigError) as caught:
        async with open_redis(settings):
            raise AssertionError("opened a server below the minimum")
    assert f"is {found}; listd needs Redis {major}.{minor + 1} or later" in caught.value.message


async def test_the_daemon_syncs_screens_and_takes_a_watchlist(
    start_daemon: Start,
    source_server: SourceServer,
    redis: Redis,
    settings: Settings,
    subscriber_key: str,
    http: aiohttp.ClientSession,
) -> None:
    keys = settings.keys
    source_server.put("/un.xml", un_file("2026-05-08").read_bytes())
    daemon = await start_daemon("a")
    store = Store(redis, keys)

    async def synced() -> bool:
        return await store.current_version("un") is not None

    await until(synced, what="the daemon's first sync of the UN list")
    assert (await store.state("un"))["status"] == "ok"

    screener = KeyStore(redis, keys)
    key = await screener.create("bank-a screening", "screener", org="bank-a")
    await screener.accept_agreement(key)
    headers = {"Authorization": f"Bearer {key}"}

    version = await store.current_version("un")

    async def loaded() -> bool:
        body = await daemon.ready()
        return bool(body and body["versions"].get("un") == version)

    await until(loaded, what="the list in the daemon's index")
    body = {"name": "Aamir Ali Chaudhry", "basis": "onboarding"}
    async with http.post(daemon.url("/v1/screen"), json=body, headers=headers) as resp:
        answer = await resp.json()
        assert resp.status == 200, answer
    assert answer["matches"][0]["id"] == "un:QDi.312"

    sub_headers = {"Authorization": f"Bearer {subscriber_key}"}
    async with http.post(
        daemon.url("/v1/subscriptions"), json={"url": "http://127.0.0.1:9/hook"},
        headers=sub_headers,
    ) as resp:  # fmt: skip
        sub = await resp.json()
        assert resp.status == 201, sub
    rows = [{"reference": f"C-{n}", "name": f"Customer Number{n}"} for n in range(3)]
    for kept in (rows, rows[:1]):  # the second replaces: two customers removed
        async with http.put(
            daemon.url(f"/v1/subscriptions/{sub['id']}/watchlist"),
            data="\n".join(json.dumps(r) for r in kept).encode(),
            headers={**sub_headers, "Content-Type": "application/x-ndjson"},
        ) as resp:
            report = await resp.json()
            assert resp.status == 200, report
    assert (report["removed"], report["total"]) == (2, 1)
    started = daemon.logged("redis server")  # once, naming the server
    found = await server_info(redis)
    assert found is not None and len(started) == 1
    assert (started[0]["server"], started[0]["version"]) == (found.name, found.version)


async def test_fanout_lag_is_counted_where_the_server_cannot_say(
    redis: Redis, key_names: Keys
) -> None:
    keys = key_names
    for seq in range(1, 6):
        await redis.xadd(keys.deltas(), {"d": "{}"}, id=f"{seq}-0")
    await redis.xgroup_create(keys.deltas(), GROUP, id="1-0")  # read up to delta 1

    async def lag() -> float:
        metrics = Metrics()
        await metrics.refresh(Store(redis, keys), {}, 0)
        value = metrics.registry.get_sample_value("listd_webhook_fanout_lag")
        assert value is not None
        return value

    assert await lag() == 4
    # An unread delta deleted: XINFO's lag is nil (on 7.0+; 6.2 has none at all).
    await redis.xdel(keys.deltas(), "3-0")
    assert await lag() == 3
