"""Archive files: as the live stream fills, its oldest entries move to gzip JSON-lines
files under `<state_dir>/journal/`, each ending with a trailer that records its range and
chain head. The files and their trailers, kept outside Redis, pin everything archived.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from listd.audit.entries import Entry, now_ms
from listd.logs import get_logger

if TYPE_CHECKING:
    from listd.audit.journal import Journal

log = get_logger(__name__)

ARCHIVE = re.compile(r"journal-(\d{12})-(\d{12})\.jsonl\.gz")


def archive_name(first: int, last: int) -> str:
    return f"journal-{first:012d}-{last:012d}.jsonl.gz"


def write_archive(path: Path, entries: list[Entry]) -> dict[str, Any]:
    """Write `entries` and their trailer to `path` (atomically); return the trailer."""
    stamps = [str(e.fields.get("at", "")) for e in entries]
    trailer = {
        "first": entries[0].seq,
        "last": entries[-1].seq,
        "count": len(entries),
        "prev": entries[0].prev,
        "head": entries[-1].link,
        "first_at": min(stamps),
        "last_at": max(stamps),
        "created": now_ms(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    with tmp.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        for entry in entries:
            gz.write(entry.line().encode() + b"\n")
        gz.write(json.dumps({"trailer": trailer}).encode() + b"\n")
        gz.close()
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(tmp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return trailer


def read_archive(path: Path) -> tuple[list[Entry], dict[str, Any] | None]:
    """The entries of an archive file and its trailer (None if the file has none)."""
    entries: list[Entry] = []
    trailer: dict[str, Any] | None = None
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            item = json.loads(line)
            if "trailer" in item:
                trailer = item["trailer"]
                continue
            entries.append(Entry(int(item["seq"]), item["p"], item["h"], item["e"]))
    return entries, trailer


def archive_files(directory: Path) -> list[Path]:
    """Archive files in seq order."""
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if ARCHIVE.fullmatch(p.name)]
    return sorted(found, key=lambda p: p.name)


def outside(trailer: Mapping[str, Any], start: str | None, end: str | None) -> bool:
    """The file's recorded time range misses [start, end): readers skip it unread."""
    return bool((start and str(trailer["last_at"]) < start) or (end and trailer["first_at"] >= end))


async def archive(journal: Journal, threshold: int, everything: bool = False) -> list[Path]:
    """While more than `threshold` entries are live, move the oldest half of the
    threshold to one file; with `everything`, move every live entry. One process at
    a time (a lock with a TTL); returns the files written."""
    token = secrets.token_hex(8)
    lock = journal.keys.journal_lock()
    taken = await journal.redis.set(lock, token, nx=True, ex=600)
    if not taken and await journal.redis.get(lock) != token:  # != a retried SET that landed
        return []
    written: list[Path] = []
    try:
        batch = max(1, threshold // 2)
        while True:
            live = await journal.length()
            if live == 0 or (not everything and live <= threshold):
                break
            entries = await journal.read(await journal.floor(), batch if not everything else live)
            if not entries:
                break
            written.append(await _archive_batch(journal, entries))
    finally:
        # Release only our own lock: it may have expired and been taken over.
        if await journal.redis.get(lock) == token:
            await journal.redis.delete(lock)
    return written


async def _archive_batch(journal: Journal, entries: list[Entry]) -> Path:
    first, last = entries[0].seq, entries[-1].seq
    path = journal.archive_dir() / archive_name(first, last)
    trailer = await asyncio.to_thread(write_archive, path, entries)
    orgs = {o for e in entries for o in (e.fields.get("org"), e.fields.get("target_org")) if o}
    # The file is durable before anything is trimmed: a crash in between leaves the
    # entries in both places, which `verify` and the readers accept.
    async with journal.redis.pipeline(transaction=True) as pipe:
        pipe.hset(journal.keys.journal_archives(), path.name, json.dumps(trailer))
        pipe.set(journal.keys.journal_floor(), last)
        pipe.xtrim(journal.keys.journal(), minid=f"{last + 1}-0", approximate=False)
        for org in sorted(orgs):
            pipe.zremrangebyscore(journal.keys.journal_org(str(org)), "-inf", last)
        await pipe.execute()
    log.info("journal archived", file=path.name, first=first, last=last, count=len(entries))
    return path
