"""The journal: every request and administrative action, append-only and hash-chained.

Entry n is stored in a Redis Stream as `e` (the canonical JSON of its fields), `p` (the
link of entry n-1, forty zeros for entry 1) and `h`, its link:

    h = sha1(p + "\\n" + n + "\\n" + sha256(e))

Why two hashes: the link must be computed where the previous link and the next number
are known atomically, which is inside the append script (one round trip, no retries,
however many API instances write at once), and Redis Lua offers only SHA-1
(`redis.sha1hex`). The content is hashed with SHA-256 in Python first, so the SHA-1
input is a digest nobody can steer; to hide an edit one would need a SHA-1 second
preimage, which no known attack gives (the practical SHA-1 attacks are collisions).
Optimistic WATCH/MULTI with SHA-256 computed in Python was the alternative: three round
trips per entry and retries that pile up exactly when the API is busiest.

Editing, deleting or reordering entries breaks a link that `verify` reports. The chain
alone has no secret: someone who can rewrite Redis *and* recompute every later link (and
the head) is not detected by it. So a key kept outside Redis (`listd.seal`) seals every
entry (its link is computed over HMAC-SHA256(key, e) instead of SHA-256(e), and `e` names
the key as `seal`) and signs checkpoints written outside Redis; `verify` checks both, and
each organisation's index against the chain. The archive files and their trailers, kept
outside Redis, pin everything archived.

As the live stream fills, its oldest half is moved to gzip JSON-lines files under
`<state_dir>/journal/`, each ending with a trailer that records its range and chain head.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import datetime as dt
import fcntl
import gzip
import hashlib
import json
import os
import re
import secrets
import time
from array import array
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from listd.errors import BadRequest, JournalUnavailable
from listd.keys import Keys
from listd.logs import get_logger
from listd.seal import Checkpoint, Seal, fsync_dir, read_checkpoints

log = get_logger(__name__)

GENESIS = "0" * 40
# The legal ground of a screening or an entity read.
BASES = ("onboarding", "transaction", "periodic_review", "authority_request", "other")
BASIS_FIELDS = frozenset({"basis", "case_ref"})
# A competent authority's request always has a reference, and "other" must say what it is.
_CASE_REF_REQUIRED = frozenset({"authority_request", "other"})
_CASE_REF = re.compile(r"[\w\-./:#() ]{1,200}")
_ARCHIVE = re.compile(r"journal-(\d{12})-(\d{12})\.jsonl\.gz")
_READ_CHUNK = 1000

_APPEND = """
local head = redis.call('GET', KEYS[2])
local seq, prev = 0, ARGV[3]
if head then
  local cut = string.find(head, ':', 1, true)
  seq = tonumber(string.sub(head, 1, cut - 1))
  prev = string.sub(head, cut + 1)
end
seq = seq + 1
local n = string.format('%d', seq)
local h = redis.sha1hex(prev .. '\\n' .. n .. '\\n' .. ARGV[2])
redis.call('XADD', KEYS[1], n .. '-0', 'e', ARGV[1], 'p', prev, 'h', h)
redis.call('SET', KEYS[2], n .. ':' .. h)
for i = 3, #KEYS do redis.call('ZADD', KEYS[i], seq, n) end
return {n, h}
"""

# The same for a batch of entries, with what group commit, the admission cache and the
# spool need. KEYS: 1 stream, 2 head, 3 access epoch, 4 progress marker, then the keys
# entries refer to by index. ARGV: 1 genesis, 2 progress value ('' none), 3 rate counter
# TTL, 4 entry count, then 8 per entry: raw, sha256(raw), access epoch the admission
# assumed ('' none), rate counter key index (0 none), rate limit (0 none), org index key
# indexes ("5,7"), writer progress key index (0 none) and the writer batch the entry was
# first sent in: an entry whose batch that writer already applied is skipped ('D').
# Returns the current epoch, then per entry "<seq>[:<count>]", 'S' (the epoch moved: the
# admission must be checked again), 'L:<count>' (over the rate limit) or 'D'.
_APPEND_MANY = """
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


# --- basis ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Basis:
    """Why a screening or entity read was made: the legal ground and the case reference."""

    basis: str
    case_ref: str | None = None


