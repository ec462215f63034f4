"""bench/sync.py: the Redis server's appendfsync set as asked, and its AOF waits read right."""

from __future__ import annotations

from pathlib import Path

import pytest

from listd.connection import client
from listd.embedded import EmbeddedRedis
from tests.helpers import load_bench

sync = load_bench("sync")


async def test_appendfsync_is_set_on_the_server_the_case_runs_on(tmp_path: Path) -> None:
    # A server of its own: the setting must not leak into the suite's shared one.
    with EmbeddedRedis(tmp_path) as server:
        redis = client(server.url)
        try:
            assert (await redis.config_get("appendfsync"))["appendfsync"] == "always"
            assert await sync.use_appendfsync(redis, "everysec") == "everysec"
            assert await sync.use_appendfsync(redis, "always") == "always"
            with pytest.raises(ValueError, match="appendfsync"):
                await sync.use_appendfsync(redis, "sometimes")
        finally:
            await redis.aclose()


def test_aof_waits_split_the_fsync_a_reply_waited_for_from_other_aof_waits() -> None:
    latest = [
        [b"aof-fsync-always", 1, 12, 30],
        [b"aof-write-pending-fsync", 1, 5, 45],
        ["command", 1, 80, 80],  # not the append-only file's
    ]
    assert sync.aof_waits(latest) == {"fsync_max_ms": 30, "aof_wait_max_ms": 45}
    everysec = [[b"aof-write-pending-fsync", 1, 7, 7]]
    assert sync.aof_waits(everysec) == {"fsync_max_ms": 0, "aof_wait_max_ms": 7}
    assert sync.aof_waits([]) == {"fsync_max_ms": 0, "aof_wait_max_ms": 0}
