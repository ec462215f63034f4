"""`listd sync|sources|deltas|held`: the lists, from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import aiohttp

from listd.connection import open_redis
from listd.errors import ListdError
from listd.pipeline.store import Store
from listd.pipeline.sync import Syncer
from listd.settings import Settings
from listd.status import source_status


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
        syncer = Syncer(settings, Store(redis, settings.keys), session)
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
        store = Store(redis, settings.keys)
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
        store = Store(redis, settings.keys)
        after, printed = args.after, 0
        while args.limit is None or printed < args.limit:
            want = 1000 if args.limit is None else min(1000, args.limit - printed)
            deltas, after = await store.read_deltas(after, want, args.source, args.klass)
            if not deltas:
                break
            for delta in deltas:
                print(json.dumps(delta.to_dict(), ensure_ascii=False, sort_keys=True))
            printed += len(deltas)
    if sys.stderr.isatty():
        print(f"… {printed} deltas; next: listd deltas --after {after}", file=sys.stderr)
    return 0


async def cmd_held(settings: Settings, args: argparse.Namespace) -> int:
    settings.source(args.source)
    async with open_redis(settings) as redis:
        syncer = Syncer(settings, Store(redis, settings.keys))
        if args.held_command == "approve":
            result = await syncer.approve_held(args.source)
            print(json.dumps(result.to_dict()))
        elif args.held_command == "reject":
            print(json.dumps({"rejected": await syncer.reject_held(args.source)}))
        else:
            held = await syncer.store.held(args.source)
            print(json.dumps(held or None))
    return 0
