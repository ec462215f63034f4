"""An entity's history reads the per-entity index of delta seqs written at publication,
not a scan of the whole stream: an old delta behind thousands of newer ones is found,
and the answer is complete."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from listd.console import api as console_api
from tests.conftest import un_file
from tests.console.conftest import Console
from tests.helpers import auth

HISTORY = "/v1/entities/{}/history?basis=periodic_review"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def history(http: aiohttp.ClientSession, console: Console, key: str, entity: str) -> Any:
    async with http.get(console.base + HISTORY.format(entity), headers=auth(key)) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def test_an_old_delta_behind_many_newer_ones_is_found_without_a_scan(
    console: Console, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = await console.key("screener")
    await console.sync("un", un_file("2025-11-20"))
    added = await console.sync("un", un_file("2026-02-27"))  # adds SDi.007
    # 2026-05-08 amends 639 entities: SDi.007's delta is now behind them.
    await console.sync("un", un_file("2026-05-08"))
    # A scan bound smaller than the newer deltas: a history found by scanning the stream
    # would stop before SDi.007's delta and answer incomplete.
    monkeypatch.setattr(console_api, "SCAN_LIMIT", 100)
    found = await history(http, console, key, "un:SDi.007")
    assert found["complete"] is True
    published, _ = await console.store.read_deltas((added.first_seq or 0) - 1, 1000)
    seq = next(d.seq for d in published if d.entity_id == "un:SDi.007")
    assert [(h["op"], h["seq"]) for h in found["history"]] == [("added", seq)]
    # Newest first, across syncs; an unknown id has no history and costs no scan.
    busy = await history(http, console, key, "un:HTi.006")
    assert [h["op"] for h in busy["history"]] == ["amended", "added"]
    assert busy["history"][0]["seq"] > busy["history"][1]["seq"]
    nothing = await history(http, console, key, "un:NOPE.000")
    assert nothing == {"entity_id": "un:NOPE.000", "listed": False, "history": [], "complete": True}


async def test_deltas_trimmed_by_retention_leave_the_index(console: Console) -> None:
    store = console.store
    await console.sync("un", un_file("2025-11-20"))
    await console.sync("un", un_file("2026-02-27"))
    first, start = await store.entity_deltas("un:HTi.006", 10)
    assert start == 1 and [d.op for d in first] == ["amended", "added"]
    await store.trim_deltas(5)  # keeps only the newest five deltas
    floor = await store.delta_floor()
    kept, _ = await store.entity_deltas("un:HTi.006", 10)
    assert all(d.seq > floor for d in kept)
    assert len(kept) < len(first)


async def test_deltas_published_before_the_index_are_still_found(
    console: Console, http: aiohttp.ClientSession
) -> None:
    """An upgraded deployment: its older deltas have no index entries (and no index start)."""
    key = await console.key("screener")
    await console.sync("un", un_file("2025-11-20"))
    await console.sync("un", un_file("2026-02-27"))
    redis, keys = console.redis, console.store.keys
    await redis.delete(keys.entity_deltas("un:HTi.006"), keys.entity_deltas_from())
    legacy = await history(http, console, key, "un:HTi.006")
    assert [h["op"] for h in legacy["history"]] == ["amended", "added"]
    assert legacy["complete"] is True
    # The next publication starts the index; the older deltas are found below it by a scan.
    result = await console.sync("un", un_file("2026-05-08"))
    assert int(await redis.get(keys.entity_deltas_from()) or 0) == result.first_seq
    both = await history(http, console, key, "un:HTi.006")
    assert [h["op"] for h in both["history"]][-2:] == ["amended", "added"]
    assert both["complete"] is True
