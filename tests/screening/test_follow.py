"""The in-memory index follows the store: new versions are patched in by their difference,
and the result screens exactly as the same version loaded whole (real UN files, real Redis)."""

from __future__ import annotations

from redis.asyncio import Redis

from listd.keys import Keys
from listd.screening import Query, ScreeningIndex
from listd.screening.follow import follow
from listd.settings import Settings
from listd.store import Store
from listd.sync import Syncer
from tests.conftest import un_file


def answers(index: ScreeningIndex, names: list[str]) -> list[list[tuple[str, float]]]:
    return [
        [(m.entity.id, m.score) for m in index.screen(Query(name=name, limit=20))] for name in names
    ]


async def test_a_new_version_is_patched_in_and_screens_as_if_loaded_whole(
    redis: Redis, settings: Settings
) -> None:
    store = Store(redis, Keys(settings.key_prefix))
    syncer = Syncer(settings, store)
    await syncer.sync("un", raw=un_file("2025-11-20").read_bytes())
    index = ScreeningIndex()
    first = await follow(store, index, ["un"])
    assert (first.loaded, first.patched) == (["un"], [])
    before = dict(index.entities)

    result = await syncer.sync("un", raw=un_file("2026-02-27").read_bytes())
    assert result.deltas == {"added": 4, "amended": 2, "removed": 1}
    second = await follow(store, index, ["un"])
    assert (second.patched, second.loaded, second.behind) == (["un"], [], [])
    assert (await follow(store, index, ["un"])).changed == []  # nothing new: nothing done

    whole = ScreeningIndex()
    assert (await follow(store, whole, ["un"])).loaded == ["un"]
    assert index.versions == whole.versions
    assert index.entities == whole.entities
    assert "un:IQi.074" in before and "un:IQi.074" not in index.entities
    assert index.entities["un:HTi.006"] != before["un:HTi.006"]  # the amendment is in
    names = sorted({n.full for e in whole.entities.values() for n in e.names})
    names += [before["un:IQi.074"].primary_name, before["un:HTi.006"].primary_name]
    assert answers(index, names) == answers(whole, names)


async def test_a_version_already_collected_is_replaced_by_a_whole_load(
    redis: Redis, settings: Settings
) -> None:
    """An index two versions behind holds a version the store no longer keeps (it keeps
    the current one and the one before): the difference cannot be computed, so the new
    version is loaded whole."""
    store = Store(redis, Keys(settings.key_prefix))
    syncer = Syncer(settings, store)
    await syncer.sync("un", raw=un_file("2025-11-20").read_bytes())
    index = ScreeningIndex()
    await follow(store, index, ["un"])
    for date in ("2026-02-27", "2026-05-08"):
        await syncer.sync("un", raw=un_file(date).read_bytes())
    followed = await follow(store, index, ["un"])
    assert (followed.patched, followed.loaded) == ([], ["un"])
    whole = ScreeningIndex()
    await follow(store, whole, ["un"])
    assert index.entities == whole.entities
