"""Snapshots of each source in Redis: write a new versioned keyspace, then flip a pointer.

Readers always go through the source's `current` pointer, so they see either the
old list or the new one, never half of each. A sync that fails or is killed
before the flip leaves the previous version serving; its partial keyspace is an
orphan that the garbage collector removes on the next sync.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import WatchError

from listd.errors import Conflict, SyncInProgress
from listd.keys import Keys
from listd.logs import get_logger
from listd.model import Entity, entity_from_json, entity_to_json

log = get_logger(__name__)

_CHUNK = 500  # entities per pipeline round trip when writing a snapshot
_LOCK_TTL_MS = 15 * 60 * 1000

# Compare-and-delete: release a lock only if we still hold it.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def document_key(number: str) -> str:
    """Normalised document number used for exact identifier look-ups."""
    return "".join(ch for ch in number.upper() if ch.isalnum())


def snapshot_hash(hashes: dict[str, str]) -> str:
    """Content hash of a whole list: independent of record order and serialisation."""
    import hashlib

    digest = hashlib.sha256()
    for entity_id in sorted(hashes):
        digest.update(f"{entity_id}\t{hashes[entity_id]}\n".encode())
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Snapshot:
    source: str
    version: str
    entities: int
    content_hash: str


class SourceLock:
    """A per-source lock in Redis with a TTL, so a killed sync never blocks the next."""

    def __init__(self, redis: Redis, key: str) -> None:
        self.redis = redis
        self.key = key
        self.token = secrets.token_hex(16)

    async def acquire(self) -> None:
        if not await self.redis.set(self.key, self.token, nx=True, px=_LOCK_TTL_MS):
            raise SyncInProgress(f"another sync holds {self.key}")

    async def extend(self) -> None:
        await self.redis.eval(_EXTEND, 1, self.key, self.token, str(_LOCK_TTL_MS))

    async def release(self) -> None:
        await self.redis.eval(_RELEASE, 1, self.key, self.token)


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

    async def record_history(self, source: str, record: dict[str, Any], keep: int) -> None:
        key = self.keys.history(source)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(key, json.dumps(record, sort_keys=True))
            pipe.ltrim(key, 0, keep - 1)
            await pipe.execute()

    async def history(self, source: str, limit: int = 50) -> list[dict[str, Any]]:
        rows = await self.redis.lrange(self.keys.history(source), 0, limit - 1)
        return [json.loads(row) for row in rows]

    async def known_sources(self) -> set[str]:
        members = await self.redis.smembers(self.keys.sources())
        return set(cast(set[str], members))

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
    ) -> Snapshot:
        """Write a complete new version keyspace for `source`. Not yet visible to readers."""
        number = await self.redis.incr(self.keys.version_counter(source))
        version = str(number)
        await self.redis.zadd(self.keys.versions(source), {version: number})
        k_ent = self.keys.snap_entities(source, version)
        k_hash = self.keys.snap_hashes(source, version)
        k_docs = self.keys.snap_documents(source, version)
        documents: dict[str, list[str]] = {}
        all_hashes: dict[str, str] = {}
        batch: list[Entity] = []

        async def flush() -> None:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hset(k_ent, mapping={e.id: entity_to_json(e) for e in batch})
                pipe.hset(k_hash, mapping={e.id: all_hashes[e.id] for e in batch})
                await pipe.execute()
            batch.clear()

        for entity in entities:
            if entity.id in all_hashes:
                raise Conflict(f"duplicate entity id {entity.id} in {source} snapshot")
            all_hashes[entity.id] = (hashes or {}).get(entity.id) or entity.content_hash()
            for doc in entity.documents:
                key = document_key(doc.number)
                if key:
                    ids = documents.setdefault(key, [])
                    if entity.id not in ids:
                        ids.append(entity.id)
            batch.append(entity)
            if len(batch) >= _CHUNK:
                await flush()
        if batch:
            await flush()
        if documents:
            await self.redis.hset(k_docs, mapping={k: json.dumps(v) for k, v in documents.items()})
        content_hash = snapshot_hash(all_hashes)
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
        self, source: str, snapshot: Snapshot, expected: str | None, state: dict[str, str | int]
    ) -> None:
        """Flip `current` to `snapshot` atomically, if nobody flipped it since `expected`."""
        k_cur = self.keys.current(source)
        async with self.redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(k_cur)
                if await pipe.get(k_cur) != expected:
                    raise Conflict(f"{source} changed version during the sync; retry")
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.set(k_cur, snapshot.version)
                pipe.sadd(self.keys.sources(), source)
                fields: dict[Any, Any] = {
                    **state,
                    "version": snapshot.version,
                    "entities": snapshot.entities,
                    "content_hash": snapshot.content_hash,
                }
                if expected is not None:
                    fields["previous_version"] = expected
                pipe.hset(self.keys.source_state(source), mapping=fields)
                await pipe.execute()
            except WatchError as exc:
                raise Conflict(f"{source} changed version during the sync; retry") from exc

    async def collect_garbage(self, source: str) -> list[str]:
        """Delete every snapshot keyspace but the current and the previous one."""
        state = await self.state(source)
        keep = {state.get("version"), state.get("previous_version")}
        current = await self.current_version(source)
        keep.add(current)
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
        data = await self.redis.hgetall(self.keys.snap_entities(source, version))
        return [entity_from_json(data[k]) for k in sorted(data)]

    async def by_document(self, number: str, sources: Sequence[str]) -> list[str]:
        key = document_key(number)
        versions = await self.current_versions(sources)
        ids: list[str] = []
        for source, version in versions.items():
            if version is None:
                continue
            raw = await self.redis.hget(self.keys.snap_documents(source, version), key)
            if raw:
                ids.extend(json.loads(raw))
        return ids
