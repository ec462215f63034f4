"""The in-memory index follows the store: new versions are patched in by their difference,
and the result screens exactly as the same version loaded whole (real UN files, real Redis)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from redis.asyncio import Redis

from listd.keyspace import Keys
from listd.pipeline.store import Store
from listd.pipeline.sync import Syncer
from listd.scrapers import un
from listd.screening import Query, ScreeningIndex
from listd.screening import follow as follow_module
from listd.screening import postings as postings_module
from listd.screening import scoring as scoring_module
from listd.screening.follow import Followed, follow
from listd.screening.scoring import DeletionIndex
from listd.screening.tokens import Token
from listd.settings import Settings
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


async def screen_while(
    index: ScreeningIndex, names: list[str], task: asyncio.Task[Followed], window: int
) -> list[tuple[str | None, int, int, list[list[tuple[str, float]]]]]:
    """Screen `names` over and over while `task` runs, `window` of them at each turn of the
    loop, round and round; each round with the version seen, the vocabulary's size (it
    grows as the build interns the new version's words) and where in `names` it started."""
    rounds = []
    start = 0
    while not task.done():
        version = index.versions.get("un")
        some = names[start : start + window]
        rounds.append((version, len(index.vocabulary.tokens), start, answers(index, some)))
        start = (start + window) % len(names)
        await asyncio.sleep(0)
    return rounds


@pytest.mark.parametrize(
    ("dates", "path"),
    [
        (("2026-02-27",), "patched"),  # the difference from the version held
        (("2026-02-27", "2026-05-08"), "loaded"),  # the held version is collected: whole
    ],
)
async def test_screening_during_a_build_is_served_from_the_version_held(
    redis: Redis,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    dates: tuple[str, ...],
    path: str,
) -> None:
    """The new version is built in slices with the event loop free in between: screenings
    meanwhile answer exactly as the held version did, and afterwards exactly as the new
    version loaded whole (no missed match, no container changed under a query)."""
    monkeypatch.setattr(follow_module, "SLICE", 0.0)  # one entity per slice: many turns
    store = Store(redis, Keys(settings.key_prefix))
    syncer = Syncer(settings, store)
    await syncer.sync("un", raw=un_file("2025-11-20").read_bytes())
    index = ScreeningIndex()
    await follow(store, index, ["un"])
    old = index.versions["un"]
    held = ScreeningIndex()
    await follow(store, held, ["un"])
    gone = {e.primary_name for e in index.entities.values()}
    for date in dates:
        await syncer.sync("un", raw=un_file(date).read_bytes())
    new = await store.current_version("un")
    assert new is not None
    whole = ScreeningIndex()  # the reference: loaded in one synchronous call
    whole.replace_source("un", new, await store.entities("un", new))
    changed = sorted(gone ^ {e.primary_name for e in whole.entities.values()})
    names = [*changed, *sorted(gone)[:40]]

    words = len(index.vocabulary.tokens)
    task = asyncio.create_task(follow(store, index, ["un"]))
    # A whole load yields after every entity, a thousand turns: all the names at each
    # turn took half a minute, so a few at a time there (each still comes round often).
    window = len(names) if path == "patched" else 4
    rounds = await screen_while(index, names, task, window)
    assert getattr(task.result(), path) == ["un"]
    # Rounds after the build had begun (new words interned) and before it was installed.
    during = [(start, a) for version, size, start, a in rounds if version == old and size > words]
    assert len(during) >= 3, "no screening was served while the new version was built"
    assert len(during) * window >= 3 * len(names), "each name screened 3 times during the build"
    expected = answers(held, names)
    assert all(a == expected[start : start + window] for start, a in during)
    assert {version for version, _, _, _ in rounds} <= {old, new}
    assert index.versions == whole.versions
    assert index.entities == whole.entities
    # Every third listed name besides (all of them: 20 s; the entities are compared whole above).
    everyone = sorted({n.full for e in whole.entities.values() for n in e.names})[::3]
    assert answers(index, [*names, *everyone]) == answers(whole, [*names, *everyone])


async def test_two_rounds_at_once_build_a_version_once(redis: Redis, settings: Settings) -> None:
    """The announcement and the poll can start a round together: the second waits for the
    first, then finds the index current."""
    store = Store(redis, Keys(settings.key_prefix))
    await Syncer(settings, store).sync("un", raw=un_file("2026-02-27").read_bytes())
    index = ScreeningIndex()
    first, second = await asyncio.gather(follow(store, index, ["un"]), follow(store, index, ["un"]))
    assert (first.loaded, second.changed) == (["un"], [])


