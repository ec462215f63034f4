"""Semantic deltas: what changed in the designations, never in the bytes.

Two snapshots are compared by stable entity id and by the hash of each entity's
normalised content (`Entity.content_hash`), so re-serialisation, indentation,
a new `dateGenerated` or a re-issued DATAID produce no delta at all.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from listd.model import canonical_json

Op = Literal["added", "amended", "removed"]


@dataclass(frozen=True, slots=True)
class Change:
    """One delta before it gets its sequence number."""

    op: Op
    entity_id: str
    changes: dict[str, Any] = field(default_factory=dict)
    entity: dict[str, Any] | None = None  # the new entity; for removals the last one listed


@dataclass(frozen=True, slots=True)
class Plan:
    """The outcome of comparing a new snapshot with the one serving."""

    added: list[str]
    amended: list[str]
    removed: list[str]

    @property
    def empty(self) -> bool:
        return not (self.added or self.amended or self.removed)

    def counts(self) -> dict[str, int]:
        return {
            "added": len(self.added),
            "amended": len(self.amended),
            "removed": len(self.removed),
        }


def plan(old: Mapping[str, str], new: Mapping[str, str]) -> Plan:
    """Compare two {entity id: content hash} maps."""
    return Plan(
        added=sorted(set(new) - set(old)),
        amended=sorted(k for k in set(new) & set(old) if new[k] != old[k]),
        removed=sorted(set(old) - set(new)),
    )


def _item_key(item: Any) -> str:
    return canonical_json(item).decode()


def field_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """Field-level differences between two entity content dicts.

    Lists report the items added and removed (names, aliases, documents, birth
    dates...); scalars report {"from", "to"}. Bookkeeping (`meta`) is ignored.
    """
    out: dict[str, Any] = {}
    for key in sorted(set(old) | set(new)):
        if key == "meta":
            continue
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if isinstance(a, list | tuple) or isinstance(b, list | tuple):
            before = {_item_key(x): x for x in a or ()}
            after = {_item_key(x): x for x in b or ()}
            change: dict[str, Any] = {}
            added = [after[k] for k in after if k not in before]
            removed = [before[k] for k in before if k not in after]
            if added:
                change["added"] = added
            if removed:
                change["removed"] = removed
            if not change:  # same items, new order
                change["reordered"] = True
            out[key] = change
        else:
            out[key] = {"from": a, "to": b}
    return out


def changes(p: Plan, new_json: Mapping[str, str], old_json: Mapping[str, str]) -> list[Change]:
    """Turn a plan into deltas, in entity-id order.

    `new_json` holds the new entity JSON of every added and amended id, `old_json`
    the previous JSON of every amended and removed id."""
    out: list[Change] = []
    for entity_id in p.added:
        out.append(Change("added", entity_id, {}, json.loads(new_json[entity_id])))
    for entity_id in p.amended:
        before, after = json.loads(old_json[entity_id]), json.loads(new_json[entity_id])
        out.append(Change("amended", entity_id, field_changes(before, after), after))
    for entity_id in p.removed:
        out.append(Change("removed", entity_id, {}, json.loads(old_json[entity_id])))
    out.sort(key=lambda c: c.entity_id)
    return out


def apply(snapshot: dict[str, dict[str, Any]], deltas: list[dict[str, Any]]) -> None:
    """Apply published deltas to a {entity id: entity dict} map (for replays and tests)."""
    for delta in deltas:
        if delta["op"] == "removed":
            del snapshot[delta["entity_id"]]
        else:
            snapshot[delta["entity_id"]] = delta["entity"]
