"""Snapshots of each source in Redis: write a new versioned keyspace, then flip a pointer.

Readers always go through the source's `current` pointer, so they see either the
old list or the new one, never half of each. A sync that fails or is killed
before the flip leaves the previous version serving; its partial keyspace is an
orphan that the garbage collector removes on the next sync.
"""

from __future__ import annotations

import asyncio
import calendar
import json
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from listd.connection import eval_replicated
from listd.errors import Conflict, Gone
from listd.keyspace import Keys
from listd.logs import get_logger
from listd.model import (
    Entity,
    entity_from_json,
    entity_to_json,
)
from listd.pipeline.delta import Delta
from listd.pipeline.lease import LEADER, LeaseLost, SourceLock

log = get_logger(__name__)

_CHUNK = 500  # entities per pipeline round trip when writing a snapshot
# More deltas than this are staged in a list, 500 per round trip, before the activation
# script: packing 20,000 of them (40 MB) into one command held the event loop for a second.
_STAGE_OVER = 1000
_STAGE_TTL_S = 3600
# The publication step. KEYS: current, state, delta seq, delta stream, sources, held,
# leader lease, entity index start, delta floor, staged deltas (a list; may not exist),
# then the entity index of each delta in ARGV. ARGV: leader token ("" = not fenced), expected
# version ("" = none), new version, source, n state pairs, pairs..., then one delta JSON per
# remaining argument. A large publication stages its deltas in the list instead, as pairs of
# entries: entity index key, delta JSON (read back 2,000 entries at a time, so the script never
# holds all of a first load's 50 MB); those index keys are not declared in KEYS, which is safe
# because they share the lists' hash tag (`{prefix}`, on a cluster `{prefix:lists}`): the same
# slot as the declared keys, which Redis Cluster and Valkey accept (tested on both).
_ACTIVATE = """
if ARGV[1] ~= '' and redis.call('GET', KEYS[7]) ~= ARGV[1] then
  return redis.error_reply('LISTD_FENCED the leader lease is held by another process')
end
local cur = redis.call('GET', KEYS[1]) or ''
if cur ~= ARGV[2] then
  return redis.error_reply('LISTD_CONFLICT serving version is ' .. cur)
end
local nstate = tonumber(ARGV[5])
local i = 6 + 2 * nstate
local staged = redis.call('LLEN', KEYS[10])
local count = #ARGV - i + 1 + math.floor(staged / 2)
local first, last = 0, 0
if count > 0 then
  last = redis.call('INCRBY', KEYS[3], count) - count
  first = last + 1
end
local floor = redis.call('GET', KEYS[9]) or '0'
local trim = floor ~= '0'
local k = 11
while i <= #ARGV do
  last = last + 1
  redis.call('XADD', KEYS[4], last .. '-0', 'd', ARGV[i])
  redis.call('ZADD', KEYS[k], last, last)
  if trim then redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', floor) end
  i = i + 1
  k = k + 1
end
for start = 0, staged - 1, 2000 do
  local chunk = redis.call('LRANGE', KEYS[10], start, start + 1999)
  for j = 1, #chunk - 1, 2 do
    local index = chunk[j]
    last = last + 1
    redis.call('XADD', KEYS[4], last .. '-0', 'd', chunk[j + 1])
    redis.call('ZADD', index, last, last)
    if trim then redis.call('ZREMRANGEBYSCORE', index, '-inf', floor) end
  end
end
redis.call('DEL', KEYS[10])
if first > 0 then redis.call('SETNX', KEYS[8], first) end
if last == 0 then last = tonumber(redis.call('GET', KEYS[3]) or '0') end
redis.call('SET', KEYS[1], ARGV[3])
redis.call('SADD', KEYS[5], ARGV[4])
redis.call('HSET', KEYS[2], 'version', ARGV[3], 'previous_version', ARGV[2], 'seq', last)
for j = 6, 5 + 2 * nstate, 2 do
  redis.call('HSET', KEYS[2], ARGV[j], ARGV[j + 1])
end
local held = redis.call('HGET', KEYS[6], 'version')
if held == ARGV[3] then redis.call('DEL', KEYS[6]) end
return {first, last}
"""


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def age_minutes(iso: str | None, now: float | None = None) -> float | None:
    """Minutes since an ISO-8601 UTC timestamp written by `now_iso`."""
    if not iso:
        return None
    try:
        then = calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return None
    return ((time.time() if now is None else now) - then) / 60


