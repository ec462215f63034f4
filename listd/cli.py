"""The `listd` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp

from listd import __version__, logs
from listd.access import ROLES, KeyStore
from listd.connection import open_redis
from listd.errors import ListdError
from listd.keys import Keys
from listd.settings import Settings
from listd.store import Store
from listd.sync import Syncer

Command = Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]]


def _say(message: str) -> None:
    # Progress for people at a terminal; scripts and journald get the log events.
    if sys.stderr.isatty():
        print(f"… {message}", file=sys.stderr, flush=True)


async def cmd_sync(settings: Settings, args: argparse.Namespace) -> int:
    names = (
        sorted(n for n, s in settings.sources.items() if s.enabled)
        if args.source == "all"
        else [args.source]
    )
    if args.file and len(names) != 1:
        print("listd: --file needs exactly one source", file=sys.stderr)
        return 2
    raw: bytes | None = None
    if args.file:
        try:
            raw = Path(args.file).read_bytes()
        except OSError as exc:
            print(f"listd: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
            return 1
    for name in names:
        settings.source(name)
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


async def cmd_keys_create(settings: Settings, args: argparse.Namespace) -> int:
    async with open_redis(settings) as redis:
        secret = await KeyStore(redis, Keys(settings.key_prefix)).create(
            args.name, args.role, ttl_days=args.expires_days
        )
    print(secret)
    return 0


async def cmd_sources(settings: Settings, args: argparse.Namespace) -> int:
    async with open_redis(settings) as redis:
        store = Store(redis, Keys(settings.key_prefix))
        rows = []
        for name, cfg in sorted(settings.sources.items()):
            state = await store.state(name)
            rows.append(
                {
                    "name": name,
                    "kind": cfg.kind,
                    "enabled": cfg.enabled,
                    "status": state.get("status") or "never",
                    "version": state.get("version"),
                    "entities": int(state.get("entities", 0)),
                    "last_success": state.get("last_success"),
                    "last_error": state.get("last_error") or None,
                }
            )
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(
            f"{'SOURCE':<12} {'KIND':<8} {'STATUS':<8} {'VERSION':<8} {'ENTITIES':>8}  LAST SUCCESS"
        )
        for r in rows:
            status = r["status"] if r["enabled"] else "disabled"
            print(
                f"{r['name']:<12} {r['kind']:<8} {status:<8} {r['version'] or '-':<8} "
                f"{r['entities']:>8}  {r['last_success'] or '-'}"
            )
            if r["last_error"]:
                print(f"{'':<12} error: {r['last_error']}")
    return 0


async def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from listd.daemon import serve

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
    sync.set_defaults(func=cmd_sync)

    keys = sub.add_parser("keys", help="manage API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create an API key and print it (shown once)")
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--expires-days", type=float, default=None)
    create.set_defaults(func=cmd_keys_create)

    sources = sub.add_parser("sources", help="list configured sources and their status")
    sources.add_argument("--json", action="store_true")
    sources.set_defaults(func=cmd_sources)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        logs.configure(settings.log_format)
        func: Command = args.func
        return asyncio.run(func(settings, args))
    except ListdError as exc:
        print(f"listd: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
