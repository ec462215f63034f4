"""One sync of one source: fetch (or take a local file), validate, parse, normalise, store.

The same path serves the scheduler, `listd sync SOURCE` and the offline import
`listd sync SOURCE --file PATH`. Whatever fails, the stored list is left as it
was: nothing becomes visible before the final pointer flip.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import PurePath
from typing import Any

import aiohttp
from redis.exceptions import RedisError

from listd.clock import SYSTEM_CLOCK, Clock
from listd.collector import no_full_collections
from listd.errors import ListdError, NotFound, SourceError, SourceRefused, ValidationFailed
from listd.logs import get_logger
from listd.pipeline import delta, guards, ingest
from listd.pipeline.fetch import fetch
from listd.pipeline.lease import SourceLock
from listd.pipeline.store import Fence, Snapshot, Store, now_iso
from listd.scrapers import Scraper, encode, scraper
from listd.scrapers.discovery import find_link
from listd.scrapers.encode import restamp as restamp  # where it used to live
from listd.settings import Settings, SourceConfig
from listd.turns import short_turns

log = get_logger(__name__)

Progress = Callable[[str], None]
OnUpdate = Callable[[str, str], Awaitable[None]]


@dataclass(slots=True)
class SyncResult:
    source: str
    outcome: str = "failed"  # updated | unchanged | not_modified | held | failed
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
    deltas: dict[str, int] = field(default_factory=dict)
    first_seq: int | None = None
    last_seq: int | None = None
    held_reason: str | None = None
    # seconds: validate, parse, ...; CPU seconds: validate_cpu, parse_cpu (the workers')
    phases: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class _Document:
    """A list's bytes, with what the HTTP answer said about them (nothing for a file)."""

    raw: bytes
    validators: dict[str, str] = field(default_factory=dict)  # etag, last_modified
    content_type: str | None = None  # None: a local file, not an HTTP answer


@dataclass(frozen=True, slots=True)
class _Attempt:
    """What every step of one sync reads: the source, the version it serves, the result."""

    cfg: SourceConfig
    scr: Scraper
    state: dict[str, str]
    current: str | None
    result: SyncResult
    say: Progress
    provenance: dict[str, str]

    @property
    def name(self) -> str:
        return self.cfg.name


@dataclass(frozen=True, slots=True)
class _Deltas:
    """A publication's deltas, built: when they were made, and their (entity id, JSON)
    pairs, or none if they are staged in Redis already (`Store.stage`)."""

    at: str
    payloads: list[tuple[str, str]]


def _text(body: str | bytes) -> str:
    return body if isinstance(body, str) else body.decode()