def test_a_build_is_installed_only_over_the_version_it_started_from() -> None:
    """A build that finishes after another has moved the source on is not installed: the
    index never goes back to an older version."""
    older = list(un.parse(un_file("2025-11-20").read_bytes()))
    newer = list(un.parse(un_file("2026-02-27").read_bytes()))
    index = ScreeningIndex()
    index.replace_source("un", "v1", older)
    slow = index.build_delta("un", "v2", newer[:3], [])
    index.replace_source("un", "v3", newer)
    assert not index.install(slow.complete())
    assert index.versions == {"un": "v3"}
    assert len(index) == len(newer)
    unsealed = index.build_source("un", "v4", older)
    assert not unsealed.step(0.0)  # one entity done, more to do
    assert not index.install(unsealed)  # not sealed: nothing changes
    assert index.versions == {"un": "v3"}
    assert index.install(unsealed.complete())
    assert index.versions == {"un": "v4"}
    assert sorted(index.entities) == sorted(e.id for e in older)


def test_a_lookup_made_while_a_word_is_interned_does_not_miss_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch screens in a worker thread while a build interns on the loop. A query's
    lookup that lands in the middle of `intern` must not cache the new word as one it
    looked at and found not matching: the entity would then be missed for good."""
    entities = list(un.parse(un_file("2026-02-27").read_bytes()))
    words = Counter(w for e in entities for n in e.names for w in n.full.lower().split())
    target = next(
        e
        for e in entities
        if e.schema == "person" and words[e.primary_name.lower().split()[-1]] == 1
    )
    word = target.primary_name.lower().split()[-1]
    index = ScreeningIndex()
    index.replace_source("un", "v1", [e for e in entities if e.id != target.id])
    query = Query(name=target.primary_name, limit=5)
    assert target.id not in [m.entity.id for m in index.screen(query)]

    real = postings_module.index_keys
    seen: list[list[str]] = []

    def meanwhile(token: Token) -> frozenset[str]:
        if token.text == word and not seen:  # the batch's turn comes mid-intern
            seen.append([m.entity.id for m in index.screen(query)])
        return real(token)

    monkeypatch.setattr(postings_module, "index_keys", meanwhile)
    index.apply_delta("un", "v2", [target], [])
    assert len(seen) == 1 and target.id not in seen[0]  # not installed yet
    assert target.id in [m.entity.id for m in index.screen(query)]


def test_a_deletion_lookup_across_a_merge_finds_the_merged_entries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch in a worker thread reads the deletion index while the loop's build merges
    its recent entries into the sorted arrays: the reader sees them in one or the other."""
    edits = DeletionIndex()
    edits.add(7, ["badege"])
    real = scoring_module.bisect_left

    def merging(keys: Any, h: int) -> int:
        monkeypatch.setattr(scoring_module, "bisect_left", real)
        edits._merge()  # the loop's turn comes while the reader is between its two reads
        return real(keys, h)

    monkeypatch.setattr(scoring_module, "bisect_left", merging)
    assert edits.get("badege") == [7]
    assert edits.get("badege") == [7]  # and after the merge


def test_the_deletion_index_finds_every_entry_across_rounds_of_merges() -> None:
    """Entries merged in several rounds, words shared by many tokens, and entries still
    recent: each word finds exactly the ids filed under it, in sorted arrays."""
    edits = DeletionIndex()
    filed: dict[str, set[int]] = {}
    for vid in range(130_000):  # merges at 50,000 entries, then at a quarter of the base
        words = {f"w{vid % 40_000}", f"v{vid}", "shared" if vid % 1_000 == 0 else f"u{vid}"}
        edits.add(vid, words)
        for word in words:
            filed.setdefault(word, set()).add(vid)
    keys = edits._base[0]
    assert len(keys) > 100_000 and list(keys) == sorted(keys)
    assert 0 < edits._pending < len(keys)  # some entries are still recent
    for word in ["shared", "w0", "w39999", "v0", "v129999", "u1", "u129999", "absent"]:
        assert sorted(edits.get(word)) == sorted(filed.get(word, ())), word
