"""Short GIL turns while a sync or an index build runs threads beside the event loop, back
to the interpreter's interval when the last holder leaves (real UN file, real Redis)."""

from __future__ import annotations

import asyncio
import sys

import pytest
from redis.asyncio import Redis

from listd.keyspace import Keys
from listd.pipeline.store import Store
from listd.pipeline.sync import Syncer
from listd.screening import ScreeningIndex
from listd.screening.follow import follow
from listd.settings import Settings
from listd.turns import SWITCH_S, short_turns
from tests.conftest import un_file


def test_overlapping_holders_restore_the_interval_when_the_last_leaves() -> None:
    before = sys.getswitchinterval()
    assert before > SWITCH_S
    first, second = short_turns(), short_turns()
    first.__enter__()
    second.__enter__()
    assert sys.getswitchinterval() == pytest.approx(SWITCH_S)
    first.__exit__(None, None, None)  # the other still holds
    assert sys.getswitchinterval() == pytest.approx(SWITCH_S)
    second.__exit__(None, None, None)
    assert sys.getswitchinterval() == before


async def test_a_sync_and_the_index_build_take_short_turns_until_they_end(
    redis: Redis, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The threads' work (a first load's deltas, the index's decoding) held the GIL from
    the loop 5 ms at a time: a screening request paid that at each of its system calls."""
    before = sys.getswitchinterval()
    seen: list[float] = []
    store = Store(redis, Keys(settings.key_prefix))
    result = await Syncer(settings, store).sync(
        "un",
        raw=un_file("2026-02-27").read_bytes(),
        progress=lambda _msg: seen.append(sys.getswitchinterval()),
    )
    assert result.outcome == "updated"
    assert seen and all(interval == pytest.approx(SWITCH_S) for interval in seen)
    assert sys.getswitchinterval() == before

    decoding: list[float] = []
    to_thread = asyncio.to_thread

    async def recorded(*args: object, **kwargs: object) -> object:
        decoding.append(sys.getswitchinterval())
        return await to_thread(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("asyncio.to_thread", recorded)
    assert (await follow(store, ScreeningIndex(), ["un"])).loaded == ["un"]
    assert decoding and all(interval == pytest.approx(SWITCH_S) for interval in decoding)
    assert sys.getswitchinterval() == before
