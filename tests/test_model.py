"""The entity model's serialisation: `Entity.encode` is what the sync stores and hashes."""

from __future__ import annotations

import hashlib
import json
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
