"""Validate, parse, normalise and encode one list document, in bounded memory.

A large document is checked and parsed in child processes (`listd.scrapers.encode`), so the
daemon's event loop never competes with the parse for the GIL and the check's
whole-document tree never enters the daemon. Nothing leaves here before the check passed.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

from listd.errors import ValidationFailed
from listd.model import Entity, entity_from_json
from listd.pipeline.store import snapshot_hash
from listd.scrapers import Scraper, encode, scraper

_HTML = frozenset({"text/html", "application/xhtml+xml"})
# From this size on, the schema check runs in a child process (the 29 MB SDN.XML, the 104 MB
# SDN_ENHANCED.XML): its whole-document tree never enters the daemon. Smaller lists (the UN's
# 2 MB) are checked in a worker thread, sparing a process start (while the children parse).
ISOLATE_BYTES = 16 * 1024 * 1024
# From this size on, the records are parsed in child processes sharing the work (each takes
# every n-th record; the UN's 1,000 records are half a second of Python), so the event loop
# never competes with the parse for the GIL. Below it a process start costs more than it saves.
PARSE_APART_BYTES = 1024 * 1024
PARSE_PROCESSES = max(1, min(4, (os.cpu_count() or 1)))
CHECK_TIMEOUT_S = 900  # libxml2 checks 110 MB in seconds; a stuck child must not hold the lock
_HTML_KINDS = frozenset({"un-html"})  # sources whose list is an HTML page
_HTML_START = (b"<!doctype html", b"<html")


@dataclass(frozen=True, slots=True)
class Parsed:
    local: list[Entity]  # the entities, when they were parsed in this process; else empty
    hashes: dict[str, str]
    content_hash: str
    published: str | None
    warnings: list[str]
    encoded: dict[str, bytes] = field(default_factory=dict)  # entity id -> entity JSON
    phases: dict[str, float] = field(default_factory=dict)  # seconds per step

    @property
    def count(self) -> int:
        return len(self.hashes)

    @property
    def entities(self) -> list[Entity]:
        """Every entity, in document order: read back from its JSON when the records were
        parsed apart (for tests and tools; the sync itself stores the JSON)."""
        return self.local or [entity_from_json(body) for body in self.encoded.values()]


def fetched_html(content_type: str | None, raw: bytes) -> bool:
    """Whether a fetched answer is an HTML page, by its Content-Type or its first bytes."""
    if content_type is None:
        return False
    head = raw[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return content_type in _HTML or head.startswith(_HTML_START)


def html_instead(content_type: str | None, raw: bytes, kind: str) -> str | None:
    """What HTML answer stands where a list of `kind` was expected, or None.

    The document decides, not the Content-Type (publishers mislabel lists), but an HTML
    answer from a source whose list is not a page is a firewall, error or maintenance page."""
    if not fetched_html(content_type, raw) or kind in _HTML_KINDS:
        return None
    return content_type if content_type in _HTML else "an HTML page"


# A schema check's wall seconds, CPU seconds, and its refusal if any.
_Checked = tuple[float, float, ValidationFailed | None]


def _check_apart(kind: str, raw: bytes) -> _Checked:
    """Run the schema check of `raw` in a child process (its CPU: the whole child's)."""
    with encode.document_file(raw) as path:
        written, _ = encode.run_child(
            ["listd.scrapers.check", kind], path, "validation", CHECK_TIMEOUT_S
        )
    answer = json.loads(written.splitlines()[-1])
    refused: dict[str, Any] | None = answer["refused"]
    seconds, cpu = float(answer["seconds"]), float(answer.get("cpu", 0.0))
    if refused is None:
        return seconds, cpu, None
    message = refused.pop("message")
    return seconds, cpu, ValidationFailed(message, **refused)


def _check_here(scr: Scraper, raw: bytes) -> _Checked:
    """Run the schema check of `raw` in this thread."""
    started, cpu = time.perf_counter(), time.thread_time()
    refused: ValidationFailed | None = None
    try:
        scr.validate_fast(raw)
    except ValidationFailed as exc:
        refused = exc
    return time.perf_counter() - started, time.thread_time() - cpu, refused


def process(scr: Scraper, raw: bytes, source: str | None = None) -> Parsed:
    """Validate, parse, normalise and encode a document. Blocks: runs in a worker thread.

    A document parsed in child processes is checked at the same time as they parse it: a
    large one in a child process of its own (the check's whole-document tree, about 6x the
    file, and the per-record Python both stay out of the daemon, which only receives the
    encoded records), a mid-size one (the UN's) in a thread here. A small one is checked,
    then parsed, here. Nothing leaves here before the check has passed, and its refusal
    wins over whatever the parse made of an invalid document."""
    phases: dict[str, float] = {}
    pool: concurrent.futures.ThreadPoolExecutor | None = None
    checked: concurrent.futures.Future[_Checked] | None = None
    apart = len(raw) >= PARSE_APART_BYTES and scr is scraper(scr.kind)
    if len(raw) >= ISOLATE_BYTES:
        pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="listd-check")
        checked = pool.submit(_check_apart, scr.kind, raw)
    elif apart:
        pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="listd-check")
        checked = pool.submit(_check_here, scr, raw)
    else:
        phases["validate"], phases["validate_cpu"], refusal = _check_here(scr, raw)
        if refusal is not None:
            raise refusal
    records: encode.Encoded | None = None
    try:
        if apart:
            records = encode.apart(scr.kind, raw, source or scr.kind, PARSE_PROCESSES)
        else:
            records = encode.in_process(scr, raw, source)
    except ValidationFailed as exc:
        if checked is None:
            raise
        failure = exc
    finally:
        if pool is not None:
            assert checked is not None
            try:
                phases["validate"], phases["validate_cpu"], refused = checked.result()
            finally:
                pool.shutdown()
            if refused is not None:
                raise refused
    if records is None:
        raise failure
    phases.update(records.phases)
    return Parsed(
        records.entities,
        records.hashes,
        snapshot_hash(records.hashes),
        scr.published(raw),
        records.warnings,
        records.encoded,
        phases,
    )


def undated_sha256(scr: Scraper, raw: bytes) -> str | None:
    """sha256 of `raw` without its publication date's value; None if it has no such date."""
    span = scr.date_span(raw)
    if span is None:
        return None
    view = memoryview(raw)
    digest = hashlib.sha256(view[: span[0]])
    digest.update(view[span[1] :])
    return digest.hexdigest()
