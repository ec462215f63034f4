"""The embedded Valkey under a real `listd run`: killed, it is reaped and started again on
its append-only file; when it cannot come back, the daemon exits non-zero so that its
service manager restarts it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from listd.connection import client
from listd.embedded import socket_path
from listd.keyspace import Keys
from listd.pipeline.store import Store
from listd.settings import Settings
from tests.conftest import SourceServer, un_file
from tests.helpers import until
from tests.ops.conftest import ROOT, Daemon, Start


def proc_state(pid: int) -> str | None:
    """The kernel's state letter of `pid` (Z: a zombie nobody reaped), None once gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rpartition(")")[2].split()[0]


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])


def server_pid(state: Path) -> int:
    return int((state / "redis" / "server.pid").read_text().strip())


@pytest.fixture
async def embedded(tmp_path: Path) -> AsyncIterator[Redis]:
    """A client of daemon "a"'s embedded server (its socket under its state directory)."""
    redis = client(f"unix://{socket_path((tmp_path / 'state-a').resolve())}")
    yield redis
    await redis.aclose()


async def serving(store: Store) -> str | None:
    try:
        return await store.current_version("un")
    except Exception:  # noqa: BLE001 - the server is restarting
        return None


async def start_on_embedded(start_daemon: Start, source_server: SourceServer) -> Daemon:
    source_server.put("/un.xml", un_file("2025-11-20").read_bytes())
    return await start_daemon("a", LISTD_REDIS_URL="", LISTD_LEADER_TTL="3")


async def test_a_killed_embedded_server_is_reaped_and_restarted_with_its_data(
    start_daemon: Start,
    source_server: SourceServer,
    embedded: Redis,
    settings: Settings,
    tmp_path: Path,
) -> None:
    daemon = await start_on_embedded(start_daemon, source_server)
    state = tmp_path / "state-a"
    store = Store(embedded, Keys(settings.key_prefix))
    await until(lambda: serving(store), what="the first sync")
    version = await store.current_version("un")
    assert len(await store.entities("un")) == 1000

    async def ready() -> bool:
        return bool((await daemon.ready() or {}).get("ready"))

    await until(ready, what="ready")
    old = server_pid(state)
    assert parent_of(old) == daemon.pid
    os.kill(old, signal.SIGKILL)

    async def reaped() -> bool:
        return proc_state(old) is None

    await until(reaped, 20, what="the killed server reaped (not a zombie)")
    await until(ready, 30, what="/readyz ready again")
    new = server_pid(state)
    assert new != old and parent_of(new) == daemon.pid
    # The append-only file brought the published list back.
    assert await store.current_version("un") == version
    assert len(await store.entities("un")) == 1000
    assert daemon.logged("embedded redis exited; restarting it")
    assert daemon.logged("embedded redis restarted")
    # The daemon works on the restarted server: the next file is published.
    source_server.put("/un.xml", un_file("2026-02-27").read_bytes())

    async def next_version() -> bool:
        current = await serving(store)
        return current is not None and current != version

    await until(next_version, 60, what="the next sync after the restart")
    assert len(await store.entities("un")) == 1003
    # Another listd process joins the owner's server instead of starting its own.
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "LISTD_REDIS_URL": "",
        "LISTD_KEY_PREFIX": settings.key_prefix,
        "LISTD_SOURCES": str(tmp_path / "sources.toml"),
        "LISTD_STATE_DIR": str(state),
    }
    joined = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "listd", "sources",
        env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(joined.communicate(), 60)
    assert joined.returncode == 0, err
    assert "un" in out.decode() and server_pid(state) == new
    # The restarted server still dies with its parent (PR_SET_PDEATHSIG).
    daemon.signal(signal.SIGKILL)
    await daemon.wait(10)

    async def gone() -> bool:
        return proc_state(new) in (None, "Z")

    await until(gone, 20, what="the server exiting with the killed daemon")


async def test_a_server_that_cannot_come_back_stops_the_daemon_non_zero(
    start_daemon: Start,
    source_server: SourceServer,
    embedded: Redis,
    settings: Settings,
    tmp_path: Path,
) -> None:
    daemon = await start_on_embedded(start_daemon, source_server)
    state = tmp_path / "state-a"
    store = Store(embedded, Keys(settings.key_prefix))
    await until(lambda: serving(store), what="the first sync")
    pid = server_pid(state)
    # The data directory is replaced by a file: the server cannot start on it again
    # (as with a lost disk or a full one), and the supervisor must not serve an empty store.
    (state / "redis").rename(state / "redis.lost")
    (state / "redis").write_text("not a directory\n")
    os.kill(pid, signal.SIGKILL)
    code = await daemon.wait(90)
    assert code == 1
    assert len(daemon.logged("embedded redis restart failed")) == 5
    assert daemon.logged("listd stopped: the embedded redis is lost")
    assert proc_state(pid) is None
    assert b"embedded Redis exited and 5 restarts" in daemon.log.read_bytes()
