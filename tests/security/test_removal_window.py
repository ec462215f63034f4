"""Delisting in small steps: files that each stay under max_removed_ratio, published one
after another, must not delist a large share of the list without an administrator.

Built from the real UN file of 2026-02-27 (1,003 entities) by deleting whole INDIVIDUAL
and ENTITY records: 90, then 82, then 74 more (each about 9 % of the list it replaces)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from listd.access import KeyStore
from listd.api import create_app
from listd.errors import ConfigError
from listd.keyspace import Keys
from listd.pipeline.guards import cumulative_guard
from listd.pipeline.store import Store
from listd.pipeline.sync import Syncer
from listd.scrapers import scraper
from listd.settings import Settings, SourceConfig, parse_sources
from tests.conftest import un_file
from tests.helpers import FakeClock

BASE = "2026-02-27"
STEPS = (90, 82, 74)
HOUR = 3600.0


def shrinking_files() -> list[bytes]:
    """The base file, then three files each without the next batch of records."""
    text = un_file(BASE).read_text("utf-8")
    spans = [m.group(0) for m in re.finditer(r"<(INDIVIDUAL|ENTITY)>.*?</\1>", text, flags=re.S)]
    assert len(spans) == 1003
    # Every 7th record, so individuals and entities of every regime go.
    order = spans[::7] + [s for i, s in enumerate(spans) if i % 7]
    out = [text.encode()]
    start = 0
    for count in STEPS:
        for doomed in order[start : start + count]:
            text = text.replace(doomed, "", 1)
        start += count
        out.append(text.encode())
    return out


def un_settings(settings: Settings, **changes: object) -> Settings:
    cfg = replace(settings.sources["un"], max_removed_ratio=0.1, **changes)  # type: ignore[arg-type]
    return replace(settings, sources={"un": cfg})


@pytest.fixture(scope="module")
def files() -> list[bytes]:
    return shrinking_files()


async def test_three_nine_percent_removals_in_a_day_are_held(
    redis: Redis, settings: Settings, files: list[bytes]
) -> None:
    s = un_settings(settings)
    store = Store(redis, Keys(s.key_prefix))
    clock = FakeClock(1_780_000_000.0)
    syncer = Syncer(s, store, clock=clock)
    assert (await syncer.sync("un", raw=files[0])).entities == 1003
    clock.advance(HOUR)
    first = await syncer.sync("un", raw=files[1])
    assert first.outcome == "updated" and first.deltas["removed"] == 90
    clock.advance(HOUR)
    second = await syncer.sync("un", raw=files[2])
    # 90 + 82 = 172 of 1,003 (17 %) within 24 h: above the 10 % bound, although this
    # file alone removes 82 of 913 (9 %).
    assert second.outcome == "held", second
    reason = second.held_reason or ""
    assert reason.startswith("cumulative") and "172 of 1003" in reason
    assert len(await store.entities("un")) == 913
    state = await store.state("un")
    assert state["status"] == "held" and state["held_reason"] == reason
    held = await store.held("un")
    assert held["reason"] == reason and held["would_removed"] == "82"
    # The third file, arriving while the second is held, is held as well (against the
    # 913 still serving it removes 156, 17 %).
    clock.advance(HOUR)
    third = await syncer.sync("un", raw=files[3])
    assert third.outcome == "held" and "156 of 913" in (third.held_reason or "")
    assert len(await store.entities("un")) == 913


async def test_an_approved_hold_restarts_the_window(
    redis: Redis, settings: Settings, files: list[bytes]
) -> None:
    s = un_settings(settings)
    store = Store(redis, Keys(s.key_prefix))
    clock = FakeClock(1_780_000_000.0)
    syncer = Syncer(s, store, clock=clock)
    await syncer.sync("un", raw=files[0])
    await syncer.sync("un", raw=files[1])
    assert (await syncer.sync("un", raw=files[2])).outcome == "held"
    approved = await syncer.approve_held("un")
    assert approved.outcome == "updated" and approved.deltas["removed"] == 82
    assert len(await store.entities("un")) == 831
    assert not await redis.exists(store.keys.removals("un"))
    # The administrator accepted 831 as the list: 74 more (9 % of it) pass ...
    clock.advance(HOUR)
    third = await syncer.sync("un", raw=files[3])
    assert third.outcome == "updated" and third.deltas["removed"] == 74
    # ... and are counted: another 9 % step within the day (74 + 70 of 831) is held.
    text = files[3].decode()
    more = re.findall(r"<INDIVIDUAL>.*?</INDIVIDUAL>", text, flags=re.S)[:70]
    for doomed in more:
        text = text.replace(doomed, "", 1)
    clock.advance(HOUR)
    fourth = await syncer.sync("un", raw=text.encode())
    assert fourth.outcome == "held" and "144 of 831" in (fourth.held_reason or "")


async def test_the_same_steps_a_day_apart_pass(
    redis: Redis, settings: Settings, files: list[bytes]
) -> None:
    s = un_settings(settings)
    store = Store(redis, Keys(s.key_prefix))
    clock = FakeClock(1_780_000_000.0)
    syncer = Syncer(s, store, clock=clock)
    await syncer.sync("un", raw=files[0])
    for raw in files[1:]:
        clock.advance(25 * HOUR)
        assert (await syncer.sync("un", raw=raw)).outcome == "updated"
    assert len(await store.entities("un")) == 1003 - sum(STEPS)
    # Only the publications within the window are kept.
    assert await redis.zcard(store.keys.removals("un")) == 1


async def test_window_and_bound_come_from_the_sources_file(
    redis: Redis, settings: Settings, files: list[bytes]
) -> None:
    table = {"kind": "un", "url": "http://127.0.0.1:9/x", "max_removed_ratio": 0.1}
    wide = parse_sources(
        {"sources": {"un": {**table, "max_removed_ratio_window": 0.3, "removal_window_hours": 48}}},
        {},
        "test",
    )["un"]
    assert wide.max_removed_ratio_window == 0.3 and wide.removal_window_hours == 48.0
    with pytest.raises(ConfigError, match=r"sources\.un\.max_removed_ratio_window"):
        parse_sources({"sources": {"un": {**table, "max_removed_ratio_window": 2}}}, {}, "t")
    with pytest.raises(ConfigError, match="removal_window_hours"):
        parse_sources({"sources": {"un": {**table, "removal_window_hours": -1}}}, {}, "t")
    # A wider bound over a longer window: all three steps (25 %) pass within two days.
    s = replace(settings, sources={"un": replace(wide, url=None, min_entities=500)})
    store = Store(redis, Keys(s.key_prefix))
    clock = FakeClock(1_780_000_000.0)
    syncer = Syncer(s, store, clock=clock)
    await syncer.sync("un", raw=files[0])
    for raw in files[1:]:
        clock.advance(10 * HOUR)
        assert (await syncer.sync("un", raw=raw)).outcome == "updated"


async def test_an_approved_hold_reports_what_it_published(
    redis: Redis, settings: Settings, files: list[bytes]
) -> None:
    store = Store(redis, Keys(settings.key_prefix))
    syncer = Syncer(settings, store)
    await syncer.sync("un", raw=un_file("2026-05-08").read_bytes())
    text = un_file("2026-05-08").read_text("utf-8")
    for doomed in re.findall(r"<INDIVIDUAL>.*?</INDIVIDUAL>", text, flags=re.S)[::2]:
        text = text.replace(doomed, "", 1)
    raw = text.encode()
    assert (await syncer.sync("un", raw=raw)).outcome == "held"
    approved = await syncer.approve_held("un")
    assert approved.published == scraper("un").published(raw) is not None
    assert approved.bytes == len(raw)
    history = await store.history("un", 1)
    assert history[0]["published"] == approved.published and history[0]["bytes"] == len(raw)


async def test_the_cumulative_hold_through_the_api(
    redis: Redis,
    settings: Settings,
    files: list[bytes],
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
) -> None:
    s = un_settings(settings)
    store = Store(redis, Keys(s.key_prefix))
    syncer = Syncer(s, store)
    for raw in files[:3]:
        await syncer.sync("un", raw=raw)
    keystore = KeyStore(redis, Keys(s.key_prefix))
    admin = await keystore.create("ops", "admin")
    await keystore.accept_agreement(admin)
    client = await aiohttp_client(create_app(s, redis, refresh_seconds=3600))
    headers = {"Authorization": f"Bearer {admin}"}
    async with client.get("/v1/sources/un/held", headers=headers) as resp:
        held = await resp.json()
    assert resp.status == 200 and held["reason"].startswith("cumulative")
    assert held["would_removed"] == "82" and held["bytes"] == str(len(files[2]))
    async with client.post("/v1/sources/un/held/approve", headers=headers) as resp:
        approved = await resp.json()
    assert resp.status == 200, approved
    assert approved["outcome"] == "updated" and approved["entities"] == 831
    assert approved["bytes"] == len(files[2])
    assert approved["published"] == scraper("un").published(files[2])
    async with client.get("/v1/sources/un/held", headers=headers) as resp:
        assert resp.status == 404


def test_the_bound_is_off_with_a_zero_window_and_defaults_to_the_per_file_ratio() -> None:
    cfg = SourceConfig(name="un", kind="un", max_removed_ratio=0.1)
    window = [{"version": "2", "removed": 90, "before": 1003}]
    assert cumulative_guard(cfg, window, 913, 11) is not None  # 101 of 1003 > 10 %
    assert cumulative_guard(cfg, window, 913, 10) is None  # 100 of 1003
    assert cumulative_guard(replace(cfg, removal_window_hours=0.0), window, 913, 82) is None
    wider = replace(cfg, max_removed_ratio_window=0.2)
    assert cumulative_guard(wider, window, 913, 82) is None  # 172 of 1003, 17 %
    assert cumulative_guard(cfg, [], 1003, 90) is None  # the per-file guard's business
