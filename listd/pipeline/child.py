"""Syncs in a child process, so the API's event loop never waits on one (`listd run`).

A sync's own steps (Redis pipelines, staging deltas, JSON, its worker threads taking the
GIL) held the event loop of the process serving screening 20-40 ms at a time. `ChildSyncer`
runs each `sync` and `approve_held` in `python -m listd.pipeline.child` instead: its own
interpreter, event loop, Redis client (the parent's URL, the embedded server's socket
included) and HTTP session, below the API's CPU priority (LISTD_SYNC_PRIORITY). The parent sends the
job (settings as they are now, the leader's fence), reads the SyncResult back, then does
what follows an inline sync (the API's index follows the new version). One child waits
ahead, imported, and starts the parsing children the last sync used, as the inline path
does; each child runs one job and exits, so a full-size list's memory goes with it.

Crash semantics. The child publishes only through the fenced publication script: the
pointer flips with the deltas or not at all, so a child killed at any point leaves the
served version whole. Cancelled (step-down, shutdown), the parent sends SIGTERM: the sync
records its failure and releases the source lock as inline. A child that has not ended
within STOP_S, or that died, is killed and reaped; its lock names its pid, so the parent
(and any later sync on this host) takes it over at once, and the parent records the
failure. A child whose parent is gone (its stdin at EOF) cancels its sync.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import pickle
import signal
import struct
import sys
from dataclasses import dataclass, replace
from typing import Any, NoReturn

import aiohttp
from redis.exceptions import RedisError

from listd.errors import ListdError, Unavailable
from listd.logs import get_logger
from listd.pipeline.lease import Lock
from listd.pipeline.store import Fence, Store, now_iso
from listd.pipeline.sync import OnUpdate, Progress, Syncer, SyncResult
from listd.scrapers import encode
from listd.settings import Settings

log = get_logger(__name__)

NICENESS = 5  # below the API's CPU priority, where SCHED_IDLE is refused
STOP_S = 10.0  # a cancelled child's time to record its failure (within SYNC_ABANDON_S)
_LINE_LIMIT = 64 * 1024 * 1024  # an answer is one JSON line (a result with its warnings)
_HEADER = struct.Struct(">QQ")  # the lengths of the job's pickle and of its document
_CHUNK = 1 << 20  # a document goes down the pipe this much at a time


class SyncProcessLost(ListdError):
    """The sync's process ended before answering (killed, out of memory)."""

    code = "sync_process_lost"


@dataclass(frozen=True, slots=True)
class Job:
    """What a child does: `op` (sync | approve) on source `name`."""

    op: str
    name: str
    settings: Settings
    url: str  # the Redis the parent uses
    fence: Fence | None = None
    raw: bytes | None = None
    origin: str | None = None
    wait: float = 0.0


