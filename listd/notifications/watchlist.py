"""Customer watchlists: parse a subscriber's upload (JSON lines or CSV) and store it.

Each customer is one field of a Redis hash (reference -> canonical JSON). A write
touches only customers whose record changed, and marks each of them "pending" in the
same transaction; the dispatcher indexes and screens pending customers against the
current lists and clears the mark only when the result is committed, so a crash never
leaves a customer unscreened. Re-uploading an unchanged list of a million customers
therefore costs reads, not a million screenings.

A replacement deletes the customers the upload no longer holds only after the whole
body has been read and parsed: a broken connection or a truncated file never empties a
watchlist. A line that fails validation is reported and skipped; in a replacement the
customer it names keeps its previous record rather than silently disappearing.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import re
import secrets
import tempfile
from collections.abc import AsyncIterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, cast

from redis.asyncio import Redis

from listd.errors import BadRequest, PayloadTooLarge
from listd.keyspace import CHANGES_MAX, Keys
from listd.normalize.kzid import check_iin
from listd.pipeline.store import now_iso
from listd.screening import Query
from listd.screening.evidence import MIN_IDENTIFIER, identifier_key
from listd.screening.query import check_name, parse_birth_date, utc_today
from listd.server import hash_fields

MAX_CUSTOMERS = 20_000_000
# A million customers in JSON lines is about 150 MiB (bench/notify.py): 20 million, 3 GiB;
# the body is spooled to a temporary file beyond 16 MiB, never held in memory.
MAX_BYTES = 4096 * 1024 * 1024
_CHUNK = 2000  # records per Redis round trip
_UPLOAD_TTL = 24 * 3600  # seconds the references of an upload broken off are kept
_MAX_ERRORS = 100  # errors listed in the answer (all are counted)
_FIELDS = ("reference", "name", "type", "birth_date", "iin", "passport", "identifiers",
           "nationality")  # fmt: skip
_ALIASES = {"customer_ref": "reference", "ref": "reference", "id_number": "identifiers"}
_TYPES = {"person": "person", "individual": "person", "entity": "entity", "legal": "entity",
          "organisation": "entity", "organization": "entity", "company": "entity"}  # fmt: skip
_TRUE = frozenset({"true", "1", "yes", "y"})


@dataclass(frozen=True, slots=True)
class Customer:
    """One customer of a subscriber, as screened against the lists."""

    reference: str
    name: str
    type: str | None = None  # person | entity | None (unknown)
    birth_date: str | None = None  # YYYY, YYYY-MM or YYYY-MM-DD
    iin: str | None = None  # Kazakh IIN or BIN, 12 digits
    passport: str | None = None
    identifiers: tuple[str, ...] = ()  # other document numbers
    nationality: str | None = None

    def to_json(self) -> str:
        data: dict[str, Any] = {
            k: v for k in _FIELDS if (v := getattr(self, k)) not in (None, (), "")
        }
        if "identifiers" in data:
            data["identifiers"] = list(data["identifiers"])
        return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))

    def public(self) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.to_json())
        return out

    def documents(self) -> tuple[str, ...]:
        return tuple(d for d in (self.iin, self.passport, *self.identifiers) if d)

    def document_keys(self) -> tuple[str, ...]:
        """Identifier keys (`evidence.identifier_key`) long enough to look up."""
        keys = {identifier_key(d) for d in self.documents()}
        return tuple(sorted(k for k in keys if len(k) >= MIN_IDENTIFIER))

    def query(
        self,
        threshold: float,
        sources: tuple[str, ...] = (),
        programs: tuple[str, ...] = (),
        limit: int = 50,
    ) -> Query:
        """This customer as a screening query (the customer is what gets screened)."""
        return Query(
            name=self.name,
            type=self.type,
            birth_date=self.birth_date,
            limit=limit,
            threshold=threshold,
            sources=sources,
            nationality=self.nationality,
            identifiers=self.documents(),
            programs=programs,
        )


def customer_from_json(raw: str) -> Customer:
    data = json.loads(raw)
    data["identifiers"] = tuple(data.get("identifiers") or ())
    return Customer(**data)


def _text(value: Any, what: str, max_len: int) -> str | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string")
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise ValueError(f"{what} holds an unpaired surrogate") from None
    value = " ".join(value.split())
    if len(value) > max_len:
        raise ValueError(f"{what} is longer than {max_len} characters")
    return value or None


def _birth_date(value: str | None, today: dt.date) -> str | None:
    return None if value is None else parse_birth_date(value, today)


@dataclass(slots=True)
class Parsed:
    customer: Customer | None = None
    delete: str | None = None  # a reference to delete (patch uploads)
    error: str | None = None
    reference: str | None = None
    warning: str | None = None


def parse_record(item: dict[str, Any], *, patch: bool, today: dt.date | None = None) -> Parsed:
    """Validate one uploaded record. Unknown fields are reported by the caller."""
    today = today or utc_today()
    data = {_ALIASES.get(k, k): v for k, v in item.items()}
    try:
        reference = _text(data.get("reference"), "reference", 200)
    except ValueError as exc:
        return Parsed(error=str(exc))
    if reference is None:
        return Parsed(error="reference is required")
    try:
        deleted = data.get("delete")
        if patch and (deleted is True or str(deleted).strip().lower() in _TRUE):
            return Parsed(delete=reference, reference=reference)
        name = _text(data.get("name"), "name", 500)
        if name is None:
            raise ValueError("name is required")
        check_name(name)
        kind = _text(data.get("type"), "type", 20)
        if kind is not None:
            if kind.lower() not in _TYPES:
                raise ValueError("type must be person or entity")
            kind = _TYPES[kind.lower()]
        iin = _text(data.get("iin"), "iin", 40)
        warning = None
        if iin is not None:
            iin = iin.replace(" ", "")
            if not re.fullmatch(r"\d{12}", iin):
                raise ValueError("iin must be 12 digits")
            if kind != "entity" and not check_iin(iin)[0]:
                warning = "iin fails its check digit; kept as an identifier"
        raw_ids = data.get("identifiers")
        if isinstance(raw_ids, str):
            raw_ids = [p for p in raw_ids.split(";")]
        if raw_ids is not None and not isinstance(raw_ids, list):
            raise ValueError("identifiers must be a list or a ;-separated string")
        identifiers = tuple(
            i for i in (_text(v, "identifiers", 60) for v in raw_ids or []) if i is not None
        )
        customer = Customer(
            reference=reference,
            name=name,
            type=kind,
            birth_date=_birth_date(_text(data.get("birth_date"), "birth_date", 20), today),
            iin=iin,
            passport=_text(data.get("passport"), "passport", 60),
            identifiers=identifiers[:20],
            nationality=_text(data.get("nationality"), "nationality", 100),
        )
    except ValueError as exc:
        return Parsed(error=str(exc), reference=reference)
    return Parsed(customer=customer, reference=reference, warning=warning)


@dataclass(slots=True)
class Report:
    """What an upload did, as the API answers it."""

    mode: str
    received: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    invalid: int = 0
    warnings: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    ignored_fields: list[str] = field(default_factory=list)
    total: int = 0
    pending_screening: int = 0

    def fail(self, line: int, reference: str | None, error: str) -> None:
        self.invalid += 1
        if len(self.errors) < _MAX_ERRORS:
            self.errors.append({"line": line, "reference": reference, "error": error})

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "received": self.received,
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "invalid": self.invalid,
            "warnings": self.warnings,
            "errors": self.errors,
            "ignored_fields": self.ignored_fields,
            "total": self.total,
            "pending_screening": self.pending_screening,
        }


def body_too_large(max_bytes: int) -> PayloadTooLarge:
    """413 for a watchlist upload over `max_bytes`."""
    return PayloadTooLarge(
        f"a watchlist upload is at most {max_bytes:,} bytes; split it into PATCH uploads",
        field="body",
        limit=max_bytes,
    )


async def spool(body: AsyncIterable[bytes], max_lines: int, max_bytes: int) -> IO[bytes]:
    """Copy an upload to a temporary file (memory up to 16 MB), counting lines and bytes;
    reading stops at the first chunk over either limit (413), so an endless upload costs
    no more than the limit."""
    out = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115 - returned
    lines = size = 0
    try:
        async for chunk in body:
            size += len(chunk)
            if size > max_bytes:
                raise body_too_large(max_bytes)
            lines += chunk.count(b"\n")
            if lines > max_lines:
                raise PayloadTooLarge(
                    f"a watchlist holds at most {max_lines - 1:,} customers", limit=max_lines - 1
                )
            out.write(chunk)
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return cast(IO[bytes], out)


def _records(
    file: IO[bytes], fmt: str, report: Report, patch: bool
) -> Iterator[tuple[int, Parsed]]:
    """(line number, parsed record) for each record of the spooled upload."""
    text = io.TextIOWrapper(file, encoding="utf-8-sig", newline="")
    known = set(_FIELDS) | set(_ALIASES) | {"delete"}
    ignored: set[str] = set()
    try:
        if fmt == "csv":
            reader = csv.DictReader(text)
            header = [h.strip() for h in reader.fieldnames or []]
            reader.fieldnames = header
            if "name" not in header or not ({"reference", *_ALIASES} & set(header)):
                raise BadRequest(
                    "the CSV header must name at least reference and name", field="body"
                )
            ignored = {h for h in header if h not in known}
            for row in reader:
                item = {k: v for k, v in row.items() if k in known and v not in (None, "")}
                yield reader.line_num, parse_record(item, patch=patch)
        else:
            for number, line in enumerate(text, start=1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield number, Parsed(error=f"not valid JSON: {exc.msg}")
                    continue
                except ValueError as exc:  # an integer over 4,300 digits
                    yield number, Parsed(error=f"not valid JSON: {exc}"[:200])
                    continue
                except RecursionError:
                    yield number, Parsed(error="not valid JSON: nested too deeply")
                    continue
                if not isinstance(item, dict):
                    yield number, Parsed(error="each line must be a JSON object")
                    continue
                ignored.update(k for k in item if k not in known)
                yield number, parse_record(item, patch=patch)
    except UnicodeDecodeError:
        raise BadRequest("the upload is not UTF-8 text", field="body") from None
    except csv.Error as exc:  # e.g. a field over csv.field_size_limit() (128 KiB)
        raise BadRequest(f"the CSV upload cannot be read: {exc}", field="body") from None
    finally:
        report.ignored_fields = sorted(ignored)


def sniff(content_type: str, head: bytes) -> str:
    """ "csv" or "jsonl", from the Content-Type or else the first character."""
    ctype = content_type.lower()
    if "csv" in ctype:
        return "csv"
    if "json" in ctype:
        return "jsonl"
    return "jsonl" if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{" else "csv"


class WatchlistStore:
    """Reads and writes of customer watchlists."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def write(
        self,
        sub_id: str,
        file: IO[bytes],
        fmt: str,
        *,
        replace: bool,
    ) -> Report:
        """Apply an upload (replace the list, or patch it) and mark what changed pending.

        Memory stays bounded whatever the upload's size: the references seen so far are
        kept in Redis (`Keys.watchlist_upload`), not here, and the upload's progress is
        written to the watchlist's meta every chunk (`summary`)."""
        report = Report(mode="replace" if replace else "patch")
        upload = secrets.token_hex(6)
        seen_key = self.keys.watchlist_upload(sub_id, upload, "seen")
        kept_key = self.keys.watchlist_upload(sub_id, upload, "kept")
        any_seen = any_kept = False
        records = _records(file, fmt, report, patch=not replace)

        def take(n: int) -> list[tuple[int, Parsed]]:
            out: list[tuple[int, Parsed]] = []
            for item in records:
                out.append(item)
                if len(out) >= n:
                    break
            return out

        try:
            while True:
                # Parsing is CPU work: a thread keeps the API answering meanwhile.
                page = await asyncio.to_thread(take, _CHUNK)
                if not page:
                    break
                batch: list[Customer] = []
                deletions: list[str] = []
                kept: list[str] = []
                valid: list[tuple[int, Parsed]] = []
                for line, parsed in page:
                    report.received += 1
                    if parsed.warning:
                        report.warnings += 1
                    if parsed.error is not None:
                        report.fail(line, parsed.reference, parsed.error)
                        if parsed.reference:
                            kept.append(parsed.reference)
                            any_kept = True
                        continue
                    valid.append((line, parsed))
                refs = [cast(str, p.reference) for _, p in valid]
                known = await self._seen(seen_key, kept_key, refs, kept)
                fresh: set[str] = set()
                for (line, parsed), before in zip(valid, known, strict=True):
                    ref = cast(str, parsed.reference)
                    if before or ref in fresh:
                        report.fail(line, ref, "reference appears twice in the upload; first kept")
                        continue
                    fresh.add(ref)
                    any_seen = True
                    if parsed.delete is not None:
                        deletions.append(parsed.delete)
                    elif parsed.customer is not None:
                        batch.append(parsed.customer)
                if batch:
                    await self._upsert(sub_id, batch, report)
                if deletions:
                    await self._delete(sub_id, deletions, report)
                await self._progress(sub_id, report, "applying")
            if replace:
                if not any_seen and not any_kept:
                    raise BadRequest(
                        "the upload holds no customers; to empty a watchlist, DELETE it",
                        field="body",
                    )
                await self._remove_unseen(sub_id, report, seen_key, kept_key)
        finally:
            await self.redis.delete(seen_key, kept_key)
        report.total = int(await self.redis.hlen(self.keys.watchlist(sub_id)))
        report.pending_screening = int(await self.redis.scard(self.keys.watchlist_pending(sub_id)))
        await self._progress(sub_id, report, "applied")
        return report

    async def _seen(
        self, seen_key: str, kept_key: str, refs: list[str], kept: list[str]
    ) -> list[bool]:
        """Whether each of `refs` was seen earlier in the upload; records them (and the
        references of invalid records, `kept`) as seen."""
        async with self.redis.pipeline(transaction=False) as pipe:
            if refs:
                pipe.smismember(seen_key, refs)
                pipe.sadd(seen_key, *refs)
                pipe.expire(seen_key, _UPLOAD_TTL)
            if kept:
                pipe.sadd(kept_key, *kept)
                pipe.expire(kept_key, _UPLOAD_TTL)
            replies = await pipe.execute()
        return [bool(x) for x in replies[0]] if refs else []

    async def _progress(self, sub_id: str, report: Report, status: str) -> None:
        meta: dict[Any, Any] = {
            "mode": report.mode,
            "status": status,
            "at": now_iso(),
            "received": report.received,
            "invalid": report.invalid,
        }
        await self.redis.hset(self.keys.watchlist_meta(sub_id), mapping=meta)

    async def _upsert(self, sub_id: str, batch: list[Customer], report: Report) -> None:
        key = self.keys.watchlist(sub_id)
        refs = [c.reference for c in batch]
        old = cast(list[str | None], await self.redis.hmget(key, refs))
        changed: dict[str, str] = {}
        for customer, before in zip(batch, old, strict=True):
            raw = customer.to_json()
            if before == raw:
                report.unchanged += 1
                continue
            if before is None:
                report.added += 1
            else:
                report.updated += 1
            changed[customer.reference] = raw
        if changed:
            await self._mark(sub_id, changed, [])

    async def _mark(
        self,
        sub_id: str,
        changed: dict[str, str],
        deleted: list[str],
        pending: list[str] | None = None,
    ) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            if changed:
                mapping: dict[Any, Any] = changed
                pipe.hset(self.keys.watchlist(sub_id), mapping=mapping)
            if deleted:
                pipe.hdel(self.keys.watchlist(sub_id), *deleted)
            pipe.sadd(self.keys.watchlist_pending(sub_id), *changed, *deleted, *(pending or ()))
            if changed or deleted:
                # The partition's change log, so a worker taking it over from a snapshot
                # reads only the records written since (same slot, same transaction).
                entry: dict[Any, Any] = {"sub": sub_id, "refs": json.dumps([*changed, *deleted])}
                pipe.xadd(
                    self.keys.watchlist_changes_of(sub_id),
                    entry,
                    maxlen=CHANGES_MAX,
                    approximate=True,
                )
            # In the slot of the watchlist's partition, on a cluster too: one transaction.
            pipe.sadd(self.keys.watchlist_dirty_of(sub_id), sub_id)
            await pipe.execute()

    async def _remove_unseen(
        self, sub_id: str, report: Report, seen_key: str = "", kept_key: str = ""
    ) -> None:
        """Delete every customer the upload did not name (all, without keys), a chunk at
        a time."""
        page: list[str] = []

        async def flush() -> None:
            if seen_key:
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.smismember(seen_key, page)
                    pipe.smismember(kept_key, page)
                    seen, kept = await pipe.execute()
                doomed = [r for r, a, b in zip(page, seen, kept, strict=True) if not (a or b)]
            else:
                doomed = list(page)
            await self._delete(sub_id, doomed, report)

        async for ref in hash_fields(self.redis, self.keys.watchlist(sub_id)):
            page.append(ref)
            if len(page) >= _CHUNK:
                await flush()
                page = []
        if page:
            await flush()

    async def _delete(self, sub_id: str, refs: list[str], report: Report) -> None:
        for start in range(0, len(refs), _CHUNK):
            chunk = refs[start : start + _CHUNK]
            present = await self.redis.hmget(self.keys.watchlist(sub_id), chunk)
            gone = [r for r, v in zip(chunk, present, strict=True) if v is not None]
            report.removed += len(gone)
            if gone:
                await self._mark(sub_id, {}, gone)

    async def rescreen(self, sub_id: str) -> int:
        """Mark every customer pending: the subscription's screening terms changed."""
        refs: list[str] = []
        marked = 0
        async for ref in hash_fields(self.redis, self.keys.watchlist(sub_id)):
            refs.append(ref)
            if len(refs) >= _CHUNK:
                await self._mark(sub_id, {}, [], pending=refs)
                marked, refs = marked + len(refs), []
        if refs:
            await self._mark(sub_id, {}, [], pending=refs)
            marked += len(refs)
        return marked

    async def clear(self, sub_id: str) -> int:
        """Delete every customer (each marked pending, so the dispatcher drops it)."""
        report = Report(mode="clear")
        await self._remove_unseen(sub_id, report)
        return report.removed

    async def summary(self, sub_id: str) -> dict[str, Any]:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hlen(self.keys.watchlist(sub_id))
            pipe.scard(self.keys.watchlist_pending(sub_id))
            pipe.hgetall(self.keys.watchlist_meta(sub_id))
            total, pending, meta = await pipe.execute()
        return {
            "customers": int(total),
            "pending_screening": int(pending),
            "last_upload": cast(dict[str, str], meta) or None,
        }

    async def customer(self, sub_id: str, ref: str) -> Customer | None:
        raw = await self.redis.hget(self.keys.watchlist(sub_id), ref)
        return customer_from_json(str(raw)) if raw else None
