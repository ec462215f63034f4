"""The command line reaches the daemon's store: as the README and docs/operations.md say to
run it, with real `listd run` processes on the embedded Redis and the CLI in another process."""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from listd.errors import ConfigError
from listd.keyspace import Keys
from listd.locate import RECORD, Service, locate, read_env_file
from listd.settings import Settings
from tests.conftest import ROOT, SourceServer, un_file

# The installed console script, as the README runs it (.venv/bin/listd).
LISTD = Path(sys.executable).with_name("listd")
# A machine with listd installed as a service: the commands below would find it, rightly.
INSTALLED = Path("/etc/listd/listd.env").exists() or Path("/var/lib/listd").exists()


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """A login shell's environment: nothing of listd's, a home of its own."""
    drop = ("LISTD_", "STATE_DIRECTORY", "XDG_STATE_HOME", "NOTIFY_SOCKET")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    home.mkdir(parents=True, exist_ok=True)
    return env | {"HOME": str(home)} | extra


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(LISTD)] if LISTD.exists() else [sys.executable, "-m", "listd"]
    return subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=360)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


Start = Callable[[dict[str, str]], Awaitable[str]]


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Start]:
    """start(env) runs `listd run` and returns its base URL once a list is loaded."""
    procs: list[asyncio.subprocess.Process] = []

    async def start(env: dict[str, str]) -> str:
        port = free_port()
        log = tmp_path / f"daemon-{len(procs)}.log"
        with log.open("wb") as out:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "listd", "run",
                env=env | {"LISTD_LISTEN": f"127.0.0.1:{port}"},
                stdout=out, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        procs.append(proc)
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            for _ in range(600):
                if proc.returncode is not None:
                    break
                try:
                    async with http.get(f"{base}/readyz") as resp:
                        if (await resp.json())["versions"].get("un"):
                            return base
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(log.read_text()[-3000:])

    yield start
    for proc in procs:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()


def sources_file(path: Path, server: SourceServer) -> Path:
    server.put("/consolidated.xml", un_file("2026-05-08").read_bytes())
    path.parent.mkdir(parents=True, exist_ok=True)
    url = server.url("/consolidated.xml")
    path.write_text(f'[sources.un]\nkind = "un"\nurl = "{url}"\ninterval_minutes = 60\n')
    return path


async def accepted(base: str, key: str) -> dict[str, Any]:
    """The daemon admits `key`: it accepts the terms, then screens."""
    headers = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{base}/v1/agreement", json={"accept": True}, headers=headers
        ) as resp:
            assert resp.status == 200, await resp.text()
        body = {"name": "Aamir Ali Chaudhry", "birth_date": "1986", "basis": "onboarding"}
        async with http.post(f"{base}/v1/screen", json=body, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            answer: dict[str, Any] = await resp.json()
    assert answer["matches"][0]["id"] == "un:QDi.312"
    return answer


async def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run, env, *args)


@pytest.mark.skipif(INSTALLED, reason="listd is installed as a service on this machine")
async def test_readme_run_then_using_it_in_a_second_terminal(
    tmp_path: Path, source_server: SourceServer, daemon: Start
) -> None:
    home = tmp_path / "home"
    # The sources point at a local server (no internet here); nothing else is set.
    sources = sources_file(tmp_path / "sources.toml", source_server)
    base = await daemon(clean_env(home, LISTD_SOURCES=str(sources)))
    terminal = clean_env(home)  # the second terminal: no extra variables
    key = await cli(terminal, "keys", "create", "--name", "bank-a screening", "--role", "screener")
    assert key.returncode == 0, key.stderr
    await accepted(base, key.stdout.strip())
    shown = await cli(terminal, "sources")
    assert shown.returncode == 0, shown.stderr
    un = next(line for line in shown.stdout.splitlines() if line.startswith("un "))
    assert un.split()[2:5] == ["ok", "1", "1009"], shown.stdout
    # The README's offline import, into the daemon's store: the same file, so unchanged.
    consolidated = un_file("2026-05-08")
    imported = await cli(terminal, "sync", "un", "--file", str(consolidated))
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["outcome"] == "unchanged"


