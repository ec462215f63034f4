"""Appending to the journal: one Lua script for every append, and the writer that batches
request entries into it (group commit) and spools them to disk while Redis is down.

Why SHA-1 for the links: a link must be computed where the previous link and the next
number are known atomically, which is inside the append script (one round trip, no
retries, however many API instances write at once), and Redis Lua offers only SHA-1
(`redis.sha1hex`). The content is hashed with SHA-256 (or sealed with HMAC-SHA256) in
Python first, so the SHA-1 input is a digest nobody can steer; to hide an edit one would
need a SHA-1 second preimage, which no known attack gives (the practical SHA-1 attacks
are collisions). Optimistic WATCH/MULTI with SHA-256 computed in Python was the
alternative: three round trips per entry and retries that pile up exactly when the API
is busiest.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from redis.exceptions import RedisError

from listd import waits
from listd.audit.entries import GENESIS, entry_orgs, now_ms, sealed, stamped
from listd.connection import OUTAGE, StoreHealth
from listd.errors import JournalUnavailable
from listd.logs import get_logger
from listd.seal import fsync_dir

if TYPE_CHECKING:
    from listd.audit.journal import Journal

log = get_logger(__name__)

# The only append script: a batch of entries, with what group commit, the admission
# cache and the spool need (`Journal.append` sends a batch of one).
# KEYS: 1 stream, 2 head, 3 access epoch, 4 progress marker, then the keys
# entries refer to by index. ARGV: 1 genesis, 2 progress value ('' none), 3 rate counter
# TTL, 4 entry count, then 8 per entry: raw, sha256(raw), access epoch the admission
# assumed ('' none), rate counter key index (0 none), rate limit (0 none), org index key
# indexes ("5,7"), writer progress key index (0 none) and the writer batch the entry was
# first sent in: an entry whose batch that writer already applied is skipped ('D').
# Returns the current epoch, then per entry "<seq>[:<count>]", 'S' (the epoch moved: the
# admission must be checked again), 'L:<count>' (over the rate limit) or 'D'.
APPEND = """
local epoch = tonumber(redis.call('GET', KEYS[3]) or '0')
local head = redis.call('GET', KEYS[2])
local seq, prev = 0, ARGV[1]
if head then
  local cut = string.find(head, ':', 1, true)
  seq = tonumber(string.sub(head, 1, cut - 1))
  prev = string.sub(head, cut + 1)
end
local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #top > 0 and tonumber(string.match(top[1][1], '^(%d+)')) > seq then
  return redis.error_reply('the journal head is behind the stream: not forking the chain')
