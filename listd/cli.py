"""The `listd` command line."""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import io
import json
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp

from listd import __version__, cli_access, cli_eds, logs
from listd.api import refresh_index
from listd.connection import open_redis
from listd.delta import CLASSES
from listd.errors import BadRequest, ListdError, Unavailable, UnknownSource
from listd.keys import Keys
from listd.locate import locate, record_daemon
from listd.screening import DEFAULT_THRESHOLD, Match, Query, ScreeningIndex
from listd.screening.query import check_name, parse_birth_date, utc_today
from listd.settings import Settings
from listd.status import consulted, source_status
from listd.store import Store
from listd.sync import Syncer

Command = Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]]


def _say(message: str) -> None:
    # Progress for people at a terminal; scripts and journald get the log events.
    if sys.stderr.isatty():
        print(f"… {message}", file=sys.stderr, flush=True)


def _read_at_most(path: Path, size: int) -> bytes:
    """The first `size` bytes of a file (a local list file gets the download limit)."""
    with path.open("rb") as file:
        return file.read(size)


async def cmd_sync(settings: Settings, args: argparse.Namespace) -> int:
    names = (
        sorted(n for n, s in settings.sources.items() if s.enabled)
        if args.source == "all"
        else [args.source]
    )
    if args.file and len(names) != 1:
        print("listd: --file needs exactly one source", file=sys.stderr)
        return 2
    if args.wait < 0:
        print("listd: --wait must be 0 or more seconds", file=sys.stderr)
        return 2
    for name in names:
        settings.source(name)
    raw: bytes | None = None
    if args.file:
        # One byte over the source's max_bytes is enough for the sync to refuse (and record) it.
        limit = settings.source(names[0]).max_bytes
        try:
            raw = _read_at_most(Path(args.file), limit + 1)
        except OSError as exc:
            print(f"listd: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
            return 1
    failed = 0
    async with open_redis(settings) as redis, aiohttp.ClientSession() as session:
        syncer = Syncer(settings, Store(redis, Keys(settings.key_prefix)), session)
        for name in names:
            try:
                result = await syncer.sync(
                    name,
                    raw=raw,
                    origin=str(Path(args.file).resolve()) if args.file else None,
                    progress=_say,
                    wait=args.wait,
                )
            except ListdError as exc:
                print(f"listd: sync {name} failed: {exc.message}", file=sys.stderr)
                failed += 1
                continue
            print(
                json.dumps(
                    {k: v for k, v in result.to_dict().items() if k != "warnings"}
                    | {"warnings": len(result.warnings)}
                )
            )
    return 1 if failed else 0


async def cmd_sources(settings: Settings, args: argparse.Namespace) -> int:
    async with open_redis(settings) as redis:
        store = Store(redis, Keys(settings.key_prefix))
        rows = []
        for name, cfg in sorted(settings.sources.items()):
            fields = source_status(cfg, await store.state(name))
            rows.append({"name": name, "kind": cfg.kind, **fields})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(
            f"{'SOURCE':<12} {'KIND':<10} {'STATUS':<10} {'VERSION':<8} {'ENTITIES':>8}  "
            f"{'LAST SUCCESS':<20}  ORIGIN"
        )
        for r in rows:
            # Not polled and nothing loaded: the only case where "disabled" says it all.
            status = r["status"] if r["enabled"] or r["version"] else "disabled"
            origin = r["origin"] or "-"
            if r["imported_from"]:
                origin = f"imported from {r['imported_from']}"
            print(
                f"{r['name']:<12} {r['kind']:<10} {status:<10} {r['version'] or '-':<8} "
                f"{r['entities']:>8}  {r['last_success'] or '-':<20}  {origin}"
            )
            if r["last_error"]:
                print(f"{'':<12} error: {r['last_error']}")
    return 0


async def cmd_deltas(settings: Settings, args: argparse.Namespace) -> int:
    if args.source:
        settings.source(args.source)
    async with open_redis(settings) as redis:
        store = Store(redis, Keys(settings.key_prefix))
        after, printed = args.after, 0
        while args.limit is None or printed < args.limit:
            want = 1000 if args.limit is None else min(1000, args.limit - printed)
            deltas, after = await store.read_deltas(after, want, args.source, args.klass)
            if not deltas:
                break
            for delta in deltas:
                print(json.dumps(delta, ensure_ascii=False, sort_keys=True))
            printed += len(deltas)
    if sys.stderr.isatty():
        print(f"… {printed} deltas; next: listd deltas --after {after}", file=sys.stderr)
    return 0


async def cmd_held(settings: Settings, args: argparse.Namespace) -> int:
    settings.source(args.source)
    async with open_redis(settings) as redis:
        syncer = Syncer(settings, Store(redis, Keys(settings.key_prefix)))
        if args.held_command == "approve":
            result = await syncer.approve_held(args.source)
            print(json.dumps(result.to_dict()))
        elif args.held_command == "reject":
            print(json.dumps({"rejected": await syncer.reject_held(args.source)}))
        else:
            held = await syncer.store.held(args.source)
            print(json.dumps(held or None))
    return 0


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
        store = Store(redis, Keys(settings.key_prefix))
        index = ScreeningIndex()
        # Every list that has data, fetched or imported, exactly as the API screens.
        names = sorted(settings.sources)
        await refresh_index(store, index, names)
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


async def cmd_redeliver(settings: Settings, args: argparse.Namespace) -> int:
    from listd.blocking.app import cli_redeliver

    async with open_redis(settings) as redis:
        result = await cli_redeliver(settings, redis, args.subscription, args.event)
    print(json.dumps(result, ensure_ascii=False, default=str))
    return 0


async def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from listd.daemon import serve

    if settings.redis_url is None:
        record_daemon(dict(os.environ), settings.state_dir, settings.key_prefix)
    await serve(settings)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="listd", description="Sanctions-list sync daemon and screening API"
    )
    p.add_argument("--version", action="version", version=f"listd {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the daemon: scheduler and HTTP API")
    run.set_defaults(func=cmd_run)

    sync = sub.add_parser("sync", help="sync a source now (or ingest a local file)")
    sync.add_argument("source", help="source name, or 'all'")
    sync.add_argument("--file", help="ingest this file instead of fetching (offline import)")
    sync.add_argument(
        "--wait",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="wait this long for a sync of the same source in progress (default 300)",
    )
    sync.set_defaults(func=cmd_sync)

    deltas = sub.add_parser("deltas", help="print published deltas as JSON lines")
    deltas.add_argument("--after", type=int, default=0, help="print deltas after this sequence")
    deltas.add_argument("--limit", type=int, default=None)
    deltas.add_argument("--source", default=None)
    deltas.add_argument(
        "--class",
        dest="klass",
        choices=CLASSES,
        default=None,
        help="only identity changes (re-screen) or only details (comments, links...)",
    )
    deltas.set_defaults(func=cmd_deltas)

    deliveries = sub.add_parser("deliveries", help="webhook deliveries")
    deliveries_sub = deliveries.add_subparsers(dest="deliveries_command", required=True)
    redeliver = deliveries_sub.add_parser("redeliver", help="queue an event for delivery again")
    redeliver.add_argument("subscription")
    redeliver.add_argument("event")
    redeliver.set_defaults(func=cmd_redeliver)

    held = sub.add_parser("held", help="snapshots held back by the guard")
    held_sub = held.add_subparsers(dest="held_command", required=True)
    for verb, text in (
        ("show", "show the held snapshot of a source"),
        ("approve", "publish the held snapshot"),
        ("reject", "discard the held snapshot"),
    ):
        cmd = held_sub.add_parser(verb, help=text)
        cmd.add_argument("source")
        cmd.set_defaults(func=cmd_held)

    scr = sub.add_parser("screen", help="screen one name, or a customer file (CSV / JSON lines)")
    scr.add_argument("name", nargs="?", help="the name to screen")
    scr.add_argument("--birth-date", default=None, help="YYYY, YYYY-MM or YYYY-MM-DD")
    scr.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    scr.add_argument("--limit", type=int, default=10)
    scr.add_argument("--file", help="customers: CSV with a header (name, birth_date, ...) or JSONL")
    scr.add_argument("--output", help="write results here (default: standard output)")
    scr.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    scr.set_defaults(func=cmd_screen)

    sources = sub.add_parser("sources", help="list configured sources and their status")
    sources.add_argument("--json", action="store_true")
    sources.set_defaults(func=cmd_sources)
    cli_access.add_commands(sub)
    cli_eds.add_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        # Every command works on the store `locate` finds; the daemon's own code (reload,
        # webhooks) reads os.environ, so the service's environment file goes there too.
        os.environ.update(locate(dict(os.environ)))
        settings = Settings.from_env()
        logs.configure(settings.log_format)
        func: Command = args.func
        return asyncio.run(func(settings, args))
    except UnknownSource as exc:
        print(f"listd: {exc.message}", file=sys.stderr)
        return 2  # a name the configuration does not know is bad usage
    except ListdError as exc:
        print(f"listd: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
