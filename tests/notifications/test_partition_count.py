"""LISTD_DISPATCH_PARTITIONS on the API's side: its keys name the partitions uploads and
subscriptions are filed in, so an API configured with another count than the one the
workers recorded in Redis files nothing (503) instead of filing where no worker reads;
a fresh deployment's first API records its count as a worker would."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest
from redis.asyncio import Redis

from listd.access import KeyStore
from listd.api import create_app
from listd.connection import client
from listd.embedded import EmbeddedRedis
from listd.errors import ConfigError
from listd.notifications.config import WebhookConfig
from listd.notifications.partitions import check_partitions
from listd.notifications.routes import BLOCKING
from listd.settings import Settings, WebhookSettings
from tests.conftest import Client as ApiClient
from tests.helpers import auth, until
from tests.notifications.conftest import Client, Receiver, subscribe, upload

ROWS = [{"reference": "c-1", "name": "Aslanbek Tokhtarovich Zhumagaliev"}]


def _refusal(body: dict[str, object], configured: int, recorded: int) -> None:
    assert body["error"] == "partitions_mismatch"
    assert body["key"] == "LISTD_DISPATCH_PARTITIONS"
    assert (body["configured"], body["recorded"]) == (configured, recorded)
    message = str(body["message"])
    assert "LISTD_DISPATCH_PARTITIONS" in message
    assert f"is {configured} here but {recorded} in Redis" in message


@pytest.mark.store
@pytest.mark.cluster
async def test_an_api_with_another_partition_count_files_no_upload(
    make_api: Callable[..., Awaitable[Client]],
    config: WebhookConfig,
    receivers: Callable[[], Awaitable[Receiver]],
    keys: dict[str, str],
    redis: Redis,
    settings: Settings,
) -> None:
    # The workers' deployment: 8 partitions, recorded by its dispatcher.
    good = await make_api(cfg=replace(config, partitions=8))
    sub = await subscribe(good, keys["bank-a"], await receivers(), ping=False)
    await upload(good, keys["bank-a"], sub["id"], ROWS)
    assert await redis.get(settings.keys.dispatch_partitions()) == "8"

    # An API instance left at the default 64.
    odd = await make_api(dispatch=False, cfg=replace(config, partitions=64))
    row = {"reference": "c-2", "name": "Gulnara Serikovna Abdrakhmanova"}
    for method in (odd.put, odd.patch):
        resp = await method(
            f"/v1/subscriptions/{sub['id']}/watchlist",
            json=row,
            headers={**auth(keys["bank-a"]), "Content-Type": "application/x-ndjson"},
        )
        assert resp.status == 503, await resp.text()
        _refusal(await resp.json(), 64, 8)
    created = await odd.post(
        "/v1/subscriptions", json={"url": "http://127.0.0.1:9/hook"}, headers=auth(keys["bank-a"])
    )
    assert created.status == 503
    _refusal(await created.json(), 64, 8)
    # Nothing filed anywhere: not in a partition no worker serves, not in the right one.
    found = [key async for key in redis.scan_iter(match=settings.keys.pattern())]
    numbers = {int(m.group(1)) for key in found if (m := re.search(r":part:(\d+):", key))}
    assert numbers and max(numbers) < 8
    assert await redis.smembers(settings.keys.subscriptions()) == {sub["id"]}
    # (Named with the workers' count: on a cluster the count names the slot.)
    workers = replace(settings.keys, partitions=8)
    assert await redis.hkeys(workers.watchlist(sub["id"])) == ["c-1"]
    # The API of the right count goes on working.
    read = await good.get(f"/v1/subscriptions/{sub['id']}", headers=auth(keys["bank-a"]))
    assert read.status == 200


async def test_the_first_api_records_its_partition_count_and_a_worker_must_match_it(
    make_api: Callable[..., Awaitable[Client]],
    config: WebhookConfig,
    keys: dict[str, str],
    redis: Redis,
    settings: Settings,
) -> None:
    api = await make_api(dispatch=False, cfg=replace(config, partitions=8))
    await until(lambda: _recorded(redis, settings), 10, "the API recording its partition count")
    assert await redis.get(settings.keys.dispatch_partitions()) == "8"
    listed = await api.get("/v1/subscriptions", headers=auth(keys["bank-a"]))
    assert listed.status == 200
    with pytest.raises(ConfigError, match="is 16 here but 8 in Redis"):
        await check_partitions(redis, replace(settings.keys, partitions=16), 16)


async def _recorded(redis: Redis, settings: Settings) -> bool:
    return await redis.exists(settings.keys.dispatch_partitions()) == 1


async def test_an_api_started_while_redis_is_down_checks_the_count_once_it_answers(
    tmp_path: Path, aiohttp_client: Callable[..., Awaitable[ApiClient]]
) -> None:
    # Our own server: this test starts it after the API.
    server = EmbeddedRedis(tmp_path / "valkey")
    url = server.start()
    redis = client(url)
    try:
        settings = Settings(
            redis_url=url,
            state_dir=tmp_path / "state",
            key_prefix="count",
            log_format="console",
            webhooks=WebhookSettings(partitions=64),
        )
        keys = settings.keys
        await redis.set(keys.dispatch_partitions(), 8)  # the workers' count
        store = KeyStore(redis, keys)
        secret = await store.create("bank-a webhooks", "subscriber", org="bank-a")
        await store.accept_agreement(secret)
        await redis.save()
        server.stop()

        http = await aiohttp_client(create_app(settings, redis))
        await asyncio.sleep(1.5)  # start-up done and a check tried while Redis is down
        down = await http.get("/v1/subscriptions", headers=auth(secret))
        assert down.status == 503

        server = EmbeddedRedis(tmp_path / "valkey")
        assert server.start() == url
        # Found by the start-up check itself, with no request (`listd run` exits on it).
        check = http.app[BLOCKING].partitions
        await asyncio.wait_for(check.refused.wait(), 10)
        resp = None
        for _ in range(100):
            resp = await http.put(
                "/v1/subscriptions/s-1/watchlist",
                json=ROWS[0],
                headers={**auth(secret), "Content-Type": "application/x-ndjson"},
            )
            if resp.status != 503 or (await resp.json())["error"] != "store_unavailable":
                break
            await asyncio.sleep(0.1)
        assert resp is not None and resp.status == 503, await resp.text()
        _refusal(await resp.json(), 64, 8)
        assert await redis.get(keys.dispatch_partitions()) == "8"  # left as recorded
    finally:
        await redis.aclose()
        server.stop()
