"""Keep an in-memory ScreeningIndex at the store's serving version of each source.

A new version is patched in from its difference with the version the index holds (the
content hashes of both are in Redis until the one after next is published), so a sync
costs the API what it changed; the whole source is loaded at start-up, and when the held
version is already collected. Either way the new index is built aside in slices of a
millisecond with the event loop free in between (screenings meanwhile are answered from
the version held), sealed in a worker thread, and put in place in one short step, only
over the version it started from.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from listd.collector import no_full_collections
from listd.logs import get_logger
from listd.model import entity_from_json
from listd.pipeline import delta
from listd.pipeline.store import Store
from listd.screening.index import ScreeningIndex, SourceBuild
from listd.turns import short_turns

log = get_logger(__name__)

# Seconds of building between two turns of the event loop. A screening meets up to one
# slice at each turn it needs (its request, its journal entry's answer from Redis, its
# response): docs/operations.md, "the sync's processes under SCHED_IDLE, on request".
SLICE = 0.001


@dataclass(slots=True)
class Followed:
    """What one round did to each source it found at a new version."""

    patched: list[str] = field(default_factory=list)  # by the difference
    loaded: list[str] = field(default_factory=list)  # whole
    # The new version was collected before it could be read: the next round retries.
    behind: list[str] = field(default_factory=list)

    @property
    def changed(self) -> list[str]:
        return [*self.patched, *self.loaded]


async def follow(store: Store, index: ScreeningIndex, sources: Sequence[str]) -> Followed:
    """Bring `index` to the current version of every source in `sources`."""
    out = Followed()
    async with index.following:  # a second round waits, then finds the work done
        # A whole source read and built is a million objects: `install` freezes them. The
        # decoding and sealing threads take short GIL turns (`listd.turns`).
        with no_full_collections(), short_turns():
            for source, version in (await store.current_versions(sources)).items():
                held = index.versions.get(source)
                if version is None or held == version:
                    continue
                done = await _patch(store, index, source, held, version) if held else None
                if done is not None:
                    if done:
                        out.patched.append(source)
                    continue
                done = await _load(store, index, source, held, version)
                if done is None:
                    out.behind.append(source)
                elif done:
                    out.loaded.append(source)
    return out


async def build(target: SourceBuild) -> None:
    """Run every phase of `target` with the event loop free between slices."""
    while not target.step(SLICE):  # noqa: ASYNC110 - a turn of the loop, not a wait
        await asyncio.sleep(0)
    await asyncio.to_thread(target.seal)
    while not target.step(SLICE):  # noqa: ASYNC110
        await asyncio.sleep(0)


async def _patch(
    store: Store, index: ScreeningIndex, source: str, held: str, version: str
) -> bool | None:
    """Apply the difference from `held` to `version`; None when it cannot be computed."""
    old = await store.content_hashes(source, held)
    new = await store.content_hashes(source, version) if old else {}
    if not old or not new:
        return None  # `held` was collected (or `version` is being): load the whole source
    plan = await asyncio.to_thread(delta.plan, old, new)
    wanted = [*plan.added, *plan.amended]
    raw = await store.entity_json(source, version, wanted)
    if len(raw) != len(wanted):
        return None
    if index.versions.get(source) != held:
        return False  # another round got there while this one read
    entities = await asyncio.to_thread(lambda: [entity_from_json(raw[i]) for i in wanted])
    target = index.build_delta(source, version, entities, plan.removed)
    await build(target)
    if not index.install(target):
        return False
    log.info("index patched", source=source, version=version, **plan.counts())
    return True


async def _load(
    store: Store, index: ScreeningIndex, source: str, held: str | None, version: str
) -> bool | None:
    """Load the whole of `version`; None when it is gone (collected) before it was read."""
    entities = await store.entities(source, version)
    if not entities:
        return None
    if index.versions.get(source) != held:
        return False  # another round got there (perhaps to a newer version) while this read
    target = index.build_source(source, version, entities)
    await build(target)
    if not index.install(target):
        return False
    log.info("index loaded", source=source, version=version, entities=len(entities))
    return True
