"""Every parser's output on every real file, pinned by digest.

Parsers are refactored often (shared field reader, split modules); none of that may change a
byte of what they emit. `digests.json` holds, per source kind and file, the validation verdict,
the publication date and a SHA-256 of the entity JSON from `parse`, `records` and each half of
`records_part`. Regenerate it only for an intended change in output:
`python -m tests.scrapers.test_digests --write`.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from listd.errors import ListdError
from listd.model import Entity, entity_to_json
from listd.scrapers import KINDS, scraper

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1].parent / "shared" / "data"
SNAPSHOT = HERE / "digests.json"
SUFFIXES = (".xml", ".html", ".zip")


def _files() -> list[Path]:
    found = [p for p in sorted(DATA.rglob("*")) if p.suffix in SUFFIXES]
    found += sorted((HERE / "fixtures").glob("*.xml"))
    return found


def _name(path: Path) -> str:
    return path.relative_to(DATA).as_posix() if DATA in path.parents else f"fixtures/{path.name}"


def _digest(entities: Iterator[Entity]) -> str:
    h = hashlib.sha256()
    count = 0
    try:
        for entity in entities:
            h.update(entity_to_json(entity) + b"\n")
            count += 1
    except ListdError as exc:
        return f"refused after {count}: {type(exc).__name__}: {exc}"
    return f"{count} {h.hexdigest()}"


def outputs(kind: str, raw: bytes) -> dict[str, str]:
    """What a source kind makes of one document, each step as a short string."""
    scr = scraper(kind)
    out: dict[str, str] = {}
    try:
        scr.validate(raw)
        out["validate"] = "ok"
    except ListdError as exc:
        out["validate"] = f"{type(exc).__name__}: {exc}"
    try:
        out["published"] = str(scr.published(raw))
    except ListdError as exc:
        out["published"] = f"{type(exc).__name__}: {exc}"
    if out["validate"] != "ok":
        return out  # the sync never parses a refused document
    out["parse"] = _digest(scr.parse(raw))
    out["records"] = _digest(scr.records(raw))
    if scr.records_part is not None:
        for part in range(2):
            out[f"records_part {part}/2"] = _digest(scr.records_part(raw, part, 2))
    return out


def snapshot() -> dict[str, dict[str, dict[str, str]]]:
    return {
        kind: {_name(path): outputs(kind, path.read_bytes()) for path in _files()}
        for kind in sorted(KINDS)
    }


@pytest.mark.skipif(not DATA.is_dir(), reason="shared data directory not present")
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_output_unchanged(kind: str) -> None:
    pinned = json.loads(SNAPSHOT.read_text())[kind]
    assert sorted(pinned) == sorted(_name(p) for p in _files())
    for path in _files():
        assert outputs(kind, path.read_bytes()) == pinned[_name(path)], _name(path)


@pytest.mark.skipif(not DATA.is_dir(), reason="shared data directory not present")
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_encode_is_json_and_hash(kind: str) -> None:
    """What the sync stores (`Entity.encode`, serialising each entity once) is byte for byte
    `entity_to_json` and `content_hash` of every entity of every file the kind accepts."""
    scr = scraper(kind)
    checked = 0
    for path in _files():
        raw = path.read_bytes()
        try:
            scr.validate_fast(raw)
            entities = list(scr.records(raw))
        except ListdError:
            continue
        for entity in entities:
            assert entity.encode() == (entity_to_json(entity), entity.content_hash()), entity.id
        checked += len(entities)
    assert checked


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    SNAPSHOT.write_text(json.dumps(snapshot(), indent=1, sort_keys=True) + "\n")