def basis_from(values: Mapping[str, Any]) -> Basis:
    """The basis of a request body or query string; 400 names `basis` or `case_ref`."""
    basis = values.get("basis")
    if basis is None or basis == "":
        raise BadRequest(
            f"basis is required: the legal ground of the request ({', '.join(BASES)})",
            field="basis",
        )
    if basis not in BASES:
        raise BadRequest(f"basis must be one of {', '.join(BASES)}", field="basis")
    case_ref = values.get("case_ref")
    if case_ref is not None and not isinstance(case_ref, str):
        raise BadRequest("case_ref must be a string", field="case_ref")
    case_ref = (case_ref or "").strip() or None
    if case_ref is not None and not _CASE_REF.fullmatch(case_ref):
        raise BadRequest(
            "case_ref must be 1-200 letters, digits, spaces or - . / : # ( )", field="case_ref"
        )
    if case_ref is None and basis in _CASE_REF_REQUIRED:
        raise BadRequest(f"case_ref is required when basis is {basis}", field="case_ref")
    return Basis(str(basis), case_ref)


# --- entries --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something, as the journal names them."""

    name: str
    org: str = ""
    role: str = ""
    user: str = ""
    key: str = ""  # key id (first 12 hex of the key hash)
    via: str = "key"  # key | cert | cli | public

    def fields(self) -> dict[str, str]:
        found = {
            "name": self.name,
            "org": self.org,
            "role": self.role,
            "user": self.user,
            "key": self.key,
            "via": self.via,
        }
        return {k: v for k, v in found.items() if v}


