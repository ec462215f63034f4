"""`listd run` syncs in a child process: the real daemon, its real child, the test's Redis.
The sync's source lock names its holder's pid, which is how these tests find the child."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from listd.access import KeyStore
from listd.pipeline.child import STOP_S
from listd.pipeline.store import Store
from listd.pipeline.sync import SyncResult
from listd.settings import Settings
from tests.conftest import SourceServer, un_file
from tests.helpers import auth, until
from tests.ops.conftest import Daemon, Start, write_sources
from tests.ops.test_drain import leading


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rpartition(")")[2].split()[1])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def sync_child(redis: Redis, settings: Settings, daemon: Daemon) -> int:
    """The pid of the process holding the sync lock of `un` (once one does): a child of
    `daemon`'s."""
    key = settings.keys.sync_lock("un")
    holder: list[str] = []

    async def held() -> bool:
        value = await redis.get(key)
        holder[:] = [value] if value else []
        return bool(holder)

    await until(held, what="a sync holding the lock")
    pid = int(holder[0].split(":")[1])
    assert pid != daemon.pid
    assert parent_of(pid) == daemon.pid
    return pid


async def first_version(store: Store, daemon: Daemon) -> str:
    async def published() -> bool:
        return await store.current_version("un") is not None

    await until(published, what="the first sync")
    version = await store.current_version("un")
    assert version is not None

    async def followed() -> bool:
        body = await daemon.ready()
        return body is not None and body["versions"].get("un") == version

    await until(followed, what="the API's index following the first version")
    return version


async def hanging_sync(
    start_daemon: Start, source_server: SourceServer, redis: Redis, settings: Settings
) -> tuple[Daemon, str, int]:
    """A leader serving the first list, and the child of its next sync hanging in the
    fetch (the source answers after 30 s): the daemon, the version served, the child's pid."""
    store = Store(redis, settings.keys)
    source_server.put("/un.xml", un_file("2018-06-07").read_bytes())
    daemon = await start_daemon("leader")
    await leading(daemon)
    before = await first_version(store, daemon)
    source_server.delay = 30.0
    source_server.put("/un.xml", un_file("2018-06-21").read_bytes())
    return daemon, before, await sync_child(redis, settings, daemon)


async def test_a_scheduled_sync_runs_in_a_child_and_the_index_follows(
    start_daemon: Start, source_server: SourceServer, redis: Redis, settings: Settings
) -> None:
    store = Store(redis, settings.keys)
    source_server.put("/un.xml", un_file("2018-06-07").read_bytes())
    source_server.delay = 1.0  # the fetch waits: the lock is seen held meanwhile
    daemon = await start_daemon("leader")
    await leading(daemon)
    pid = await sync_child(redis, settings, daemon)
    version = await first_version(store, daemon)
    assert (await store.history("un", 1))[0]["outcome"] == "updated"
    assert not await redis.exists(settings.keys.sync_lock("un"))

    # The next list: published by another child, and the index follows it.
    source_server.put("/un.xml", un_file("2018-06-21").read_bytes())
    assert await sync_child(redis, settings, daemon) != pid

    async def followed() -> bool:
        body = await daemon.ready()
        current = await store.current_version("un")
        return current != version and body is not None and body["versions"]["un"] == current

    await until(followed, what="the index following the second version")


async def test_a_killed_sync_child_leaves_the_served_version_and_frees_the_lock(
    start_daemon: Start, source_server: SourceServer, redis: Redis, settings: Settings
) -> None:
    store = Store(redis, settings.keys)
    # The next sync hangs in its fetch: killed there.
    daemon, before, pid = await hanging_sync(start_daemon, source_server, redis, settings)
    seq = await store.last_seq()
    os.kill(pid, signal.SIGKILL)

    async def recorded() -> bool:
        return any("SIGKILL" in (h.get("error") or "") for h in await store.history("un", 5))

    await until(recorded, seconds=10, what="the parent recording the lost sync")

    # Freed at once (the holder's pid is gone), not after the lock's 60 s TTL: free, or
    # held by the next scheduled sync's child already. The parent records the failure,
    # then frees the lock: on a busy machine the second can come a moment after the first.
    async def freed() -> bool:
        holder = await redis.get(settings.keys.sync_lock("un"))
        return holder is None or f":{pid}:" not in holder

    await until(freed, seconds=10, what="the dead child's lock freed")
    assert await store.current_version("un") == before
    assert await store.last_seq() == seq
    assert (await store.state("un"))["status"] == "error"
    assert daemon.proc.returncode is None

    source_server.delay = 0.0  # the next scheduled sync publishes the new list

    async def published() -> bool:
        return await store.last_seq() == seq + 2

    await until(published, what="the sync after the killed one")
    assert (await store.state("un"))["status"] == "ok"