def snapshot_hash(hashes: dict[str, str]) -> str:
    """Content hash of a whole list: independent of record order and serialisation."""
    import hashlib

    digest = hashlib.sha256()
    for entity_id in sorted(hashes):
        digest.update(f"{entity_id}\t{hashes[entity_id]}\n".encode())
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Fence:
    """The leader lease a publication must still hold: its key and the holder's token."""

    key: str
    token: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    source: str
    version: str
    entities: int
    content_hash: str


class Store:
    """All reads and writes of source snapshots and their state."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    # --- state ---------------------------------------------------------------
    async def current_version(self, source: str) -> str | None:
        value = await self.redis.get(self.keys.current(source))
        return cast(str | None, value)

    async def current_versions(self, sources: Sequence[str]) -> dict[str, str | None]:
        if not sources:
            return {}
        values = await self.redis.mget([self.keys.current(s) for s in sources])
        return {s: cast(str | None, v) for s, v in zip(sources, values, strict=True)}

    async def state(self, source: str) -> dict[str, str]:
        data = await self.redis.hgetall(self.keys.source_state(source))
        return cast(dict[str, str], data)

    async def set_state(self, source: str, **fields: str | int | float) -> None:
        mapping: dict[Any, Any] = fields
        await self.redis.hset(self.keys.source_state(source), mapping=mapping)

    async def clear_state(self, source: str, *names: str) -> None:
        if names:
            await self.redis.hdel(self.keys.source_state(source), *names)

    async def last_successes(self, sources: Sequence[str]) -> dict[str, str | None]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for source in sources:
                pipe.hget(self.keys.source_state(source), "last_success")
            values = await pipe.execute()
        return {s: v or None for s, v in zip(sources, values, strict=True)}

    async def record_history(self, source: str, record: dict[str, Any], keep: int) -> None:
        key = self.keys.history(source)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(key, json.dumps(record, sort_keys=True))
            pipe.ltrim(key, 0, keep - 1)
            await pipe.execute()

    async def history(self, source: str, limit: int = 50) -> list[dict[str, Any]]:
        rows = await self.redis.lrange(self.keys.history(source), 0, limit - 1)
        return [json.loads(row) for row in rows]

    def lock(self, source: str) -> SourceLock:
        return SourceLock(self.redis, self.keys.sync_lock(source))

    # --- snapshots -----------------------------------------------------------
    async def write_snapshot(
        self,
        source: str,
        entities: Iterable[Entity],
        *,
        published: str | None = None,
        hashes: dict[str, str] | None = None,
        encoded: dict[str, bytes] | None = None,
    ) -> Snapshot:
        """Write a complete new version keyspace for `source`. Not yet visible to readers.

        `hashes` and `encoded` (entity JSON), when the caller has them, spare computing
        them again here."""
        seen: set[str] = set()

        def rows() -> Iterator[tuple[str, bytes, str]]:
            for entity in entities:
                if entity.id in seen:
                    raise Conflict(f"duplicate entity id {entity.id} in {source} snapshot")
                seen.add(entity.id)
                known = encoded.get(entity.id) if encoded else None
                body = known if known is not None else entity_to_json(entity)
                digest = (hashes or {}).get(entity.id) or entity.content_hash()
                yield entity.id, body, digest

        return await self._write(source, rows(), published, None)

    async def write_encoded(
        self,
        source: str,
        encoded: Mapping[str, bytes],
        hashes: Mapping[str, str],
        *,
        published: str | None = None,
        content_hash: str | None = None,
        version: str | None = None,
    ) -> Snapshot:
        """`write_snapshot` from what a sync's parse produced: entity id -> entity JSON,
        id -> content hash (the same ids). No Entity is needed,
        so a list encoded in a child process is stored without being rebuilt here.
        `content_hash` is `snapshot_hash(hashes)` when the caller has it already; `version`
        one `new_version` gave (else the next one)."""
        rows = ((i, body, hashes[i]) for i, body in encoded.items())
        return await self._write(source, rows, published, content_hash, version)

    async def new_version(self, source: str) -> str:
        """The next version of `source`, listed from now on for `collect_garbage` (whatever
        is written under it before a failure is an orphan the next sync removes)."""
        number = await self.redis.incr(self.keys.version_counter(source))
        await self.redis.zadd(self.keys.versions(source), {str(number): number})
        return str(number)

    async def _write(
        self,
        source: str,
        rows: Iterable[tuple[str, bytes, str]],
        published: str | None,
        content_hash: str | None,
        version: str | None = None,
    ) -> Snapshot:
        """Write (id, entity JSON, content hash) rows, then the version's metadata, as a new
        version keyspace (`version`, from `new_version`, or the next one)."""
        if version is None:
            version = await self.new_version(source)
        k_ent = self.keys.snap_entities(source, version)
        k_hash = self.keys.snap_hashes(source, version)
        all_hashes: dict[str, str] = {}
        batch: list[tuple[str, bytes, str]] = []

        async def flush() -> None:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hset(k_ent, mapping={i: body for i, body, _ in batch})
                pipe.hset(k_hash, mapping={i: digest for i, _, digest in batch})
                await pipe.execute()
            batch.clear()

        for row in rows:
            all_hashes[row[0]] = row[2]
            batch.append(row)
            if len(batch) >= _CHUNK:
                await flush()
        if batch:
            await flush()
        if content_hash is None:
            content_hash = await asyncio.to_thread(snapshot_hash, all_hashes)
        meta: dict[Any, Any] = {
            "version": version,
            "entities": len(all_hashes),
            "content_hash": content_hash,
            "created": now_iso(),
        }
        if published:
            meta["published"] = published
        await self.redis.hset(self.keys.snap_meta(source, version), mapping=meta)
        return Snapshot(source, version, len(all_hashes), content_hash)

    async def activate(
        self,
        source: str,
        snapshot: Snapshot,
        expected: str | None,
        state: dict[str, str | int],
        deltas: Sequence[tuple[str, str]] = (),
        fence: Fence | None = None,
    ) -> tuple[int, int]:
        """Flip `current` to `snapshot` and append its deltas ((entity id, delta JSON), as
        `delta.payloads` gives them; or those `stage` pushed before, passing none), in one
        atomic step.

        Runs as one Lua script: the pointer flip, the sequence numbers and the
        stream entries happen together or not at all. Refuses (Conflict) if the
        serving version is no longer `expected`, and (LeaseLost) if `fence` is given
        and its token no longer holds the leader lease: a leader that lost the lease
        unawares (a long pause) cannot publish after its successor took over.
        Returns the first and last sequence numbers given out (first is 0 when
        there were no deltas).
        """
        fields: list[str | int] = []
        for key, value in {**state, "entities": snapshot.entities}.items():
            fields += [key, value]
        fields += ["content_hash", snapshot.content_hash]
        staging = self.keys.staged_deltas(source, snapshot.version)
        if await self.stage(source, snapshot.version, deltas):
            indexes: list[str] = []
            documents: list[str] = []
        else:
            indexes = [self.keys.entity_deltas(entity_id) for entity_id, _ in deltas]
            documents = [document for _, document in deltas]
        try:
            first, last = await eval_replicated(
                self.redis,
                self.keys.cluster,
                _ACTIVATE,
                10 + len(indexes),
                self.keys.current(source),
                self.keys.source_state(source),
                self.keys.delta_seq(),
                self.keys.deltas(),
                self.keys.sources(),
                self.keys.held(source),
                fence.key if fence else self.keys.lease(LEADER),
                self.keys.entity_deltas_from(),
                self.keys.delta_floor(),
                staging,
                *indexes,
                fence.token if fence else "",
                expected or "",
                snapshot.version,
                source,
                len(fields) // 2,
                *fields,
                *documents,
            )
        except ResponseError as exc:
            if "LISTD_CONFLICT" in str(exc):
                raise Conflict(f"{source} changed version during the sync; retry") from exc
            if "LISTD_FENCED" in str(exc):
                raise LeaseLost(f"{source}: no longer the leader; not published") from exc
            raise
        return int(first), int(last)

    async def stage(self, source: str, version: str, deltas: Sequence[tuple[str, str]]) -> bool:
        """Push the deltas of `version` to its staging list if they are more than _STAGE_OVER
        (True), for `activate` to publish; they stay invisible to readers until then."""
        if len(deltas) <= _STAGE_OVER:
            return False
        lines = await asyncio.to_thread(self._staged_lines, deltas)
        await self._stage(self.keys.staged_deltas(source, version), lines)
        return True

    def _staged_lines(self, deltas: Sequence[tuple[str, str]]) -> list[str]:
        """Staging entries: entity index key, delta JSON, for each delta (the activation
        script files each delta under its entity)."""
        return [x for entity_id, d in deltas for x in (self.keys.entity_deltas(entity_id), d)]

    async def _stage(self, key: str, lines: Sequence[str]) -> None:
        """Push staging `lines` to `key` in chunks, each its own round trip."""
        await self.redis.delete(key)
        for start in range(0, len(lines), 2 * _CHUNK):
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.rpush(key, *lines[start : start + 2 * _CHUNK])
                pipe.expire(key, _STAGE_TTL_S)
                await pipe.execute()

    async def announce(self, source: str, version: str, first: int, last: int) -> None:
        message = {"source": source, "version": version, "first": first, "last": last}
        await self.redis.publish(self.keys.announcements(), json.dumps(message))

    # --- deltas --------------------------------------------------------------
    async def last_seq(self) -> int:
        return int(await self.redis.get(self.keys.delta_seq()) or 0)

    async def delta_floor(self) -> int:
        return int(await self.redis.get(self.keys.delta_floor()) or 0)

    async def read_deltas(
        self, after: int, limit: int, source: str | None = None, klass: str | None = None
    ) -> tuple[list[Delta], int]:
        """Deltas with seq > `after`, oldest first; also returns the seq to ask after next.

        `klass` keeps only deltas of that class (`delta.classify`). Raises Gone when
        `after` is older than what retention kept."""
        floor = await self.delta_floor()
        if after < floor:
            raise Gone(
                f"deltas up to {floor} are no longer retained; resynchronise from "
                "GET /v1/sources/{name}/snapshot and continue after its seq",
                floor=floor,
            )
        out: list[Delta] = []
        cursor = after
        # Source filtering happens here, so read in pages until `limit` matches or the end.
        while len(out) < limit:
            page = cast(
                list[tuple[str, dict[str, str]]],
                await self.redis.xrange(self.keys.deltas(), min=f"({cursor}-0", count=500),
            )
            if not page:
                break
            for entry_id, data in page:
                seq = int(entry_id.split("-", 1)[0])
                cursor = seq
                delta = Delta.from_json(seq, data["d"])
                if (source is None or delta.source == source) and (
                    klass is None or delta.klass == klass
                ):
                    out.append(delta)
                    if len(out) >= limit:
                        break
        return out, cursor

    async def entity_deltas(self, entity_id: str, limit: int) -> tuple[list[Delta], int]:
        """Up to `limit` retained deltas about one entity, newest first, read through the
        per-entity index; also returns the first seq the index covers (0: none published
        since it exists), below which a caller must scan the stream itself."""
        floor = await self.delta_floor()
        start = int(await self.redis.get(self.keys.entity_deltas_from()) or 0)
        key = self.keys.entity_deltas(entity_id)
        seqs = cast(
            list[str],
            await self.redis.zrevrangebyscore(key, "+inf", f"({floor}", start=0, num=limit),
        )
        async with self.redis.pipeline(transaction=False) as pipe:
            for seq in seqs:
                pipe.xrange(self.keys.deltas(), min=f"{seq}-0", max=f"{seq}-0")
            pages = cast(list[list[tuple[str, dict[str, str]]]], await pipe.execute())
        # A seq trimmed meanwhile has no entry left: it is simply not retained.
        found = [
            Delta.from_json(int(seq), page[0][1]["d"])
            for seq, page in zip(seqs, pages, strict=True)
            if page
        ]
        return found, start

    async def trim_deltas(self, keep: int) -> int:
        """Drop all but the newest `keep` deltas; record the new floor first, so a reader
        never mistakes a trimmed range for an empty one."""
        last = await self.last_seq()
        floor = last - keep
        if floor <= await self.delta_floor():
            return 0
        await self.redis.set(self.keys.delta_floor(), floor)
        removed = await self.redis.xtrim(self.keys.deltas(), minid=f"{floor + 1}-0")
        return int(removed)

    # --- held snapshots --------------------------------------------------------
    async def hold(self, source: str, record: dict[str, str | int]) -> None:
        mapping: dict[Any, Any] = record
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.keys.held(source))
            pipe.hset(self.keys.held(source), mapping=mapping)
            pipe.hset(
                self.keys.source_state(source),
                mapping={"status": "held", "held_reason": str(record["reason"])},
            )
            await pipe.execute()

    async def held(self, source: str) -> dict[str, str]:
        data = await self.redis.hgetall(self.keys.held(source))
        return cast(dict[str, str], data)

    async def drop_held(self, source: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.keys.held(source))
            pipe.hdel(self.keys.source_state(source), "held_reason")
            await pipe.execute()

    # --- the cumulative removal window ------------------------------------------
    async def removals(self, source: str, since: float) -> list[dict[str, Any]]:
        """Publications of `source` that removed entities after unix time `since`, oldest first."""
        key = self.keys.removals(source)
        rows = cast(list[str], await self.redis.zrangebyscore(key, f"({since}", "+inf"))
        return [json.loads(row) for row in rows]

    async def record_removals(
        self, source: str, at: float, record: dict[str, Any], forget_before: float
    ) -> None:
        """Count one publication's removals in the window; forget those older than it."""
        key = self.keys.removals(source)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {json.dumps(record, sort_keys=True): at})
            pipe.zremrangebyscore(key, "-inf", f"({forget_before}")
            await pipe.execute()

    async def reset_removals(self, source: str) -> None:
        await self.redis.delete(self.keys.removals(source))

    async def collect_garbage(self, source: str) -> list[str]:
        """Delete every snapshot keyspace but the current and the previous one."""
        state = await self.state(source)
        keep = {state.get("version"), state.get("previous_version")}
        keep.add(await self.current_version(source))
        keep.add((await self.held(source)).get("version"))
        versions = cast(list[str], await self.redis.zrange(self.keys.versions(source), 0, -1))
        doomed = [v for v in versions if v not in keep]
        for version in doomed:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.delete(*self.keys.snapshot_keys(source, version))
                pipe.zrem(self.keys.versions(source), version)
                await pipe.execute()
        if doomed:
            log.info("snapshots collected", source=source, versions=doomed)
        return list(doomed)

    # --- reads ---------------------------------------------------------------
    async def snapshot_meta(self, source: str, version: str) -> dict[str, str]:
        data = await self.redis.hgetall(self.keys.snap_meta(source, version))
        return cast(dict[str, str], data)

    async def content_hashes(self, source: str, version: str) -> dict[str, str]:
        data = await self.redis.hgetall(self.keys.snap_hashes(source, version))
        return cast(dict[str, str], data)

    async def entity_json(self, source: str, version: str, ids: Sequence[str]) -> dict[str, str]:
        """Entity JSON of `ids` in one version (one round trip per 1,000 ids)."""
        out: dict[str, str] = {}
        key = self.keys.snap_entities(source, version)
        for start in range(0, len(ids), 1000):
            chunk = list(ids[start : start + 1000])
            values = cast(list[str | None], await self.redis.hmget(key, chunk))
            out.update({k: v for k, v in zip(chunk, values, strict=True) if v is not None})
        return out

    async def entity_json_all(self, source: str, version: str) -> dict[str, str]:
        data = await self.redis.hgetall(self.keys.snap_entities(source, version))
        return cast(dict[str, str], data)

    async def entity(self, entity_id: str) -> Entity | None:
        source, sep, _ = entity_id.partition(":")
        if not sep:
            return None
        # Two tries: a GC may remove the version we just read the pointer for.
        for _ in range(2):
            version = await self.current_version(source)
            if version is None:
                return None
            raw = await self.redis.hget(self.keys.snap_entities(source, version), entity_id)
            if raw is not None:
                return entity_from_json(raw)
            if await self.current_version(source) == version:
                return None
        return None

    async def entities(self, source: str, version: str | None = None) -> list[Entity]:
        """Every entity of a version (the current one by default), sorted by id."""
        version = version or await self.current_version(source)
        if version is None:
            return []
        data = await self._entity_json_paged(source, version)
        # In a thread: decoding a 20,000-entity list is CPU the event loop should not wait on.
        return await asyncio.to_thread(lambda: [entity_from_json(data[k]) for k in sorted(data)])

    async def _entity_json_paged(self, source: str, version: str) -> dict[str, str]:
        """Every entity JSON of a version, read 1,000 at a time: one HGETALL of a 20,000-entity
        list is a 40 MB answer parsed on the event loop in one go (a stall of its own). A
        version collected during the read comes back empty, never partial: the count must
        match the one its metadata recorded."""
        expected = await self.redis.hget(self.keys.snap_meta(source, version), "entities")
        key = self.keys.snap_entities(source, version)
        data: dict[str, str] = {}
        cursor = 0
        while True:
            cursor, page = await self.redis.hscan(key, cursor, count=1000)
            data.update(cast(dict[str, str], page))
            if not cursor:
                break
        if expected is None or len(data) != int(expected):
            return {}
        return data