end
local start = seq
local out = {tostring(epoch)}
local i = 5
for _ = 1, tonumber(ARGV[4]) do
  local raw, digest, want = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local rate, limit, orgs = tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4]), ARGV[i + 5]
  local done, batch = tonumber(ARGV[i + 6]), tonumber(ARGV[i + 7])
  i = i + 8
  local verdict = nil
  if done > 0 and tonumber(redis.call('GET', KEYS[done]) or '0') >= batch then
    verdict = 'D'
  elseif want ~= '' and tonumber(want) ~= epoch then
    verdict = 'S'
  end
  local count = ''
  if not verdict and rate > 0 then
    local c = redis.call('INCR', KEYS[rate])
    if c == 1 then redis.call('EXPIRE', KEYS[rate], ARGV[3]) end
    count = ':' .. c
    if limit > 0 and c > limit then verdict = 'L' .. count end
  end
  if verdict then
    out[#out + 1] = verdict
  else
    seq = seq + 1
    local n = string.format('%d', seq)
    local h = redis.sha1hex(prev .. '\\n' .. n .. '\\n' .. digest)
    redis.call('XADD', KEYS[1], n .. '-0', 'e', raw, 'p', prev, 'h', h)
    prev = h
    for k in string.gmatch(orgs, '%d+') do redis.call('ZADD', KEYS[tonumber(k)], seq, n) end
    out[#out + 1] = n .. count
  end
end
if seq > start then redis.call('SET', KEYS[2], string.format('%d', seq) .. ':' .. prev) end
if ARGV[2] ~= '' then redis.call('SET', KEYS[4], ARGV[2], 'EX', 2592000) end
return out
"""


_RATE_TTL = 120  # seconds: two rate windows
_SPOOL_CHUNK = 500  # spooled entries per append when Redis is back
_MAX_BATCH = 512


@dataclass(frozen=True, slots=True)
class Confirm:
    """What an admission answered from an API process's cache assumed: confirmed (or
    not) inside the append of the request's journal entry."""

    epoch: int  # the access epoch the cached admission was read at
    rate_key: str  # the credential's rate counter for this minute ('' none)
    limit: int  # its rate limit (0 none)


@dataclass(frozen=True, slots=True)
class Written:
    """Where an entry went: its seq, or None when Redis was unreachable and it waits in
    the spool (durable on local disk) to be appended when Redis returns."""

    seq: int | None
    count: int = 0  # the rate counter after this request (confirmed entries only)


class Unconfirmed(Exception):
    """The entry was not appended: the access epoch moved since the cached admission
    (`stale`) or the credential is over its rate limit (`limit`, with the count)."""

    def __init__(self, reason: str, count: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.count = count


@dataclass(slots=True)
class _Pending:
    fields: dict[str, Any]
    confirm: Confirm | None
    future: asyncio.Future[Written]


@dataclass(slots=True)
class _SpoolFile:
    path: Path
    handle: Any  # binary file object holding the file's lock
    written: int = 0  # lines in the file (known for our own file; counted when read)
    applied: int | None = None  # lines already appended to Redis (None: ask Redis)
    offset: int = 0  # byte offset of the first line not yet appended
    own: bool = True


def _lock(path: Path) -> Any:
    """Open `path` for appending and take its lock; None if another process holds it."""
    handle = path.open("a+b")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


class JournalWriter:
    """Appends request entries in batches (group commit) and keeps them when Redis is down.

    Requests enqueue their entry and wait; one append script runs at a time per process
    and takes everything queued meanwhile, so under load a round trip (and an fsync of
    Redis's AOF) serves many requests and at low load a lone request waits for just its
    own. The chain stays linear across processes: each batch is chained inside Redis.

    When Redis is unreachable, the batch goes to a spool file under `spool_dir` (written
    and fsynced before anyone is answered) and later entries follow it there, so order is
    kept; when Redis answers again the spool is appended in chunks, each recording in
    Redis how many of the file's lines it holds, then the file is removed. An entry whose
    first attempt may have reached Redis (the connection broke mid-call) carries the
    number of that batch, which Redis records per writer, so it is never appended twice.
    Spool files left by a process that died are taken over at start.
    """

    def __init__(
        self,
        journal: Journal,
        spool_dir: Path,
        health: StoreHealth | None = None,
        on_epoch: Callable[[int], None] | None = None,
    ) -> None:
        self.journal = journal
        self.clock = journal.clock
        self.redis = journal.redis
        self.keys = journal.keys
        self.spool_dir = spool_dir
        self.health = health or StoreHealth()
        self.on_epoch = on_epoch
        self.writer = "w-" + secrets.token_hex(6)
        self._queue: list[_Pending] = []
        self._task: asyncio.Task[None] | None = None
        self._batch = 0
        self._files: list[_SpoolFile] = []
        self._adopted = False
        self.spooled_total = 0  # entries written to a spool, ever (metrics, tests)
        self.on_written: Callable[[int], None] | None = None  # entries appended to Redis

    # --- the request path -------------------------------------------------------------------
    async def write(self, fields: Mapping[str, Any], confirm: Confirm | None = None) -> Written:
        """Journal one entry and wait until it is durable (in Redis, or in the spool)."""
        future: asyncio.Future[Written] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(stamped(fields, self.clock), confirm, future))
        self._kick()
        return await future

    def submit(self, fields: Mapping[str, Any]) -> None:
        """Journal an entry without waiting (a request that was cancelled)."""
        future: asyncio.Future[Written] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_consume)
        self._queue.append(_Pending(stamped(fields, self.clock), None, future))
        self._kick()

    @property
    def spooling(self) -> bool:
        """Entries wait in a spool file (Redis is down, or they are being replayed)."""
        return bool(self._files)

    def _kick(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="listd-journal-writer")

    async def _run(self) -> None:
        try:
            if not self._adopted:
                self._adopt()
            while True:
                if self._files:
                    # Spooled entries go first, in order; whatever is queued meanwhile
                    # follows them into the spool and is answered once fsynced.
                    progressed = self.health.should_try(self.clock.time()) and await self._replay()
                    if self._queue and self._files:
                        self._spool(self._take(len(self._queue)))
                    if progressed:
                        continue
                    break
                if not self._queue:
                    break
                await self._send(self._take())
        except Exception:  # noqa: BLE001 - never leave a request waiting forever
            log.exception("journal writer failed")
            for pending in self._take(len(self._queue)):
                if not pending.future.done():
                    pending.future.set_exception(
                        JournalUnavailable("the journal writer failed; retry")
                    )

    def _take(self, limit: int = _MAX_BATCH) -> list[_Pending]:
        batch = self._queue[:limit]
        del self._queue[:limit]
        return batch

    async def _send(self, batch: list[_Pending]) -> None:
        self._batch += 1
        call = self._call(str(self._batch))
        for pending in batch:
            call.entry(pending.fields, pending.confirm)
        try:
            out = await self._run_call(call)
        except OUTAGE as exc:
            self.health.failed(self.clock.time())
            log.warning("journal append failed; spooling", error=str(exc), entries=len(batch))
            # The script may have run before the connection broke: the batch number
            # lets the replay skip these entries if it did.
            self._spool(batch, self._batch)
            return
        except RedisError as exc:
            log.error("journal append refused", error=str(exc), entries=len(batch))
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(
                        JournalUnavailable(
                            "the request could not be journaled, so its answer is withheld; retry"
                        )
                    )
            return
        self.health.ok()
        if self.on_written is not None:
            self.on_written(len(batch))
        for pending, result in zip(batch, out, strict=True):
            if pending.future.done():
                continue
            if result[0] == "S":
                pending.future.set_exception(Unconfirmed("stale"))
            elif result[0] == "L":
                pending.future.set_exception(Unconfirmed("limit", int(result.split(":")[1])))
            else:
                seq, _, count = result.partition(":")
                pending.future.set_result(Written(int(seq), int(count or 0)))

    # --- the spool ----------------------------------------------------------------------------
    def _spool(self, batch: list[_Pending], sent_as: int = 0) -> None:
        """Write `batch` to our spool file and fsync it, then answer its requests."""
        if not batch:
            return
        current = self._files[-1] if self._files and self._files[-1].own else None
        if current is None:
            current = self._open_own()
        lines = []
        for pending in batch:
            line: dict[str, Any] = {"e": pending.fields}
            if sent_as:
                line |= {"w": self.writer, "b": sent_as}
            lines.append(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
        data = "".join(lines).encode()
        current.handle.write(data)
        current.handle.flush()
        os.fsync(current.handle.fileno())
        current.written += len(lines)
        self.spooled_total += len(lines)
        for pending in batch:
            if not pending.future.done():
                pending.future.set_result(Written(None))

    def _open_own(self) -> _SpoolFile:
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        name = f"spool-{time.time_ns():020d}-{self.writer}.jsonl"
        path = self.spool_dir / name
        handle = _lock(path)
        if handle is None:  # cannot happen: the name is ours
            raise RuntimeError(f"spool file {path} is locked by another process")
        fsync_dir(self.spool_dir)
        found = _SpoolFile(path, handle, applied=0)
        self._files.append(found)
        return found

    def _adopt(self) -> None:
        """Take over the spool files of processes that died before replaying them."""
        self._adopted = True
        if not self.spool_dir.is_dir():
            return
        for path in sorted(self.spool_dir.glob("spool-*.jsonl")):
            handle = _lock(path)
            if handle is not None:
                log.warning("replaying a journal spool left by another process", file=path.name)
                self._files.insert(0, _SpoolFile(path, handle, written=-1, own=False))

    async def _replay(self) -> bool:
        """Append the next chunk of the oldest spool file; False if Redis is unreachable."""
        spool = self._files[0]
        marker = self.keys.journal_progress("s-" + spool.path.name)
        try:
            if spool.applied is None or (not spool.own and spool.written < 0):
                done = int(await self.redis.get(marker) or 0)
                spool.applied, spool.offset = done, _skip_lines(spool.path, done)
                spool.written = max(spool.written, done)
            lines, end = _read_lines(spool.path, spool.offset, _SPOOL_CHUNK)
            if not lines:
                if spool.own and spool.applied < spool.written:
                    raise RuntimeError(f"spool file {spool.path} is shorter than written")
                await self._finish(spool, marker)
                return True
            call = Append(self.journal, str(spool.applied + len(lines)), marker)
            for raw in lines:
                try:
                    line = json.loads(raw)
                except json.JSONDecodeError:
                    log.error("unreadable spool line skipped", file=spool.path.name)
                    line = {
                        "e": {
                            "kind": "spool_error",
                            "file": spool.path.name,
                            "at": now_ms(self.clock),
                        }
                    }
                done_key = call.key(self.keys.journal_progress(line["w"])) if "w" in line else 0
                call.entry({**line["e"], "spooled": True}, None, done_key, int(line.get("b", 0)))
            await self._run_call(call)
        except OUTAGE as exc:
            self.health.failed(self.clock.time())
            log.warning("journal spool replay waits for redis", error=str(exc))
            return False
        self.health.ok()
        spool.applied += len(lines)
        spool.offset = end
        if not spool.own:
            spool.written = max(spool.written, spool.applied)
        log.info("journal spool replayed", file=spool.path.name, entries=spool.applied)
        return True

    async def _finish(self, spool: _SpoolFile, marker: str) -> None:
        """Everything in `spool` is in Redis: remove the file, then its marker."""
        self._files.remove(spool)
        spool.path.unlink(missing_ok=True)
        fsync_dir(self.spool_dir)
        spool.handle.close()
        await self.redis.delete(marker)
        log.info("journal spool emptied", file=spool.path.name)

    def _call(self, progress: str) -> Append:
        return Append(self.journal, progress, self.keys.journal_progress(self.writer))

    async def _run_call(self, call: Append) -> list[str]:
        epoch, out = await call.run()
        if self.on_epoch is not None:
            self.on_epoch(epoch)
        return out

    async def run(self, every: float = 1.0) -> None:
        """Background loop: replay spooled entries once Redis answers again."""
        while True:
            await waits.sleep(every)
            if not self._adopted or self._files:
                self._kick()

    async def close(self) -> None:
        """Wait for queued entries (at most a few seconds)."""
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._task), 5.0)


