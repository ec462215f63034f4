"""The API's sync routes through ChildSyncer (`create_app(sync_url=...)`, as `listd run`):
the same answers, errors included, as an inline sync; the index follows."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from listd.access import KeyStore
from listd.api import create_app
from listd.api.state import INDEX, SYNCER
from listd.pipeline.child import ChildSyncer
from listd.pipeline.store import Store
from listd.pipeline.sync import Syncer
from listd.settings import Settings
from tests.conftest import un_file
from tests.helpers import auth, eventually

Client = TestClient[Any, Any]


async def test_approving_a_held_list_in_a_child_answers_as_inline(
    redis: Redis,
    settings: Settings,
    redis_url: str,
    aiohttp_client: Callable[..., Awaitable[Client]],
) -> None:
    held = replace(settings, sources={"un": replace(settings.sources["un"], min_entities=5000)})
    store = Store(redis, held.keys)
    raw = un_file("2025-11-15").read_bytes()
    assert (await Syncer(held, store).sync("un", raw=raw)).outcome == "held"
    keys = KeyStore(redis, held.keys)
    admin = await keys.create("ops", "admin")
    await keys.accept_agreement(admin)
    app = create_app(held, redis, refresh_seconds=3600, sync_url=redis_url)
    client = await aiohttp_client(app)
    assert isinstance(app[SYNCER], ChildSyncer)

    async with client.post("/v1/sources/un/held/approve", headers=auth(admin)) as resp:
        approved = await resp.json()
    assert resp.status == 200, approved
    assert approved["outcome"] == "updated" and approved["entities"] > 0
    assert approved["version"] == await store.current_version("un")
    # Followed at once (not by the hourly poll): the parent ran on_update.
    await eventually(lambda: app[INDEX].versions.get("un") == approved["version"], 5)

    # Again: nothing is held now, and the child's NotFound is this process's 404.
    async with client.post("/v1/sources/un/held/approve", headers=auth(admin)) as resp:
        assert resp.status == 404
        assert (await resp.json())["error"] == "not_found"


async def test_a_busy_source_through_a_child_is_409_as_inline(
    redis: Redis,
    settings: Settings,
    redis_url: str,
    aiohttp_client: Callable[..., Awaitable[Client]],
) -> None:
    keys = KeyStore(redis, settings.keys)
    admin = await keys.create("ops", "admin")
    await keys.accept_agreement(admin)
    client = await aiohttp_client(create_app(settings, redis, sync_url=redis_url))
    lock = Store(redis, settings.keys).lock("un")
    await lock.acquire()  # another sync (this process: alive) holds the source
    try:
        async with client.post("/v1/sources/un/sync", headers=auth(admin)) as resp:
            body = await resp.json()
    finally:
        await lock.release()
    assert resp.status == 409, body
    assert body["error"] == "sync_in_progress" and lock.token in body["message"]