def now_ms() -> str:
    """UTC now as ISO 8601 with milliseconds: sorts as text in time order."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_time(raw: str, name: str) -> str:
    """An ISO 8601 date or date-time, as `now_ms` writes it (UTC if no offset is given)."""
    try:
        when = dt.datetime.fromisoformat(raw.strip())
    except ValueError:
        raise BadRequest(f"{name} must be an ISO 8601 date or date-time", field=name) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    try:
        utc = when.astimezone(dt.UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise BadRequest(f"{name} is out of range", field=name) from None
    if utc.year < 1970:  # nothing in listd predates the epoch (and %Y would not zero-pad)
        return "1970-01-01T00:00:00.000Z"
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_epoch(raw: str, name: str) -> float:
    """`parse_time` as seconds since the epoch."""
    stamp = parse_time(raw, name)
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def canonical(fields: Mapping[str, Any]) -> str:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def sealed(fields: Mapping[str, Any], seal: Seal | None) -> tuple[str, str]:
    """An entry's stored JSON and what its link is computed over: sha256 of it, or with
    the journal key, HMAC-SHA256 of it once it names the key."""
    if seal is None:
        raw = canonical(fields)
        return raw, content_hash(raw)
    raw = canonical({**fields, "seal": seal.kid})
    return raw, seal.digest(raw)


def entry_orgs(fields: Mapping[str, Any]) -> list[str]:
    """The organisations whose journal index lists an entry."""
    return sorted({str(o) for o in (fields.get("org"), fields.get("target_org")) if o})


def chain_link(prev: str, seq: int, digest: str) -> str:
    """The link of entry `seq`: what the append script computes with redis.sha1hex."""
    return hashlib.sha1(f"{prev}\n{seq}\n{digest}".encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    prev: str
    link: str
    raw: str  # the stored JSON, hashed as it is

    @property
    def fields(self) -> dict[str, Any]:
        try:
            value = json.loads(self.raw)
        except json.JSONDecodeError:
            return {}
        return value if isinstance(value, dict) else {}

    def concerns(self, org: str) -> bool:
        f = self.fields
        return org in (f.get("org"), f.get("target_org"))

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "link": self.link, **self.fields}

    def line(self) -> str:
        return json.dumps({"seq": self.seq, "p": self.prev, "h": self.link, "e": self.raw})


def _entry(stream_id: str, values: Mapping[str, str]) -> Entry:
    return Entry(
        seq=int(stream_id.split("-", 1)[0]),
        prev=values.get("p", ""),
        link=values.get("h", ""),
        raw=values.get("e", ""),
    )


def _in_range(entry: Entry, start: str | None, end: str | None) -> bool:
    at = str(entry.fields.get("at", ""))
    return (start is None or at >= start) and (end is None or at < end)


# --- archive files --------------------------------------------------------------------------
def archive_name(first: int, last: int) -> str:
    return f"journal-{first:012d}-{last:012d}.jsonl.gz"


def write_archive(path: Path, entries: list[Entry]) -> dict[str, Any]:
    """Write `entries` and their trailer to `path` (atomically); return the trailer."""
    stamps = [str(e.fields.get("at", "")) for e in entries]
    trailer = {
        "first": entries[0].seq,
        "last": entries[-1].seq,
        "count": len(entries),
        "prev": entries[0].prev,
        "head": entries[-1].link,
        "first_at": min(stamps),
        "last_at": max(stamps),
        "created": now_ms(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    with tmp.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        for entry in entries:
            gz.write(entry.line().encode() + b"\n")
        gz.write(json.dumps({"trailer": trailer}).encode() + b"\n")
        gz.close()
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(tmp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return trailer


def read_archive(path: Path) -> tuple[list[Entry], dict[str, Any] | None]:
    """The entries of an archive file and its trailer (None if the file has none)."""
    entries: list[Entry] = []
    trailer: dict[str, Any] | None = None
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            item = json.loads(line)
            if "trailer" in item:
                trailer = item["trailer"]
                continue
            entries.append(Entry(int(item["seq"]), item["p"], item["h"], item["e"]))
    return entries, trailer


def archive_files(directory: Path) -> list[Path]:
    """Archive files in seq order."""
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if _ARCHIVE.fullmatch(p.name)]
    return sorted(found, key=lambda p: p.name)


# --- verification ---------------------------------------------------------------------------
@dataclass
class Verdict:
    """What `verify` found: the first broken link, or that the chain holds end to end."""

    ok: bool = True
    entries: int = 0
    first: int = 0
    last: int = 0
    archives: int = 0
    seq: int | None = None  # the first entry whose link is broken
    problem: str | None = None
    sealed: int = 0  # entries sealed with a journal key
    checkpoints: int = 0  # signed checkpoints checked against the chain
    newest_checkpoint: dict[str, Any] | None = None
    key: str = "present"  # present | missing (no key file)
    unchecked: set[str] = field(default_factory=set)  # ids of keys sealing what we cannot check

    def fail(self, seq: int | None, problem: str) -> None:
        if self.ok:
            self.ok, self.seq, self.problem = False, seq, problem

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "first": self.first,
            "last": self.last,
            "archives": self.archives,
            "broken_at": self.seq,
            "problem": self.problem,
            "sealed": self.sealed,
            "checkpoints": self.checkpoints,
            "newest_checkpoint": self.newest_checkpoint,
            "key": self.key,
            "key_problem": self.key_problem,
        }

    @property
    def key_problem(self) -> str | None:
        """Why seals or checkpoints could not be checked (None: all were)."""
        if not self.unchecked:
            return None
        kids = ", ".join(sorted(self.unchecked))
        if self.key == "missing":
            return (
                f"the journal key is missing: entries or checkpoints sealed with key {kids} "
                "were checked for continuity only (not for edits, forgery or truncation)"
            )
        return (
            f"checkpoints signed with key {kids}, not the key here, were not checked "
            "(the key was replaced?)"
        )


@dataclass
class _Chain:
    verdict: Verdict
    seal: Seal | None = None
    expected: int | None = None
    prev: str = GENESIS
    # Links of the newest archive file: after a crash between writing a file and
    # trimming the stream, the same entries are also still live.
    archived: dict[int, str] = field(default_factory=dict)
    sealed_at: int | None = None  # the first sealed entry
    marks: dict[int, list[Checkpoint]] = field(default_factory=dict)  # checkpoints by seq
    by_org: dict[str, array[int]] = field(default_factory=dict)  # each org's seqs, in order

    def _digest(self, entry: Entry, kid: Any, source: str) -> str | None:
        """What the entry's link must be computed over; None if it cannot be checked
        here (sealed, and no key here); "" once the chain is found broken."""
        v = self.verdict
        if not kid:
            if self.sealed_at is not None:
                v.fail(
                    entry.seq,
                    f"entry {entry.seq} carries no seal, but entry {self.sealed_at} before it "
                    f"does: forged, or written by a process without the journal key ({source})",
                )
                return ""
            return content_hash(entry.raw)
        if self.sealed_at is None:
            self.sealed_at = entry.seq
        v.sealed += 1
        if self.seal is None:  # no key here: continuity only, and verify says so
            v.unchecked.add(str(kid))
            return None
        if kid != self.seal.kid:
            # One journal, one key: an entry naming another cannot be checked, and a
            # forger could name any; so it fails rather than pass unchecked.
            v.fail(
                entry.seq,
                f"entry {entry.seq} is sealed with key {kid}, not with this journal's key "
                f"{self.seal.kid}: forged, or written by an instance with another key file "
                f"({source})",
            )
            return ""
        return self.seal.digest(entry.raw)

    def check(self, entry: Entry, source: str, live: dict[str, set[int]] | None = None) -> bool:
        """Check one entry; False once the chain is broken. With `live`, note the
        organisations whose index must list it."""
        v = self.verdict
        if self.expected is not None and entry.seq < self.expected:
            if self.archived.get(entry.seq) != entry.link:
                v.fail(entry.seq, f"entry {entry.seq} in {source} differs from its archived copy")
                return False
            if live is not None:  # archived, not yet trimmed: still indexed
                for org in entry_orgs(entry.fields):
                    live.setdefault(org, set()).add(entry.seq)
            return True
        if self.expected is None:
            v.first = entry.seq
            if entry.seq != 1:
                v.fail(1, f"entries 1..{entry.seq - 1} are missing (the chain starts at 1)")
                return False
        elif entry.seq != self.expected:
            gap = f"{self.expected}" + (
                f"..{entry.seq - 1}" if entry.seq - 1 > self.expected else ""
            )
            v.fail(self.expected, f"entry {gap} is missing ({source})")
            return False
        if entry.prev != self.prev:
            v.fail(
                entry.seq,
                f"entry {entry.seq} does not follow entry {entry.seq - 1} "
                f"(deleted, inserted or reordered; {source})",
            )
            return False
        fields = entry.fields  # parsed once: verify reads every entry ever written
        digest = self._digest(entry, fields.get("seal"), source)
        if digest == "":
            return False
        if digest is not None and chain_link(self.prev, entry.seq, digest) != entry.link:
            if fields.get("seal"):
                v.fail(
                    entry.seq,
                    f"entry {entry.seq} does not match its seal: changed after it was "
                    f"written, or forged without the journal key ({source})",
                )
            else:
                v.fail(entry.seq, f"entry {entry.seq} was changed after it was written ({source})")
            return False
        for mark in self.marks.get(entry.seq, ()):
            if mark.link != entry.link:
                v.fail(
                    entry.seq,
                    f"entry {entry.seq} differs from {mark.where()}: the journal was "
                    f"rewritten at or before entry {entry.seq} ({source})",
                )
                return False
        for org in entry_orgs(fields):
            self.by_org.setdefault(org, array("q")).append(entry.seq)
            if live is not None:
                live.setdefault(org, set()).add(entry.seq)
        self.prev, self.expected = entry.link, entry.seq + 1
        v.entries += 1
        v.last = entry.seq
        return True

    def org_count(self, org: str, after: int, upto: int) -> int:
        """Entries by or about `org` in (after, upto]."""
        seqs = self.by_org.get(org)
        if seqs is None:
            return 0
        return bisect.bisect_right(seqs, upto) - bisect.bisect_right(seqs, after)


# --- the journal ----------------------------------------------------------------------------
class Journal:
    """Append, read, archive and verify the journal. `directory` holds the archive files."""

    def __init__(
        self, redis: Redis, keys: Keys, directory: Path | None = None, seal: Seal | None = None
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.directory = directory
        self.seal = seal  # the journal key: seals what this process writes, checks verify
        self._append = redis.register_script(_APPEND)

    async def append(self, fields: Mapping[str, Any]) -> int:
        """Write one entry (stamped with `at` unless given); return its sequence number."""
        entry = {k: v for k, v in fields.items() if v is not None and v != ""}
        entry.setdefault("at", now_ms())
        raw, digest = sealed(entry, self.seal)
        keys = [self.keys.journal(), self.keys.journal_head()]
        keys += [self.keys.journal_org(o) for o in entry_orgs(entry)]
        seq, _ = await self._append(keys=keys, args=[raw, digest, GENESIS])
        return int(seq)

    async def record(
        self,
        actor: Actor,
        action: str,
        target: str = "",
        target_org: str = "",
        **detail: Any,
    ) -> int:
        """Journal an administrative action."""
        fields: dict[str, Any] = {"kind": "admin", "action": action, **actor.fields()}
        fields.update(target=target, target_org=target_org)
        if detail:
            fields["detail"] = detail
        return await self.append(fields)

    async def head(self) -> tuple[int, str]:
        raw = cast(str | None, await self.redis.get(self.keys.journal_head()))
        if not raw:
            return 0, GENESIS
        seq, _, link = raw.partition(":")
        return int(seq), link

    async def length(self) -> int:
        return int(await self.redis.xlen(self.keys.journal()))

    async def floor(self) -> int:
        return int(await self.redis.get(self.keys.journal_floor()) or 0)

    async def read(self, after: int = 0, count: int = _READ_CHUNK) -> list[Entry]:
        """Live entries after `after`, in order."""
        rows = await self.redis.xrange(self.keys.journal(), min=f"({after}-0", count=count)
        return [_entry(i, v) for i, v in cast(list[tuple[str, dict[str, str]]], rows)]

    async def _live(self, after: int = 0) -> AsyncIterator[Entry]:
        while True:
            chunk = await self.read(after)
            for entry in chunk:
                yield entry
            if len(chunk) < _READ_CHUNK:
                return
            after = chunk[-1].seq

    async def _archived(self) -> dict[str, dict[str, Any]]:
        raw = cast(dict[str, str], await self.redis.hgetall(self.keys.journal_archives()))
        return {name: json.loads(t) for name, t in raw.items()}

    # --- reading across the archive -------------------------------------------------------
    async def entries(
        self, start: str | None = None, end: str | None = None, org: str | None = None
    ) -> AsyncIterator[Entry]:
        """Every entry in seq order, archive files first, filtered by time and org."""
        seen = 0
        registry = await self._archived()
        for path in archive_files(self._dir()):
            trailer = registry.get(path.name)
            if trailer is not None and _outside(trailer, start, end):
                seen = max(seen, int(trailer["last"]))
                continue
            found, _ = await asyncio.to_thread(read_archive, path)
            for entry in found:
                if entry.seq > seen and _wanted(entry, start, end, org):
                    yield entry
                seen = max(seen, entry.seq)
        async for entry in self._live(seen):
            if _wanted(entry, start, end, org):
                yield entry

    async def for_org(
        self,
        org: str,
        after: int = 0,
        limit: int = 100,
        start: str | None = None,
        end: str | None = None,
    ) -> tuple[list[Entry], int | None]:
        """Entries by or about `org` after seq `after`; the next cursor if more may follow."""
        out: list[Entry] = []
        floor = await self.floor()
        if after < floor:
            registry = await self._archived()
            for path in archive_files(self._dir()):
                trailer = registry.get(path.name)
                if trailer is not None and (
                    int(trailer["last"]) <= after or _outside(trailer, start, end)
                ):
                    continue
                found, _ = await asyncio.to_thread(read_archive, path)
                for entry in found:
                    if entry.seq > after and _wanted(entry, start, end, org):
                        out.append(entry)
                        after = entry.seq
                        if len(out) == limit:
                            return out, after
                after = max(after, found[-1].seq if found else after)
            after = max(after, floor)
        index = self.keys.journal_org(org)
        while len(out) < limit:
            seqs = cast(
                list[str],
                await self.redis.zrangebyscore(index, f"({after}", "+inf", start=0, num=200),
            )
            if not seqs:
                return out, None
            async with self.redis.pipeline(transaction=False) as pipe:
                for seq in seqs:
                    pipe.xrange(self.keys.journal(), min=f"{seq}-0", max=f"{seq}-0")
                rows = await pipe.execute()
            for seq, found in zip(seqs, rows, strict=True):
                after = int(seq)
                if not found:  # archived between the two reads
                    continue
                stream_id, values = cast(list[tuple[str, dict[str, str]]], found)[0]
                entry = _entry(stream_id, values)
                if _wanted(entry, start, end, org):
                    out.append(entry)
                    if len(out) == limit:
                        return out, after
        return out, after

    # --- archiving --------------------------------------------------------------------------
    def _dir(self) -> Path:
        if self.directory is None:
            raise RuntimeError("this Journal was opened without an archive directory")
        return self.directory

    async def archive(self, threshold: int, everything: bool = False) -> list[Path]:
        """While more than `threshold` entries are live, move the oldest half of the
        threshold to one file; with `everything`, move every live entry. One process at
        a time (a lock with a TTL); returns the files written."""
        token = secrets.token_hex(8)
        lock = self.keys.journal_lock()
        taken = await self.redis.set(lock, token, nx=True, ex=600)
        if not taken and await self.redis.get(lock) != token:  # != a retried SET that landed
            return []
        written: list[Path] = []
        try:
            batch = max(1, threshold // 2)
            while True:
                live = await self.length()
                if live == 0 or (not everything and live <= threshold):
                    break
                entries = await self.read(await self.floor(), batch if not everything else live)
                if not entries:
                    break
                written.append(await self._archive_batch(entries))
        finally:
            # Release only our own lock: it may have expired and been taken over.
            if await self.redis.get(lock) == token:
                await self.redis.delete(lock)
        return written

    async def _archive_batch(self, entries: list[Entry]) -> Path:
        first, last = entries[0].seq, entries[-1].seq
        path = self._dir() / archive_name(first, last)
        trailer = await asyncio.to_thread(write_archive, path, entries)
        orgs = {o for e in entries for o in (e.fields.get("org"), e.fields.get("target_org")) if o}
        # The file is durable before anything is trimmed: a crash in between leaves the
        # entries in both places, which `verify` and the readers accept.
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.journal_archives(), path.name, json.dumps(trailer))
            pipe.set(self.keys.journal_floor(), last)
            pipe.xtrim(self.keys.journal(), minid=f"{last + 1}-0", approximate=False)
            for org in sorted(orgs):
                pipe.zremrangebyscore(self.keys.journal_org(str(org)), "-inf", last)
            await pipe.execute()
        log.info("journal archived", file=path.name, first=first, last=last, count=len(entries))
        return path

    # --- verification -----------------------------------------------------------------------
    async def verify(self) -> Verdict:
        """Check the chain end to end (archive files, the live stream, the head), each
        entry's seal, the signed checkpoints, and each organisation's index."""
        verdict = Verdict(key="present" if self.seal is not None else "missing")
        marks = self._checkpoints(verdict)
        if not verdict.ok:
            return verdict
        chain = _Chain(verdict, seal=self.seal)
        for mark in marks:
            chain.marks.setdefault(mark.seq, []).append(mark)
        registry = await self._archived()
        files = archive_files(self._dir())
        names = {p.name for p in files}
        for name in sorted(registry):
            if name not in names:
                first = int(registry[name]["first"])
                verdict.fail(first, f"archive file {name} is missing")
        for path in files:
            verdict.archives += 1
            found, trailer = await asyncio.to_thread(read_archive, path)
            for entry in found:
                if not chain.check(entry, path.name):
                    return verdict
            problem = _trailer_problem(found, trailer, registry.get(path.name))
            if problem:
                verdict.fail(found[-1].seq if found else None, f"{path.name}: {problem}")
                return verdict
            chain.archived = {e.seq: e.link for e in found}
        live: dict[str, set[int]] = {}
        async for entry in self._live(0):
            if not chain.check(entry, "the live journal", live):
                return verdict
        seq, link = await self.head()
        if (seq, link) != (verdict.last, chain.prev if verdict.last else GENESIS):
            verdict.fail(
                verdict.last + 1,
                f"the head says entry {seq} but the chain ends at entry {verdict.last} "
                "(entries at the end deleted, or the head was changed)",
            )
        if verdict.ok:
            await self._check_floor(verdict, marks)
        if verdict.ok and marks:
            _check_marks(chain, marks)
        if verdict.ok:
            await self._check_indexes(verdict, live)
        return verdict

    def _checkpoints(self, verdict: Verdict) -> list[Checkpoint]:
        """The checkpoints signed with our key, their signatures checked."""
        found, problems = read_checkpoints(self._dir())
        if problems:
            verdict.fail(None, problems[0])
            return []
        marks: list[Checkpoint] = []
        for mark in found:
            if mark.prefix != self.keys.prefix:
                continue  # another deployment's journal on the same host
            if self.seal is None or mark.kid != self.seal.kid:
                verdict.unchecked.add(mark.kid)
                continue
            if not self.seal.signed(mark.record):
                verdict.fail(
                    mark.seq,
                    f"{mark.where()} does not match its signature: the checkpoint was "
                    "forged or altered",
                )
                return []
            marks.append(mark)
        verdict.checkpoints = len(marks)
        if marks:
            newest = max(marks, key=lambda m: (m.seq, m.at))
            verdict.newest_checkpoint = {"seq": newest.seq, "at": newest.at}
        return marks

    async def _check_floor(self, verdict: Verdict, marks: list[Checkpoint]) -> None:
        """The floor (where auditors' reads switch from archive files to the index) is
        not above the last archived entry: raised, it hides live entries from them."""
        floor = await self.floor()
        # Read after the floor: a file archived while verify ran is counted too.
        names = [_ARCHIVE.fullmatch(p.name) for p in archive_files(self._dir())]
        covered = max((int(m.group(2)) for m in names if m), default=0)
        for where, value in [("the archive floor in Redis", floor)] + [
            (mark.where(), mark.floor) for mark in marks
        ]:
            if value > covered:
                verdict.fail(
                    covered + 1,
                    f"{where} says entries up to {value} were archived, but the archive "
                    f"files end at entry {covered}: entries {covered + 1}..{value} were "
                    "hidden from auditors' reads",
                )
                return

    async def _check_indexes(self, verdict: Verdict, live: Mapping[str, set[int]]) -> None:
        """Every live entry by or about organisation X is in X's index, and nothing else."""
        prefix = self.keys.journal_org("")
        orgs = {
            str(k)[len(prefix) :]
            async for k in self.redis.scan_iter(match=self.keys.journal_orgs(), count=1000)
        }
        indexed: dict[str, set[int]] = {}
        for org in sorted(orgs | set(live)):
            members = cast(
                list[str],
                await self.redis.zrangebyscore(self.keys.journal_org(org), "-inf", verdict.last),
            )
            indexed[org] = {int(m) for m in members}
        # Archiving may have run meanwhile: entries it moved left the index too.
        floor = await self.floor()
        for org in sorted(indexed):
            want = {s for s in live.get(org, ()) if s > floor}
            have = {s for s in indexed[org] if s > floor}
            if want - have:
                lost = sorted(want - have)
                verdict.fail(
                    lost[0],
                    f"the journal index of organisation {org} lacks entries "
                    f"{_seqs(lost)} (hidden from its auditors)",
                )
                return
            if have - want:
                extra = sorted(have - want)
                verdict.fail(
                    extra[0],
                    f"the journal index of organisation {org} lists entries {_seqs(extra)} "
                    "that are not by or about it",
                )
                return


def _check_marks(chain: _Chain, marks: list[Checkpoint]) -> None:
    """Truncation below the newest checkpoint, and each checkpoint's index counts."""
    verdict = chain.verdict
    newest = max(marks, key=lambda m: m.seq)
    if newest.seq > verdict.last:
        verdict.fail(
            verdict.last + 1,
            f"entries {verdict.last + 1}..{newest.seq} are missing: {newest.where()} "
            f"records entry {newest.seq}, the journal ends at entry {verdict.last} "
            "(entries at the end were deleted and the head moved back)",
        )
        return
    for mark in sorted(marks, key=lambda m: m.seq):
        for org in sorted(set(mark.orgs) | set(chain.by_org)):
            want = chain.org_count(org, mark.floor, mark.seq)
            if mark.orgs.get(org, 0) != want:
                verdict.fail(
                    mark.seq,
                    f"{mark.where()} found {mark.orgs.get(org, 0)} live entries in the "
                    f"journal index of organisation {org}, but the chain has {want}: the "
                    "index was altered (entries hidden from its auditors)",
                )
                return


def _seqs(seqs: list[int]) -> str:
    shown = ", ".join(str(s) for s in seqs[:10])
    return shown + (f" and {len(seqs) - 10} more" if len(seqs) > 10 else "")


# --- group commit, admission confirmation and the spool -------------------------------------
_OUTAGE = (RedisConnectionError, RedisTimeoutError, OSError)
_RATE_TTL = 120  # seconds: two rate windows
_SPOOL_CHUNK = 500  # spooled entries per append when Redis is back
_MAX_BATCH = 512


class StoreHealth:
    """Whether Redis answered lately. After a failure, callers skip Redis for `backoff`
    seconds (answering from memory) instead of each waiting out a connection attempt."""

    def __init__(self, backoff: float = 1.0) -> None:
        self.backoff = backoff
        self.down_since: float | None = None
        self._retry_at = 0.0

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def should_try(self, now: float) -> bool:
        return self.down_since is None or now >= self._retry_at

    def failed(self, now: float) -> None:
        if self.down_since is None:
            self.down_since = now
            log.warning("redis unreachable: answering from memory, journaling to the spool")
        self._retry_at = now + self.backoff

    def ok(self) -> None:
        if self.down_since is not None:
            log.info("redis reachable again", down_seconds=round(time.time() - self.down_since, 1))
            self.down_since = None


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
        self.redis = journal.redis
        self.keys = journal.keys
        self.spool_dir = spool_dir
        self.health = health or StoreHealth()
        self.on_epoch = on_epoch
        self.writer = "w-" + secrets.token_hex(6)
        self._script = self.redis.register_script(_APPEND_MANY)
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
        self._queue.append(_Pending(_stamped(fields), confirm, future))
        self._kick()
        return await future

    def submit(self, fields: Mapping[str, Any]) -> None:
        """Journal an entry without waiting (a request that was cancelled)."""
        future: asyncio.Future[Written] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_consume)
        self._queue.append(_Pending(_stamped(fields), None, future))
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
                    progressed = self.health.should_try(time.time()) and await self._replay()
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
        call = _Call(self, str(self._batch))
        for pending in batch:
            call.entry(pending.fields, pending.confirm, 0, 0)
        try:
            out = await call.run()
        except _OUTAGE as exc:
            self.health.failed(time.time())
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
            call = _Call(self, str(spool.applied + len(lines)))
            call.progress_key = marker
            for raw in lines:
                try:
                    line = json.loads(raw)
                except json.JSONDecodeError:
                    log.error("unreadable spool line skipped", file=spool.path.name)
                    line = {"e": {"kind": "spool_error", "file": spool.path.name, "at": now_ms()}}
                done_key = call.key(self.keys.journal_progress(line["w"])) if "w" in line else 0
                call.entry({**line["e"], "spooled": True}, None, done_key, int(line.get("b", 0)))
            await call.run()
        except _OUTAGE as exc:
            self.health.failed(time.time())
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

    async def run(self, every: float = 1.0) -> None:
        """Background loop: replay spooled entries once Redis answers again."""
        while True:
            await asyncio.sleep(every)
            if not self._adopted or self._files:
                self._kick()

    async def close(self) -> None:
        """Wait for queued entries (at most a few seconds)."""
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._task), 5.0)


