"""The notification dispatcher: deltas and watchlist changes in, webhook events out.

The work is split into partitions of subscriptions (`listd.notifications.partitions`);
a dispatcher is one worker, serving the partitions whose fenced lease it holds (all of
them when it is the only one: `listd run` and the daemon's leader). For each partition
it holds it:

* builds the index of the partition's watchlist customers (`CustomerIndex`), off the
  event loop, while the partition's leases are renewed on it;
* reads the delta stream from the partition's cursor (`Keys.partition_cursor`). The
  stream already is a durable outbox, written in the same Lua step that flips a list's
  version; each delta is turned into its events for the partition's subscriptions
  (designation.* to those who want the feed, blocking.required for customers matching
  an added or amended designation, blocking.lifted for customers who matched a removed
  one), and the events are appended to the subscriptions' streams *in the same script
  that advances the cursor* (`outbox.Batch`). A crash before that script leaves the
  cursor behind, and the next owner reads the delta again; after it, the delta is done,
  unless a Redis fail-over takes the script back (replication is asynchronous): the
  worker then finds the cursor behind what it wrote, at a lease renewal or by the next
  script's guard, and fans out again from it (`_rewind`);
* screens customers whose watchlist record changed against the current lists, and
  clears their "pending" mark in the script that appends the resulting events;
* delivers (`delivery.Deliverer`), one lane per subscription of its partitions.

An alert's id depends on the subscription, customer, designation and its content, not
on how it was found, and the dispatcher remembers each alert it raised (`sub_matches`),
so a customer found both by a new designation and by its own upload is alerted once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import aiohttp
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from listd import waits
from listd.clock import SYSTEM_CLOCK, Clock
from listd.keyspace import CHANGES_MAX, Keys
from listd.logs import get_logger
from listd.model import Entity, entity_from_dict
from listd.notifications import egress, events, snapshot, stored
from listd.notifications.config import WebhookConfig
from listd.notifications.customers import (
    CustomerIndex,
    CustomerVocabulary,
    Prepared,
    record_check,
)
from listd.notifications.delivery import Deliverer
from listd.notifications.events import Event
from listd.notifications.outbox import GROUP, Batch, CursorGap
from listd.notifications.partitions import beat, check_partitions, fair_share, partition_of
from listd.notifications.slices import Slicer
from listd.notifications.subscriptions import Subscription, SubscriptionStore
from listd.notifications.watchlist import Customer, customer_from_json
from listd.pipeline.delta import Delta
from listd.pipeline.lease import ACQUIRE, RENEW, Lease, LeaseLost, holder_dead
from listd.pipeline.store import Store
from listd.screening import Match, ScreeningIndex
from listd.screening.evidence import MAX_BONUS_BIRTH, MAX_BONUS_NATIONALITY
from listd.screening.follow import follow
from listd.screening.index import freeze_long_lived
from listd.screening.postings import no_cyclic_gc

log = get_logger(__name__)

_READ = 500  # deltas per read
_BONUS = MAX_BONUS_BIRTH + MAX_BONUS_NATIONALITY
_LOG_PAGE = 2000  # change log entries, or records, per Redis round trip on takeover
_KEPT = 8  # lookups kept for partitions set aside, the latest
_T = TypeVar("_T")


@dataclass(slots=True)
class _Entry:
    """A stream entry being dispatched, with what it raises."""

    seq: int
    entry_id: str
    delta: Delta | None  # None when retention trimmed it before it was read
    events: list[tuple[str, Event]] = field(default_factory=list)  # (subscription, event)
    matches: dict[tuple[str, str], dict[str, Any] | None] = field(default_factory=dict)


@dataclass(slots=True)
class _Lookup:
    """A lookup of one read's designations in the worker's index (`_found_here`)."""

    cutoff: float
    installed: int  # `Dispatcher._installed` when it started
    lookup: asyncio.Future[dict[str, dict[str, set[str]]]]


@dataclass(slots=True)
class Partition:
    """A partition this worker holds: its lease, customers and cursor."""

    number: int
    lease: Lease
    cursor: int = 0  # last delta sequence fanned out to it
    ready: bool = False  # its customer index is built
    source: str = ""  # what it was built from: "snapshot" or "records"
    stored: int = 0  # the cursor as last written to Redis
    unsaved: bool = False  # the index changed since its snapshot was written
    snapped: float = 0.0  # monotonic time of the last snapshot written
    read: int = 0  # watchlist records read to build its index (what a takeover costs)
    build: asyncio.Task[None] | None = None

    @property
    def cursor_id(self) -> str:
        return f"{self.cursor}-0"


class Dispatcher:
    """A dispatcher worker: takes its share of the partitions, fans out and delivers."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        lists: ScreeningIndex,
        sources: Sequence[str],
        session: aiohttp.ClientSession,
        config: WebhookConfig,
        lease: Lease | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.clock = clock  # the deliverer's retry timing
        self.redis = redis
        self.keys = keys
        self.store = Store(redis, keys)
        self.lists = lists
        self.sources = list(sources)
        self.session = session
        self.config = config
        self.subs = SubscriptionStore(redis, keys)
        # The daemon passes its leader lease and runs `lead` while leading; alone, the
        # dispatcher works whenever it can take partitions (`run`).
        self.lease = lease
        self.partitions = config.partitions
        # One token for every partition lease of this worker: host, pid, random part.
        self.token = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(8)}"
        self.parts: dict[int, Partition] = {}
        self.deliverer: Deliverer | None = None
        # Set while this worker holds partitions and each one's index is built.
        self.leading = asyncio.Event()
        self._rotation = 0
        self._live = 1  # live workers at the last heartbeat
        self._beaten = asyncio.Event()  # set at each heartbeat, for `_balance`
        self._unfrozen = 0  # customers indexed since the last gc.freeze()
        self._building = asyncio.Semaphore(1)  # one index build at a time
        self._subs: list[Subscription] = []
        self._parsed: dict[str, Delta | None] = {}  # entry id -> delta, for one read
        self._entities: dict[str, Entity] = {}  # entry id -> its designation, for one read
        self._tiny: dict[Any, ScreeningIndex] = {}  # the last read's designations, indexed
        # One vocabulary for the indexes of all partitions held: a listed name is looked
        # up in it once per read (`_names`), whatever the number of partitions.
        self.vocab = CustomerVocabulary()
        # The customers of every partition held, in one index (a delta is looked up in it
        # once, whatever the number of partitions); each partition's index is built aside
        # and taken in whole. It is searched and changed in worker threads: under `_lock`.
        self.customers = CustomerIndex(self.vocab)
        # The designations' names worked out on that vocabulary, for every lookup of the
        # worker's (its partitions', its slices', a partition's set aside): a delta's
        # names are worked out once, not once per lookup. Used under `_lock`.
        self.prepared = Prepared(self.vocab)
        self._lock = threading.Lock()
        # What holds `_lock` now ("" when free) and how many holds began so far: a lookup
        # logs who it waited for (`_lookup`). Read without the lock: a diagnostic.
        self._holder = ""
        self._holds = 0
        # Designations -> the lookup of their candidates, for one read: shared by the
        # partitions fanned out at once (the first to need it starts it), and kept for
        # those set aside meanwhile (`_new_read`). With the cut-off it was made at and the
        # generation of the index it searched (`_installed`: bumped by each install).
        self._found: dict[Any, _Lookup] = {}
        self._installed = 0
        # Partitions lost whose customers are still in the index, and the one task that
        # drops them (`_forget`).
        self._forgotten: set[int] = set()
        self._dropping: asyncio.Task[None] | None = None
        self._scoring = asyncio.Lock()
        self._snapping = waits.Aside()  # the partition snapshot written
        # Partitions whose last fan-out waited for the shortlists of a sliced subscription's
        # slices: read apart from the others, so their deltas never wait behind these.
        self._deferred: set[int] = set()
        # The slices of big subscriptions this worker indexes for their home partitions,
        # and the shortlists of its own sliced subscriptions (`listd.notifications.slices`).
        self.slicer = Slicer(self)

    @property
    def ttl_ms(self) -> int:
        return max(int(self.config.lease_ttl * 1000), 300)

    def indexed(self) -> int:
        """Customers indexed over the partitions held."""
        return len(self.customers)

    def partition(self, sub_id: str) -> int:
        return partition_of(sub_id, self.partitions)

    def owner(self, sub_id: str) -> Lease | None:
        """The lease of the subscription's partition when this worker serves it."""
        part = self.parts.get(self.partition(sub_id))
        return part.lease if part is not None else None

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: work; Redis errors pause the work, which then starts again."""
        while not stop.is_set():
            try:
                # In a task of its own: on Python 3.11 a TaskGroup whose child fails leaves
                # its parent task's cancellation count raised (3.12 lowers it again), and
                # `waits.wait` here would take that for a request to stop.
                await asyncio.create_task(self.lead(stop), name="webhook-worker")
            # except*: `lead`'s TaskGroup raises what failed in an ExceptionGroup.
            except* (RedisError, OSError, LeaseLost) as failed:
                log.error("dispatcher worker failed", error=repr(failed.exceptions[0]))
            await waits.wait(stop, self.config.lease_ttl)

    def wake(self, sub_id: str) -> None:
        if self.deliverer is not None:
            self.deliverer.wake(sub_id)

    async def lead(self, halt: asyncio.Event) -> None:
        """Take partitions, fan out and deliver until `halt` is set."""
        try:
            await check_partitions(self.redis, self.keys, self.partitions)
            self._beaten.clear()  # a heartbeat of a previous tenure
            self.deliverer = Deliverer(
                self.redis,
                self.keys,
                self.owner,
                self.session,
                self.config.delivery,
                egress.AllowList(self.config.allow_hosts),
                halt,
                self.clock,
            )
            async with asyncio.TaskGroup() as tasks:
                # Events already in the outboxes go out as soon as a partition is held;
                # only the fan-out of new deltas needs its customer index.
                tasks.create_task(self.deliverer.run(), name="webhook-lanes")
                tasks.create_task(self._keep(halt), name="webhook-leases")
                tasks.create_task(self._balance(halt), name="webhook-partitions")
                tasks.create_task(self._loop(halt), name="webhook-fanout")
                tasks.create_task(self.slicer.run(halt), name="webhook-slices")
        finally:
            self.leading.clear()
            self.deliverer = None
            await self._release_all()

    # -- partitions -----------------------------------------------------------------------

    async def _keep(self, halt: asyncio.Event) -> None:
        """Renew the leases held and heartbeat, every third of the TTL, and nothing else:
        taking and giving up partitions (`_balance`) runs in a task of its own, as giving
        one up waits for the index lock (held for seconds by a big partition's install,
        dump or lookup) and for its lanes to finish an attempt. Waiting in this loop, the
        renewals stopped and every partition held was lost at once."""
        try:
            while not halt.is_set():
                await self._renew()
                self._live = await beat(self.redis, self.keys, self.token, self.ttl_ms)
                self._beaten.set()
                await waits.wait(halt, self.ttl_ms / 3000)
        finally:
            self._beaten.set()  # `_balance` wakes up to see `halt`

    async def _balance(self, halt: asyncio.Event) -> None:
        """Keep this worker's fair share of the partitions, after each heartbeat."""
        while not halt.is_set():
            waits.stop_if_cancelled()
            await self._beaten.wait()
            self._beaten.clear()
            share = fair_share(self.partitions, self._live)
            while len(self.parts) > share and not halt.is_set():
                await self._give_up(max(self.parts))
            if len(self.parts) < share and not halt.is_set():
                await self._take(share)
            self._check_ready()

    async def _renew(self) -> None:
        """Renew every lease held in one round trip (an index build in a thread slows
        each trip down: one per partition would outlast the TTL), and check that no
        partition's cursor went back behind what this worker wrote (`_rewind`)."""
        held = list(self.parts.values())
        if not held:
            return
        wrote = [p.stored for p in held]  # before the read: a write may land meanwhile
        async with self.redis.pipeline(transaction=False) as pipe:
            for part in held:
                pipe.eval(RENEW, 1, part.lease.key, self.token, self.ttl_ms)
            for part in held:
                pipe.get(self.keys.partition_cursor(part.number))
            replies = await pipe.execute()
        renewed, cursors = replies[: len(held)], replies[len(held) :]
        # Not those given up meanwhile (`_balance` runs beside the renewals).
        lost = [
            p
            for p, ok in zip(held, renewed, strict=True)
            if not ok and self.parts.get(p.number) is p
        ]
        if lost:
            log.error("partition leases lost", partitions=[p.number for p in lost])
        for gone in lost:
            self._forget(gone)
        for part, before, found in zip(held, wrote, cursors, strict=True):
            if self.parts.get(part.number) is part and int(found or 0) < before:
                self._rewind(part, int(found or 0))

    def _rewind(self, part: Partition, found: int) -> None:
        """The partition's cursor in Redis is behind what this worker wrote: a fail-over
        promoted a replica that had not received the last writes (replication is
        asynchronous), so the events appended with them are gone too. Fan out again from
        the cursor found; the alerts come out with the same ids (a receiver that had one
        already drops it by its idempotency key)."""
        log.error(
            "partition cursor went back: writes lost by a Redis fail-over are redone",
            partition=part.number,
            wrote=part.stored,
            found=found,
        )
        part.cursor = part.stored = found
        self._installed += 1  # its deltas looked up again, in the index as it is now

    async def _take(self, share: int) -> None:
        """Take free partitions (or a dead worker's) up to `share`, in a few round trips
        whatever their number (each one is slow while an index builds in a thread)."""
        start = partition_of(self.token, self.partitions)
        order = [(start + i) % self.partitions for i in range(self.partitions)]
        free = [n for n in order if n not in self.parts]
        async with self.redis.pipeline(transaction=False) as pipe:
            for number in free:
                pipe.get(self.keys.partition_lease(number))
            holders = cast(list[str | None], await pipe.execute())
        wanted = [
            (n, h)
            for n, h in zip(free, holders, strict=True)
            if h is None or h == self.token or holder_dead(h)
        ][: share - len(self.parts)]
        if not wanted:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for number, holder in wanted:
                keys = [self.keys.partition_lease(number), self.keys.partition_fence(number)]
                steal = holder if holder is not None and holder != self.token else ""
                pipe.eval(ACQUIRE, 2, *keys, self.token, self.ttl_ms, steal)
            for number, _ in wanted:
                pipe.get(self.keys.partition_cursor(number))
            replies = await pipe.execute()
        fences, cursors = replies[: len(wanted)], replies[len(wanted) :]
        taken: list[Partition] = []
        for (number, _), fence, cursor in zip(wanted, fences, cursors, strict=True):
            if not int(fence):
                continue
            lease = Lease(
                self.redis,
                self.keys.partition_lease(number),
                self.keys.partition_fence(number),
                self.config.lease_ttl,
            )
            lease.token, lease.fence = self.token, int(fence)
            at = int(cursor) if cursor is not None else await self._cursor(number)
            part = self.parts[number] = Partition(number, lease, cursor=at, stored=at)
            taken.append(part)
        for part in taken:
            part.build = asyncio.create_task(self._build(part), name=f"index:{part.number}")
        if taken:
            log.info(
                "partitions taken",
                partitions=[p.number for p in taken],
                held=len(self.parts),
                share=share,
            )

    async def _cursor(self, number: int) -> int:
        """The partition's cursor; on first use, where the single dispatcher's consumer
        group was (its oldest unacknowledged delta is fanned out again)."""
        key = self.keys.partition_cursor(number)
        raw = await self.redis.get(key)
        if raw is not None:
            return int(raw)
        start = 0
        with contextlib.suppress(ResponseError):  # no stream or no group: from the start
            for group in await self.redis.xinfo_groups(self.keys.deltas()):
                if group["name"] == GROUP:
                    start = int(str(group["last-delivered-id"]).split("-", 1)[0])
                    pending = await self.redis.xpending(self.keys.deltas(), GROUP)
                    if pending["pending"]:
                        start = min(start, int(str(pending["min"]).split("-", 1)[0]) - 1)
        await self.redis.set(key, start, nx=True)
        return int(await self.redis.get(key) or start)

    def _forget(self, part: Partition) -> None:
        """Stop serving `part` at once (its lease is gone); its customers leave the
        index in the background."""
        self.parts.pop(part.number, None)
        if part.build is not None:
            part.build.cancel()
        self.leading.clear()
        self._forgotten.add(part.number)
        if self._dropping is None or self._dropping.done():
            self._dropping = asyncio.create_task(self._drop_forgotten())

    async def _drop_forgotten(self) -> None:
        """Drop the customers of the partitions lost, in one worker thread however many
        are lost at once: a thread each, all waiting for the index lock (a lookup or an
        install holds it for seconds), filled the default pool when a worker lost its
        leases together, and every build, scoring and dump handed to it waited behind."""
        while self._forgotten:
            numbers, self._forgotten = self._forgotten, set()
            await asyncio.to_thread(self._drop_partitions, numbers)

    async def _give_up(self, number: int) -> None:
        """Hand a partition back: its lanes finish their current attempt, then the lease
        is released so another worker takes it at once."""
        part = self.parts.pop(number)
        if part.build is not None:
            part.build.cancel()
        await asyncio.to_thread(self._drop_partition, number)
        if self.deliverer is not None:
            await self.deliverer.settle(lambda sub_id: self.partition(sub_id) == number)
        with contextlib.suppress(RedisError, OSError):
            await part.lease.release()
        log.info("partition given up", partition=number)

    async def _release_all(self) -> None:
        for part in list(self.parts.values()):
            self._forget(part)
            with contextlib.suppress(RedisError, OSError):
                await part.lease.release()
        with contextlib.suppress(RedisError, OSError):
            await beat(self.redis, self.keys, self.token, self.ttl_ms, alive=False)

    def _check_ready(self) -> None:
        if self.parts and all(p.ready for p in self.parts.values()):
            self.leading.set()
        else:
            self.leading.clear()

    async def _build(self, part: Partition) -> None:
        """Build the partition's customer index aside and install it whole: from its
        snapshot when there is one (records changed since are indexed again), else from
        every record. A build abandoned when the lease was lost can still be running in
        its worker thread: it writes into its own index, never into a successor's."""
        async with self._building:
            started = time.monotonic()
            subs = [s for s in await self.subs.ids() if self.partition(s) == part.number]
            sliced = await self.slicer.mark(subs)  # indexed by other partitions, in slices
            subs = [s for s in subs if s not in sliced]
            index = await self._from_snapshot(part, subs)
            source = "snapshot"
            if index is None:
                source = "records"
                index = CustomerIndex(self.vocab)
                for sub_id in subs:
                    page: list[str] = []
                    async for _, raw in self.redis.hscan_iter(
                        self.keys.watchlist(sub_id), count=5000
                    ):
                        part.read += 1
                        page.append(raw)
                        if len(page) >= 5000:
                            await asyncio.to_thread(self._put_raw, index, sub_id, page)
                            page = []
                    if page:
                        await asyncio.to_thread(self._put_raw, index, sub_id, page)
                part.unsaved = len(index) > 0
            if len(index):
                freeze_long_lived()
            if not await asyncio.to_thread(self._install, part, index):
                return  # given up or lost meanwhile
            part.source = source
            part.ready = True
            if len(index):
                log.info(
                    "watchlists indexed",
                    partition=part.number,
                    customers=len(index),
                    source=source,
                    seconds=round(time.monotonic() - started, 2),
                )
        self._check_ready()

    async def _from_snapshot(self, part: Partition, subs: list[str]) -> CustomerIndex | None:
        """The partition's index from its snapshot, brought up to date: with the change
        log's entries after the snapshot's mark (only those records are read), else, when
        the log no longer reaches back to the mark, by reading every record and indexing
        again those whose check differs. None when there is no usable snapshot."""
        found = await stored.read(self.redis, self.keys.partition_snapshot(part.number))
        if found is None:
            return None
        meta, chunks = found
        if chunks is None:
            log.warning("partition snapshot incomplete; rebuilding", partition=part.number)
            return None
        try:
            index = await asyncio.to_thread(stored.load_index, chunks, self.vocab)
        except ValueError as exc:
            log.warning("partition snapshot unreadable", partition=part.number, error=str(exc))
            return None
        for sub_id in set(index.subs) - set(subs):
            index.drop(sub_id)
        logged = await self._from_log(part, meta, index, set(subs))
        if logged is not None:
            part.unsaved = logged > 0
            log.info("partition snapshot loaded", partition=part.number, changed=logged, log=True)
            return index
        changed = 0
        for sub_id in subs:
            known = index.checks(sub_id)
            page: list[str] = []
            async for ref, raw in self.redis.hscan_iter(self.keys.watchlist(sub_id), count=5000):
                part.read += 1
                if known.pop(ref, 0) != record_check(raw):
                    page.append(raw)
                if len(page) >= 5000:
                    await asyncio.to_thread(self._put_raw, index, sub_id, page)
                    changed, page = changed + len(page), []
            if page:
                await asyncio.to_thread(self._put_raw, index, sub_id, page)
                changed += len(page)
            for ref in known:  # gone since the snapshot
                index.remove(sub_id, ref)
            changed += len(known)
        part.unsaved = changed > 0
        log.info("partition snapshot loaded", partition=part.number, changed=changed, log=False)
        return index

    async def _from_log(
        self, part: Partition, meta: dict[str, Any], index: CustomerIndex, subs: set[str]
    ) -> int | None:
        """Apply to `index` the records the change log names after the snapshot's mark;
        the customers applied, or None when the log does not reach back to the mark
        (trimmed by its cap, lost, or a snapshot written before there was a log).

        Changes logged before the mark are in the snapshot, or still pending (the drain
        indexes them: a reference leaves the pending set only once indexed)."""
        mark = meta.get("log")
        key = self.keys.watchlist_changes(part.number)
        if not mark:
            return None
        head = cast(
            list[tuple[str, dict[str, str]]],
            await self.redis.xrange(key, min=mark, max=mark, count=1),
        )
        if not head or head[0][1].get("snapshot") != meta["generation"]:
            log.warning("partition change log does not reach its snapshot", partition=part.number)
            return None
        wanted: dict[str, set[str]] = {}
        start = f"({mark}"
        while entries := cast(
            list[tuple[str, dict[str, str]]],
            await self.redis.xrange(key, min=start, count=_LOG_PAGE),
        ):
            for _, fields in entries:
                if fields.get("sub") in subs:
                    wanted.setdefault(fields["sub"], set()).update(json.loads(fields["refs"]))
            start = f"({entries[-1][0]}"
        applied = 0
        for sub_id, refs in wanted.items():
            ordered = sorted(refs)
            for at in range(0, len(ordered), _LOG_PAGE):
                chunk = ordered[at : at + _LOG_PAGE]
                values = cast(
                    list[str | None], await self.redis.hmget(self.keys.watchlist(sub_id), chunk)
                )
                part.read += len(chunk)
                raws = [v for v in values if v]
                gone = [r for r, v in zip(chunk, values, strict=True) if v is None]
                await asyncio.to_thread(self._put_raw, index, sub_id, raws)
                for ref in gone:
                    index.remove(sub_id, ref)
                applied += len(chunk)
        return applied

    async def _snapshot(self, part: Partition) -> None:
        """Write the partition's index as its snapshot (a new generation, then the old one
        deleted). Only the copy of its arrays holds the index lock; the encoding and the
        writing hold nothing, and run beside the fan-out (`_snapshot_due`)."""
        started = time.monotonic()
        generation = secrets.token_hex(6)
        # The mark, before the copy: a successor applies the changes logged after it.
        # Those logged before it are in the index (drained), or still pending: they are
        # logged again after it (before the copy), as the drain goes on beside the snapshot:
        # one settled before it is scanned was applied before the copy, so is in it.
        mark = str(
            await self.redis.xadd(
                self.keys.watchlist_changes(part.number),
                {"snapshot": generation},
                maxlen=CHANGES_MAX,
                approximate=True,
            )
        )
        await self._relog_pending(part.number)
        part.unsaved = False  # a change applied after the copy makes it due again
        try:
            exported, count = await asyncio.to_thread(self._locked, self._export, part.number)
            blob = await asyncio.to_thread(stored.encode_index, exported)
            del exported  # before the write: the copy is as large as the arrays
            await self._write_snapshot(part, generation, mark, blob, count)
        except BaseException:
            part.unsaved = True
            raise
        log.info(
            "partition snapshot written",
            partition=part.number,
            customers=count,
            bytes=len(blob),
            seconds=round(time.monotonic() - started, 2),
        )

    def _export(self, number: int) -> tuple[snapshot.Arrays, int]:
        """A copy of partition `number`'s arrays, and its customers (under the lock)."""
        subs = self._subs_of(number)
        return self.customers.export(subs), self.customers.count_of(subs)

    async def _write_snapshot(
        self, part: Partition, generation: str, mark: str, blob: str, count: int
    ) -> None:
        meta = {
            "customers": count,
            "bytes": len(blob),
            "cursor": part.cursor,
            "at": time.time(),
            "log": mark,
        }
        batch = Batch(part.lease.key, part.lease.token)
        key = self.keys.partition_snapshot(part.number)
        await stored.write(self.redis, key, blob, generation, meta, batch)
        batch.xtrim(self.keys.watchlist_changes(part.number), mark)
        await batch.run(self.redis)
        part.snapped = time.monotonic()

    async def _relog_pending(self, number: int) -> None:
        """Append to the partition's change log the customers still pending in it."""
        dirty = cast(set[str], await self.redis.smembers(self.keys.watchlist_dirty(number)))
        for sub_id in sorted(s for s in dirty if self.partition(s) == number):
            page: list[str] = []
            async for ref in self.redis.sscan_iter(
                self.keys.watchlist_pending(sub_id), count=_LOG_PAGE
            ):
                page.append(ref)
                if len(page) >= _LOG_PAGE:
                    await self._log(number, sub_id, page)
                    page = []
            if page:
                await self._log(number, sub_id, page)

    async def _log(self, number: int, sub_id: str, refs: list[str]) -> None:
        entry: dict[Any, Any] = {"sub": sub_id, "refs": json.dumps(refs)}
        await self.redis.xadd(
            self.keys.watchlist_changes(number), entry, maxlen=CHANGES_MAX, approximate=True
        )

    def _locked(self, fn: Callable[..., _T], *args: Any) -> _T:
        """`fn(*args)` under the index lock (in a worker thread)."""
        with self._holding(getattr(fn, "__qualname__", "?")):
            return fn(*args)

    @contextlib.contextmanager
    def _holding(self, what: str) -> Iterator[None]:
        """The index lock, noting `what` holds it (for `_lookup`'s log)."""
        with self._lock:
            self._holder, self._holds = what, self._holds + 1
            try:
                yield
            finally:
                self._holder = ""

    async def _lookup(self, what: str, fn: Callable[..., _T], *args: Any, **info: Any) -> _T:
        """`fn(*args)` under the index lock in a worker thread, logged with where its time
        went: queued for a thread, waiting for the lock (and what held it then, and how
        many holds went before), and its CPU and wall time under it. A late lookup said
        only that it began late; this says what it waited for."""
        queued = time.monotonic()

        def run() -> _T:
            began = time.monotonic()
            holder, holds = self._holder, self._holds
            cpu = wall = got = 0.0
            before, names = holds, (0, 0)
            try:
                with self._holding(what):
                    got = time.monotonic()
                    before = self._holds
                    clock = time.thread_time()
                    names = (self.prepared.reused, self.prepared.worked)
                    try:
                        return fn(*args)
                    finally:
                        cpu, wall = time.thread_time() - clock, time.monotonic() - got
                        reused = self.prepared.reused - names[0]
                        names = (reused, self.prepared.worked - names[1])
            finally:
                log.info(
                    "index lookup",
                    lookup=what,
                    queued_s=round(began - queued, 4),
                    lock_wait_s=round(got - began, 4) if got else None,
                    lock_held_by=holder or None,
                    holds_before=before - holds - 1 if got else None,
                    cpu_s=round(cpu, 4),
                    wall_s=round(wall, 4),
                    names_reused=names[0],  # designations whose names were worked out before
                    names_worked=names[1],  # ... and worked out by this lookup
                    **info,
                )

        return await asyncio.to_thread(run)

    def _subs_of(self, number: int) -> list[str]:
        """The subscriptions of partition `number` in the index."""
        return [s for s in list(self.customers.subs) if self.partition(s) == number]

    def _install(self, part: Partition, index: CustomerIndex) -> bool:
        """Take a partition's index built aside into the worker's, if the partition is
        still held (a build abandoned when it was lost or given up installs nothing)."""
        with self._holding("install"):
            if self.parts.get(part.number) is not part:
                return False
            for sub_id in self._subs_of(part.number):
                if sub_id not in index.subs:
                    self.customers.drop(sub_id)
            self.customers.absorb(index)
            self._installed += 1  # lookups kept for partitions set aside are stale
            return True

    def _drop_partition(self, number: int) -> None:
        """Forget the customers of a partition no longer held (unless taken again
        meanwhile: its new index replaces them when installed)."""
        self._drop_partitions({number})

    def _drop_partitions(self, numbers: set[int]) -> None:
        """`_drop_partition` for each of `numbers`, under one hold of the index lock."""
        with self._holding("drop_partitions"):
            for number in sorted(numbers):
                if number in self.parts:  # taken again meanwhile
                    continue
                for sub_id in self._subs_of(number):
                    self.customers.drop(sub_id)

    def _put_raw(self, index: CustomerIndex, sub_id: str, raws: list[str]) -> None:
        # No cyclic collection meanwhile: the index makes no cycles, and a full collection
        # over millions of young objects holds the GIL long enough to starve the renewals.
        with no_cyclic_gc():
            for raw in raws:
                index.put(sub_id, customer_from_json(raw), record_check(raw))
        self._settle_memory(len(raws))

    def _settle_memory(self, added: int) -> None:
        self._unfrozen += added
        if self._unfrozen >= 50_000:
            freeze_long_lived()
            self._unfrozen = 0

    async def _loop(self, halt: asyncio.Event) -> None:
        try:
            await self._fan_loop(halt)
        finally:
            await self._snapping.stop()

    async def _fan_loop(self, halt: asyncio.Event) -> None:
        while not halt.is_set():
            ready = [p for p in self.parts.values() if p.ready]
            if not ready:
                await waits.wait(halt, self.config.poll_interval)
                continue
            # Partitions waiting for slices' shortlists are read apart (`_fan`): from their
            # own cursors, after the others, which go on meanwhile.
            waiting = [p for p in ready if p.number in self._deferred]
            going = [p for p in ready if p.number not in self._deferred]
            behind = moved = False
            for group in (going, waiting):
                if not group:
                    continue
                low = min(p.cursor for p in group)
                entries = cast(
                    list[tuple[str, dict[str, str]]],
                    await self.redis.xrange(self.keys.deltas(), min=f"({low}-0", count=_READ),
                )
                if not entries:
                    continue
                behind = True
                before = [p.cursor for p in group]
                await self._new_read()
                # The partitions at once: the delta is looked up once for all of them, then
                # each one's round trips overlap the others' (one after another, a
                # subscription in a worker's sixteenth partition waited for fifteen).
                async with asyncio.TaskGroup() as tasks:
                    for part in group:
                        tasks.create_task(self._fan(part, entries))
                moved = moved or [p.cursor for p in group] != before
            if moved:
                continue
            await self._store_cursors()
            if await self.drain() or await self._snapshot_due():
                continue
            if behind:
                # Only partitions waiting for shortlists have deltas left: they are read
                # again shortly (uploads are screened and snapshots written meanwhile).
                await waits.sleep(min(self.config.poll_interval, 0.05))
                continue
            await self.redis.xread(
                {self.keys.deltas(): f"{low}-0"},
                count=1,
                block=max(int(self.config.poll_interval * 1000), 1),
            )

    async def _fan(self, part: Partition, entries: list[tuple[str, dict[str, str]]]) -> None:
        """Fan out to `part` the entries of a read it has not had: those before the first
        delta a slice of one of its sliced subscriptions has not answered yet (none: the
        partition is deferred to a later round, and the worker's other partitions go on)."""
        mine = [e for e in entries if _seq(e[0]) > part.cursor]
        if not mine or part.number not in self.parts:
            self._deferred.discard(part.number)
            return
        mine = mine[: await self._answered(part, mine)]
        if not mine:
            self._deferred.add(part.number)
            return
        # (Left deferred while its shortlists are asked for: a partition that waits does
        # not look, for a moment, as if it did not.)
        self._deferred.discard(part.number)
        try:
            await self.fanout(mine, part)
        except LeaseLost:
            log.error("partition lease lost", partition=part.number)
            self._forget(part)
        except CursorGap:
            await self._reread(part)

    async def _answered(self, part: Partition, entries: list[tuple[str, dict[str, str]]]) -> int:
        """How many of `entries`, from the first, have every shortlist the partition's
        sliced subscriptions need written (all of them when it has none). Cutting the
        read there keeps each subscription's order: the rest is fanned out next round."""
        sliced = [
            (s.id, s.created_seq, self.slicer.sliced[s.id])
            for s in self._subs
            if s.id in self.slicer.sliced
            and self.partition(s.id) == part.number
            and s.wants("blocking.required")
        ]
        if not sliced:
            return len(entries)
        asked: list[tuple[int, int]] = []  # (index of the entry, slices it needs)
        async with self.redis.pipeline(transaction=False) as pipe:
            for at, (entry_id, fields) in enumerate(entries):
                seq = _seq(entry_id)
                delta = self._delta(seq, entry_id, fields)
                if delta is None or delta.op == "removed":
                    continue
                for sub_id, created, count in sliced:
                    if created < seq:
                        pipe.hlen(self.keys.slice_found(sub_id, seq))
                        asked.append((at, count))
            found = await pipe.execute() if asked else []
        for (at, count), have in zip(asked, found, strict=True):
            if int(have) < count:
                return at
        return len(entries)

    async def _new_read(self) -> None:
        """Forget the last read's deltas and designations, and its lookups unless a
        partition is set aside; read the subscriptions."""
        self._subs = await self.subs.all()
        await self.slicer.refresh()
        self._parsed, self._entities = {}, {}
        # A partition set aside for its slices' shortlists (`_fan`) is read again apart,
        # with the deltas the others were fanned out, and takes their lookup: nothing of
        # its own changes in the index until it fans them out (its uploads wait: `drain`),
        # and an index installed since is a new generation. Without it, the re-read looked
        # the whole index up again (2-4 s at 2 M customers, the p99 of the bench).
        if not self._deferred:
            self._found = {}
        for memo in list(self._found)[:-_KEPT]:
            del self._found[memo]

    def _entity(self, entry: _Entry) -> Entity:
        """An added or amended delta's designation, read once for all the partitions of a
        read (they are fanned out at once, and the lookup waits for them meanwhile)."""
        found = self._entities.get(entry.entry_id)
        if found is None:
            assert entry.delta is not None
            found = self._entities[entry.entry_id] = entity_from_dict(entry.delta.entity)
        return found

    def _delta(self, seq: int, entry_id: str, fields: dict[str, str] | None) -> Delta | None:
        """A stream entry's delta, parsed once for all the partitions of a read."""
        if entry_id not in self._parsed:
            self._parsed[entry_id] = Delta.from_json(seq, fields["d"]) if fields else None
        return self._parsed[entry_id]

    async def _snapshot_due(self) -> bool:
        """Start writing one partition's snapshot if one is due and none is being written;
        True if it started one. It runs in a task of its own: written from this loop, a
        delta published meanwhile waited for the whole dump, encoding and write (seconds
        for millions of customers). One at a time: each holds a copy of its arrays."""
        if self._snapping.running():  # (a Redis error of the last stops the fan-out)
            return False
        now = time.monotonic()
        for part in list(self.parts.values()):
            due = not part.snapped or now - part.snapped >= self.config.snapshot_interval
            if part.ready and part.unsaved and due:
                self._snapping.start(self._snapshot_aside(part), f"snapshot:{part.number}")
                return True
        return False

    async def _snapshot_aside(self, part: Partition) -> None:
        try:
            await self._snapshot(part)
        except LeaseLost:
            log.error("partition lease lost", partition=part.number)
            if self.parts.get(part.number) is part:
                self._forget(part)

    async def _reread(self, part: Partition) -> None:
        """A cursor guard found the partition's cursor behind: take it from Redis."""
        found = await self.redis.get(self.keys.partition_cursor(part.number))
        self._rewind(part, int(found or 0))

    async def _store_cursors(self) -> None:
        """Write the cursors of partitions that skipped deltas concerning none of theirs,
        in one round trip."""
        behind = [p for p in self.parts.values() if p.stored < p.cursor]
        if not behind:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for part in behind:
                batch = Batch(part.lease.key, part.lease.token)
                batch.advance(self.keys.partition_cursor(part.number), part.cursor, part.stored)
                batch.queue(pipe)
            replies = await pipe.execute(raise_on_error=False)
        for part, reply in zip(behind, replies, strict=True):
            try:
                Batch.result(reply)
            except LeaseLost:
                log.error("partition lease lost", partition=part.number)
                self._forget(part)
                continue
            except CursorGap:
                await self._reread(part)
                continue
            part.stored = max(part.stored, part.cursor)

    # -- deltas -------------------------------------------------------------------------

    async def fanout(
        self, entries: list[tuple[str, dict[str, str]]], part: Partition | None = None
    ) -> None:
        """Turn deltas into events for each partition held (or `part`) and append them,
        each delta with the partition's cursor."""
        if part is None:
            await self._new_read()
            for held in list(self.parts.values()):
                await self.fanout(entries, held)
            return
        started = time.monotonic()
        subs = [s for s in self._subs if self.partition(s.id) == part.number]
        newest = {s.id: s for s in subs}
        # Subscriptions deleted, or sliced (their slices are indexed by other partitions).
        for gone in set(self._subs_of(part.number)) - set(newest).difference(self.slicer.sliced):
            await asyncio.to_thread(self._locked, self.customers.drop, gone)
        first = _seq(entries[0][0])
        if first > part.cursor + 1 and part.cursor:
            log.error("deltas trimmed before they were dispatched", after=part.cursor)
        # Deltas older than every subscription concern nobody here: skipped by the cursor.
        oldest = min((s.created_seq for s in subs), default=None)
        deltas = [
            _Entry(seq, eid, self._delta(seq, eid, f))
            for eid, f in entries
            for seq in (_seq(eid),)
            if oldest is not None and oldest < seq
        ] or [_Entry(_seq(entries[-1][0]), entries[-1][0], None)]
        alive = [d for d in deltas if d.delta and any(s.created_seq < d.seq for s in subs)]
        cursor = self.keys.partition_cursor(part.number)
        if not alive:
            # Written once the stream is caught up (`_store_cursors`): a successor reading
            # these again from an older cursor finds they concern nobody in the partition
            # either (a subscription created since is newer), and most partitions are idle.
            part.cursor = max(part.cursor, deltas[-1].seq)
            return
        for d in alive:
            delta = d.delta
            assert delta is not None
            for sub in subs:
                if (
                    sub.created_seq < d.seq
                    and sub.wants(f"designation.{delta.op}")
                    and sub.hears(delta)
                    and sub.covers(delta.source, delta.programs)
                ):
                    d.events.append((sub.id, events.designation_event(sub, delta)))
        await self._alerts(alive, newest, part)
        await self._lifted(alive, newest)
        if self.parts.get(part.number) is not part:
            # Given up meanwhile (`_give_up`, its lease not yet released): its customers
            # may have left the index before they were looked up, so these events may
            # miss some. Its next owner fans the deltas out from the cursor.
            log.info("partition given up during its fan-out", partition=part.number)
            return
        touched: set[str] = set()
        # One script per delta that writes something (each guarded by the cursor, so a
        # crash between two leaves the later ones to the next owner), then one moving the
        # cursor to the last delta read: the deltas that raise nothing here ride along
        # with the next script (most deltas, for most partitions). Sent in one round trip,
        # executed in order; a script that fails stops the ones after it (`after`): no
        # delta is skipped. The first expects the cursor this worker last wrote: one that
        # a fail-over took back fails it (CursorGap), and the deltas it lost are redone.
        writes = [d for d in alive if d.events or d.matches]
        # The shortlists the slices wrote for these deltas, deleted as the cursor passes
        # them (those of deltas that raised nothing too: the last script moves it there).
        sliced = sorted(s.id for s in subs if s.id in self.slicer.sliced)
        answered = [d.seq for d in alive if d.delta and d.delta.op != "removed"] if sliced else []
        last = deltas[-1].seq
        if not writes or writes[-1].seq < last:
            writes.append(_Entry(last, "", None))
        async with self.redis.pipeline(transaction=False) as pipe:
            after = part.stored
            for d in writes:
                batch = Batch(part.lease.key, part.lease.token)
                batch.advance(cursor, d.seq, after)
                for sub_id in sliced:
                    for seq in answered:
                        if after < seq <= d.seq:
                            batch.delete(self.keys.slice_found(sub_id, seq))
                after = d.seq
                for sub_id, event in d.events:
                    batch.xadd(self.keys.sub_events(sub_id), event)
                    touched.add(sub_id)
                for (sub_id, entity_id), value in sorted(d.matches.items()):
                    if value:
                        batch.hset(self.keys.sub_matches(sub_id), entity_id, json.dumps(value))
                    else:
                        batch.hdel(self.keys.sub_matches(sub_id), entity_id)
                batch.queue(pipe)
            replies = await pipe.execute(raise_on_error=False)
        for d, reply in zip(writes, replies, strict=True):
            Batch.result(reply)  # LeaseLost when fenced: the caller forgets the partition
            part.cursor = part.stored = max(part.cursor, d.seq)
        for sub_id in touched:
            self.wake(sub_id)
        log.info(
            "deltas dispatched",
            partition=part.number,
            first=alive[0].seq,
            last=alive[-1].seq,
            events=sum(len(d.events) for d in alive),
            seconds=round(time.monotonic() - started, 3),
        )

    async def _alerts(
        self, deltas: list[_Entry], subs: dict[str, Subscription], part: Partition
    ) -> None:
        """blocking.required for customers matching an added or amended designation."""
        latest: dict[str, _Entry] = {}  # entity id -> its last add/amend in this batch
        # Entity ids with an identity change among those: a subscription that hears only
        # identity amendments is alerted (on the latest content) only for these.
        identity: set[str] = set()
        for d in deltas:
            delta = d.delta
            assert delta is not None
            entity_id = delta.entity_id
            if delta.op == "removed":
                latest.pop(entity_id, None)
                identity.discard(entity_id)
            else:
                latest[entity_id] = d
                if delta.klass == "identity":
                    identity.add(entity_id)
        wanting = [s for s in subs.values() if s.wants("blocking.required")]
        sliced = [s for s in wanting if s.id in self.slicer.sliced]
        indexed = self.customers.count_of(subs) > 0
        if not latest or not wanting or not (indexed or sliced):
            return
        entities = {eid: self._entity(d) for eid, d in latest.items() if d.delta}
        memo = (deltas[-1].seq, tuple(sorted((e, d.seq) for e, d in latest.items())))
        found = await self._found_here(memo, entities, wanting) if indexed else {}
        for sub in sliced:
            # The slices answer only the deltas newer than the subscription.
            seqs = {e: d.seq for e, d in latest.items() if sub.created_seq < d.seq}
            if not seqs:
                continue
            refs = await self.slicer.shortlist(part, sub.id, seqs, sub.threshold - _BONUS)
            if refs is None:
                return  # given up or lost meanwhile: its next owner fans the deltas out
            if refs:
                found[sub.id] = refs
        allowed: dict[str, dict[str, set[str]]] = {}
        for sub_id, refs in found.items():
            sub = subs[sub_id]
            for ref, entity_ids in refs.items():
                keep = {
                    e
                    for e in entity_ids
                    if sub.created_seq < latest[e].seq
                    and (sub.amendments == "all" or e in identity)
                    and sub.covers(entities[e].source, entities[e].programs)
                }
                if keep:
                    allowed.setdefault(sub_id, {})[ref] = keep
        if not allowed:
            return
        records = await self._customers(allowed)
        tiny = self._tiny.get(memo)
        if tiny is None:
            tiny = ScreeningIndex()
            by_source: dict[str, list[Entity]] = defaultdict(list)
            for entity in entities.values():
                by_source[entity.source].append(entity)
            for source, members in by_source.items():
                tiny.replace_source(source, f"batch-{deltas[-1].seq}", members)
            self._tiny = {memo: tiny}
        async with self._scoring:  # the partitions fanned out at once score in turn
            scored = await asyncio.to_thread(_score, tiny, subs, records, len(entities))
        prior = await self._prior(
            {(s, m.entity.id) for s, found in scored.items() for _, m in found}
        )
        for sub_id, ref_matches in sorted(scored.items()):
            sub = subs[sub_id]
            for customer, match in sorted(
                ref_matches, key=lambda p: (p[0].reference, p[1].entity.id)
            ):
                entity_id = match.entity.id
                if entity_id not in allowed[sub_id].get(customer.reference, set()):
                    continue
                d = latest[entity_id]
                delta = d.delta
                assert delta is not None
                content = match.entity.content_hash()
                state = prior.setdefault((sub_id, entity_id), {})
                before = state.get(customer.reference)
                if before and before.get("hash") == content:
                    continue
                event = events.blocking_required(
                    sub,
                    customer,
                    match,
                    delta.entity,
                    content,
                    seq=d.seq,
                    version=delta.version,
                    op=delta.op,
                    trigger="delta",
                    previous_event=before.get("event") if before else None,
                )
                state[customer.reference] = {
                    "event": event.id,
                    "hash": content,
                    "regimes": events.regimes(match.entity.programs),
                }
                d.events.append((sub_id, event))
                d.matches[(sub_id, entity_id)] = state

    async def _found_here(
        self, memo: Any, entities: dict[str, Entity], wanting: list[Subscription]
    ) -> dict[str, dict[str, set[str]]]:
        """The shortlist of the subscriptions indexed by this worker (not sliced)."""
        # The same designations for every partition of a read (unless subscriptions
        # created within it see fewer): looked up once in the customers of every
        # partition, at the lowest cut-off of all (exact scoring applies each threshold).
        thresholds = [s.threshold for s in self._subs if s.wants("blocking.required")]
        cutoff = min(thresholds + [s.threshold for s in wanting]) - _BONUS
        kept = self._found.get(memo)
        if (
            kept is None
            or kept.cutoff > cutoff + 1e-9
            or kept.installed != self._installed
            or (kept.lookup.done() and (kept.lookup.cancelled() or kept.lookup.exception()))
        ):
            kept = self._found[memo] = _Lookup(
                cutoff,
                self._installed,
                asyncio.ensure_future(
                    self._lookup(
                        "partitions",
                        self.customers.candidates,
                        list(entities.values()),
                        cutoff,
                        None,
                        self.prepared,
                        entities=len(entities),
                    )
                ),
            )
        lookup = kept.lookup
        # Shielded: a partition given up or failing meanwhile leaves it to the others.
        everyone = await asyncio.shield(lookup)
        ids = {s.id for s in wanting if s.id not in self.slicer.sliced}
        return {sub_id: refs for sub_id, refs in everyone.items() if sub_id in ids}

    async def _lifted(self, deltas: list[_Entry], subs: dict[str, Subscription]) -> None:
        """blocking.lifted for customers who matched a designation now removed."""
        removed = [(d, d.delta) for d in deltas if d.delta is not None and d.delta.op == "removed"]
        if not removed:
            return
        pairs = {(s, delta.entity_id) for _, delta in removed for s in subs}
        prior = await self._prior(pairs)
        frozen: dict[str, dict[str, set[str]]] = {}  # per subscription, read when needed
        for d, delta in removed:
            entity_id = delta.entity_id
            for sub_id in sorted(subs):
                state = prior.get((sub_id, entity_id))
                if not state:
                    continue
                if sub_id not in frozen:
                    frozen[sub_id] = await self._frozen(sub_id, deltas)
                held = frozen[sub_id]
                if subs[sub_id].wants("blocking.lifted"):
                    for ref in sorted(state):
                        # Partial when another designation under a Kazakh freezing
                        # regime still holds this customer (docs/webhooks.md).
                        extent = "partial" if held.get(ref, set()) - {entity_id} else "full"
                        event = events.blocking_lifted(
                            subs[sub_id], ref, state[ref].get("event"), delta, extent
                        )
                        d.events.append((sub_id, event))
                for ref in state:
                    held.get(ref, set()).discard(entity_id)
                d.matches[(sub_id, entity_id)] = None
                prior[(sub_id, entity_id)] = {}

    async def _frozen(self, sub_id: str, deltas: list[_Entry]) -> dict[str, set[str]]:
        """{customer reference: entity ids} of the subscription's open alerts that carry a
        Kazakh freezing regime, including those raised in this batch."""
        raw = cast(dict[str, str], await self.redis.hgetall(self.keys.sub_matches(sub_id)))
        states = {entity_id: json.loads(value) for entity_id, value in raw.items()}
        for d in deltas:
            for (s, entity_id), value in d.matches.items():
                if s == sub_id and value:
                    states[entity_id] = value
        out: dict[str, set[str]] = {}
        for entity_id, state in states.items():
            for ref, alert in state.items():
                # Alerts stored before regimes were recorded count as freezing: calling a
                # lifting partial keeps a freeze under review rather than releasing it.
                if alert.get("regimes", ["unknown"]):
                    out.setdefault(ref, set()).add(entity_id)
        return out

    async def _prior(self, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """The alerts already raised, by (subscription, entity): {customer ref: ...}."""
        ordered = sorted(pairs)
        if not ordered:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for sub_id, entity_id in ordered:
                pipe.hget(self.keys.sub_matches(sub_id), entity_id)
            raws = cast(list[str | None], await pipe.execute())
        return {p: json.loads(r) if r else {} for p, r in zip(ordered, raws, strict=True)}

    async def _customers(self, wanted: dict[str, dict[str, set[str]]]) -> dict[str, list[Customer]]:
        out: dict[str, list[Customer]] = {}
        for sub_id, refs in wanted.items():
            ordered = sorted(refs)
            raws = cast(
                list[str | None], await self.redis.hmget(self.keys.watchlist(sub_id), ordered)
            )
            out[sub_id] = [customer_from_json(r) for r in raws if r]
        return out

    # -- watchlists -----------------------------------------------------------------------

    async def drain(self) -> bool:
        """Index and screen one chunk of changed customers of the partitions held and
        ready; True if more are waiting."""
        marked: set[str] = set()
        # One set on a single server; one a partition held on a cluster, read in one trip.
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in {self.keys.watchlist_dirty(p) for p in self.parts}:
                pipe.smembers(key)
            for members in await pipe.execute():
                marked |= cast(set[str], members)
        # Not those of a partition waiting for shortlists (`_fan`): it is behind the
        # stream, and its deltas are fanned out first (below).
        dirty = sorted(
            sub_id
            for sub_id in marked
            if (p := self.parts.get(self.partition(sub_id))) is not None
            and p.ready
            and p.number not in self._deferred
        )
        if not dirty:
            return False
        self._rotation += 1
        sub_id = dirty[self._rotation % len(dirty)]
        part = self.parts[self.partition(sub_id)]
        if part.cursor < await self.store.last_seq():
            # Fan out published deltas first: the lists screened against are then no
            # newer than the delta sequence the alerts name, and order is kept.
            return True
        k = self.keys
        refs = cast(
            list[str],
            await self.redis.srandmember(k.watchlist_pending(sub_id), self.config.drain_chunk),
        )
        sub = await self.subs.get(sub_id)
        if sub is None:  # deleted meanwhile
            await asyncio.to_thread(self._locked, self.customers.drop, sub_id)
            await self.redis.srem(k.watchlist_dirty_of(sub_id), sub_id)
            return len(dirty) > 1
        values = (
            cast(list[str | None], await self.redis.hmget(k.watchlist(sub_id), refs))
            if refs
            else []
        )
        present = [customer_from_json(v) for v in values if v]
        gone = [r for r, v in zip(refs, values, strict=True) if v is None]
        checks = [record_check(v) for v in values if v]
        batch = Batch(part.lease.key, part.lease.token)
        if sub_id in await self.slicer.mark([sub_id]):
            # Indexed in slices by other partitions: handed to them with the pending mark
            # cleared, in the same script (`listd.notifications.slices`).
            if self.customers.count(sub_id):
                await asyncio.to_thread(self._locked, self.customers.drop, sub_id)
            for piece, logged in sorted(self.slicer.changes(sub_id, refs).items()):
                batch.log(k.slice_changes(sub_id, piece), logged, k.subscription(sub_id))
        else:
            await asyncio.to_thread(
                self._locked, self._apply, self.customers, sub_id, present, checks, gone
            )
            part.unsaved = True
        if present and sub.wants("blocking.required"):
            if not await self._lists_current():
                return True  # a version flipped under us; the next round retries
            for event, entity_id, state in await self._screen(sub, present, part.cursor):
                batch.xadd(k.sub_events(sub_id), event)
                batch.hset(k.sub_matches(sub_id), entity_id, json.dumps(state))
        for ref, value in zip(refs, values, strict=True):
            batch.settle(k.watchlist_pending(sub_id), k.watchlist(sub_id), ref, value)
        batch.clean(k.watchlist_pending(sub_id), k.watchlist_dirty_of(sub_id), sub_id)
        try:
            added = await batch.run(self.redis)
        except LeaseLost:
            log.error("partition lease lost", partition=part.number)
            self._forget(part)
            return True
        if added:
            self.wake(sub_id)
            log.info("watchlist alerts", subscription=sub_id, events=added)
        return True

    def _apply(
        self,
        index: CustomerIndex,
        sub_id: str,
        present: list[Customer],
        checks: list[int],
        gone: list[str],
    ) -> None:
        for ref in gone:
            index.remove(sub_id, ref)
        for customer, check in zip(present, checks, strict=True):
            index.put(sub_id, customer, check)
        self._settle_memory(len(present))

    async def _lists_current(self) -> bool:
        """Load into `lists` any source whose serving version it does not hold yet."""
        # In the event loop, like the API's own refresh: one writer at a time.
        return not (await follow(self.store, self.lists, self.sources)).behind

    async def _screen(
        self, sub: Subscription, customers: list[Customer], seq: int
    ) -> list[tuple[Event, str, dict[str, Any]]]:
        """blocking.required for customers just added or changed, against the lists."""
        subs = {sub.id: sub}
        scored = await asyncio.to_thread(_score, self.lists, subs, {sub.id: customers}, 50)
        matches = scored.get(sub.id, [])
        if not matches:
            return []
        prior = await self._prior({(sub.id, m.entity.id) for _, m in matches})
        out: list[tuple[Event, str, dict[str, Any]]] = []
        for customer, match in sorted(matches, key=lambda p: (p[0].reference, p[1].entity.id)):
            entity = match.entity
            content = entity.content_hash()
            state = prior.setdefault((sub.id, entity.id), {})
            before = state.get(customer.reference)
            if before and before.get("hash") == content:
                continue
            event = events.blocking_required(
                sub,
                customer,
                match,
                entity.to_dict(),
                content,
                seq=seq,
                version=self.lists.versions.get(entity.source),
                op="listed",
                trigger="watchlist",
                previous_event=before.get("event") if before else None,
            )
            state[customer.reference] = {
                "event": event.id,
                "hash": content,
                "regimes": events.regimes(entity.programs),
            }
            out.append((event, entity.id, state))
        return out


def _seq(entry_id: str) -> int:
    return int(entry_id.split("-", 1)[0])


def _score(
    index: ScreeningIndex,
    subs: dict[str, Subscription],
    records: dict[str, list[Customer]],
    limit: int,
) -> dict[str, list[tuple[Customer, Match]]]:
    """Exact screening of customers (the query side) against `index`, per subscription."""
    out: dict[str, list[tuple[Customer, Match]]] = {}
    for sub_id, customers in records.items():
        sub = subs[sub_id]
        queries = [c.query(sub.threshold, sub.sources, sub.programs, limit) for c in customers]
        for customer, found in zip(customers, index.screen_many(queries), strict=True):
            for match in found:
                out.setdefault(sub_id, []).append((customer, match))
    return out