async def test_step_down_cancels_the_childs_sync(
    start_daemon: Start, source_server: SourceServer, redis: Redis, settings: Settings
) -> None:
    store = Store(redis, settings.keys)
    daemon, before, pid = await hanging_sync(start_daemon, source_server, redis, settings)
    # Another instance took the lease: this one's renewal fails and it steps down.
    await redis.set(settings.keys.lease("leader"), "elsewhere:1:x", px=60_000)

    async def stepped_down() -> bool:
        return await daemon.role() == "follower" and not alive(pid)

    await until(stepped_down, seconds=30, what="the step-down ending the child")
    last = (await store.history("un", 1))[0]
    assert last["outcome"] == "failed" and "cancelled" in last["error"]
    assert not await redis.exists(settings.keys.sync_lock("un"))
    assert await store.current_version("un") == before
    assert daemon.logged("syncs in flight abandoned")


async def test_a_sync_through_the_api_answers_as_inline(
    start_daemon: Start,
    source_server: SourceServer,
    redis: Redis,
    settings: Settings,
    tmp_path: Path,
) -> None:
    # Hourly: the scheduled sync at start-up, then the API's own only.
    write_sources(tmp_path / "sources.toml", source_server.url("/un.xml"), interval_minutes=60)
    store = Store(redis, settings.keys)
    keys = KeyStore(redis, settings.keys)
    admin = await keys.create("ops", "admin")
    await keys.accept_agreement(admin)
    source_server.put("/un.xml", un_file("2018-06-07").read_bytes())
    daemon = await start_daemon("leader")
    await leading(daemon)
    version = await first_version(store, daemon)

    async def sync_now() -> tuple[int, dict[str, Any]]:
        url = daemon.url("/v1/sources/un/sync")
        async with daemon.http.post(url, headers=auth(admin)) as resp:
            return resp.status, await resp.json()

    source_server.delay = 1.0
    asked = asyncio.create_task(sync_now())
    await sync_child(redis, settings, daemon)  # the route's sync runs in a child too
    status, body = await asked
    assert status == 200, body
    assert set(body) == {f.name for f in fields(SyncResult)}
    assert body["source"] == "un" and body["version"] == version
    assert body["outcome"] in ("not_modified", "unchanged")

    # An error keeps its status and code: the source answers 500, as a 502 source error.
    source_server.delay = 0.0
    source_server.fail_next = 10
    status, error = await sync_now()
    assert status == 502, error
    assert error["error"] == "fetch_failed" and "500" in error["message"]


async def test_a_child_that_does_not_stop_is_killed_and_its_sync_recorded(
    start_daemon: Start, source_server: SourceServer, redis: Redis, settings: Settings
) -> None:
    store = Store(redis, settings.keys)
    daemon, before, pid = await hanging_sync(start_daemon, source_server, redis, settings)
    os.kill(pid, signal.SIGSTOP)  # deaf to SIGTERM: only the kill after STOP_S ends it
    started = time.monotonic()
    daemon.signal(signal.SIGTERM)
    assert await daemon.wait(60) == 0, daemon.log.read_text()[-3000:]
    assert STOP_S <= time.monotonic() - started < STOP_S + 15
    assert not alive(pid)
    assert [e for e in daemon.logged("sync process stopped") if e["killed"]]
    last = (await store.history("un", 1))[0]
    assert last["outcome"] == "failed" and "cancelled" in last["error"]
    assert not await redis.exists(settings.keys.sync_lock("un"))
    assert await store.current_version("un") == before