class ChildSyncer(Syncer):
    """A Syncer whose syncs and approvals run in child processes; the rest runs here.

    The child reads the system clock for the removal window (`clock` is not sent)."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        url: str,
        session: aiohttp.ClientSession | None = None,
        on_update: OnUpdate | None = None,
    ) -> None:
        super().__init__(settings, store, session, on_update)
        self.url = url
        self.start_ahead = False
        self._ahead: asyncio.Task[asyncio.subprocess.Process] | None = None  # waits imported
        self._wanted: list[tuple[str, int]] = []  # the last child's parsing children
        self._closed = False

    async def sync(
        self,
        name: str,
        *,
        raw: bytes | None = None,
        origin: str | None = None,
        progress: Progress | None = None,
        fence: Fence | None = None,
        wait: float = 0.0,
    ) -> SyncResult:
        self.settings.source(name)
        job = Job("sync", name, self.settings, self.url, fence, raw, origin, wait)
        return await self._in_child(job, progress)

    async def approve_held(self, name: str) -> SyncResult:
        self.settings.source(name)
        return await self._in_child(Job("approve", name, self.settings, self.url), None)

    async def warm(self) -> None:
        """Have a child waiting, imported, for the next sync (one is started after each)."""
        self._start_ahead()
        if self._ahead is not None:
            await asyncio.shield(self._ahead)

    async def close(self) -> None:
        """End the child waiting ahead (it would also end on its own: EOF on its stdin)."""
        self._closed = True
        ahead, self._ahead = self._ahead, None
        if ahead is None:
            return
        with contextlib.suppress(OSError):
            proc = await ahead
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    async def _in_child(self, job: Job, progress: Progress | None) -> SyncResult:
        proc = await self._take()
        reading = asyncio.ensure_future(_read(proc, progress or (lambda _msg: None)))
        try:
            await _send(proc, job)
            # Not waiting for its exit: its lock is released, its memory is freed as it goes.
            answer = await asyncio.shield(reading)
        except asyncio.CancelledError:
            await asyncio.shield(self._stop(job, proc, reading))
            raise
        except (BrokenPipeError, ConnectionResetError):
            # It died before taking the job (killed while waiting): the answer says so.
            answer = await reading
        self._start_ahead()
        if answer is None:
            await proc.wait()
            await self._lost(job, f"the sync process ended ({_status(proc.returncode)})")
            raise SyncProcessLost(
                f"the sync process of {job.name} ended ({_status(proc.returncode)}) before "
                "it finished; previous version still serving",
                source=job.name,
            )
        self._wanted = [(kind, int(n)) for kind, n in answer.get("wanted", [])]
        if "result" not in answer:
            _raise(answer)
        # Fields this code knows: a child started after an upgrade may send more.
        known = SyncResult.__dataclass_fields__
        result = SyncResult(**{k: v for k, v in answer["result"].items() if k in known})
        if result.outcome == "updated" and result.version and self.on_update is not None:
            await self.on_update(job.name, result.version)
        return result

    async def _take(self) -> asyncio.subprocess.Process:
        """The child waiting ahead (once it has imported) if it is alive, else a new one."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            try:
                proc = await asyncio.shield(ahead)
            except asyncio.CancelledError:
                self._ahead = self._ahead or ahead  # still the next sync's
                raise
            except OSError as exc:
                log.warning("sync process not started ahead", error=str(exc))
            else:
                if proc.returncode is None:
                    return proc
        return await self._start()

    async def _start(self) -> asyncio.subprocess.Process:
        wanted = [f"{kind}:{n}" for kind, n in self._wanted]
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "listd.pipeline.child",
            *wanted,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=_LINE_LIMIT,
        )
        # Lowered from here, not by itself: its imports (a second of a core) are below us too.
        lower_priority(proc.pid, self.settings.sync_niceness)
        assert proc.stdout is not None
        try:
            await proc.stdout.readline()  # {"waiting": true}: imported (or EOF: it died)
        except BaseException:
            proc.kill()  # cancelled meanwhile: it would wait for a job until we exit
            raise
        return proc

    def _start_ahead(self) -> None:
        """Start the next child now, off the next sync's path (its imports take a second)."""
        if self._ahead is None and not self._closed:
            self._ahead = asyncio.get_running_loop().create_task(
                self._start(), name="listd-sync-ahead"
            )

    async def _stop(
        self, job: Job, proc: asyncio.subprocess.Process, reading: asyncio.Future[Any]
    ) -> None:
        """SIGTERM: the child's sync records its cancellation and releases its lock; one
        that does not end within STOP_S is killed, and that done here."""
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        answer: dict[str, Any] | None = None
        killed = False
        try:
            async with asyncio.timeout(STOP_S):
                answer = await reading
                await proc.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            killed = True
            await proc.wait()
        if answer is None:
            await self._lost(job, "sync cancelled (shutdown); previous version still serving")
        log.info("sync process stopped", source=job.name, pid=proc.pid, killed=killed)

    async def _lost(self, job: Job, why: str) -> None:
        """Do what a child that ended without answering left undone: record the failure
        (for a sync), release its lock (its pid is gone: a dead holder's lock is taken)."""
        try:
            if job.op == "sync":
                result = SyncResult(source=job.name, error=why, finished=now_iso())
                await self._failed(job.name, result, "process_lost")
                await self.store.clear_state(job.name, "status_detail")
                history = self.settings.history_length
                await self.store.record_history(job.name, result.to_dict(), history)
            lock = self.store.lock(job.name)
            taken, _, _ = await lock.take()
            if taken:
                await Lock.release(lock)
        except (RedisError, OSError) as exc:
            # The lock then expires with its TTL (SYNC_LOCK_TTL_MS).
            log.warning("sync process's end not recorded", source=job.name, error=str(exc))


async def _read(proc: asyncio.subprocess.Process, say: Progress) -> dict[str, Any] | None:
    """The child's answer (None if it ended without one), passing its progress on."""
    assert proc.stdout is not None
    while line := await proc.stdout.readline():
        message: dict[str, Any] = json.loads(line)
        if "say" in message:
            say(message["say"])
        else:
            return message
    return None


def lower_priority(pid: int, niceness: int | None) -> None:
    """Give process `pid` (a child of ours, its main thread the only one yet) the sync's CPU
    priority, which every process and thread it starts inherits: SCHED_IDLE if `niceness`
    is None (a core nothing else wants, or NICENESS below ours where that is refused),
    else `niceness` below ours."""
    if niceness is None:
        try:
            os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))
            return
        except (OSError, AttributeError) as exc:  # AttributeError: no such policy here
            log.warning("sync process not idle-scheduled", pid=pid, error=str(exc))
            niceness = NICENESS
    with contextlib.suppress(OSError):  # no such notion here: it just competes
        ours = os.getpriority(os.PRIO_PROCESS, 0)
        os.setpriority(os.PRIO_PROCESS, pid, ours + niceness)


def _status(code: int | None) -> str:
    if code is not None and code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"exit status {code}"


