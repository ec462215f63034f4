"""The API's sync routes through ChildSyncer (`create_app(sync_url=...)`, as `listd run`):
the same answers, errors included, as an inline sync; the index follows."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
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


def children_of(pid: int) -> list[int]:
    """The pids of `pid`'s children (every thread's)."""
    tasks = Path(f"/proc/{pid}/task")
    return [int(c) for t in tasks.iterdir() for c in (t / "children").read_text().split()]


async def processes_of(syncer: ChildSyncer) -> list[int]:
    """After one sync through `syncer`: the pids of the next sync's process, waiting, and of
    the parsing children it started (those the UN file's sync used)."""
    raw = un_file("2025-11-15").read_bytes()
    assert (await syncer.sync("un", raw=raw)).outcome == "updated"
    await syncer.warm()
    waiting = [
        pid
        for pid in children_of(os.getpid())
        if b"listd.pipeline.child" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
    assert len(waiting) == 1
    started = children_of(waiting[0])
    assert started, "the parsing children the UN file's sync used, waiting"
    return [*waiting, *started]


async def test_the_sync_process_and_what_it_starts_run_idle_scheduled_when_asked(
    redis: Redis, settings: Settings, redis_url: str
) -> None:
    # SCHED_IDLE: they run on a core nothing else wants, so a screening never waits for
    # the sync's CPU (a niceness only lowered their share of a core).
    idle = replace(settings, sync_niceness=None)  # LISTD_SYNC_PRIORITY=idle
    syncer = ChildSyncer(idle, Store(redis, idle.keys), redis_url)
    try:
        for pid in await processes_of(syncer):
            assert os.sched_getscheduler(pid) == os.SCHED_IDLE, pid
        assert os.sched_getscheduler(0) == os.SCHED_OTHER  # this process (the API) is not
    finally:
        await syncer.close()


async def test_a_sync_priority_given_as_a_niceness(
    redis: Redis, settings: Settings, redis_url: str
) -> None:
    niced = replace(settings, sync_niceness=7)
    syncer = ChildSyncer(niced, Store(redis, niced.keys), redis_url)
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    try:
        for pid in await processes_of(syncer):
            assert os.sched_getscheduler(pid) == os.SCHED_OTHER, pid
            assert os.getpriority(os.PRIO_PROCESS, pid) == min(ours + 7, 19), pid
    finally:
        await syncer.close()
