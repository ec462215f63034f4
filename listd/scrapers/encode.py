"""Parse, normalise and encode the records of a document, ready to store.

The sync does this in its worker thread for a small list. For a large one it has PARTS child
processes do it at once (`python -m listd.scrapers.encode --wait KIND`, started ahead of the
sync: see `replenish`; each takes one task, a JSON line on its stdin naming the document's
file, and writes its answer to a file; `python -m listd.scrapers.encode KIND SOURCE [PART
PARTS [CUTS]]` does the same with the document on stdin). Where the scraper can share a
document, each parses a contiguous run of the records if the scraper finds where to cut them
(`record_cuts`, passed as CUTS: the child reads the document's head and its own run, not
every record), else every PARTS-th record (`records_part`). The per-record Python (some 7 s
of CPU for an SDN.XML-size list) then runs on cores of its own instead of taking the
daemon's GIL from its event loop, and the daemon receives what the store writes anyway: per
entity its id, content hash, document keys, warnings and JSON.

A child writes one line per entity, `[record number, id, hash, document keys, warnings]`
(JSON; the number counts over the whole document, or over its run when given CUTS), a tab,
then the entity's canonical JSON (neither holds a raw tab or newline), and ends with one
JSON object line: the seconds spent per step, the child's CPU seconds (`cpu`: its start,
imports and reading too) and `refused` (a ValidationFailed as data, or null) with the number
of the record it stopped at. A plain subprocess, not
multiprocessing: a spawned child would re-import the daemon's `__main__` (the CLI) first. The
schema check happens elsewhere (listd.scrapers.check); the caller uses nothing of this before
that check has passed.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from _json import make_encoder
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from json.encoder import encode_basestring
from typing import Any

from listd.errors import ValidationFailed
from listd.model import Entity, Name
from listd.normalize import normalize_names
from listd.scrapers import Scraper, scraper
from listd.scrapers.safexml import chunk_document

TIMEOUT_S = 900  # a stuck child must not hold the source's lock for ever
# How much lower the children's CPU priority is than the daemon's, for a document of
# NICE_FROM_BYTES or more: they take the cores the daemon leaves idle, while its event loop,
# whenever it has work (a screening request), gets a core at once instead of a time slice
# shared with the parse. A smaller document (the UN's 2 MB) is parsed in a fraction of a
# second, at the daemon's priority: on a busy machine other processes would starve it.
NICENESS = 10
NICE_FROM_BYTES = 16 * 1024 * 1024


def lower_priority(size: int) -> None:
    """Give this (child) process, working on a document of `size` bytes, the CPU priority
    NICENESS below its parent's if the document is large."""
    if size < NICE_FROM_BYTES:
        return
    with contextlib.suppress(OSError):  # no such notion here: the parse just competes
        os.nice(NICENESS)


@dataclass(slots=True)
class Encoded:
    """A document's records as the store takes them."""

    encoded: dict[str, bytes] = field(default_factory=dict)  # entity id -> entity JSON
    hashes: dict[str, str] = field(default_factory=dict)  # entity id -> content hash
    warnings: list[str] = field(default_factory=list)
    entities: list[Entity] = field(default_factory=list)  # only when encoded in-process
    # seconds: parse, normalise; parse_cpu: the CPU seconds of all three (every child's)
    phases: dict[str, float] = field(default_factory=dict)

    def add(self, entity_id: str, digest: str, body: bytes) -> None:
        if entity_id in self.hashes:
            raise ValidationFailed(f"entity id {entity_id} occurs twice in the document")
        self.hashes[entity_id] = digest
        self.encoded[entity_id] = body


def restamp(entity: Entity, source: str, names: tuple[Name, ...] | None = None) -> Entity:
    """Give an entity the configured source name (parsers prefix ids with their kind), and
    `names` if given: one copy of the entity for both."""
    changes: dict[str, Any] = {} if names is None else {"names": names}
    if entity.source != source:
        local = entity.id.partition(":")[2] or entity.reference
        changes.update(source=source, id=f"{source}:{local}")
    return replace(entity, **changes) if changes else entity


