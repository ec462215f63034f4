"""Two real `listd run` processes on one Redis, each with its own state directory (two
hosts) and one shared journal key: each signs its own checkpoints, and on SIGTERM a last
one, in its file and its log; the journal verifies against either host's checkpoints."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from redis.asyncio import Redis

from listd.access import wire
from listd.audit import Journal
from listd.keyspace import Keys
from listd.seal import CHECKPOINTS, ensure_seal
from listd.settings import Settings
from tests.ops.conftest import Start


async def test_each_instance_checkpoints_and_the_journal_verifies_on_each_host(
    start_daemon: Start, redis: Redis, settings: Settings, tmp_path: Path
) -> None:
    keys = Keys(settings.key_prefix)
    key_file = tmp_path / "journal.key"
    seal = ensure_seal(key_file)  # what the operator copies to every host
    store = wire(settings, redis, seal).store
    secret = await store.create("desk", "screener", org="bank-a")
    await store.accept_agreement(secret)
    shared = {"LISTD_JOURNAL_KEY_FILE": str(key_file)}
    hosts = [await start_daemon(name, **shared) for name in ("a", "b")]
    for daemon in hosts:
        for _ in range(3):
            async with daemon.http.get(
                daemon.url("/v1/agreement"), headers={"Authorization": f"Bearer {secret}"}
            ) as resp:
                assert resp.status == 200
    for daemon in hosts:
        daemon.signal(signal.SIGTERM)
        assert await daemon.wait(60) == 0
    head, _ = await Journal(redis, keys).head()
    for daemon in hosts:
        state = tmp_path / f"state-{daemon.name}"
        assert not (state / "journal.key").exists()  # the named key, not a new one
        lines = [json.loads(x) for x in (state / "journal" / CHECKPOINTS).read_text().splitlines()]
        last = lines[-1]
        assert (last["reason"], last["key"], last["prefix"]) == (
            "shutdown", seal.kid, settings.key_prefix,
        )  # fmt: skip
        logged = daemon.logged("journal checkpoint")
        assert logged and logged[-1]["sig"] == last["sig"]
        verdict = await Journal(redis, keys, state / "journal", seal).verify()
        assert verdict.ok, verdict.problem
        assert (verdict.last, verdict.sealed) == (head, head)
        assert verdict.newest_checkpoint is not None
        assert verdict.newest_checkpoint["seq"] == last["seq"]
    # B stopped after A: its last checkpoint covers A's requests too.
    b = json.loads((tmp_path / "state-b" / "journal" / CHECKPOINTS).read_text().splitlines()[-1])
    assert b["seq"] == head
