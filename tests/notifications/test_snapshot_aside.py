"""A snapshot being written holds up no delta: with the encoding of every snapshot held
back until the test lets it go, a designation published meanwhile is alerted, for a
partition's own customers and for a subscription cut in slices (in the 20 M run one
worker's lookup started 3.5 s late, behind a dump holding the index lock)."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest
from redis.asyncio import Redis

from listd.keyspace import Keys
from listd.notifications import snapshot, stored
from listd.notifications.config import WebhookConfig
from listd.notifications.outbox import Batch
from listd.notifications.routes import BLOCKING
from listd.settings import Settings
from tests.helpers import eventually, until
from tests.notifications.conftest import (
    PLANTED,
    Client,
    Receiver,
    designate,
    person,
    screened,
    subscribe,
    upload,
)

ROWS = [{"reference": f"F-{i}", "name": f"Fillername{i} Otherword{i % 97}"} for i in range(300)]
ROWS += [{"reference": f"P-{n}", "name": name} for n, name in enumerate(PLANTED)]


class Gate:
    """`snapshot.write` held (in its worker thread) until `open` is set: a snapshot as
    slow to encode as the test wants, with no timing in the assertion."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.open = threading.Event()
        self._write = snapshot.write

    def write(self, data: snapshot.Arrays) -> bytes:
        self.entered.set()
        self.open.wait(120)  # a bound, so a failing test leaves no thread behind
        return self._write(data)


@pytest.mark.parametrize("sliced", [False, True], ids=["partition", "slice"])
async def test_a_delta_is_alerted_while_a_snapshot_is_being_written(
    sliced: bool,
    make_api: Callable[..., Awaitable[Client]],
    keys: dict[str, str],
    receivers: Callable[[], Awaitable[Receiver]],
    redis: Redis,
    settings: Settings,
    config: WebhookConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gate = Gate()
    monkeypatch.setattr(snapshot, "write", gate.write)
    cfg = replace(config, partitions=8, slice_customers=100 if sliced else 0, slices=4)
    api = await make_api(cfg=cfg)
    dispatcher = api.app[BLOCKING].dispatcher
    rx = await receivers()
    sub = await subscribe(api, keys["bank-a"], rx, events=["blocking.required"])
    k = settings.keys
    try:
        await upload(api, keys["bank-a"], sub["id"], ROWS)
        await until(lambda: screened(redis, settings, sub["id"]), what="upload screened")
        if sliced:
            await eventually(
                lambda: dispatcher.slicer.ready() and len(dispatcher.slicer.pieces) == 4
            )
        # The first snapshot after the upload (the partition's, or a slice's) is held.
        await eventually(gate.entered.is_set, 30, "a snapshot being written")
        await designate(redis, settings, person(900, PLANTED[0]))
        await eventually(
            lambda: bool(rx.of_type("blocking.required")), 30, "the alert, the snapshot held"
        )
        assert not gate.open.is_set()
    finally:
        gate.open.set()
    [alert] = rx.of_type("blocking.required")
    assert alert["data"]["customer"]["reference"] == "P-0"
    # Let go, the snapshot is written.
    number = dispatcher.partition(sub["id"])

    async def written() -> bool:
        if sliced:
            return all(
                [await redis.hexists(k.slice_snapshot(n), "meta") for n in dispatcher.slicer.held]
            )
        return bool(await redis.hexists(k.partition_snapshot(number), "meta"))

    await until(written, 30, "the snapshot written once let go")
    assert rx.duplicates == 0


async def test_a_snapshot_written_again_while_it_is_read_is_read_whole(
    redis: Redis, key_names: Keys
) -> None:
    # A worker reading a slice snapshot (on takeover) while its own snapshot task writes
    # that key again: the meta it read names chunks the write has just deleted. It reads
    # the new one; before, it found none and rebuilt the slices from every record.
    key = key_names.slice_snapshot(3)

    async def put(blob: str, generation: str) -> None:
        batch = Batch(key_names.partition_lease(3))
        await stored.write(redis, key, blob, generation, {"applied": {}}, batch)
        await batch.run(redis)

    await put("A" * 10, "g1")
    hmget = redis.hmget

    async def replaced_meanwhile(*args: Any) -> Any:
        redis.hmget = hmget  # type: ignore[method-assign]
        await put("B" * 10, "g2")
        return await hmget(*args)

    redis.hmget = replaced_meanwhile  # type: ignore[method-assign]
    found = await stored.read(redis, key)
    assert found is not None
    meta, chunks = found
    assert meta["generation"] == "g2" and chunks == ["B" * 10]