def _each(
    scr: Scraper,
    raw: bytes,
    source: str | None,
    phases: dict[str, float],
    part: int = 0,
    parts: int = 1,
    cuts: list[int] | None = None,
) -> Iterator[tuple[Entity, bytes, str, list[str]]]:
    """(normalised entity, its JSON, its content hash, its warnings), in document order; of
    every `parts`-th record from the `part`-th on when `parts` > 1, or of the `part`-th run
    between `cuts` (safexml.record_cuts) if given."""
    parse = normalise = 0.0
    clock = time.perf_counter
    if cuts is not None:
        records = scr.records(chunk_document(raw, cuts, part))
    elif parts > 1:
        assert scr.records_part is not None
        records = scr.records_part(raw, part, parts)
    else:
        records = scr.records(raw)
    while True:
        t0 = clock()
        parsed = next(records, None)
        t1 = clock()
        parse += t1 - t0
        if parsed is None:
            break
        entity = restamp(parsed, source or parsed.source, normalize_names(parsed.names))
        meta = entity.meta
        warnings = [f"{entity.id}: unknown element {tag}" for tag in meta.get("unknown", ())]
        warnings += [f"{entity.id}: {warning}" for warning in meta.get("warnings", ())]
        body, digest = entity.encode()
        normalise += clock() - t1
        yield entity, body, digest, warnings
    phases.update(parse=parse, normalise=normalise)


def in_process(scr: Scraper, raw: bytes, source: str | None) -> Encoded:
    """Encode every record here (the entities are kept too)."""
    out = Encoded()
    started = time.thread_time()
    for entity, body, digest, warnings in _each(scr, raw, source, out.phases):
        out.add(entity.id, digest, body)
        out.warnings += warnings
        out.entities.append(entity)
    out.phases["parse_cpu"] = time.thread_time() - started
    return out


def apart(kind: str, raw: bytes, source: str, parts: int = 1) -> Encoded:
    """Encode every record in `parts` child processes at once (1 unless the kind's scraper
    has `records_part`). Blocks: call from a worker thread."""
    scr = scraper(kind)
    if scr.records_part is None:
        parts = 1
    with _waiting_lock:
        _wanted[:] = [(kind, parts)]
    # Contiguous runs where the scraper can cut them: each child parses only its own.
    cuts = scr.record_cuts(raw, parts) if parts > 1 and scr.record_cuts is not None else None
    with (
        document_file(raw) as path,
        concurrent.futures.ThreadPoolExecutor(parts, thread_name_prefix="listd-parse") as pool,
    ):
        answers = list(
            pool.map(lambda part: _child(kind, path, source, part, parts, cuts), range(parts))
        )

    # A record's place in the document: (share, number in it) for runs, the number otherwise.
    def place(part: int, number: int) -> tuple[int, int]:
        return (part, number) if cuts is not None else (0, number)

    refusals = [
        (place(part, int(end["stopped_at"])), end["refused"])
        for part, (_, end) in enumerate(answers)
        if end["refused"] is not None
    ]
    if refusals:  # the one a parse in one process would have met first
        refused = min(refusals, key=lambda refusal: refusal[0])[1]
        raise ValidationFailed(refused.pop("message"), **refused)
    phases = {step: max(end[step] for _, end in answers) for step in ("parse", "normalise")}
    phases["parse_cpu"] = sum(float(end.get("cpu", 0.0)) for _, end in answers)
    heads: list[bytes] = []
    bodies: list[bytes] = []
    for lines, _ in answers:
        for line in lines:
            head, _, body = line.partition(b"\t")
            heads.append(head)
            bodies.append(body)
    # One JSON document for all the heads: one call instead of 20,000.
    parsed = json.loads(b"[" + b",".join(heads) + b"]")
    rows: Iterable[tuple[Any, bytes]] = zip(parsed, bodies, strict=True)
    if parts > 1 and cuts is None:  # runs arrive in document order already
        rows = sorted(rows, key=lambda row: int(row[0][0]))
    out = Encoded(phases=phases)
    for (_, entity_id, digest, warnings), body in rows:
        out.add(entity_id, digest, body)
        out.warnings += warnings
    return out


@contextlib.contextmanager
def document_file(raw: bytes) -> Iterator[str]:
    """The path of a temporary copy of `raw` (owner-only, removed after), for children to
    read as their stdin. `subprocess.run(input=raw)` feeds a pipe 4 KB per turn of a select
    loop in this process: 10,000 turns per child for an SDN.XML-size list, each taking the
    GIL, and the child waits for the last before it starts."""
    with tempfile.NamedTemporaryFile(prefix="listd-document-") as file:
        file.write(raw)
        file.flush()
        yield file.name


