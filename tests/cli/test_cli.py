"""The `listd` command as a user runs it: real processes, embedded Redis, real files."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp

from tests.conftest import DATA, SourceServer, un_file

KZ = DATA / "kz" / "afm-terror-extremism-active-2022-10-03.xml"


def env_for(state: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LISTD_")}
    # The daemon's record of its store goes beside the state, not into the real home.
    env.update(XDG_STATE_HOME=str(state.parent / "xdg-state"), LISTD_ENV_FILE="")
    env.update(LISTD_STATE_DIR=str(state), LISTD_LOG_FORMAT="json", **extra)
    return env


def listd(state: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "listd", *args],
        env=env_for(state, **extra),
        capture_output=True,
        text=True,
        timeout=120,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_offline_import_persists_in_embedded_redis(tmp_path: Path) -> None:
    state = tmp_path / "state"
    done = listd(state, "sync", "un", "--file", str(un_file("2026-02-27")))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["outcome"] == "updated" and result["entities"] == 1003
    assert any((state / "redis").rglob("*.aof")), "embedded Redis keeps an append-only file"
    # A new process (and a new embedded server) sees the same data: it was persisted.
    shown = listd(state, "sources", "--json")
    assert shown.returncode == 0, shown.stderr
    rows = {row["name"]: row for row in json.loads(shown.stdout)}
    un = rows["un"]
    assert rows["kz-afm-tf"]["enabled"] is False  # no AFM token in this environment
    assert un["entities"] == 1003 and un["status"] == "ok" and un["version"] == result["version"]
    again = listd(state, "sync", "un", "--file", str(un_file("2026-02-27")))
    assert json.loads(again.stdout)["outcome"] == "unchanged"


def test_deltas_by_class(tmp_path: Path) -> None:
    state = tmp_path / "state"
    for date in ("2026-02-27", "2026-05-08"):
        done = listd(state, "sync", "un", "--file", str(un_file(date)))
        assert done.returncode == 0, done.stderr
    after = str(1003)  # the first sync published one addition per entity

    def lines(*args: str) -> list[dict[str, object]]:
        run = listd(state, "deltas", "--after", after, *args)
        assert run.returncode == 0, run.stderr
        return [json.loads(line) for line in run.stdout.splitlines()]

    identity, details = lines("--class", "identity"), lines("--class", "details")
    assert len(identity) == 34 and {d["class"] for d in identity} == {"identity"}
    assert len(details) == 613 and {d["class"] for d in details} == {"details"}
    assert len(lines()) == 647
    bad = listd(state, "deltas", "--class", "names")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_bad_input_gives_message_and_nonzero_exit(tmp_path: Path) -> None:
    state = tmp_path / "state"
    missing = listd(state, "sync", "un", "--file", str(tmp_path / "nope.xml"))
    assert missing.returncode == 1 and "cannot read" in missing.stderr
    unknown = listd(state, "sync", "eu", "--file", str(un_file("2026-02-27")))
    assert unknown.returncode == 2 and "unknown source 'eu'" in unknown.stderr
    assert "configured: " in unknown.stderr and "kz-afm-tf" in unknown.stderr
    for args in (("held", "show", "eu"), ("deltas", "--source", "eu"), ("sync", "eu")):
        assert listd(state, *args).returncode == 2, args
    negative = listd(state, "sync", "un", "--wait", "-1")
    assert negative.returncode == 2 and "--wait" in negative.stderr
    broken = tmp_path / "broken.xml"
    broken.write_bytes(un_file("2026-02-27").read_bytes()[:5000])
    bad = listd(state, "sync", "un", "--file", str(broken))
    assert bad.returncode == 1 and "sync un failed" in bad.stderr
    role = listd(state, "keys", "create", "--name", "x", "--role", "king")
    assert role.returncode == 2 and "invalid choice" in role.stderr
    listen = listd(state, "sources", LISTD_LISTEN="nowhere")
    assert listen.returncode == 1 and "LISTD_LISTEN" in listen.stderr
    cfg = tmp_path / "sources.toml"
    cfg.write_text('[sources.un]\nkind = "un"\nurl = "http://x"\ninterval = 5\n')
    badcfg = listd(state, "sources", LISTD_SOURCES=str(cfg))
    assert badcfg.returncode == 1 and "sources.un.interval" in badcfg.stderr


async def test_daemon_serves_syncs_and_stops_cleanly(
    tmp_path: Path, source_server: SourceServer
) -> None:
    source_server.put("/consolidated.xml", un_file("2026-05-08").read_bytes())
    state = tmp_path / "state"
    cfg = tmp_path / "sources.toml"
    cfg.write_text(
        "[sources.un]\n"
        'kind = "un"\n'
        f'url = "{source_server.url("/consolidated.xml")}"\n'
        "interval_minutes = 60\n"
    )
    port = free_port()
    notify_path = tmp_path / "notify.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    notify.setblocking(False)
    extra = {"LISTD_SOURCES": str(cfg), "LISTD_LISTEN": f"127.0.0.1:{port}"}
    key = await asyncio.to_thread(
        listd, state, "keys", "create", "--name", "t", "--role", "screener", **extra
    )
    assert key.returncode == 0, key.stderr
    secret = key.stdout.strip()
    assert secret.startswith("lk_")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "listd", "run",
        env=env_for(state, **extra, NOTIFY_SOCKET=str(notify_path)),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                try:
                    async with http.get(f"{base}/readyz") as r:
                        ready = await r.json()
                        if ready["versions"].get("un"):
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            assert ready["versions"].get("un"), ready
            headers = {"Authorization": f"Bearer {secret}"}
            # A new key can do nothing before it accepts the terms of use.
            async with http.post(
                f"{base}/v1/agreement", json={"accept": True}, headers=headers
            ) as r:
                assert r.status == 200, await r.text()
            async with http.post(
                f"{base}/v1/screen",
                json={"name": "Aamir Ali Chaudhry", "basis": "onboarding"},
                headers=headers,
            ) as r:
                assert r.status == 200
                assert (await r.json())["matches"][0]["id"] == "un:QDi.312"
        # SIGHUP re-reads the sources file: a second source appears.
        cfg.write_text(
            cfg.read_text()
            + '[sources.un-html]\nkind = "un-html"\nurl = "http://127.0.0.1:9/x"\nenabled = false\n'
        )
        proc.send_signal(signal.SIGHUP)
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                async with http.get(f"{base}/v1/sources", headers=headers) as r:
                    names = [s["name"] for s in (await r.json())["sources"]]
                if "un-html" in names:
                    break
                await asyncio.sleep(0.1)
        assert names == ["un", "un-html"]
        pid_file = state / "redis" / "server.pid"
        server_pid = int(pid_file.read_text())
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
    assert proc.stderr is not None
    log = (await proc.stderr.read()).decode()
    assert code == 0, log
    assert '"event": "listd stopped"' in log
    # The embedded server went with it.
    await asyncio.sleep(0.2)
    try:
        os.kill(server_pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive, "embedded Redis outlived the daemon"
    assert source_server.statuses[0] == 200
    messages = []
    while True:
        try:
            messages.append(notify.recv(4096).decode())
        except BlockingIOError:
            break
    notify.close()
    assert messages[0].startswith("READY=1")
    assert any(m.startswith("RELOADING=1") for m in messages)
    assert messages[-1].startswith("STOPPING=1")


def test_screen_a_name_and_a_customer_file(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert listd(state, "sync", "un", "--file", str(un_file("2026-05-08"))).returncode == 0
    one = listd(state, "screen", "Aamir Ali Chaudhry", "--birth-date", "1986-08")
    assert one.returncode == 0, one.stderr
    assert json.loads(one.stdout.splitlines()[0])["match_id"] == "un:QDi.312"
    for mistake, said in (
        (["?!"], "letter or digit"),
        (["Aamir Ali Chaudhry", "--birth-date", "2999-01"], "in the future"),
        (["Aamir Ali Chaudhry", "--birth-date", "1986-13"], "not a date"),
    ):
        refused = listd(state, "screen", *mistake)
        assert refused.returncode == 2 and said in refused.stderr, refused.stderr
    customers = tmp_path / "customers.csv"
    customers.write_text(
        "reference,name,birth_date\n"
        "C-1,Aamir Ali Chaudhry,1986-08-03\n"
        "C-2,Margaret Hilda Thatcher,1925-10-13\n"
        "C-3,7th of Tir,\n",
        encoding="utf-8",
    )
    out = tmp_path / "results.csv"
    done = listd(state, "screen", "--file", str(customers), "--output", str(out))
    assert done.returncode == 0, done.stderr
    with out.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert {(r["reference"], r["match_id"]) for r in rows if float(r["score"]) >= 0.9} == {
        ("C-1", "un:QDi.312"),
        ("C-3", "un:IRe.001"),
    }
    assert not any(r["reference"] == "C-2" for r in rows)
    broken = tmp_path / "broken.csv"
    broken.write_text("reference,name\nC-1,\n", encoding="utf-8")
    bad = listd(state, "screen", "--file", str(broken))
    assert bad.returncode == 1 and "no name" in bad.stderr
    broken.write_text("reference,name,birth_date\nC-1,Aamir,2999-12-01\n", encoding="utf-8")
    bad = listd(state, "screen", "--file", str(broken))
    assert bad.returncode == 1 and "record 1: birth_date" in bad.stderr, bad.stderr


def test_an_imported_kz_list_is_screened_and_shown_as_imported(tmp_path: Path) -> None:
    # Without LISTD_AFM_TOKEN the kz-afm-* sources are not polled: a file is how they arrive.
    state = tmp_path / "state"
    done = listd(state, "sync", "kz-afm-tf", "--file", str(KZ))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["entities"] == 1620
    one = listd(state, "screen", "Абдибеков Асет Мейржанович")
    assert one.returncode == 0, one.stderr
    assert json.loads(one.stdout.splitlines()[0])["match_id"] == "kz-afm-tf:iin-930807351075"
    assert "lists consulted: kz-afm-tf (version 1)" in one.stderr
    nobody = listd(state, "screen", "Margaret Hilda Thatcher")
    assert nobody.returncode == 0 and nobody.stdout == ""
    assert "lists consulted: kz-afm-tf" in nobody.stderr  # a "no match" names what it used
    customers = tmp_path / "customers.csv"
    customers.write_text("reference,name\nC-1,Абдибеков Асет Мейржанович\n", encoding="utf-8")
    batch = listd(state, "screen", "--file", str(customers))
    assert batch.returncode == 0, batch.stderr
    rows = list(csv.DictReader(batch.stdout.splitlines()))
    assert rows[0]["match_id"] == "kz-afm-tf:iin-930807351075" and rows[0]["reference"] == "C-1"

    shown = listd(state, "sources", "--json")
    kz = next(r for r in json.loads(shown.stdout) if r["name"] == "kz-afm-tf")
    assert kz["enabled"] is False and kz["status"] == "ok" and kz["entities"] == 1620
    assert kz["origin"] == "imported" and kz["imported_from"] == KZ.name
    table = listd(state, "sources").stdout.splitlines()
    kz_line = next(line for line in table if line.startswith("kz-afm-tf "))
    assert kz_line.split()[2] == "ok" and f"imported from {KZ.name}" in kz_line
    pta_line = next(line for line in table if line.startswith("kz-afm-pta "))
    assert pta_line.split()[2] == "disabled"  # not polled and nothing loaded
