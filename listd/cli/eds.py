"""`listd eds bind|verify`: bind a user to an NCA certificate holder; re-check the
signatures kept in the journal (read from `listd audit export`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from listd.access.eds import EdsAccounts
from listd.cli.access import open_context, print_json
from listd.eds import TrustStore, Verifier
from listd.eds.evidence import carries_signature, check_entry
from listd.errors import BadRequest, ConfigError
from listd.settings import Settings


async def cmd_eds_bind(settings: Settings, args: argparse.Namespace) -> int:
    async with open_context(settings) as c:
        accounts = EdsAccounts(c.store.redis, c.store.keys, c.store)
        user = await accounts.bind(args.user, args.iin, args.bin, c.actor)
    print_json({**user.to_json(), "iin": args.iin, "bin": args.bin or user.org})
    return 0


async def cmd_eds_verify(settings: Settings, args: argparse.Namespace) -> int:
    if settings.eds.trust_dir is None:
        raise ConfigError("set LISTD_EDS_TRUST_DIR to the NCA certificates to verify against")
    verifier = Verifier(TrustStore.load(settings.eds))
    checked = failed = 0
    for number, line in enumerate(_lines(args.file), 1):
        if not line.strip():
            continue
        try:
            entry: Any = json.loads(line)
        except ValueError:
            raise BadRequest(f"line {number} is not JSON") from None
        if not isinstance(entry, dict) or not carries_signature(entry):
            continue
        result = await check_entry(verifier, entry)
        checked += 1
        failed += not result["ok"]
        print_json(result)
    print_json({"ok": failed == 0, "checked": checked, "failed": failed})
    return 1 if failed else 0


def _lines(file: str | None) -> list[str]:
    if file in (None, "-"):
        return sys.stdin.read().splitlines()
    return Path(str(file)).read_text("utf-8").splitlines()


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    eds = sub.add_parser("eds", help="digital signatures (NCA RK): bindings and evidence")
    eds_sub = eds.add_subparsers(dest="eds_command", required=True)
    bind = eds_sub.add_parser("bind", help="let a person's NCA certificate sign in as a user")
    bind.add_argument("user", help="user id (u-...)")
    bind.add_argument("--iin", required=True, help="the person's IIN (12 digits)")
    bind.add_argument("--bin", help="the organisation's BIN (default: the user's organisation)")
    bind.set_defaults(func=cmd_eds_bind)
    verify = eds_sub.add_parser(
        "verify", help="re-check the signatures in `listd audit export` output; exit 1 if any fails"
    )
    verify.add_argument("file", nargs="?", help="JSON lines (default: standard input)")
    verify.set_defaults(func=cmd_eds_verify)