class Append:
    """One run of the append script: its entries, and the keys they refer to by index."""

    def __init__(self, journal: Journal, progress: str = "", progress_key: str = "") -> None:
        self.journal = journal
        keys = journal.keys
        # Without a progress value the script never writes KEYS[4]: the head stands in.
        marker = progress_key or keys.journal_head()
        self.keys = [keys.journal(), keys.journal_head(), keys.access_epoch(), marker]
        self.progress = progress
        self.args: list[str | int] = []
        self.count = 0
        self._index: dict[str, int] = {}

    def key(self, name: str) -> int:
        found = self._index.get(name)
        if found is None:
            self.keys.append(name)
            found = self._index[name] = len(self.keys)
        return found

    def entry(
        self,
        fields: Mapping[str, Any],
        confirm: Confirm | None = None,
        done_key: int = 0,
        batch: int = 0,
    ) -> None:
        raw, digest = sealed(fields, self.journal.seal)
        orgs = entry_orgs(fields)
        indexes = ",".join(str(self.key(self.journal.keys.journal_org(o))) for o in orgs)
        if confirm is None:
            want, rate, limit = "", 0, 0
        else:
            want = str(confirm.epoch)
            rate = self.key(confirm.rate_key) if confirm.rate_key else 0
            limit = confirm.limit
        self.args += [raw, digest, want, rate, limit, indexes, done_key, batch]
        self.count += 1

    async def run(self) -> tuple[int, list[str]]:
        """The access epoch, and each entry's outcome (see `APPEND`)."""
        out = cast(
            list[str],
            await self.journal.script(
                keys=self.keys, args=[GENESIS, self.progress, _RATE_TTL, self.count, *self.args]
            ),
        )
        return int(out[0]), out[1:]


def _consume(future: asyncio.Future[Written]) -> None:
    if not future.cancelled():
        future.exception()  # retrieved: no "exception was never retrieved" warning


def _skip_lines(path: Path, count: int) -> int:
    """Byte offset after the first `count` lines of `path`."""
    offset = 0
    with path.open("rb") as fh:
        for _ in range(count):
            line = fh.readline()
            if not line.endswith(b"\n"):
                break
            offset += len(line)
    return offset


def _read_lines(path: Path, offset: int, limit: int) -> tuple[list[str], int]:
    """Up to `limit` complete lines of `path` from `offset`, and the offset after them.
    A last line without its newline was cut by a crash mid-write: its request was never
    answered, and it is left out."""
    out: list[str] = []
    with path.open("rb") as fh:
        fh.seek(offset)
        while len(out) < limit:
            line = fh.readline()
            if not line.endswith(b"\n"):
                break
            offset += len(line)
            out.append(line.decode())
    return out, offset
