"""`listd users|keys|registrations|maintenance|audit`: access control from the command line.

Every change is journaled with the operating-system user who ran the command.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from listd.access import ROLES, KeyStore, MaintenanceWindows, Registrations, wire
from listd.audit import Actor, Journal, parse_epoch, parse_time
from listd.connection import open_redis
from listd.seal import ensure_seal, load_seal
from listd.settings import Settings

KEY_MISSING = 3  # `audit verify`: the chain holds, but seals or checkpoints went unchecked


@dataclass
class _Ctx:
    store: KeyStore
    journal: Journal
    registrations: Registrations
    maintenance: MaintenanceWindows
    actor: Actor


@asynccontextmanager
async def open_context(settings: Settings, writes: bool = True) -> AsyncIterator[_Ctx]:
    # What the command journals is sealed with the journal key (created if this is the
    # first start); reading and verifying never create one.
    path = settings.journal_key_path
    named = settings.journal_key_file is not None
    seal = ensure_seal(path, create=not named) if writes else load_seal(path)
    async with open_redis(settings) as redis:
        wiring = wire(settings, redis, seal)
        yield _Ctx(
            store=wiring.store,
            journal=wiring.journal,
            registrations=wiring.registrations,
            maintenance=wiring.maintenance,
            actor=Actor(name=f"cli:{getpass.getuser()}", via="cli"),
        )


def print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, sort_keys=True))


def _note(message: str) -> None:
    print(message, file=sys.stderr)


# --- users ----------------------------------------------------------------------------------
async def cmd_users_create(settings: Settings, args: argparse.Namespace) -> int:
    async with open_context(settings) as c:
        user = await c.store.create_user(
            args.name, args.org, args.role, cert_subject=args.cert_subject, actor=c.actor
        )
    print_json(user.to_json())
    return 0


async def cmd_users_list(settings: Settings, args: argparse.Namespace) -> int:
    async with open_context(settings) as c:
        for user in await c.store.users(args.org):
            print_json(user.to_json())
    return 0


async def cmd_users_status(settings: Settings, args: argparse.Namespace) -> int:
    status = "blocked" if args.users_command == "block" else "active"
    async with open_context(settings) as c:
        user = await c.store.set_user_status(args.user, status, args.reason or "", c.actor)
    print_json(user.to_json())
    return 0


# --- keys -----------------------------------------------------------------------------------
async def cmd_keys_create(settings: Settings, args: argparse.Namespace) -> int:
    if bool(args.user) == bool(args.name) or (args.name and not args.role):
        _note("listd: give --user ID, or --name NAME --role ROLE [--org ORG]")
        return 2
    async with open_context(settings) as c:
        options: dict[str, Any] = {
            "ttl_days": args.expires_days,
            "rate_limit": args.rate_limit,
            "actor": c.actor,
        }
        if args.user:
            issued = await c.store.issue(args.user, **options)
        else:  # the key's user is created with it if it is new
            issued = await c.store.key_for(args.name, args.role, args.org, **options)
    print(issued.secret)
    info = issued.to_json()
    _note(f"key_id {info['key_id']}, user {info['user']}, expires {info['expires']}")
    return 0


async def cmd_keys_list(settings: Settings, args: argparse.Namespace) -> int:
    async with open_context(settings) as c:
        for key in await c.store.list_keys(args.user, args.org):
            print_json(key)
    return 0


async def cmd_keys_rotate(settings: Settings, args: argparse.Namespace) -> int:
    async with open_context(settings) as c:
        new, old_expires = await c.store.rotate(args.key_id, args.overlap_hours, c.actor)
    print(new.secret)
    _note(f"new key_id {new.key_id}; {args.key_id} keeps working until {old_expires}")
    return 0


async def cmd_keys_status(settings: Settings, args: argparse.Namespace) -> int:
    status = "blocked" if args.keys_command == "block" else "active"
    async with open_context(settings) as c:
        print_json(await c.store.set_key_status(args.key_id, status, args.reason or "", c.actor))
    return 0


# --- registrations --------------------------------------------------------------------------
async def cmd_registrations(settings: Settings, args: argparse.Namespace) -> int:
    async with open_context(settings) as c:
        command = args.registrations_command
        if command == "list":
            for reg in await c.registrations.find(args.status, args.overdue):
                print_json(reg)
        elif command == "show":
            print_json(await c.registrations.get(args.id))
        elif command == "approve":
            reg, credentials = await c.registrations.approve(args.id, c.actor)
            print_json({"registration": reg, "credentials": credentials})
            _note("the keys above are shown once: hand them over by a secure channel")
        else:
            print_json(await c.registrations.reject(args.id, args.reason, c.actor))
    return 0


# --- maintenance ----------------------------------------------------------------------------
async def cmd_maintenance(settings: Settings, args: argparse.Namespace) -> int:
    async with open_context(settings) as c:
        command = args.maintenance_command
        if command == "announce":
            now = dt.datetime.now(dt.UTC).timestamp()
            start = parse_epoch(args.start, "start") if args.start else now
            end = parse_epoch(args.end, "end")
            print_json(await c.maintenance.announce(start, end, args.reason, c.actor))
        elif command == "cancel":
            await c.maintenance.cancel(args.id, c.actor)
            print_json({"cancelled": args.id})
        else:
            for window in await c.maintenance.windows():
                print_json(window)
    return 0


# --- the journal ----------------------------------------------------------------------------
async def cmd_audit_verify(settings: Settings, args: argparse.Namespace) -> int:
    async with open_context(settings, writes=False) as c:
        verdict = await c.journal.verify()
    print_json(verdict.to_json())
    if not verdict.ok:
        _note(f"listd: journal broken at entry {verdict.seq}: {verdict.problem}")
        return 1
    if verdict.key_problem:
        _note(f"listd: {verdict.key_problem} (key file: {settings.journal_key_path})")
        return KEY_MISSING
    return 0


async def cmd_audit_export(settings: Settings, args: argparse.Namespace) -> int:
    start = parse_time(args.start, "from") if args.start else None
    end = parse_time(args.end, "to") if args.end else None
    async with open_context(settings, writes=False) as c:
        async for entry in c.journal.entries(start, end, args.org):
            print_json(entry.to_json())
    return 0


async def cmd_audit_archive(settings: Settings, args: argparse.Namespace) -> int:
    async with open_context(settings, writes=False) as c:
        written = await c.journal.archive(settings.journal_archive_at, everything=args.all)
    for path in written:
        print(path)
    return 0


# --- the parser -----------------------------------------------------------------------------
def _keys_parser(keys: argparse.ArgumentParser) -> None:
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create an API key and print it (shown once)")
    create.add_argument("--user", help="the user the key belongs to (id)")
    create.add_argument("--name", help="or: the user's name (created if new)")
    create.add_argument("--role", choices=ROLES)
    create.add_argument("--org", default=None, help="organisation (default: the name)")
    create.add_argument(
        "--expires-days", type=float, default=None, help="default LISTD_KEY_TTL_DAYS"
    )
    create.add_argument("--rate-limit", type=int, default=None, help="requests per minute")
    create.set_defaults(func=cmd_keys_create)
    listing = keys_sub.add_parser("list", help="keys (never their secrets) as JSON lines")
    listing.add_argument("--user", default=None)
    listing.add_argument("--org", default=None)
    listing.set_defaults(func=cmd_keys_list)
    rotate = keys_sub.add_parser("rotate", help="issue a successor; the old key works a while")
    rotate.add_argument("key_id")
    rotate.add_argument("--overlap-hours", type=float, default=24.0)
    rotate.set_defaults(func=cmd_keys_rotate)
    for verb, text in (("block", "refuse the key from the next request on"), ("unblock", "")):
        cmd = keys_sub.add_parser(verb, help=text or "lift a block")
        cmd.add_argument("key_id")
        cmd.add_argument("--reason", default="")
        cmd.set_defaults(func=cmd_keys_status)


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the access-control commands to `listd`'s subcommands."""
    users = sub.add_parser("users", help="manage users (name, organisation, role, status)")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    create = users_sub.add_parser("create", help="create a user")
    create.add_argument("--name", required=True)
    create.add_argument("--org", required=True)
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--cert-subject", default=None, help="TLS client certificate subject")
    create.set_defaults(func=cmd_users_create)
    listing = users_sub.add_parser("list", help="users as JSON lines")
    listing.add_argument("--org", default=None)
    listing.set_defaults(func=cmd_users_list)
    blocking = ("block", "refuse every key of the user from the next request on")
    for verb, text in (blocking, ("unblock", "lift a block")):
        cmd = users_sub.add_parser(verb, help=text)
        cmd.add_argument("user", help="user id")
        cmd.add_argument("--reason", default="")
        cmd.set_defaults(func=cmd_users_status)

    _keys_parser(sub.add_parser("keys", help="manage API keys"))

    regs = sub.add_parser("registrations", help="applications for access")
    regs_sub = regs.add_subparsers(dest="registrations_command", required=True)
    listing = regs_sub.add_parser("list", help="applications as JSON lines")
    listing.add_argument("--status", choices=("pending", "approved", "rejected"))
    listing.add_argument("--overdue", action="store_true", help="undecided past the SLA")
    listing.set_defaults(func=cmd_registrations)
    shown = ("approve", "approve: creates the users and prints their keys once")
    for verb, text in (("show", "one application"), shown):
        cmd = regs_sub.add_parser(verb, help=text)
        cmd.add_argument("id")
        cmd.set_defaults(func=cmd_registrations)
    reject = regs_sub.add_parser("reject", help="reject, with the reason")
    reject.add_argument("id")
    reject.add_argument("--reason", required=True)
    reject.set_defaults(func=cmd_registrations)

    maint = sub.add_parser("maintenance", help="announced maintenance windows")
    maint_sub = maint.add_subparsers(dest="maintenance_command", required=True)
    announce = maint_sub.add_parser("announce", help="announce a window")
    announce.add_argument("--start", default=None, help="ISO 8601 (default: now)")
    announce.add_argument("--end", required=True, help="ISO 8601")
    announce.add_argument("--reason", required=True)
    announce.set_defaults(func=cmd_maintenance)
    maint_sub.add_parser("list", help="windows not over yet").set_defaults(func=cmd_maintenance)
    cancel = maint_sub.add_parser("cancel", help="cancel a window")
    cancel.add_argument("id")
    cancel.set_defaults(func=cmd_maintenance)

    audit = sub.add_parser("audit", help="the journal of requests and administrative actions")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser(
        "verify",
        help="check the hash chain end to end, its seals, checkpoints and organisation "
        "indexes; exit 1 if broken, 3 if the journal key is missing",
    )
    verify.set_defaults(func=cmd_audit_verify)
    export = audit_sub.add_parser("export", help="entries as JSON lines, across the archive")
    export.add_argument("--from", dest="start", default=None, help="ISO 8601, inclusive")
    export.add_argument("--to", dest="end", default=None, help="ISO 8601, exclusive")
    export.add_argument("--org", default=None, help="only entries by or about this organisation")
    export.set_defaults(func=cmd_audit_export)
    archive = audit_sub.add_parser("archive", help="archive the oldest entries now")
    archive.add_argument("--all", action="store_true", help="archive every live entry")
    archive.set_defaults(func=cmd_audit_archive)