async def _send(proc: asyncio.subprocess.Process, job: Job) -> None:
    """Write the job, then its document (if any) a chunk at a time: one write of 100 MB would
    copy it whole into the pipe's buffer while the event loop waits."""
    raw = memoryview(job.raw or b"")
    # The pickle's raw: None (fetch the list) or b"" (the document follows).
    bare = replace(job, raw=None if job.raw is None else b"")
    payload = pickle.dumps(bare, protocol=pickle.HIGHEST_PROTOCOL)
    assert proc.stdin is not None
    proc.stdin.write(_HEADER.pack(len(payload), len(raw)) + payload)
    for start in range(0, len(raw), _CHUNK):
        await proc.stdin.drain()
        proc.stdin.write(raw[start : start + _CHUNK])
    await proc.stdin.drain()


def _describe(exc: BaseException) -> dict[str, Any]:
    kind = type(exc)
    detail = exc.detail if isinstance(exc, ListdError) else {}
    message = exc.message if isinstance(exc, ListdError) else str(exc)
    return {"type": f"{kind.__module__}:{kind.__qualname__}", "message": message, "detail": detail}


def _raise(answer: dict[str, Any]) -> NoReturn:
    """Raise here what the child's sync raised there: the same class, message and detail
    (so the API answers as for an inline sync)."""
    if answer.get("cancelled"):
        raise Unavailable("the sync process was stopped; previous version still serving")
    error = answer["error"]
    module, _, name = str(error["type"]).partition(":")
    found: Any = None
    if module.split(".")[0] in ("listd", "redis", "builtins"):
        with contextlib.suppress(ImportError):
            found = getattr(importlib.import_module(module), name, None)
    message = str(error["message"])
    if isinstance(found, type) and issubclass(found, ListdError):
        exc = found.__new__(found)
        ListdError.__init__(exc, message, **error.get("detail", {}))
        raise exc
    if isinstance(found, type) and issubclass(found, RedisError | OSError):
        raise found(message)
    raise ListdError(f"internal error: {message}")


# --- the child --------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    """Wait for one job on stdin, run it, write the answer; `argv`: the parsing children
    to start ahead (KIND:COUNT)."""
    answers = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # anything printed goes to the log, never into the answers
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's ^C: the parent decides
    encode.want([(kind, int(n)) for kind, _, n in (a.partition(":") for a in argv)])
    encode.replenish()
    _write(answers, {"waiting": True})
    job = _job()
    if job is None:
        return 0  # the parent stopped before it had a job for this one
    from listd import logs

    logs.configure(job.settings.log_format)
    answer = asyncio.run(_serve(job, lambda msg: _write(answers, {"say": msg})))
    _write(answers, answer | {"wanted": encode.wanted()})
    return 0


def _job() -> Job | None:
    header = _read_exactly(_HEADER.size)
    if header is None:
        return None
    size, raw_size = _HEADER.unpack(header)
    payload = _read_exactly(size)
    raw = _read_exactly(raw_size)
    if payload is None or raw is None:
        return None
    job = pickle.loads(payload)  # noqa: S301 - from our own parent, through its pipe
    assert isinstance(job, Job)
    return job if job.raw is None else replace(job, raw=raw)


def _read_exactly(size: int) -> bytes | None:
    """`size` bytes from stdin (unbuffered: EOF later on means the parent is gone)."""
    out = bytearray(size)
    view, done = memoryview(out), 0
    while done < size:
        got = os.readv(0, [view[done : done + _CHUNK]])
        if not got:
            return None
        done += got
    return bytes(out)


def _write(out: Any, message: dict[str, Any]) -> None:
    with contextlib.suppress(BrokenPipeError):  # the parent is gone: nobody to tell
        out.write(json.dumps(message).encode() + b"\n")


async def _serve(job: Job, say: Progress) -> dict[str, Any]:
    from listd.connection import client

    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    orphaned = asyncio.create_task(_orphaned(task))
    redis = client(job.url, cluster=job.settings.redis_cluster)
    try:
        async with aiohttp.ClientSession() as session:
            syncer = Syncer(job.settings, Store(redis, job.settings.keys), session)
            syncer.start_ahead = False  # this process exits after one sync
            try:
                if job.op == "approve":
                    result = await syncer.approve_held(job.name)
                else:
                    result = await syncer.sync(
                        job.name,
                        raw=job.raw,
                        origin=job.origin,
                        progress=say,
                        fence=job.fence,
                        wait=job.wait,
                    )
                return {"result": result.to_dict()}
            except asyncio.CancelledError:
                return {"cancelled": True}
            except Exception as exc:  # noqa: BLE001 - the parent raises it again, as inline
                return {"error": _describe(exc)}
    finally:
        orphaned.cancel()
        loop.remove_signal_handler(signal.SIGTERM)
        await redis.aclose()


async def _orphaned(task: asyncio.Task[Any]) -> None:
    """Cancel `task` when stdin reaches EOF: the parent is gone."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    pipe = os.fdopen(os.dup(0), "rb", buffering=0)
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    try:
        await reader.read()
        task.cancel()
    finally:
        transport.close()


if __name__ == "__main__":
    # Run as listd.pipeline.child, not __main__: the job's pickle names that module's Job.
    from listd.pipeline import child

    sys.exit(child.main(sys.argv[1:]))
