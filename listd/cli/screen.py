"""`listd screen`: one name, or a customer file (CSV / JSON lines), against every list."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import sys
from collections.abc import Callable
from pathlib import Path

from listd.connection import open_redis
from listd.errors import BadRequest, Unavailable
from listd.pipeline.store import Store
from listd.screening import Match, Query, ScreeningIndex
from listd.screening.follow import follow
from listd.screening.query import check_name, parse_birth_date, utc_today
from listd.settings import Settings
from listd.status import consulted


def _read_customers(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV (with a header) or JSON-lines file; each needs a name."""
    text = path.read_text("utf-8-sig")
    rows: list[dict[str, str]] = []
    if path.suffix.lower() in {".jsonl", ".ndjson", ".json"}:
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BadRequest(f"{path}:{n}: not valid JSON: {exc.msg}", field="file") from None
            if not isinstance(item, dict):
                raise BadRequest(f"{path}:{n}: each line must be a JSON object", field="file")
            rows.append({str(k): "" if v is None else str(v) for k, v in item.items()})
    else:
        rows = [dict(r) for r in csv.DictReader(io.StringIO(text))]
    today = utc_today()
    for n, row in enumerate(rows, start=1):
        if not (row.get("name") or "").strip():
            raise BadRequest(f"{path}: record {n} has no name", field="name")
        for key, check in (("name", check_name), ("birth_date", _birth_date_in(today))):
            if (row.get(key) or "").strip():
                try:
                    row[key] = check(row[key].strip())
                except ValueError as exc:
                    raise BadRequest(f"{path}: record {n}: {exc}", field=key) from None
    return rows


def _birth_date_in(today: dt.date) -> Callable[[str], str]:
    return lambda value: parse_birth_date(value, today)


def _customer_query(row: dict[str, str], threshold: float) -> Query:
    ids = [row.get(k, "").strip() for k in ("identifiers", "iin", "passport", "id_number")]
    return Query(
        name=row["name"].strip(),
        type=(row.get("type") or "").strip() or None,
        birth_date=(row.get("birth_date") or "").strip() or None,
        threshold=threshold,
        limit=5,
        nationality=(row.get("nationality") or "").strip() or None,
        identifiers=tuple(i for raw in ids for i in raw.split(";") if i.strip()),
    )


async def cmd_screen(settings: Settings, args: argparse.Namespace) -> int:
    if bool(args.name) == bool(args.file):
        print("listd: give a NAME or --file, not both", file=sys.stderr)
        return 2
    try:  # surely a typing mistake: bad usage, refused before any work
        if args.name:
            check_name(args.name)
        if args.birth_date:
            args.birth_date = parse_birth_date(args.birth_date, utc_today())
    except ValueError as exc:
        print(f"listd: {exc}", file=sys.stderr)
        return 2
    rows: list[dict[str, str]] = []
    if args.file:
        try:
            rows = _read_customers(Path(args.file))
        except OSError as exc:
            print(f"listd: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
            return 1
    async with open_redis(settings) as redis:
        store = Store(redis, settings.keys)
        index = ScreeningIndex()
        # Every list that has data, fetched or imported, exactly as the API screens.
        names = sorted(settings.sources)
        await follow(store, index, names)
        fresh = await store.last_successes(names)
    try:
        versions, warnings = consulted(settings, index.versions, fresh)
    except Unavailable:
        print("listd: no list is loaded yet; run `listd sync` first", file=sys.stderr)
        return 1
    # On standard error, so that a "no match" (empty output) still proves what was consulted.
    used = ", ".join(f"{name} (version {version})" for name, version in versions.items())
    print(f"listd: lists consulted: {used}", file=sys.stderr)
    for warning in warnings:
        print(f"listd: warning: {warning}", file=sys.stderr)
    if args.name:
        query = Query(
            name=args.name, birth_date=args.birth_date, threshold=args.threshold, limit=args.limit
        )
        for match in index.screen(query):
            print(json.dumps(_match_row(match), ensure_ascii=False))
        return 0
    _screen_file(index, rows, args)
    return 0


def _screen_file(
    index: ScreeningIndex, rows: list[dict[str, str]], args: argparse.Namespace
) -> None:
    # Closed in the finally below; a `with` would also close standard output.
    out = open(args.output, "w", encoding="utf-8", newline="") if args.output else sys.stdout  # noqa: SIM115
    try:
        fields = ["row", "reference", "name", "match_id", "score", "matched_name", "source",
                  "program", "summary"]  # fmt: skip
        writer = csv.DictWriter(out, fieldnames=fields) if args.format == "csv" else None
        if writer:
            writer.writeheader()
        chunk = 500
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            results = index.screen_many([_customer_query(r, args.threshold) for r in part])
            for offset, (row, found) in enumerate(zip(part, results, strict=True)):
                for match in found:
                    record = {
                        "row": start + offset + 1,
                        "reference": row.get("reference") or row.get("customer_ref") or "",
                        "name": row["name"],
                        **{k: v for k, v in _match_row(match).items() if k in fields},
                    }
                    if writer:
                        writer.writerow(record)
                    else:
                        print(json.dumps(record, ensure_ascii=False), file=out)
            _bar(min(start + chunk, len(rows)), len(rows))
    finally:
        if out is not sys.stdout:
            out.close()


def _match_row(match: Match) -> dict[str, object]:
    return {
        "match_id": match.entity.id,
        "score": match.score,
        "matched_name": match.matched_name,
        "source": match.entity.source,
        "program": match.entity.programs[0] if match.entity.programs else "",
        "summary": match.explanation.get("summary", ""),
    }


def _bar(done: int, total: int) -> None:
    if not sys.stderr.isatty():
        return
    width = 30
    filled = width * done // max(total, 1)
    end = "\n" if done >= total else ""
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end=end, file=sys.stderr)