def run_child(args: list[str], path: str, what: str, timeout: float) -> tuple[bytes, bytes]:
    """Run `python -m *args` on the document at `path` (its stdin): its output and its
    stderr. The output goes to a file, read in one call at the end: through a pipe, the
    child waited on every 32 KB this process read in a thread queued for the GIL. A child
    that outlives `timeout` or fails is a refusal of the document, naming `what` it did."""
    try:
        with open(path, "rb") as document, tempfile.TemporaryFile() as output:
            proc = subprocess.run(  # noqa: S603 - our own interpreter and module, no shell
                [sys.executable, "-m", *args],
                stdin=document,
                stdout=output,
                stderr=subprocess.PIPE,
                check=False,
                timeout=timeout,
            )
            output.seek(0)
            written = output.read()
    except subprocess.TimeoutExpired:
        raise ValidationFailed(
            f"{what} took longer than {timeout:g} s; refusing the document"
        ) from None
    if proc.returncode != 0 or not written.rstrip(b"\n").rpartition(b"\n")[2].startswith(b"{"):
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        raise ValidationFailed(f"the {what} process failed: {tail[0]}")
    return written, proc.stderr


# Parsing children started ahead of time, each waiting for one task on its stdin: a child
# costs a Python start and the listd imports (about 0.1 s of CPU, several times that on a
# busy machine), which a 2 MB list's parse (0.15 s per child) would otherwise pay on every
# sync. Each serves one document and exits, so a large list's memory still goes with it;
# `replenish` starts the next ones once a sync is over, off its path.
_waiting: list[subprocess.Popen[bytes]] = []
_wanted: list[tuple[str, int]] = []  # the last parse's kind and number of children
_waiting_lock = threading.Lock()


