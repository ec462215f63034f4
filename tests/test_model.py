"""The entity model's serialisation: `Entity.encode` is what the sync stores and hashes."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from listd.model import Address, Entity, Name, canonical_json, entity_to_json
from listd.normalize import normalize_entity
from listd.scrapers import scraper

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FILES = [
    ("un", "un/consolidated-2026-05-08.xml"),
    ("ofac", "ofac/ofac-consolidated-nonsdn-2025-03-28.xml"),
    ("ofac", "ofac/ofac-enhanced-IRGC-2024-08-28.xml"),
    ("un-html", "un/consolidatedLegacyByNAME-2025-08-02.html"),
]


@pytest.mark.parametrize(("kind", "name"), FILES)
def test_encode_is_the_entity_json_and_the_content_hash(kind: str, name: str) -> None:
    # encode() builds the stored JSON and the hash in one pass instead of through to_dict:
    # on every record of real lists it must give exactly what the slow path gives.
    entities = [normalize_entity(e) for e in scraper(kind).records((DATA / name).read_bytes())]
    assert len(entities) > 100
    for entity in entities:
        assert entity.encode() == (entity_to_json(entity), entity.content_hash())


def _entity(**changes: object) -> Entity:
    name = Name(full="Ali Ben Salah", kind="primary", parts=("Ali", "Ben Salah"))
    entity = Entity(id="t:1", source="t", schema="person", reference="1", names=(name,))
    return replace(entity, **changes)


def test_encode_keeps_meta_out_of_the_hash_and_in_the_json() -> None:
    meta = {"unknown": ["sdnEntry/x"], "properties": {"Vessel Flag": ["Iran"]}, "row": 3}
    entity = _entity(meta=meta, addresses=(Address(city="Tunis"),), remarks='a "quoted" é')
    encoded, digest = entity.encode()
    assert json.loads(encoded)["meta"] == meta
    assert encoded == entity_to_json(entity)
    content = canonical_json({k: v for k, v in json.loads(encoded).items() if k != "meta"})
    assert digest == hashlib.sha256(content).hexdigest()
    assert _entity(meta={}).encode()[1] == _entity(meta={"row": 4}).encode()[1]


def test_encode_refuses_what_json_cannot_hold() -> None:
    @dataclass
    class Stray:
        x: int = 1

    with pytest.raises(TypeError):
        _entity(meta={"x": object()}).encode()
    assert json.loads(_entity(meta={"x": Stray()}).encode()[0])["meta"] == {"x": {"x": 1}}


def _holds_dict(hint: object, seen: set[object]) -> bool:
    """Whether a value of type `hint` can be or contain a dict (a model record's fields too)."""
    origin = typing.get_origin(hint)
    if hint is dict or origin is dict:
        return True
    if dataclasses.is_dataclass(hint) and hint not in seen:
        seen.add(hint)
        hints = typing.get_type_hints(hint)
        return any(_holds_dict(h, seen) for h in hints.values())
    return any(_holds_dict(arg, seen) for arg in typing.get_args(hint))


def test_no_content_field_holds_a_dict() -> None:
    # encode() writes the content with an encoder that does not sort keys (the fields and
    # each record's come sorted): a dict in the content would keep its insertion order.
    hints = typing.get_type_hints(Entity)
    assert _holds_dict(hints["meta"], set())
    assert [name for name, hint in hints.items() if _holds_dict(hint, set())] == ["meta"]


def test_encode_splices_meta_before_the_first_later_field() -> None:
    # Strings that look like the key after "meta" do not move it: quotes in values are escaped.
    tricky = ',"names":[]'
    entity = _entity(
        meta={"note": tricky},
        addresses=(Address(street=tricky, city='x\\",'),),
        gender=tricky,
        remarks=tricky,
    )
    assert entity.encode() == (entity_to_json(entity), entity.content_hash())
