"""Parse, normalise and encode the records of a document, ready to store.

The sync does this in its worker thread for a small list. For a large one it runs
`python -m listd.scrapers.encode KIND SOURCE` with the document on stdin: the per-record
Python (some 7 s of CPU for an SDN.XML-size list) then runs on a core of its own instead of
taking the daemon's GIL from its event loop, and the daemon receives what the store writes
anyway: per entity its id, content hash, document keys, warnings and JSON.

The child writes one line per entity, `[id, hash, document keys, warnings]` (JSON), a tab,
then the entity's canonical JSON (neither holds a raw tab or newline), and ends with one
JSON object line: the seconds spent per step and `refused` (a ValidationFailed as data, or
null). A plain subprocess, not multiprocessing: a spawned child would re-import the daemon's
`__main__` (the CLI) first. The schema check happens elsewhere (listd.scrapers.check); the
caller uses nothing of this before that check has passed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from listd.errors import ValidationFailed
from listd.model import Entity, document_keys
from listd.normalize import normalize_entity
from listd.scrapers import Scraper, scraper

TIMEOUT_S = 900  # a stuck child must not hold the source's lock for ever


@dataclass(slots=True)
class Encoded:
    """A document's records as the store takes them."""

    encoded: dict[str, bytes] = field(default_factory=dict)  # entity id -> entity JSON
    hashes: dict[str, str] = field(default_factory=dict)  # entity id -> content hash
    documents: dict[str, list[str]] = field(default_factory=dict)  # document key -> ids
    warnings: list[str] = field(default_factory=list)
    entities: list[Entity] = field(default_factory=list)  # only when encoded in-process
    phases: dict[str, float] = field(default_factory=dict)  # seconds: parse, normalise

    def add(self, entity_id: str, digest: str, docs: list[str], body: bytes) -> None:
        if entity_id in self.hashes:
            raise ValidationFailed(f"entity id {entity_id} occurs twice in the document")
        self.hashes[entity_id] = digest
        self.encoded[entity_id] = body
        for key in docs:
            self.documents.setdefault(key, []).append(entity_id)


def restamp(entity: Entity, source: str) -> Entity:
    """Give an entity the configured source name (parsers prefix ids with their kind)."""
    if entity.source == source:
        return entity
    local = entity.id.partition(":")[2] or entity.reference
    return replace(entity, source=source, id=f"{source}:{local}")


def _each(
    scr: Scraper, raw: bytes, source: str | None, phases: dict[str, float]
) -> Iterator[tuple[Entity, bytes, str, list[str]]]:
    """(normalised entity, its JSON, its content hash, its warnings), in document order."""
    parse = normalise = 0.0
    clock = time.perf_counter
    records = scr.records(raw)
    while True:
        t0 = clock()
        parsed = next(records, None)
        t1 = clock()
        parse += t1 - t0
        if parsed is None:
            break
        entity = restamp(parsed, source or parsed.source)
        warnings = [f"{entity.id}: unknown element {tag}" for tag in entity.meta.get("unknown", ())]
        warnings += [f"{entity.id}: {warning}" for warning in entity.meta.get("warnings", ())]
        entity = normalize_entity(entity)
        body, digest = entity.encode()
        normalise += clock() - t1
        yield entity, body, digest, warnings
    phases.update(parse=parse, normalise=normalise)


def in_process(scr: Scraper, raw: bytes, source: str | None) -> Encoded:
    """Encode every record here (the entities are kept too)."""
    out = Encoded()
    for entity, body, digest, warnings in _each(scr, raw, source, out.phases):
        out.add(entity.id, digest, document_keys(entity), body)
        out.warnings += warnings
        out.entities.append(entity)
    return out


def apart(kind: str, raw: bytes, source: str) -> Encoded:
    """Encode every record in a child process. Blocks: call from a worker thread."""
    try:
        proc = subprocess.run(  # noqa: S603 - our own interpreter and module, no shell
            [sys.executable, "-m", "listd.scrapers.encode", kind, source],
            input=raw,
            capture_output=True,
            check=False,
            timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        raise ValidationFailed(
            f"parsing took longer than {TIMEOUT_S} s; refusing the document"
        ) from None
    body, _, trailer = proc.stdout.rstrip(b"\n").rpartition(b"\n")
    if proc.returncode != 0 or not trailer.startswith(b"{"):
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        raise ValidationFailed(f"the parsing process failed: {tail[0]}")
    end: dict[str, Any] = json.loads(trailer)
    refused = end.pop("refused")
    if refused is not None:
        raise ValidationFailed(refused.pop("message"), **refused)
    return decode(body.split(b"\n") if body else [], end)


def decode(lines: list[bytes], phases: dict[str, float]) -> Encoded:
    """The child's entity lines, read back."""
    out = Encoded(phases={k: float(v) for k, v in phases.items()})
    loads = json.loads
    for line in lines:
        head, _, body = line.partition(b"\t")
        entity_id, digest, docs, warnings = loads(head)
        out.add(entity_id, digest, docs, body)
        out.warnings += warnings
    return out


def main(kind: str, source: str) -> int:
    raw = sys.stdin.buffer.read()
    phases: dict[str, float] = {}
    refused: dict[str, object] | None = None
    write = sys.stdout.buffer.write
    dumps = json.dumps
    try:
        seen: set[str] = set()
        for entity, body, digest, warnings in _each(scraper(kind), raw, source, phases):
            if entity.id in seen:  # found here, where the document order is known
                raise ValidationFailed(f"entity id {entity.id} occurs twice in the document")
            seen.add(entity.id)
            head = dumps([entity.id, digest, document_keys(entity), warnings], ensure_ascii=False)
            write(head.encode() + b"\t" + body + b"\n")
    except ValidationFailed as exc:
        refused = {"message": exc.message, **exc.detail}
    write(dumps({**phases, "refused": refused}, default=str).encode() + b"\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2]))
