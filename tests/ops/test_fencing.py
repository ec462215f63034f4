"""Fencing: a leader that lost the lease unawares cannot publish; a stalled leader is
replaced after the lease TTL and steps down when it wakes."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from redis.asyncio import Redis

from listd.errors import ConfigError
from listd.keyspace import Keys
from listd.pipeline.lease import LEADER, Lease, LeaseLost
from listd.pipeline.store import Fence, Store
from listd.pipeline.sync import Syncer
from listd.settings import Settings
from tests.conftest import SourceServer, un_file
from tests.helpers import until
from tests.ops.conftest import Start, leader_of


def leader_lease(redis: Redis, settings: Settings, ttl: float = 30.0) -> Lease:
    k = Keys(settings.key_prefix)
    return Lease(redis, k.lease(LEADER), k.fence(LEADER), ttl)


async def test_a_stale_leader_cannot_publish(redis: Redis, settings: Settings) -> None:
    store = Store(redis, Keys(settings.key_prefix))
    syncer = Syncer(settings, store)
    old, new = leader_lease(redis, settings), leader_lease(redis, settings)
    assert await old.acquire()
    stale = Fence(old.key, old.token)
    first = await syncer.sync("un", raw=un_file("2018-06-07").read_bytes(), fence=stale)
    assert first.outcome == "updated"
    seq = await store.last_seq()
    # The lease passes to another instance (expiry during a pause, a network split).
    await redis.delete(old.key)
    assert await new.acquire()
    with pytest.raises(LeaseLost):
        await syncer.sync("un", raw=un_file("2018-06-21").read_bytes(), fence=stale)
    assert await store.current_version("un") == first.version
    assert await store.last_seq() == seq
    assert not await redis.exists(store.keys.sync_lock("un"))
    # The holder's fence publishes; a manual sync (no fence) is not fenced at all.
    done = await syncer.sync(
        "un", raw=un_file("2018-06-21").read_bytes(), fence=Fence(new.key, new.token)
    )
    assert done.outcome == "updated" and await store.last_seq() == seq + 2


def test_leader_ttl_from_the_environment(tmp_path: Path) -> None:
    env = {"LISTD_STATE_DIR": str(tmp_path)}
    assert Settings.from_env(env).leader_ttl == 10.0
    assert Settings.from_env(env | {"LISTD_LEADER_TTL": "15"}).leader_ttl == 15.0
    for bad in ("0.5", "abc", "1000"):
        with pytest.raises(ConfigError) as caught:
            Settings.from_env(env | {"LISTD_LEADER_TTL": bad})
        assert caught.value.detail["key"] == "LISTD_LEADER_TTL"


async def test_a_stalled_leader_is_replaced_after_the_ttl_and_steps_down(
    start_daemon: Start, source_server: SourceServer, redis: Redis, settings: Settings
) -> None:
    """SIGSTOP looks, to the other instance, like a leader on another host that hangs:
    its pid is alive, so only the lease's expiry frees it."""
    store = Store(redis, Keys(settings.key_prefix))
    source_server.put("/un.xml", un_file("2018-06-07").read_bytes())
    env = {"LISTD_LEADER_TTL": "4"}
    a = await start_daemon("a", **env)
    b = await start_daemon("b", **env)

    async def one_leader() -> bool:
        return len(await leader_of([a, b])) == 1

    await until(one_leader, what="a leader")
    (leader,) = await leader_of([a, b])
    follower = b if leader is a else a

    async def has_version() -> bool:
        return await store.current_version("un") is not None

    await until(has_version, what="the first sync")
    seq = await store.last_seq()
    stopped_at = time.monotonic()
    leader.signal(signal.SIGSTOP)
    try:

        async def took_over() -> bool:
            return await follower.role() == "leader"

        await until(took_over, seconds=30, what="the follower taking over")
        takeover = time.monotonic() - stopped_at
        print(f"\ntake-over of a stalled leader (TTL 4 s): {takeover:.2f} s")  # noqa: T201
        assert 2.0 < takeover < 4 * 4 / 3 + 3
    finally:
        leader.signal(signal.SIGCONT)

    async def stepped_down() -> bool:
        # Its renewal fails, or a fenced write of its dispatcher does: either way it stops.
        return bool(leader.logged("follower: scrapers and dispatcher stopped"))

    await until(stepped_down, what="the old leader stepping down")
    assert await leader.role() == "follower"
    assert [d.name for d in await leader_of([a, b])] == [follower.name]
    # The new leader syncs; the list is published once.
    source_server.put("/un.xml", un_file("2018-06-21").read_bytes())

    async def published() -> bool:
        return await store.last_seq() >= seq + 2

    await until(published, what="the new leader's sync")
    assert await store.last_seq() == seq + 2
