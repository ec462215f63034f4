"""One sync of one source: fetch (or take a local file), validate, parse, normalise, store.

The same path serves the scheduler, `listd sync SOURCE` and the offline import
`listd sync SOURCE --file PATH`. Whatever fails, the stored list is left as it
was: nothing becomes visible before the final pointer flip.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import aiohttp

from listd.errors import ListdError, SourceError, ValidationFailed
from listd.fetch import fetch
from listd.logs import get_logger
from listd.model import Entity
from listd.normalize import normalize_entity
from listd.scrapers import Scraper, scraper
from listd.settings import Settings, SourceConfig
from listd.store import SourceLock, Store, now_iso, snapshot_hash

log = get_logger(__name__)

Progress = Callable[[str], None]
OnUpdate = Callable[[str, str], Awaitable[None]]


@dataclass(slots=True)
class SyncResult:
    source: str
    outcome: str = "failed"  # updated | unchanged | not_modified | failed
    version: str | None = None
    entities: int = 0
    published: str | None = None
    http_status: int | None = None
    bytes: int = 0
    origin: str | None = None
    started: str = field(default_factory=now_iso)
    finished: str | None = None
    duration: float = 0.0
    warnings: list[str] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Parsed:
    entities: list[Entity]
    hashes: dict[str, str]
    content_hash: str
    published: str | None
    warnings: list[str]


def restamp(entity: Entity, source: str) -> Entity:
    """Give an entity the configured source name (parsers prefix ids with their kind)."""
    if entity.source == source:
        return entity
    local = entity.id.partition(":")[2] or entity.reference
    return replace(entity, source=source, id=f"{source}:{local}")


def process(scr: Scraper, raw: bytes, source: str | None = None) -> Parsed:
    """Validate, parse and normalise a document. CPU-bound and pure: runs in a worker thread."""
    scr.validate(raw)
    entities: list[Entity] = []
    seen: set[str] = set()
    warnings: list[str] = []
    for parsed in scr.parse(raw):
        entity = restamp(parsed, source or parsed.source)
        if entity.id in seen:
            raise ValidationFailed(f"entity id {entity.id} occurs twice in the document")
        seen.add(entity.id)
        for tag in entity.meta.get("unknown", ()):
            warnings.append(f"{entity.id}: unknown element {tag}")
        for warning in entity.meta.get("warnings", ()):
            warnings.append(f"{entity.id}: {warning}")
        entities.append(normalize_entity(entity))
    hashes = {e.id: e.content_hash() for e in entities}
    return Parsed(entities, hashes, snapshot_hash(hashes), scr.published(raw), warnings)


class Syncer:
    """Runs syncs; owns nothing but borrows the store, settings and HTTP session."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        session: aiohttp.ClientSession | None = None,
        on_update: OnUpdate | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.session = session
        self.on_update = on_update

    async def sync(
        self,
        name: str,
        *,
        raw: bytes | None = None,
        origin: str | None = None,
        progress: Progress | None = None,
    ) -> SyncResult:
        """Sync source `name`; with `raw`, ingest that document instead of fetching."""
        cfg = self.settings.source(name)
        scr = scraper(cfg.kind)
        say = progress or (lambda _msg: None)
        result = SyncResult(source=name, origin=origin or cfg.url or cfg.page_url)
        started = time.monotonic()
        lock = self.store.lock(name)
        await lock.acquire()
        try:
            await self.store.set_state(name, last_attempt=result.started, status_detail="syncing")
            await self._run(cfg, scr, raw, result, say)
        except ListdError as exc:
            result.error = exc.message
            await self._failed(name, result, exc)
            raise
        except asyncio.CancelledError:
            result.error = "sync cancelled (shutdown); previous version still serving"
            await asyncio.shield(self._failed(name, result, None))
            raise
        finally:
            result.duration = round(time.monotonic() - started, 3)
            result.finished = now_iso()
            await asyncio.shield(self._finish(name, result, lock))
        return result

    async def _run(
        self, cfg: SourceConfig, scr: Scraper, raw: bytes | None, result: SyncResult, say: Progress
    ) -> None:
        name = cfg.name
        state = await self.store.state(name)
        current = await self.store.current_version(name)
        validators: dict[str, str] = {}
        if raw is None:
            url = cfg.url
            if url is None:
                raise SourceError(f"source {name} has no url configured")
            if self.session is None:
                raise SourceError("no HTTP session available for fetching")
            say(f"fetching {url}")
            fetched = await fetch(
                self.session,
                url,
                headers={"User-Agent": self.settings.user_agent, **cfg.headers},
                # Only send validators when we still hold the data they describe.
                etag=state.get("etag") if current else None,
                last_modified=state.get("last_modified") if current else None,
                timeout_s=cfg.timeout,
                retries=cfg.retries,
                backoff=cfg.retry_backoff,
                max_bytes=cfg.max_bytes,
            )
            result.http_status = fetched.status
            if fetched.not_modified:
                result.outcome = "not_modified"
                result.version = current
                result.entities = int(state.get("entities", 0))
                await self._succeeded(name, result, {})
                return
            assert fetched.body is not None
            raw = fetched.body
            validators = {"etag": fetched.etag or "", "last_modified": fetched.last_modified or ""}
        result.bytes = len(raw)
        raw_sha = hashlib.sha256(raw).hexdigest()
        if current and raw_sha == state.get("raw_sha256"):
            # Same bytes as the list we serve: no need to validate or parse again.
            result.outcome = "unchanged"
            result.version = current
            result.entities = int(state.get("entities", 0))
            result.published = state.get("published") or None
            await self._succeeded(name, result, validators)
            return
        say(f"validating and parsing {len(raw):,} bytes")
        parsed = await asyncio.to_thread(process, scr, raw, name)
        result.published = parsed.published
        result.warnings = parsed.warnings
        for warning in parsed.warnings[:50]:
            log.warning("parse warning", source=name, warning=warning)
        if not parsed.entities:
            raise ValidationFailed(f"{name}: the document holds no entities; refusing to store it")
        if len(parsed.entities) < cfg.min_entities:
            raise ValidationFailed(
                f"{name}: only {len(parsed.entities)} entities, below min_entities="
                f"{cfg.min_entities}; the current list keeps serving"
            )
        extra = {**validators, "raw_sha256": raw_sha, "published": parsed.published or ""}
        if current and parsed.content_hash == state.get("content_hash"):
            result.outcome = "unchanged"
            result.version = current
            result.entities = len(parsed.entities)
            await self._succeeded(name, result, extra)
            return
        say(f"storing {len(parsed.entities):,} entities")
        snapshot = await self.store.write_snapshot(
            name, parsed.entities, published=parsed.published, hashes=parsed.hashes
        )
        await self.store.activate(
            name,
            snapshot,
            expected=current,
            state={**extra, "status": "ok", "last_success": now_iso(), "last_error": ""},
        )
        result.outcome = "updated"
        result.version = snapshot.version
        result.entities = snapshot.entities
        log.info(
            "source updated",
            source=name,
            version=snapshot.version,
            entities=snapshot.entities,
            previous=current,
        )
        await self.store.collect_garbage(name)
        if self.on_update is not None:
            await self.on_update(name, snapshot.version)

    async def _succeeded(self, name: str, result: SyncResult, extra: dict[str, str]) -> None:
        await self.store.set_state(
            name, status="ok", last_success=now_iso(), last_error="", **extra
        )
        log.info("source checked", source=name, outcome=result.outcome, version=result.version)

    async def _failed(self, name: str, result: SyncResult, exc: ListdError | None) -> None:
        result.outcome = "failed"
        await self.store.set_state(
            name, status="error", last_error=result.error or "", last_error_at=now_iso()
        )
        log.error(
            "sync failed",
            source=name,
            error=result.error,
            kind=exc.code if exc else "cancelled",
        )

    async def _finish(self, name: str, result: SyncResult, lock: SourceLock) -> None:
        try:
            await self.store.clear_state(name, "status_detail")
            await self.store.record_history(
                name,
                result.to_dict() | {"warnings": result.warnings[:20]},
                self.settings.history_length,
            )
        finally:
            await lock.release()