class Syncer:
    """Runs syncs; owns nothing but borrows the store, settings and HTTP session."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        session: aiohttp.ClientSession | None = None,
        on_update: OnUpdate | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.settings = settings
        self.store = store
        self.session = session
        self.on_update = on_update
        self.clock = clock  # the removal window's clock (tests move it)
        # After a sync, start the next one's parsing children (not in a process that
        # runs one sync and exits: listd.pipeline.child).
        self.start_ahead = True

    def _window_start(self, cfg: SourceConfig) -> float:
        return self.clock.time() - cfg.removal_window_hours * 3600

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
        """Sync source `name`; with `raw`, ingest that document instead of fetching.

        With `fence` (the scheduler's, on the leader), the publication happens only if
        that leader lease is still held. With `wait`, a sync of the same source in
        progress elsewhere is waited for up to that many seconds instead of refused."""
        cfg = self.settings.source(name)
        scr = scraper(cfg.kind)
        say = progress or (lambda _msg: None)
        result = SyncResult(source=name, origin=origin or cfg.url or cfg.page_url)
        started = time.monotonic()
        lock = self.store.lock(name)
        await lock.acquire(wait, say)
        # Where the data comes from, kept with it: an imported list serves like a fetched one.
        provenance = (
            {"origin": "imported", "imported_from": PurePath(origin).name if origin else ""}
            if raw is not None
            else {"origin": "fetched", "imported_from": ""}
        )
        try:
            await self.store.set_state(name, last_attempt=result.started, status_detail="syncing")
            # The parsed list is a million acyclic objects; the threads' Python must not hold
            # the GIL from the loop for whole 5 ms turns.
            with no_full_collections(), short_turns():
                await self._run(cfg, scr, raw, result, say, fence, provenance)
        except ListdError as exc:
            result.error = exc.message
            await self._failed(name, result, exc.code)
            raise
        except asyncio.CancelledError:
            result.error = "sync cancelled (shutdown); previous version still serving"
            await asyncio.shield(self._failed(name, result, "cancelled"))
            raise
        except (RedisError, OSError):
            # The store is unreachable: nothing can be recorded; the callers log it.
            raise
        except MemoryError:
            # A document the bounds above did not catch: say so as a source failure (recorded
            # like any other) rather than let a raw MemoryError escape unrecorded.
            result.error = "out of memory while processing the document; refused"
            await self._failed(name, result, "out_of_memory")
            raise SourceError(result.error) from None
        except Exception as unexpected:  # noqa: BLE001 - a bug must still be recorded, then raised
            result.error = f"internal error: {type(unexpected).__name__}: {unexpected}"
            await self._failed(name, result, "unexpected")
            raise
        finally:
            result.duration = round(time.monotonic() - started, 3)
            result.finished = now_iso()
            await asyncio.shield(self._finish(name, result, lock))
        # The next sync's parsing children, started now that this one's work is done.
        if self.start_ahead:
            await asyncio.to_thread(encode.replenish)
        return result

    async def _run(
        self,
        cfg: SourceConfig,
        scr: Scraper,
        raw: bytes | None,
        result: SyncResult,
        say: Progress,
        fence: Fence | None = None,
        provenance: dict[str, str] | None = None,
    ) -> None:
        """One sync, step by step. The first steps may end it keeping the version served:
        the server's 304 (not_modified), the same bytes or undated bytes, the same content
        (unchanged); then the guard may hold the new list, or it is published."""
        run = _Attempt(
            cfg,
            scr,
            await self.store.state(cfg.name),
            await self.store.current_version(cfg.name),
            result,
            say,
            provenance or {},
        )
        document = _Document(raw) if raw is not None else await self._fetch(run)
        if document is None:
            await self._keep(run, "not_modified", int(run.state.get("entities", 0)), run.provenance)
            return
        raw_sha, undated = await self._digest(run, document.raw)
        if await self._same_bytes(run, document, raw_sha, undated):
            return
        parsed = await self._parse(run, document)
        extra = {
            **document.validators,
            **run.provenance,
            "raw_sha256": raw_sha,
            "undated_sha256": undated or "",
            "published": parsed.published or "",
        }
        held = await self.store.held(run.name)
        if run.current and parsed.content_hash == run.state.get("content_hash"):
            if held:
                # The source is back to the list we serve: the held snapshot is moot.
                await self.store.drop_held(run.name)
                log.info("held snapshot dropped", source=run.name, version=held.get("version"))
            await self._keep(run, "unchanged", parsed.count, extra)
            return
        old_hashes = await self.store.content_hashes(run.name, run.current) if run.current else {}
        plan = await asyncio.to_thread(delta.plan, old_hashes, parsed.hashes)
        result.entities = parsed.count
        result.deltas = plan.counts()
        reason = await self._guard(run, parsed, plan, len(old_hashes))
        if reason is not None:
            await self._hold(run.name, parsed, plan, reason, extra, held, result)
            return
        await self._store(run, parsed, plan, extra, fence)
        if held:
            await self.store.drop_held(run.name)
            log.info("held snapshot superseded", source=run.name, version=held.get("version"))
        await self.store.collect_garbage(run.name)

    async def _fetch(self, run: _Attempt) -> _Document | None:
        """Download the list; None when the server says the one served is still current."""
        if self.session is None:
            raise SourceError("no HTTP session available for fetching")
        cfg, state = run.cfg, run.state
        url = cfg.url or await self._discover(cfg, run.say)
        run.say(f"fetching {url}")
        fetched = await fetch(
            self.session,
            url,
            headers=cfg.request_headers(self.settings.user_agent),
            # Only send validators when we still hold the data they describe.
            etag=state.get("etag") if run.current else None,
            last_modified=state.get("last_modified") if run.current else None,
            timeout_s=cfg.timeout,
            retries=cfg.retries,
            backoff=cfg.retry_backoff,
            max_bytes=cfg.max_bytes,
        )
        run.result.http_status = fetched.status
        if fetched.not_modified:
            return None
        assert fetched.body is not None
        return _Document(
            fetched.body,
            {"etag": fetched.etag or "", "last_modified": fetched.last_modified or ""},
            (fetched.content_type or "").split(";")[0].strip().lower(),
        )

    async def _digest(self, run: _Attempt, raw: bytes) -> tuple[str, str | None]:
        """The document's SHA-256, and that of its bytes without the publication date."""
        run.result.bytes = len(raw)
        if len(raw) > run.cfg.max_bytes:
            # A local file gets the download limit too: it is parsed in this process.
            raise ValidationFailed(
                f"{run.name}: the document is over the {run.cfg.max_bytes} byte limit (max_bytes)",
                max_bytes=run.cfg.max_bytes,
            )
        scr = run.scr
        # In a thread: hashlib lets go of the GIL, and 100 MB take a tenth of a second.
        return await asyncio.to_thread(
            lambda: (hashlib.sha256(raw).hexdigest(), ingest.undated_sha256(scr, raw))
        )

    async def _same_bytes(
        self, run: _Attempt, document: _Document, raw_sha: str, undated: str | None
    ) -> bool:
        """Keep the version served when the document is its bytes, perhaps re-dated."""
        state, result = run.state, run.result
        if not run.current:
            return False
        if raw_sha == state.get("raw_sha256"):
            # Same bytes as the list we serve: no need to validate or parse again.
            result.published = state.get("published") or None
            extra = {**document.validators, **run.provenance}
            await self._keep(run, "unchanged", int(state.get("entities", 0)), extra)
            return True
        if undated and undated == state.get("undated_sha256"):
            # The list we serve, re-published under a new date (the UN's dateGenerated moves
            # daily): byte for byte the same records, so nothing to validate, parse or store.
            result.published = run.scr.published(document.raw)
            extra = {
                **document.validators,
                **run.provenance,
                "raw_sha256": raw_sha,
                "published": result.published or "",
            }
            await self._keep(run, "unchanged", int(state.get("entities", 0)), extra)
            return True
        return False

    async def _parse(self, run: _Attempt, document: _Document) -> ingest.Parsed:
        """Validate and parse the document; refuse one that holds no entities."""
        name, raw, result = run.name, document.raw, run.result
        run.say(f"validating and parsing {len(raw):,} bytes")
        try:
            parsed = await asyncio.to_thread(ingest.process, run.scr, raw, name)
        except ValidationFailed as exc:
            # The document decides, not the Content-Type (publishers mislabel lists), but an
            # HTML answer where a list was expected is a firewall, error or maintenance page.
            content_type = document.content_type
            label = ingest.html_instead(content_type, raw, run.scr.kind)
            if label is not None:
                raise SourceRefused(
                    f"the source refused this client: the server answered {label}: an error "
                    "page? (HTML instead of the list); see the User-Agent setting",
                    content_type=content_type,
                    reason=exc.message,
                ) from None
            raise
        result.published = parsed.published
        result.warnings = parsed.warnings
        result.phases = {k: round(v, 3) for k, v in parsed.phases.items()}
        for warning in parsed.warnings[:50]:
            log.warning("parse warning", source=name, warning=warning)
        if not parsed.count:
            raise ValidationFailed(f"{name}: the document holds no entities; refusing to store it")
        return parsed

    async def _guard(
        self, run: _Attempt, parsed: ingest.Parsed, plan: delta.Plan, serving: int
    ) -> str | None:
        """Why the new list must be held for an administrator, if it must."""
        reason = guards.guard(run.cfg, parsed.count, serving, len(plan.removed))
        if reason is None and run.current:
            window = await self.store.removals(run.name, self._window_start(run.cfg))
            reason = guards.cumulative_guard(run.cfg, window, serving, len(plan.removed))
        return reason

    async def _store(
        self,
        run: _Attempt,
        parsed: ingest.Parsed,
        plan: delta.Plan,
        extra: dict[str, str],
        fence: Fence | None,
    ) -> None:
        """Write the new snapshot, then make it the one served with its deltas."""
        name, result = run.name, run.result
        run.say(f"storing {parsed.count:,} entities")
        clock = time.perf_counter()
        version = await self.store.new_version(name)
        # The deltas are built (in a thread) and staged while the snapshot is written: both
        # stay invisible until the publication script flips to the version.
        writing = asyncio.ensure_future(
            self.store.write_encoded(
                name,
                parsed.encoded,
                parsed.hashes,
                published=parsed.published,
                content_hash=parsed.content_hash,
                version=version,
            )
        )
        preparing = asyncio.ensure_future(
            self._deltas(name, version, run.current, plan, parsed.encoded)
        )
        try:
            snapshot, prepared = await asyncio.gather(writing, preparing)
        except BaseException:
            for task in (writing, preparing):
                task.cancel()
            await asyncio.gather(writing, preparing, return_exceptions=True)
            raise
        result.phases["store"] = round(time.perf_counter() - clock, 3)
        clock = time.perf_counter()
        await self.publish(name, snapshot, run.current, plan, {}, extra, result, fence, prepared)
        result.phases["publish"] = round(time.perf_counter() - clock, 3)

    async def _keep(
        self, run: _Attempt, outcome: str, entities: int, extra: dict[str, str]
    ) -> None:
        """End the sync keeping the version served (not_modified, unchanged)."""
        run.result.outcome = outcome
        run.result.version = run.current
        run.result.entities = entities
        await self._succeeded(run.name, run.result, extra)

    async def _discover(self, cfg: SourceConfig, say: Progress) -> str:
        """Read the source's HTML page and find the link to the current file."""
        assert self.session is not None and cfg.page_url and cfg.link_pattern
        say(f"reading {cfg.page_url} for the file link")
        page = await fetch(
            self.session,
            cfg.page_url,
            headers=cfg.request_headers(self.settings.user_agent),
            timeout_s=cfg.timeout,
            retries=cfg.retries,
            max_bytes=20 * 1024 * 1024,
            backoff=cfg.retry_backoff,
        )
        assert page.body is not None
        url = find_link(page.body, page.url, cfg.link_pattern)
        log.info("file link found", source=cfg.name, page=cfg.page_url, url=url)
        return url

    async def _deltas(
        self,
        name: str,
        version: str,
        current: str | None,
        plan: delta.Plan,
        new_json: Mapping[str, str] | Mapping[str, bytes],
    ) -> _Deltas:
        """The deltas of publishing `version` over `current`, staged in Redis if many."""
        old_ids = [*plan.amended, *plan.removed]
        old_json: dict[str, str] = {}
        if current and old_ids:
            old_json = await self.store.entity_json(name, current, old_ids)
        at = now_iso()

        def build() -> list[tuple[str, str]]:
            texts = {i: _text(new_json[i]) for i in (*plan.added, *plan.amended)}
            return delta.payloads(name, version, current, at, plan, texts, old_json)

        # In a thread: a first load turns 20,000 entities into deltas, seconds of CPU.
        payloads = await asyncio.to_thread(build)
        if await self.store.stage(name, version, payloads):
            return _Deltas(at, [])
        return _Deltas(at, payloads)

    async def publish(
        self,
        name: str,
        snapshot: Snapshot,
        current: str | None,
        plan: delta.Plan,
        new_json: Mapping[str, str],
        extra: dict[str, str],
        result: SyncResult,
        fence: Fence | None = None,
        prepared: _Deltas | None = None,
    ) -> None:
        """Flip to `snapshot` and append its deltas atomically, then announce them.

        `prepared`: the deltas `_deltas` built already (then `new_json` is not read)."""
        if prepared is None:
            prepared = await self._deltas(name, snapshot.version, current, plan, new_json)
        state: dict[str, str | int] = {
            **extra,
            "status": "ok",
            "last_success": prepared.at,
            "last_error": "",
        }
        first, last = await self.store.activate(
            name, snapshot, current, state, prepared.payloads, fence
        )
        await self._count_removals(name, snapshot, plan)
        result.outcome = "updated"
        result.version = snapshot.version
        result.entities = snapshot.entities
        result.deltas = plan.counts()
        result.first_seq, result.last_seq = (first or None), (last if first else None)
        log.info(
            "delta published",
            source=name,
            version=snapshot.version,
            previous=current,
            entities=snapshot.entities,
            first_seq=first,
            last_seq=last,
            **plan.counts(),
        )
        await self.store.announce(name, snapshot.version, first, last)
        await self.store.trim_deltas(self.settings.delta_retention)
        if self.on_update is not None:
            await self.on_update(name, snapshot.version)

    async def _count_removals(self, name: str, snapshot: Snapshot, plan: delta.Plan) -> None:
        """Add a publication's removals to the source's window (the cumulative guard's input)."""
        cfg = self.settings.source(name)
        if not (plan.removed and cfg.removal_window_hours):
            return
        before = snapshot.entities - len(plan.added) + len(plan.removed)
        record = {"version": snapshot.version, "removed": len(plan.removed), "before": before}
        await self.store.record_removals(name, self.clock.time(), record, self._window_start(cfg))

    async def _hold(
        self,
        name: str,
        parsed: ingest.Parsed,
        plan: delta.Plan,
        reason: str,
        extra: dict[str, str],
        held: dict[str, str],
        result: SyncResult,
    ) -> None:
        result.outcome = "held"
        result.held_reason = reason
        if held.get("content_hash") == parsed.content_hash:
            result.version = held.get("version")
            await self.store.set_state(name, last_error="")
            return
        snapshot = await self.store.write_encoded(
            name,
            parsed.encoded,
            parsed.hashes,
            published=parsed.published,
            content_hash=parsed.content_hash,
        )
        result.version = snapshot.version
        await self.store.hold(
            name,
            {
                "version": snapshot.version,
                "reason": reason,
                "entities": snapshot.entities,
                "content_hash": snapshot.content_hash,
                "at": now_iso(),
                "bytes": result.bytes,
                **{k: v for k, v in extra.items()},
                **{f"would_{k}": v for k, v in plan.counts().items()},
            },
        )
        await self.store.collect_garbage(name)
        log.warning("snapshot held", source=name, version=snapshot.version, reason=reason)

    @contextlib.asynccontextmanager
    async def _held(self, name: str) -> AsyncIterator[dict[str, str]]:
        """The held snapshot of `name`, under the source's lock (NotFound if there is none)."""
        self.settings.source(name)
        lock = self.store.lock(name)
        await lock.acquire()
        try:
            held = await self.store.held(name)
            if not held:
                raise NotFound(f"{name} has no held snapshot")
            yield held
        finally:
            await lock.release()

    async def approve_held(self, name: str) -> SyncResult:
        """Publish the held snapshot of `name` (an administrator's decision)."""
        result = SyncResult(source=name, origin="held snapshot approved")
        async with self._held(name) as held:
            try:
                version = held["version"]
                current = await self.store.current_version(name)
                old = await self.store.content_hashes(name, current) if current else {}
                new = await self.store.content_hashes(name, version)
                plan = delta.plan(old, new)
                added = [*plan.added, *plan.amended]
                new_json = await self.store.entity_json(name, version, added)
                meta = await self.store.snapshot_meta(name, version)
                snapshot = Snapshot(name, version, int(meta["entities"]), meta["content_hash"])
                kept = (
                    "etag",
                    "last_modified",
                    "raw_sha256",
                    "undated_sha256",
                    "published",
                    "origin",
                    "imported_from",
                )
                extra: dict[str, str] = {k: held[k] for k in kept if k in held}
                result.published = held.get("published") or meta.get("published") or None
                result.bytes = int(held.get("bytes") or 0)
                await self.publish(name, snapshot, current, plan, new_json, extra, result)
                # The administrator accepted the list as it now is: the removal window
                # starts again from it (otherwise every later removal would be held too).
                await self.store.reset_removals(name)
                await self.store.drop_held(name)
                await self.store.collect_garbage(name)
                log.warning("held snapshot approved", source=name, version=version)
            finally:
                result.finished = now_iso()
                history = self.settings.history_length
                await self.store.record_history(name, result.to_dict(), history)
        return result

    async def reject_held(self, name: str) -> dict[str, str]:
        """Discard the held snapshot of `name`; the serving list is untouched."""
        async with self._held(name) as held:
            await self.store.drop_held(name)
            state = await self.store.state(name)
            await self.store.set_state(name, status="ok" if state.get("version") else "never")
            await self.store.collect_garbage(name)
            log.warning("held snapshot rejected", source=name, version=held["version"])
            return held

    async def _succeeded(self, name: str, result: SyncResult, extra: dict[str, str]) -> None:
        await self.store.set_state(
            name, status="ok", last_success=now_iso(), last_error="", **extra
        )
        log.info("source checked", source=name, outcome=result.outcome, version=result.version)

    async def _failed(self, name: str, result: SyncResult, kind: str) -> None:
        result.outcome = "failed"
        await self.store.set_state(
            name, status="error", last_error=result.error or "", last_error_at=now_iso()
        )
        await self.store.redis.hincrby(self.store.keys.source_state(name), "failures", 1)
        log.error(
            "sync failed",
            source=name,
            error=result.error,
            kind=kind,
        )

    async def _finish(self, name: str, result: SyncResult, lock: SourceLock) -> None:
        try:
            await self.store.clear_state(name, "status_detail")
            await self.store.set_state(name, last_duration=result.duration)
            await self.store.record_history(
                name,
                result.to_dict() | {"warnings": result.warnings[:20]},
                self.settings.history_length,
            )
        except (RedisError, OSError) as exc:
            # Runs shielded: an outage must not leave an exception nobody retrieves.
            log.warning("sync record not written: redis unreachable", source=name, error=str(exc))
        finally:
            await lock.release()
