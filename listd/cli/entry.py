"""The `listd` command: its parser and `main`; `run` and `deliveries redeliver`.

Each family of commands lives in its own module (`lists`, `screen`, `access`); the
parser is built here in one place, so `listd --help` and the man page keep one order.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from listd import __version__, logs
from listd.cli import access, eds
from listd.cli.lists import cmd_deltas, cmd_held, cmd_sources, cmd_sync
from listd.cli.screen import cmd_screen
from listd.connection import open_redis
from listd.errors import ListdError, UnknownSource
from listd.locate import locate, record_daemon
from listd.pipeline.delta import CLASSES
from listd.screening import DEFAULT_THRESHOLD
from listd.settings import Settings

Command = Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]]


async def cmd_redeliver(settings: Settings, args: argparse.Namespace) -> int:
    from listd.notifications.app import cli_redeliver

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
    access.add_commands(sub)
    eds.add_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        # Every command works on the store `locate` finds; the daemon's reload (SIGHUP)
        # reads the settings again, so the service's environment file goes there too.
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
