"""Redis goes away under a running leader: the daemon stays up, its syncs pause, and it
leads and syncs again when Redis returns (a private Valkey, stopped and restarted)."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from listd.connection import client
from listd.embedded import server_binary
from listd.keyspace import Keys
from listd.pipeline.store import Store
from listd.settings import Settings
from tests.conftest import SourceServer, un_file
from tests.helpers import until
from tests.ops.conftest import Start, free_port


class Valkey:
    """A Valkey server on TCP with its append-only file in `dir`, restartable."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [str(server_binary()), "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.dir), "--appendonly", "yes", "--appendfsync", "always",
             "--save", ""],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # Valkey fsyncs its AOF on SIGTERM
            self.proc.wait(10)


@pytest.fixture
def valkey(tmp_path: Path) -> Iterator[Valkey]:
    server = Valkey(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def valkey_redis(valkey: Valkey) -> AsyncIterator[Redis]:
    """A client of `valkey`, closed even when the test fails (a leaked one fails a later
    test when the collector finds its connection)."""
    redis = client(valkey.url)
    yield redis
    await redis.aclose()


async def test_syncs_pause_while_redis_is_away_and_resume_when_it_returns(
    start_daemon: Start,
    source_server: SourceServer,
    valkey: Valkey,
    valkey_redis: Redis,
    settings: Settings,
) -> None:
    redis = valkey_redis
    store = Store(redis, Keys(settings.key_prefix))

    async def answers() -> bool:
        try:
            return bool(await redis.ping())
        except Exception:  # noqa: BLE001 - starting
            return False

    await until(answers, what="valkey up")
    source_server.put("/un.xml", un_file("2018-06-07").read_bytes())
    daemon = await start_daemon("a", LISTD_REDIS_URL=valkey.url, LISTD_LEADER_TTL="3")

    async def leading() -> bool:
        return await daemon.role() == "leader"

    await until(leading, what="leading")

    async def synced(seq: int) -> bool:
        try:
            return await store.last_seq() >= seq
        except Exception:  # noqa: BLE001 - redis restarting
            return False

    await until(lambda: synced(1), what="the first sync")
    seq = await store.last_seq()

    valkey.stop()

    async def stepped_down() -> bool:
        return await daemon.role() == "follower"

    await until(stepped_down, what="the leader pausing its work")
    assert (await daemon.ready() or {}).get("ready") is False
    asked = len(source_server.requests)
    await asyncio.sleep(4)  # more than one sync interval (3 s): nothing is fetched
    assert len(source_server.requests) == asked
    assert daemon.proc.returncode is None

    valkey.start()
    source_server.put("/un.xml", un_file("2018-06-21").read_bytes())
    await until(leading, what="leading again")
    await until(lambda: synced(seq + 2), what="the sync after Redis returned")
    assert await store.last_seq() == seq + 2
