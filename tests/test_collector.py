"""Full garbage collections are held off while a sync or an index build makes its large,
acyclic structures, and resume when the last holder leaves (real UN file, real Redis)."""

from __future__ import annotations

import gc

from redis.asyncio import Redis

from listd.collector import no_full_collections
from listd.keyspace import Keys
from listd.pipeline.store import Store
from listd.pipeline.sync import Syncer
from listd.settings import Settings
from tests.conftest import un_file


def test_overlapping_holders_restore_the_thresholds_when_the_last_leaves() -> None:
    before = gc.get_threshold()
    first, second = no_full_collections(), no_full_collections()
    first.__enter__()
    second.__enter__()
    assert gc.get_threshold()[:2] == before[:2]  # young collections go on
    assert gc.get_threshold()[2] > 1_000_000
    first.__exit__(None, None, None)  # the other still holds
    assert gc.get_threshold()[2] > 1_000_000
    second.__exit__(None, None, None)
    assert gc.get_threshold() == before


async def test_a_sync_holds_full_collections_off_until_it_ends(
    redis: Redis, settings: Settings
) -> None:
    """Measured: a dozen 0.2-0.6 s full collections during an SDN.XML-size sync, each
    holding the GIL while the event loop waited."""
    before = gc.get_threshold()
    seen: list[int] = []
    syncer = Syncer(settings, Store(redis, Keys(settings.key_prefix)))
    result = await syncer.sync(
        "un",
        raw=un_file("2026-02-27").read_bytes(),
        progress=lambda _msg: seen.append(gc.get_threshold()[2]),
    )
    assert result.outcome == "updated"
    assert seen and all(third > 1_000_000 for third in seen)
    assert gc.get_threshold() == before
