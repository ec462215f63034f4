"""The journal's key, kept outside Redis: it seals every entry and signs checkpoints.

Someone who can write to Redis can rewrite the journal's stream and recompute SHA-1 links,
so the chain alone proves nothing against them. With a key they cannot read, two things
anchor it:

* **Seals.** An entry written with the key names it (`"seal": <key id>`) and its link is
  computed over HMAC-SHA256(key, entry) instead of SHA-256(entry). Without the key, an
  edited, inserted or appended entry cannot be given a link that `verify` accepts, and an
  entry without a seal after sealed ones is refused as forged.
* **Checkpoints.** Each API process appends, at a fixed cadence and on shutdown, a signed
  line to `<state dir>/journal/checkpoints.jsonl` (and logs it): the head's seq and link,
  the entries live in Redis, the archive floor and, per organisation, how many live
  entries its journal index holds. Cutting entries off the end and moving the head back
  is then visible up to the newest checkpoint.

What stays undetectable: with the key stolen too, anything after the newest checkpoint
(the same attacker could also sign new checkpoints, but not remove lines from this host's
file without access to the host); without the key, only the truncation of entries written
after the newest checkpoint.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError

from listd import waits
from listd.errors import ConfigError
from listd.keyspace import Keys
from listd.logs import get_logger

log = get_logger(__name__)

KEY_BYTES = 32
CHECKPOINTS = "checkpoints.jsonl"
_SIGNED = b"listd journal checkpoint v1\n"  # domain separation: a seal never passes as a signature

# KEYS: 1 head, 2 floor, 3 stream, then organisation indexes. Everything a checkpoint
# records, read at one instant: the index counts cover (floor, head seq].
_SNAPSHOT = """
local head = redis.call('GET', KEYS[1]) or ''
local floor = redis.call('GET', KEYS[2]) or '0'
local seq = '0'
if head ~= '' then seq = string.sub(head, 1, string.find(head, ':', 1, true) - 1) end
local out = {head, floor, tostring(redis.call('XLEN', KEYS[3]))}
for i = 4, #KEYS do
  out[#out + 1] = tostring(redis.call('ZCOUNT', KEYS[i], '(' .. floor, seq))
end
return out
"""


@dataclass(frozen=True, slots=True)
class Seal:
    """The journal key: seals entries and signs checkpoints (HMAC-SHA256)."""

    key: bytes

    @property
    def kid(self) -> str:
        """A short public name of the key (12 hex), so a verifier can tell keys apart."""
        return hashlib.sha256(b"listd journal key id\n" + self.key).hexdigest()[:12]

    def digest(self, raw: str) -> str:
        """What a sealed entry's link is computed over, in place of sha256(raw)."""
        return hmac.digest(self.key, raw.encode(), "sha256").hex()

    def sign(self, record: Mapping[str, Any]) -> str:
        body = {k: v for k, v in record.items() if k != "sig"}
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hmac.digest(self.key, _SIGNED + text.encode(), "sha256").hex()

    def signed(self, record: Mapping[str, Any]) -> bool:
        return hmac.compare_digest(str(record.get("sig", "")), self.sign(record))


def load_seal(path: Path) -> Seal | None:
    """The key in `path` (64+ hex digits); None if there is no such file. An unreadable
    or malformed file is a ConfigError."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read the journal key {path}: {exc}", key="LISTD_JOURNAL_KEY_FILE"
        ) from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < KEY_BYTES:
        raise ConfigError(
            f"the journal key {path} must hold at least {KEY_BYTES * 2} hex digits "
            "(e.g. `openssl rand -hex 32`)",
            key="LISTD_JOURNAL_KEY_FILE",
        )
    if path.stat().st_mode & 0o007:
        log.warning("the journal key is readable by every user: chmod 600 it", path=str(path))
    return Seal(key)


def ensure_seal(path: Path, create: bool = True) -> Seal:
    """The key in `path`, created (random, mode 0600) if the file does not exist and
    `create` (a key file the operator named is never invented: a typo would start a new key)."""
    found = load_seal(path)
    if found is not None:
        return found
    if not create:
        raise ConfigError(
            f"the journal key {path} named by LISTD_JOURNAL_KEY_FILE does not exist",
            key="LISTD_JOURNAL_KEY_FILE",
        )
    key = secrets.token_bytes(KEY_BYTES)
    # Written whole under a temporary name, then linked into place: another process
    # starting at the same moment never reads a half-written key, and one link wins.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(key.hex() + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return ensure_seal(path)
        finally:
            tmp.unlink()
        fsync_dir(path.parent)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the journal key {path}: {exc.strerror}", key="LISTD_JOURNAL_KEY_FILE"
        ) from None
    log.info("journal key created", path=str(path))
    return Seal(key)


# --- checkpoints ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One signed line of the checkpoint file."""

    line: int
    seq: int
    link: str
    floor: int
    orgs: dict[str, int]
    at: str
    kid: str
    prefix: str
    record: dict[str, Any]

    def where(self) -> str:
        return f"the checkpoint of {self.at} (line {self.line}, entry {self.seq})"


def read_checkpoints(directory: Path) -> tuple[list[Checkpoint], list[str]]:
    """The checkpoint file's records and the lines that could not be read. A last line
    without its newline was cut by a crash while being written and is left out."""
    path = directory / CHECKPOINTS
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], []
    found: list[Checkpoint] = []
    problems: list[str] = []
    lines = data.split(b"\n")
    for number, raw in enumerate(lines[:-1], start=1):  # lines[-1]: after the last newline
        try:
            item = json.loads(raw)
            found.append(
                Checkpoint(
                    line=number,
                    seq=int(item["seq"]),
                    link=str(item["link"]),
                    floor=int(item["floor"]),
                    orgs={str(k): int(v) for k, v in dict(item["orgs"]).items()},
                    at=str(item["at"]),
                    kid=str(item["key"]),
                    prefix=str(item.get("prefix", "")),
                    record=item,
                )
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            problems.append(f"{CHECKPOINTS} line {number} is not a checkpoint")
    return found, problems


class Checkpointer:
    """Writes this process's signed checkpoints: every `every` seconds, after `entries`
    journal entries written here, and on `close`; only when the head moved."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        seal: Seal,
        directory: Path,
        instance: str,
        entries: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.seal = seal
        self.directory = directory
        self.instance = instance
        self.entries = entries
        self.clock = clock
        self._script = redis.register_script(_SNAPSHOT)
        self._since = 0
        self._due = asyncio.Event()
        self._last: tuple[int, str] | None = None

    async def check_key(self) -> str | None:
        """The key id sealing the newest entry, if it is not ours (logged: every instance
        writing to one journal needs the same key, or verify cannot check the others')."""
        try:
            rows = await self.redis.xrevrange(self.keys.journal(), count=1)
        except RedisError:
            return None
        for _, values in cast(list[tuple[str, dict[str, str]]], rows):
            try:
                theirs = json.loads(values.get("e", "")).get("seal")
            except (ValueError, AttributeError):
                return None
            if theirs and theirs != self.seal.kid:
                log.warning(
                    "the journal's newest entry is sealed with another key: give every "
                    "instance the same LISTD_JOURNAL_KEY_FILE",
                    theirs=theirs,
                    ours=self.seal.kid,
                )
                return str(theirs)
        return None

    def note(self, written: int) -> None:
        """`written` entries were journaled by this process."""
        self._since += written
        if self._since >= self.entries:
            self._due.set()

    async def write(self, reason: str = "cadence") -> dict[str, Any] | None:
        """Sign the journal's state now; None if the head has not moved since the last."""
        prefix, pattern = self.keys.journal_org(""), self.keys.journal_orgs()
        orgs: list[str] = []
        # An organisation's index is created by its first entry: one that appears after
        # the scan but before the snapshot would be missing from it, so scan again.
        for _ in range(3):
            found = sorted(
                [
                    str(k)[len(prefix) :]
                    async for k in self.redis.scan_iter(match=pattern, count=1000)
                ]
            )
            head, floor, live, *counts = cast(
                list[str],
                await self._script(
                    keys=[
                        self.keys.journal_head(),
                        self.keys.journal_floor(),
                        self.keys.journal(),
                        *(self.keys.journal_org(o) for o in found),
                    ]
                ),
            )
            later = {
                str(k)[len(prefix) :] async for k in self.redis.scan_iter(match=pattern, count=1000)
            }
            orgs = found
            if later <= set(found):
                break
        seq_text, _, link = head.partition(":")
        seq = int(seq_text or 0)
        self._since = 0
        self._due.clear()
        if seq == 0 or self._last == (seq, link):
            return None
        record: dict[str, Any] = {
            "v": 1,
            "seq": seq,
            "link": link,
            "count": seq,  # entries ever written: the chain starts at 1 without gaps
            "live": int(live),
            "floor": int(floor),
            "orgs": {o: int(c) for o, c in zip(orgs, counts, strict=True) if int(c)},
            "at": _stamp(self.clock()),
            "instance": self.instance,
            "prefix": self.keys.prefix,  # deployments sharing a Redis are told apart
            "reason": reason,
            "key": self.seal.kid,
        }
        record["sig"] = self.seal.sign(record)
        await asyncio.to_thread(self._append, record)
        self._last = (seq, link)
        log.info("journal checkpoint", **{k: v for k, v in record.items() if k != "v"})
        return record

    def _append(self, record: Mapping[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        fd = os.open(self.directory / CHECKPOINTS, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        try:
            # Several processes on one host share the file: one whole line at a time.
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, line.encode() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)

    async def run(self, every: float) -> None:
        """Background loop: a checkpoint every `every` seconds or `entries` entries."""
        while True:
            await waits.wait(self._due, every)
            try:
                await self.write()
            except (RedisError, OSError) as exc:
                log.warning("journal checkpoint failed", error=str(exc))

    async def close(self) -> None:
        """The shutdown checkpoint (Redis may already be gone: logged, not raised)."""
        try:
            await self.write("shutdown")
        except (RedisError, OSError) as exc:
            log.warning("journal checkpoint at shutdown failed", error=str(exc))


def _stamp(when: float) -> str:
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when)) + f".{int(when * 1000) % 1000:03d}Z"
    )


def fsync_dir(directory: Path) -> None:
    """Make a new or renamed file's directory entry durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = [
    "CHECKPOINTS",
    "Checkpoint",
    "Checkpointer",
    "Seal",
    "ensure_seal",
    "load_seal",
    "read_checkpoints",
]
