"""The systemd unit: checked by systemd-analyze where the machine has it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from listd import manpage
from listd.cli import parser

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "systemd" / "listd.service"


def directives() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def test_unit_declares_what_an_administrator_relies_on() -> None:
    d = directives()
    assert d["Type"] == ["notify"] and d["Restart"] == ["on-failure"]
    assert d["User"] == ["listd"] and d["StateDirectory"] == ["listd"]
    assert d["ExecReload"] == ["/bin/kill -HUP $MAINPID"] and "WatchdogSec" in d
    hardening = (
        "ProtectSystem", "NoNewPrivileges", "PrivateTmp", "ProtectHome",
        "RestrictAddressFamilies", "SystemCallFilter", "MemoryDenyWriteExecute",
    )  # fmt: skip
    for option in hardening:
        assert option in d, option
    assert d["CapabilityBoundingSet"] == [""]
    assert d["SystemCallFilter"] == ["@system-service"]
    sysusers = (ROOT / "systemd" / "listd.sysusers.conf").read_text()
    assert "u listd" in sysusers


def test_the_man_page_the_unit_names_ships_and_matches_the_parser() -> None:
    """`Documentation=man:listd(1)`: the page is in the package and says what the CLI does."""
    assert "man:listd(1)" in directives()["Documentation"][0]
    assert manpage.PAGE.read_text("utf-8") == manpage.render(parser()), (
        "listd/man/man1/listd.1 is out of date: run `python -m listd.manpage --write`"
    )
    page = manpage.PAGE.read_text("utf-8")
    for command in (
        "listd run",
        "listd sync",
        "listd screen",
        "listd keys create",
        "listd sources",
    ):
        assert ".SS " + command in page, command


MISSING = [tool for tool in ("systemd-analyze", "man") if shutil.which(tool) is None]


@pytest.mark.skipif(bool(MISSING), reason=f"not installed here: {', '.join(MISSING)}")
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    # verify insists that ExecStart exists: point it at this checkout's listd.
    listd = Path(sys.executable).parent / "listd"
    unit = tmp_path / "listd.service"
    unit.write_text(UNIT.read_text().replace("/opt/listd/.venv/bin/listd", str(listd)))
    # verify runs `man listd(1)` for the Documentation= line: it must find the shipped page
    # (installed under /usr/local/share/man by docs/operations.md; here, in the package).
    env = {**os.environ, "MANPATH": str(manpage.PAGE.parents[1])}
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    security = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--threshold=30", str(unit)],
        capture_output=True,
        text=True,
    )
    assert security.returncode == 0, security.stdout[-2000:]