def _start(kind: str) -> subprocess.Popen[bytes]:
    """A parsing child that imports what a document of `kind` needs, then waits for its task."""
    return subprocess.Popen(  # noqa: S603 - our own interpreter and module, no shell
        [sys.executable, "-m", "listd.scrapers.encode", "--wait", kind],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _take() -> subprocess.Popen[bytes] | None:
    """A waiting child if one is alive."""
    with _waiting_lock:
        while _waiting:
            proc = _waiting.pop()
            if proc.poll() is None:
                return proc
            _close(proc)
    return None


def _close(proc: subprocess.Popen[bytes]) -> None:
    for pipe in (proc.stdin, proc.stderr):
        if pipe is not None:
            pipe.close()


def replenish() -> None:
    """Start as many waiting children as the last syncs used and are not waiting already
    (call once a sync is over: their start then costs no sync its time)."""
    with _waiting_lock:
        for proc in _waiting:
            if proc.poll() is not None:
                _close(proc)
        _waiting[:] = [proc for proc in _waiting if proc.returncode is None]
        for kind, count in _wanted:
            _waiting.extend(_start(kind) for _ in range(count - len(_waiting)))


def wanted() -> list[tuple[str, int]]:
    """The last parse's kind and number of children (what `replenish` starts)."""
    with _waiting_lock:
        return list(_wanted)


def want(kinds: list[tuple[str, int]]) -> None:
    """Have `replenish` start these children: what a sync in another process used last."""
    with _waiting_lock:
        _wanted[:] = kinds


def stop_waiting() -> None:
    """End the waiting children (they would also end with this process: EOF on their stdin)."""
    with _waiting_lock:
        for proc in _waiting:
            proc.kill()
            proc.wait()
            _close(proc)
        _waiting.clear()


atexit.register(stop_waiting)


def _child(
    kind: str, path: str, source: str, part: int, parts: int, cuts: list[int] | None
) -> tuple[list[bytes], dict[str, Any]]:
    """Have one child parse the document at `path`: its entity lines and its closing object.

    The output goes to a file, read in one call at the end: through a pipe, the child
    waited on every 32 KB this process read in a thread queued for the GIL. A child that
    outlives TIMEOUT_S or fails is a refusal of the document."""
    task = {"args": [kind, source, part, parts, ",".join(map(str, cuts or ()))], "document": path}
    proc = _take()
    with tempfile.NamedTemporaryFile(prefix="listd-parsed-") as output:
        task["output"] = output.name
        line = json.dumps(task).encode() + b"\n"
        stderr = _give(proc or _start(kind), line)
        if proc is not None and proc.returncode < 0 and not output.read(1):
            # A waiting child killed meanwhile (by a signal, before its task): a new one.
            stderr = _give(_start(kind), line)
        output.seek(0)
        written = output.read()
    if not written.rstrip(b"\n").rpartition(b"\n")[2].startswith(b"{"):
        tail = stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        raise ValidationFailed(f"the parsing process failed: {tail[0]}")
    lines = written.split(b"\n")  # entity lines, the closing object, b""
    return lines[:-2], json.loads(lines[-2])


def _give(proc: subprocess.Popen[bytes], task: bytes) -> bytes:
    """Hand a child its task and wait for it to end: its stderr. One that outlives
    TIMEOUT_S, or fails, is a refusal of the document (naming its last words); one killed by
    a signal is left to the caller."""
    try:
        _, stderr = proc.communicate(task, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise ValidationFailed(
            f"parsing took longer than {TIMEOUT_S:g} s; refusing the document"
        ) from None
    if proc.returncode > 0:
        tail = stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        raise ValidationFailed(f"the parsing process failed: {tail[0]}")
    return stderr


def main(kind: str, source: str, part: int = 0, parts: int = 1, cuts: str = "") -> int:
    """Parse the document on stdin; write the entity lines and closing object to stdout."""
    return run(sys.stdin.buffer.read(), sys.stdout.buffer.write, kind, source, part, parts, cuts)


def wait(kind: str) -> int:
    """Import what `kind` needs, then read one task from stdin (a JSON line: `args` for `run`,
    the `document`'s path and the `output`'s), do it and exit; exit at once on EOF."""
    scraper(kind)
    line = sys.stdin.buffer.readline()
    if not line.strip():
        return 0  # nothing to do after all (the daemon stopped)
    task = json.loads(line)
    kind, source, part, parts, cuts = task["args"]
    with open(task["document"], "rb") as document, open(task["output"], "wb") as output:
        return run(document.read(), output.write, kind, source, part, parts, cuts)


def _no_default(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# `json.dumps(head, ensure_ascii=False)` without building an encoder for each of 20,000 lines.
_head_json = make_encoder(
    None, _no_default, encode_basestring, None, ": ", ", ", False, False, True
)


def run(
    raw: bytes,
    write: Callable[[bytes], object],
    kind: str,
    source: str,
    part: int,
    parts: int,
    cuts: str,
) -> int:
    """Parse `raw` (share `part` of `parts`, cut at `cuts` if given), writing entity lines
    and the closing object."""
    lower_priority(len(raw))
    phases: dict[str, float] = {}
    refused: dict[str, object] | None = None
    shares = [int(cut) for cut in cuts.split(",")] if cuts else None
    # The record being parsed, counted over the whole document, or over the run if cut.
    number, step = (0, 1) if shares is not None else (part, parts)
    try:
        seen: set[str] = set()
        for entity, body, digest, warnings in _each(
            scraper(kind), raw, source, phases, part, parts, shares
        ):
            if entity.id in seen:  # found here, where the document order is known
                raise ValidationFailed(f"entity id {entity.id} occurs twice in the document")
            seen.add(entity.id)
            head = [number, entity.id, digest, warnings]
            write("".join(_head_json(head, 0)).encode() + b"\t" + body + b"\n")
            number += step
    except ValidationFailed as exc:
        refused = {"message": exc.message, **exc.detail}
    end = {"parse": 0.0, "normalise": 0.0, **phases, "refused": refused, "stopped_at": number}
    end["cpu"] = time.process_time()
    write(json.dumps(end, default=str).encode() + b"\n")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--wait"]:
        raise SystemExit(wait(sys.argv[2]))
    args = sys.argv[1:] + ["0", "1", ""][len(sys.argv) - 3 :]  # KIND SOURCE [PART PARTS [CUTS]]
    raise SystemExit(main(args[0], args[1], int(args[2]), int(args[3]), args[4]))