class _Call:
    """One run of the batch append script."""

    def __init__(self, writer: JournalWriter, progress: str) -> None:
        self.writer = writer
        keys = writer.keys
        self.keys = [keys.journal(), keys.journal_head(), keys.access_epoch(), ""]
        self.progress = progress
        self.progress_key = keys.journal_progress(writer.writer)
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
        self, fields: Mapping[str, Any], confirm: Confirm | None, done_key: int, batch: int
    ) -> None:
        raw, digest = sealed(fields, self.writer.journal.seal)
        orgs = entry_orgs(fields)
        indexes = ",".join(str(self.key(self.writer.keys.journal_org(o))) for o in orgs)
        if confirm is None:
            want, rate, limit = "", 0, 0
        else:
            want = str(confirm.epoch)
            rate = self.key(confirm.rate_key) if confirm.rate_key else 0
            limit = confirm.limit
        self.args += [raw, digest, want, rate, limit, indexes, done_key, batch]
        self.count += 1

    async def run(self) -> list[str]:
        self.keys[3] = self.progress_key
        out = cast(
            list[str],
            await self.writer._script(
                keys=self.keys, args=[GENESIS, self.progress, _RATE_TTL, self.count, *self.args]
            ),
        )
        if self.writer.on_epoch is not None:
            self.writer.on_epoch(int(out[0]))
        return out[1:]