@pytest.mark.skipif(INSTALLED, reason="listd is installed as a service on this machine")
async def test_state_dir_set_for_the_daemon_only(
    tmp_path: Path, source_server: SourceServer, daemon: Start
) -> None:
    home = tmp_path / "home"
    elsewhere = tmp_path / "elsewhere"
    sources = sources_file(tmp_path / "sources.toml", source_server)
    base = await daemon(clean_env(home, LISTD_SOURCES=str(sources), LISTD_STATE_DIR=str(elsewhere)))
    terminal = clean_env(home)
    key = await cli(terminal, "keys", "create", "--name", "t", "--role", "screener")
    assert key.returncode == 0, key.stderr
    await accepted(base, key.stdout.strip())
    shown = await cli(terminal, "sources", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)[0]["entities"] == 1009
    # No second store was started under the home directory.
    assert not (home / ".local" / "state" / "listd" / "redis").exists()
    assert (home / ".local" / "state" / "listd" / RECORD).exists()


@pytest.mark.skipif(INSTALLED, reason="listd is installed as a service on this machine")
async def test_systemd_like_service_and_the_documented_command(
    tmp_path: Path, source_server: SourceServer, daemon: Start
) -> None:
    etc, state = tmp_path / "etc" / "listd", tmp_path / "var" / "lib" / "listd"
    sources = sources_file(etc / "sources.toml", source_server)
    env_file = etc / "listd.env"
    # The shipped example, installed as docs/operations.md says, with this test's paths.
    shipped = (ROOT / "systemd" / "listd.env.example").read_text()
    assert "\nLISTD_STATE_DIR=/var/lib/listd\n" in shipped
    env_file.write_text(shipped.replace("/var/lib/listd", str(state)))
    # The unit: EnvironmentFile=, Environment=LISTD_SOURCES=..., StateDirectory=listd.
    service_env = clean_env(tmp_path / "service-home", STATE_DIRECTORY=str(state))
    service_env |= read_env_file(env_file) | {"LISTD_SOURCES": str(sources)}
    base = await daemon(service_env)
    # `sudo -u listd listd keys create ...`: none of the unit's variables, another home.
    admin = clean_env(tmp_path / "admin-home", LISTD_ENV_FILE=str(env_file))
    key = await cli(admin, "keys", "create", "--name", "bank-a screening", "--role", "screener")
    assert key.returncode == 0, key.stderr
    await accepted(base, key.stdout.strip())
    shown = await cli(admin, "sources", "--json")
    assert json.loads(shown.stdout)[0]["entities"] == 1009

    # An environment file from before LISTD_STATE_DIR was in it, run by a user who is not
    # the service's: the command would create an empty store of its own. It refuses.
    old = etc / "old.env"
    old.write_text("#LISTD_AFM_TOKEN=\n")
    other = clean_env(tmp_path / "other-home", LISTD_ENV_FILE=str(old))
    refused = await cli(other, "keys", "create", "--name", "x", "--role", "screener")
    assert refused.returncode == 1
    assert "would create a new, empty one" in refused.stderr
    assert str(old) in refused.stderr and "sudo -u listd" in refused.stderr
    assert not (tmp_path / "other-home" / ".local" / "state" / "listd" / "redis").exists()


# --- the resolution itself, with the service's conventions pointed at a temp dir ----------
def service(tmp_path: Path, user: str = "nobody-listd") -> Service:
    return Service(
        env_file=tmp_path / "etc" / "listd.env", state_dir=tmp_path / "var-lib-listd", user=user
    )


def test_env_file_is_read_as_systemd_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "listd.env"
    path.write_text(
        "# comment\n; another\n\nLISTD_REDIS_URL=redis://:p@h:6379/0\n"
        "LISTD_AFM_TOKEN=\"a b\"\nLISTD_X='q'\nnot a line\n 1BAD=x\n"
    )
    assert read_env_file(path) == {
        "LISTD_REDIS_URL": "redis://:p@h:6379/0",
        "LISTD_AFM_TOKEN": "a b",
        "LISTD_X": "q",
    }


def test_the_shell_wins_over_the_env_file(tmp_path: Path) -> None:
    svc = service(tmp_path)
    svc.env_file.parent.mkdir()
    svc.env_file.write_text("LISTD_STATE_DIR=/from/file\nLISTD_KEY_PREFIX=svc\n")
    env = {"HOME": str(tmp_path), "LISTD_KEY_PREFIX": "mine"}
    out = locate(env, svc)
    assert out["LISTD_STATE_DIR"] == "/from/file" and out["LISTD_KEY_PREFIX"] == "mine"
    assert locate(env | {"LISTD_ENV_FILE": ""}, svc).get("LISTD_STATE_DIR") is None


