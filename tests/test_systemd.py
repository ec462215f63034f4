"""The systemd unit: checked by systemd-analyze where the machine has it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    # verify insists that ExecStart exists: point it at this checkout's listd.
    listd = Path(sys.executable).parent / "listd"
    unit = tmp_path / "listd.service"
    unit.write_text(UNIT.read_text().replace("/opt/listd/.venv/bin/listd", str(listd)))
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    security = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--threshold=30", str(unit)],
        capture_output=True,
        text=True,
    )
    assert security.returncode == 0, security.stdout[-2000:]