def _stamped(fields: Mapping[str, Any]) -> dict[str, Any]:
    entry = {k: v for k, v in fields.items() if v is not None and v != ""}
    entry.setdefault("at", now_ms())
    return entry


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


def _outside(trailer: Mapping[str, Any], start: str | None, end: str | None) -> bool:
    return bool((start and str(trailer["last_at"]) < start) or (end and trailer["first_at"] >= end))


def _wanted(entry: Entry, start: str | None, end: str | None, org: str | None) -> bool:
    return _in_range(entry, start, end) and (org is None or entry.concerns(org))


def _trailer_problem(
    found: list[Entry], trailer: Mapping[str, Any] | None, registered: Mapping[str, Any] | None
) -> str | None:
    if trailer is None:
        return "no trailer (the file was cut short)"
    if not found:
        return "no entries"
    facts = (len(found), found[0].seq, found[-1].seq, found[-1].link)
    if facts != (trailer["count"], trailer["first"], trailer["last"], trailer["head"]):
        return "its trailer does not match its entries"
    # Readers skip files by the recorded time range: a changed one would hide entries.
    recorded = ("first", "last", "count", "prev", "head", "first_at", "last_at")
    if registered is not None and any(registered.get(k) != trailer.get(k) for k in recorded):
        return "its trailer differs from the one recorded when it was archived"
    return None


__all__ = [
    "BASES",
    "Confirm",
    "JournalWriter",
    "StoreHealth",
    "Unconfirmed",
    "Written",
    "BASIS_FIELDS",
    "GENESIS",
    "Actor",
    "Basis",
    "Entry",
    "Journal",
    "Verdict",
    "basis_from",
    "parse_time",
]