def test_another_users_store_and_a_missing_env_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LISTD_ENV_FILE: no file"):
        locate({"HOME": str(tmp_path), "LISTD_ENV_FILE": str(tmp_path / "nope")})
    if os.geteuid() != 0:
        pytest.skip("needs root to give a directory to another user")
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    os.chown(theirs, 65534, 65534)
    with pytest.raises(ConfigError, match="belongs to the user"):
        locate({"HOME": str(tmp_path), "LISTD_STATE_DIR": str(theirs)}, service(tmp_path))


def test_the_service_user_uses_the_service_state_dir(tmp_path: Path) -> None:
    me = pwd.getpwuid(os.geteuid()).pw_name
    out = locate({"HOME": str(tmp_path)}, service(tmp_path, user=me))
    assert out["LISTD_STATE_DIR"] == str(tmp_path / "var-lib-listd")
    # STATE_DIRECTORY (systemd) or an explicit directory still wins.
    out = locate({"HOME": str(tmp_path), "STATE_DIRECTORY": "/x"}, service(tmp_path, user=me))
    assert "LISTD_STATE_DIR" not in out


def test_a_new_store_beside_an_installed_service_is_refused(tmp_path: Path) -> None:
    svc = service(tmp_path)
    home = {"HOME": str(tmp_path / "home")}
    assert locate(home, svc) == home  # a fresh machine: the first command creates the store
    svc.state_dir.mkdir()
    with pytest.raises(ConfigError, match="keeps its store in"):
        locate(home, svc)
    (tmp_path / "home" / ".local" / "state" / "listd" / "redis").mkdir(parents=True)
    assert locate(home, svc) == home  # that store exists already: it is used


def test_a_stopped_daemons_record_is_followed_while_its_store_exists(tmp_path: Path) -> None:
    default = tmp_path / "home" / ".local" / "state" / "listd"
    default.mkdir(parents=True)
    store = tmp_path / "store"
    record = {"pid": 2**22 + 7, "state_dir": str(store), "key_prefix": "p", "sources": None}
    (default / RECORD).write_text(json.dumps(record))
    home = {"HOME": str(tmp_path / "home")}
    assert locate(home, service(tmp_path)) == home  # its store is gone: ignored
    (store / "redis").mkdir(parents=True)
    out = locate(home, service(tmp_path))
    assert out["LISTD_STATE_DIR"] == str(store) and out["LISTD_KEY_PREFIX"] == "p"


# --- the start-up fetch holds the lock: an import waits for it ---------------------------
async def test_sync_waits_for_the_lock_then_gives_up_with_a_clear_message(
    tmp_path: Path, redis: Redis, settings: Settings
) -> None:
    lock = Keys(settings.key_prefix).sync_lock("un")
    holder = f"{socket.gethostname()}:{os.getpid()}:daemon-startup-fetch"
    env = clean_env(
        tmp_path / "home",
        LISTD_REDIS_URL=str(settings.redis_url),
        LISTD_KEY_PREFIX=settings.key_prefix,
        LISTD_LOG_FORMAT="json",
    )
    command = [sys.executable, "-m", "listd", "sync", "un", "--file", str(un_file("2026-05-08"))]
    await redis.set(lock, holder, px=120_000)
    proc = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stderr is not None and proc.stdout is not None
    seen = b""
    while b"sync lock busy; waiting" not in seen:
        line = await asyncio.wait_for(proc.stderr.readline(), 60)
        assert line, f"exited without waiting: {seen.decode()}"
        seen += line
    assert proc.returncode is None  # waiting, not failed
    await redis.delete(lock)  # the start-up fetch ends
    out = await asyncio.wait_for(proc.stdout.read(), 120)
    assert await proc.wait() == 0, (await proc.stderr.read()).decode()
    assert json.loads(out)["outcome"] == "updated"

    await redis.set(lock, holder, px=120_000)
    short = await asyncio.to_thread(
        subprocess.run, [*command, "--wait", "1"], env=env, capture_output=True, text=True
    )
    assert short.returncode == 1
    assert f"another sync holds {lock}" in short.stderr
    assert "gave up after waiting 1 s" in short.stderr
    assert await redis.get(lock) == holder  # the holder's lock is left alone
    await redis.delete(lock)
