"""Semantic deltas: what changed in the designations, never in the bytes.

Two snapshots are compared by stable entity id and by the hash of each entity's
normalised content (`Entity.content_hash`), so re-serialisation, indentation,
a new `dateGenerated` or a re-issued DATAID produce no delta at all.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from typing import Any, Literal

from listd.model import canonical_json

Op = Literal["added", "amended", "removed"]
Class = Literal["identity", "details"]
CLASSES: tuple[Class, ...] = ("identity", "details")

# What an amendment of each Entity field means to whoever screens customers. This table
# is the one place the rule lives (tests check it names every Entity field).
#   identity: who is designated, or whether and why a customer matches: re-screen.
#     The matcher's inputs (names, schema, birth dates, documents, nationalities,
#     programmes: a subscription may cover only some, and the programme decides the
#     reporting code), plus what an officer compares to confirm a hit (birth places,
#     gender).
#   details: published and kept, but no reason to re-screen: comments, links,
#     amendment dates, titles and positions, addresses (the matcher does not read them;
#     the UN often re-words them), the listing date and the source's own list label
#     (which `programs` already carries).
# An amendment is "identity" when any field it touches is; additions and removals
# always are. A field missing from the table counts as identity: a new field is
# re-screened until somebody decides otherwise here.
FIELD_CLASSES: dict[str, Class] = {
    "id": "identity",
    "source": "identity",
    "schema": "identity",
    "reference": "identity",
    "names": "identity",
    "programs": "identity",
    "gender": "identity",
    "nationalities": "identity",
    "birth_dates": "identity",
    "birth_places": "identity",
    "documents": "identity",
    "list_type": "details",
    "listed_on": "details",
    "updated_on": "details",
    "titles": "details",
    "positions": "details",
    "addresses": "details",
    "remarks": "details",
    "urls": "details",
}


@dataclass(frozen=True, slots=True)
class Change:
    """One delta before it gets its sequence number."""

    op: Op
    entity_id: str
    changes: dict[str, Any] = field(default_factory=dict)
    entity: dict[str, Any] | None = None  # the new entity; for removals the last one listed

    @property
    def klass(self) -> Class:
        return classify(self.op, self.changes)


@dataclass(frozen=True, slots=True)
class Delta:
    """A published delta: one entity added, amended or removed by one version of a list.

    The stream holds `to_json()`; `seq` is the stream entry's id, not part of the JSON.
    `entity` is the new entity, or for a removal the last one listed (for unfreezing)."""

    seq: int
    source: str
    op: Op
    entity_id: str
    at: str
    version: str
    previous_version: str | None
    changes: dict[str, Any]
    klass: Class
    entity: dict[str, Any]

    @classmethod
    def from_json(cls, seq: int, text: str | bytes) -> Delta:
        """Read a stream entry; deltas stored before the class existed get it computed."""
        data = json.loads(text)
        changes = data["changes"]
        return cls(
            seq=seq,
            source=data["source"],
            op=data["op"],
            entity_id=data["entity_id"],
            at=data["at"],
            version=data["version"],
            previous_version=data["previous_version"],
            changes=changes,
            klass=data.get("class") or classify(data["op"], changes or {}),
            entity=data["entity"],
        )

    def to_json(self) -> str:
        """The stream JSON, as `payloads` writes it: additions and removals carry the
        entity as it is stored (`canonical_json`), amendments as `json.dumps` gives it."""
        if self.op == "amended":
            entity = _dumps(self.entity)
        else:
            entity = canonical_json(self.entity).decode()
        return _encode(
            self.source,
            self.op,
            self.entity_id,
            self.at,
            self.version,
            self.previous_version,
            self.changes,
            self.klass,
            entity,
        )

    def to_dict(self) -> dict[str, Any]:
        """The delta as the API, the event stream and webhooks show it: with its `seq`."""
        return {
            "seq": self.seq,
            "at": self.at,
            "changes": self.changes,
            "class": self.klass,
            "entity": self.entity,
            "entity_id": self.entity_id,
            "op": self.op,
            "previous_version": self.previous_version,
            "source": self.source,
            "version": self.version,
        }

    @property
    def programs(self) -> list[str]:
        """The programmes of the entity (subscriptions and filters select on them)."""
        return list(self.entity.get("programs") or [])


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


def classify(op: str, changes: Mapping[str, Any]) -> Class:
    """ "identity" if a delta should make customers be screened again, else "details"."""
    if op != "amended":
        return "identity"
    if any(FIELD_CLASSES.get(name, "identity") == "identity" for name in changes):
        return "identity"
    # An amendment whose changes name no field (none are published so) stays identity.
    return "details" if changes else "identity"


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


def payloads(
    source: str,
    version: str,
    previous: str | None,
    at: str,
    p: Plan,
    new_json: Mapping[str, str],
    old_json: Mapping[str, str],
) -> list[tuple[str, str]]:
    """The published deltas of one version, in entity-id order: (entity id, delta JSON).

    An addition or removal carries the entity's stored JSON as it is, spliced into the
    envelope, rather than parsed and serialised again: a first load of 20,000 entities
    saves seconds of CPU. Only amendments, whose field changes must be computed, are
    parsed."""
    out: list[tuple[str, str]] = []
    whole: tuple[tuple[Op, list[str], Mapping[str, str]], ...] = (
        ("added", p.added, new_json),
        ("removed", p.removed, old_json),
    )
    for op, ids, texts in whole:
        # One envelope per op: a first load's 20,000 additions differ only in id and entity.
        encode = _encoder(source, op, at, version, previous, {}, "identity")
        out += [(entity_id, encode(entity_id, texts[entity_id])) for entity_id in ids]
    for entity_id in p.amended:
        before, after = json.loads(old_json[entity_id]), json.loads(new_json[entity_id])
        changed = field_changes(before, after)
        klass = classify("amended", changed)
        text = _encode(
            source, "amended", entity_id, at, version, previous, changed, klass, _dumps(after)
        )
        out.append((entity_id, text))
    out.sort(key=lambda pair: pair[0])
    return out


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def _encode(
    source: str,
    op: Op,
    entity_id: str,
    at: str,
    version: str,
    previous: str | None,
    changes: dict[str, Any],
    klass: Class,
    entity: str,
) -> str:
    """A delta's stream JSON: `_dumps` of the whole delta, with `entity` (already JSON)
    spliced in where sorted keys put it."""
    return _encoder(source, op, at, version, previous, changes, klass)(entity_id, entity)


def _encoder(
    source: str,
    op: Op,
    at: str,
    version: str,
    previous: str | None,
    changes: dict[str, Any],
    klass: Class,
) -> Callable[[str, str], str]:
    """`_encode` for deltas that differ only in entity id and entity: the envelope's JSON
    made once, each delta's two values spliced in (`encode_basestring` is `_dumps` of a
    string)."""
    head = _dumps({"at": at, "changes": changes, "class": klass})[:-1]
    tail = _dumps({"op": op, "previous_version": previous, "source": source, "version": version})
    tail = tail[1:]

    def encode(entity_id: str, entity: str) -> str:
        return f'{head}, "entity": {entity}, "entity_id": {encode_basestring(entity_id)}, {tail}'

    return encode


def apply(snapshot: dict[str, dict[str, Any]], deltas: Iterable[Delta]) -> None:
    """Apply published deltas to a {entity id: entity dict} map (for replays and tests)."""
    for d in deltas:
        if d.op == "removed":
            del snapshot[d.entity_id]
        else:
            snapshot[d.entity_id] = d.entity
