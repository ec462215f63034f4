"""`listd users|keys|registrations|maintenance|audit` against the same Redis as a running API."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import structlog
from redis.asyncio import Redis

from listd.cli import main
from listd.settings import Settings
from tests.access.test_registrations import a_bin, application
from tests.conftest import SCREEN, Api


@dataclass
class Done:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def lines(self) -> list[Any]:
        return [json.loads(line) for line in self.out.splitlines()]


Cli = Callable[..., Awaitable[Done]]


@pytest.fixture
def cli(
    asettings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Cli]:
    for name in [n for n in os.environ if n.startswith("LISTD_")]:
        monkeypatch.delenv(name)
    assert asettings.redis_url is not None
    monkeypatch.setenv("LISTD_REDIS_URL", asettings.redis_url)
    monkeypatch.setenv("LISTD_KEY_PREFIX", asettings.key_prefix)
    monkeypatch.setenv("LISTD_STATE_DIR", str(asettings.state_dir))
    monkeypatch.setenv("LISTD_LOG_FORMAT", "console")

    async def run(*argv: str) -> Done:
        capsys.readouterr()
        try:
            code = await asyncio.to_thread(main, list(argv))
        except SystemExit as exc:  # argparse
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return Done(code, out, err)

    # `main` configures logging to this test's captured stderr: put it back after.
    saved = structlog.get_config()
    yield run
    structlog.configure(**saved)


async def test_users_and_keys(api: Api, cli: Cli) -> None:
    created = await cli("keys", "create", "--name", "desk", "--role", "screener", "--org", "bank-a")
    assert created.code == 0, created.err
    secret = created.out.strip()
    assert secret.startswith("lk_") and "key_id" in created.err
    (user,) = (await cli("users", "list", "--org", "bank-a")).lines()
    assert (user["name"], user["role"], user["status"]) == ("desk", "screener", "active")
    await api.json("POST", "/v1/agreement", secret, json={"accept": True})
    assert (await api.call("POST", "/v1/screen", secret, json=SCREEN)).status == 200

    blocked = await cli("users", "block", user["id"], "--reason", "left the bank")
    assert blocked.code == 0 and blocked.json()["status"] == "blocked"
    refused = await api.call("POST", "/v1/screen", secret, json=SCREEN)
    assert (refused.status, (await refused.json())["error"]) == (403, "blocked")
    assert (await cli("users", "unblock", user["id"])).code == 0
    assert (await api.call("POST", "/v1/screen", secret, json=SCREEN)).status == 200

    (key,) = (await cli("keys", "list", "--user", user["id"])).lines()
    rotated = await cli("keys", "rotate", key["key_id"], "--overlap-hours", "0")
    assert rotated.code == 0 and rotated.out.strip().startswith("lk_")
    gone = await api.call("GET", "/v1/sources", secret)
    assert gone.status == 401
    second = await cli("keys", "create", "--user", user["id"], "--expires-days", "1")
    assert second.code == 0 and second.out.strip() not in (secret, rotated.out.strip())
    missing = await cli("users", "block", "u-nobody")
    assert missing.code == 1 and "no user 'u-nobody'" in missing.err
    clash = await cli("keys", "create", "--name", "desk", "--role", "auditor", "--org", "bank-a")
    assert clash.code == 1 and "has role screener" in clash.err
    usage = await cli("keys", "create", "--role", "screener")
    assert usage.code == 2
    actions = [e.fields for e in await api.entries() if e.fields["kind"] == "admin"]
    by_cli = [f["action"] for f in actions if f.get("via") == "cli"]
    assert by_cli == [
        "user.create", "key.create", "user.block", "user.unblock", "key.create", "key.rotate",
        "key.create",
    ]  # fmt: skip
    assert all(f["name"].startswith("cli:") for f in actions if f.get("via") == "cli")


async def test_registrations_and_maintenance(api: Api, cli: Cli) -> None:
    one = await api.json("POST", "/v1/registrations", json=application(a_bin(1)))
    two = await api.json("POST", "/v1/registrations", json=application(a_bin(60)))
    pending = await cli("registrations", "list", "--status", "pending")
    assert [r["id"] for r in pending.lines()] == [one["id"], two["id"]]
    approved = await cli("registrations", "approve", one["id"])
    assert approved.code == 0, approved.err
    creds = approved.json()["credentials"]
    assert sorted(c["role"] for c in creds) == ["auditor", "screener"]
    assert (await cli("registrations", "reject", two["id"])).code == 2  # --reason is required
    rejected = await cli("registrations", "reject", two["id"], "--reason", "not a reporting entity")
    assert rejected.json()["reason"] == "not a reporting entity"
    assert (await cli("registrations", "show", two["id"])).json()["status"] == "rejected"

    key = await api.key("screener")
    end = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).isoformat()
    announced = await cli("maintenance", "announce", "--end", end, "--reason", "migration")
    assert announced.code == 0, announced.err
    window = announced.json()
    assert (await api.call("POST", "/v1/screen", key, json=SCREEN)).status == 503
    assert [w["id"] for w in (await cli("maintenance", "list")).lines()] == [window["id"]]
    assert (await cli("maintenance", "cancel", window["id"])).code == 0
    assert (await api.call("POST", "/v1/screen", key, json=SCREEN)).status == 200


async def test_audit_verify_export_archive(
    api: Api, cli: Cli, redis: Redis, asettings: Settings
) -> None:
    key = await api.key("screener")
    for _ in range(6):
        await api.json("POST", "/v1/screen", key, json=SCREEN)
    ok = await cli("audit", "verify")
    assert ok.code == 0 and ok.json()["ok"] is True
    total = ok.json()["entries"]
    archived = await cli("audit", "archive", "--all")
    files = [Path(line) for line in archived.out.splitlines()]
    assert len(files) == 1 and files[0].parent == asettings.state_dir / "journal"
    for _ in range(2):
        await api.json("POST", "/v1/screen", key, json=SCREEN)
    exported = (await cli("audit", "export")).lines()
    assert [e["seq"] for e in exported] == list(range(1, total + 3))
    screens = [e for e in exported if e.get("route") == "/v1/screen"]
    assert len(screens) == 8 and all(e["basis"] == "onboarding" for e in screens)
    start, end = screens[1]["at"], screens[3]["at"]
    ranged = (await cli("audit", "export", "--from", start, "--to", end)).lines()
    assert [e["seq"] for e in ranged if e.get("route") == "/v1/screen"] == [
        screens[1]["seq"], screens[2]["seq"],
    ]  # fmt: skip
    assert (await cli("audit", "export", "--org", "nobody")).out == ""
    # Tampering with the live part is reported, with the first broken link.
    gone = screens[-2]["seq"]
    await redis.xdel(api.journal.keys.journal(), f"{gone}-0")
    broken = await cli("audit", "verify")
    assert broken.code == 1 and broken.json()["broken_at"] == gone
    assert f"journal broken at entry {gone}: entry {gone} is missing" in broken.err
