"""The notification dispatcher: deltas and watchlist changes in, webhook events out.

One dispatcher works at a time across all listd instances: the leader's (`listd.pipeline.lease`,
shared with the scheduler); the others wait to take over. While it leads it:

* reads the delta stream as the consumer group "dispatch". The stream already is a
  durable outbox, written in the same Lua step that flips a list's version; each delta
  is turned into its events for every subscription (designation.* to those who want the
  feed, blocking.required for customers matching an added or amended designation,
  blocking.lifted for customers who matched a removed one), and the events are appended
  to the subscriptions' streams *in the same script that acknowledges the delta*
  (`outbox.Batch`). A crash before that script leaves the delta pending, and the next
  leader reads it again (XREADGROUP from id 0); after it, the delta is done;
* screens customers whose watchlist record changed against the current lists, and
  clears their "pending" mark in the script that appends the resulting events;
* delivers (`delivery.Deliverer`).

An alert's id depends on the subscription, customer, designation and its content, not
on how it was found, and the dispatcher remembers each alert it raised (`sub_matches`),
so a customer found both by a new designation and by its own upload is alerted once.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import aiohttp
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from listd.clock import SYSTEM_CLOCK, Clock
from listd.keyspace import Keys
from listd.logs import get_logger
from listd.model import Entity, entity_from_dict
from listd.notifications import egress, events
from listd.notifications.config import WebhookConfig
from listd.notifications.customers import CustomerIndex
from listd.notifications.delivery import Deliverer
from listd.notifications.events import Event
from listd.notifications.outbox import GROUP, Batch
from listd.notifications.subscriptions import Subscription, SubscriptionStore
from listd.notifications.watchlist import Customer, customer_from_json
from listd.pipeline.delta import Delta
from listd.pipeline.lease import LEADER, Lease
from listd.pipeline.store import Store
from listd.screening import Match, ScreeningIndex
from listd.screening.evidence import MAX_BONUS_BIRTH, MAX_BONUS_NATIONALITY
from listd.screening.follow import follow
from listd.screening.index import freeze_long_lived

log = get_logger(__name__)

CONSUMER = "dispatcher"  # one consumer: only the lease holder reads
_READ = 500  # deltas per read
_BONUS = MAX_BONUS_BIRTH + MAX_BONUS_NATIONALITY


@dataclass(slots=True)
class _Entry:
    """A stream entry being dispatched, with what it raises."""

    seq: int
    entry_id: str
    delta: Delta | None  # None when retention trimmed it before it was read
    events: list[tuple[str, Event]] = field(default_factory=list)  # (subscription, event)
    matches: dict[tuple[str, str], dict[str, Any] | None] = field(default_factory=dict)


class Dispatcher:
    """Campaigns for the dispatcher lease; while it holds it, fans out and delivers."""

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
        # The daemon passes its leader lease (it runs `lead` while leading); alone, the
        # dispatcher campaigns for the same lease itself (`run`).
        self.lease = lease or Lease(redis, keys.lease(LEADER), keys.fence(LEADER), config.lease_ttl)
        self.customers = CustomerIndex()
        self.deliverer: Deliverer | None = None
        self.leading = asyncio.Event()  # set once leading with every watchlist loaded
        self._rotation = 0
        self._position = 0  # last delta sequence fanned out (or found to concern nobody)
        self._index_complete = False
        self._indexed_under = -1  # fencing number of the tenure that last kept the index
        self._unfrozen = 0  # customers indexed since the last gc.freeze()
        self._caught_up = False  # the deltas a previous leader left pending are done

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: wait for the lease, then work while it is held."""
        await self.lease.run(self.lead, stop)

    def wake(self, sub_id: str) -> None:
        if self.deliverer is not None:
            self.deliverer.wake(sub_id)

    async def lead(self, halt: asyncio.Event) -> None:
        """Fan out and deliver until `halt` is set; the caller holds `self.lease`."""
        try:
            await self._ensure_group()
            self.deliverer = Deliverer(
                self.redis,
                self.keys,
                self.lease,
                self.session,
                self.config.delivery,
                egress.AllowList(self.config.allow_hosts),
                halt,
                self.clock,
            )
            async with asyncio.TaskGroup() as tasks:
                # Events already in the outboxes go out at once; only the fan-out of
                # new deltas needs the customer index, which can take minutes to build.
                tasks.create_task(self.deliverer.run(), name="webhook-lanes")
                if self.lease.fence != self._indexed_under + 1 or not self._index_complete:
                    # Somebody else led since this index was built (they drained changes
                    # it has not seen), or it is not complete: build it again.
                    self._index_complete = False
                    self.customers = CustomerIndex()  # let the old one go before building
                    await self._load_watchlists()
                    self._index_complete = True
                self._indexed_under = self.lease.fence
                self.leading.set()
                tasks.create_task(self._loop(halt), name="webhook-fanout")
        finally:
            self.leading.clear()
            self.deliverer = None

    async def _ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(self.keys.deltas(), GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        for group in await self.redis.xinfo_groups(self.keys.deltas()):
            if group["name"] == GROUP:
                self._position = int(str(group["last-delivered-id"]).split("-", 1)[0])
        self._caught_up = False

    async def _load_watchlists(self) -> None:
        """Build the customer index aside and install it whole. A build abandoned when the
        lease was lost can still be running in its worker thread: it must write into its own
        index, never into the one its successor is building."""
        started = time.monotonic()
        index = CustomerIndex()
        for sub_id in await self.subs.ids():
            page: list[str] = []
            async for _, raw in self.redis.hscan_iter(self.keys.watchlist(sub_id), count=5000):
                page.append(raw)
                if len(page) >= 5000:
                    await asyncio.to_thread(self._put_raw, index, sub_id, page)
                    page = []
            if page:
                await asyncio.to_thread(self._put_raw, index, sub_id, page)
        freeze_long_lived()
        self.customers = index
        log.info(
            "watchlists indexed",
            customers=len(index),
            seconds=round(time.monotonic() - started, 2),
        )

    def _put_raw(self, index: CustomerIndex, sub_id: str, raws: list[str]) -> None:
        for raw in raws:
            index.put(sub_id, customer_from_json(raw))
        self._settle_memory(len(raws))

    def _settle_memory(self, added: int) -> None:
        self._unfrozen += added
        if self._unfrozen >= 50_000:
            freeze_long_lived()
            self._unfrozen = 0

    async def _loop(self, halt: asyncio.Event) -> None:
        backlog = True  # first the deltas a previous leader read but did not finish
        pending = True
        while not halt.is_set():
            block = None if backlog or pending else int(self.config.poll_interval * 1000)
            reply: Any = await self.redis.xreadgroup(
                GROUP,
                CONSUMER,
                {self.keys.deltas(): "0" if backlog else ">"},
                count=_READ,
                block=block,
            )
            entries = cast(list[tuple[str, dict[str, str] | None]], reply[0][1] if reply else [])
            if backlog and not entries:
                backlog = False
                self._caught_up = True
            if entries:
                await self.fanout(entries)
            pending = await self.drain()

    # -- deltas -------------------------------------------------------------------------

    async def fanout(self, entries: list[tuple[str, dict[str, str] | None]]) -> None:
        """Turn deltas into events and append them, each delta with its acknowledgement."""
        started = time.monotonic()
        subs = await self.subs.all()
        deltas = [
            _Entry(seq, eid, Delta.from_json(seq, f["d"]) if f else None)
            for eid, f in entries
            for seq in (int(eid.split("-", 1)[0]),)
        ]
        newest = {s.id: s for s in subs}
        for gone in set(self.customers.subs) - set(newest):  # subscriptions deleted
            await asyncio.to_thread(self.customers.drop, gone)
        # Deltas older than every subscription concern nobody: acknowledged in bulk.
        alive = [d for d in deltas if d.delta and any(s.created_seq < d.seq for s in subs)]
        idle = [d for d in deltas if not (d.delta and any(s.created_seq < d.seq for s in subs))]
        for d in idle:
            if d.delta is None:
                log.error("delta trimmed before it was dispatched", seq=d.seq)
        if idle:
            await self.redis.xack(self.keys.deltas(), GROUP, *[d.entry_id for d in idle])
        if not alive:
            self._position = max(self._position, deltas[-1].seq)
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
        await self._alerts(alive, newest)
        await self._lifted(alive, newest)
        touched: set[str] = set()
        for d in alive:
            batch = Batch(self.lease.key, self.lease.token)
            batch.ack(self.keys.deltas(), GROUP, d.entry_id)
            for sub_id, event in d.events:
                batch.xadd(self.keys.sub_events(sub_id), event)
                touched.add(sub_id)
            for (sub_id, entity_id), value in sorted(d.matches.items()):
                if value:
                    batch.hset(self.keys.sub_matches(sub_id), entity_id, json.dumps(value))
                else:
                    batch.hdel(self.keys.sub_matches(sub_id), entity_id)
            await batch.run(self.redis)
        self._position = max(self._position, deltas[-1].seq)
        for sub_id in touched:
            self.wake(sub_id)
        log.info(
            "deltas dispatched",
            first=alive[0].seq,
            last=alive[-1].seq,
            events=sum(len(d.events) for d in alive),
            seconds=round(time.monotonic() - started, 3),
        )

    async def _alerts(self, deltas: list[_Entry], subs: dict[str, Subscription]) -> None:
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
        if not latest or not wanting or not len(self.customers):
            return
        entities = {eid: entity_from_dict(d.delta.entity) for eid, d in latest.items() if d.delta}
        cutoff = min(s.threshold for s in wanting) - _BONUS
        found = await asyncio.to_thread(
            self.customers.candidates, list(entities.values()), cutoff, {s.id for s in wanting}
        )
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
        tiny = ScreeningIndex()
        by_source: dict[str, list[Entity]] = defaultdict(list)
        for entity in entities.values():
            by_source[entity.source].append(entity)
        for source, members in by_source.items():
            tiny.replace_source(source, f"batch-{deltas[-1].seq}", members)
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
        """Index and screen one chunk of changed customers; True if more are waiting."""
        dirty = sorted(cast(set[str], await self.redis.smembers(self.keys.watchlist_dirty())))
        if not dirty:
            return False
        if not self._caught_up or self._position < await self.store.last_seq():
            # Fan out published deltas first: the lists screened against are then no
            # newer than the delta sequence the alerts name, and order is kept.
            return True
        self._rotation += 1
        sub_id = dirty[self._rotation % len(dirty)]
        k = self.keys
        refs = cast(
            list[str],
            await self.redis.srandmember(k.watchlist_pending(sub_id), self.config.drain_chunk),
        )
        sub = await self.subs.get(sub_id)
        if sub is None:  # deleted meanwhile
            await asyncio.to_thread(self.customers.drop, sub_id)
            await self.redis.srem(k.watchlist_dirty(), sub_id)
            return len(dirty) > 1
        values = (
            cast(list[str | None], await self.redis.hmget(k.watchlist(sub_id), refs))
            if refs
            else []
        )
        present = [customer_from_json(v) for v in values if v]
        gone = [r for r, v in zip(refs, values, strict=True) if v is None]
        await asyncio.to_thread(self._apply, sub_id, present, gone)
        batch = Batch(self.lease.key, self.lease.token)
        if present and sub.wants("blocking.required"):
            if not await self._lists_current():
                return True  # a version flipped under us; the next round retries
            for event, entity_id, state in await self._screen(sub, present):
                batch.xadd(k.sub_events(sub_id), event)
                batch.hset(k.sub_matches(sub_id), entity_id, json.dumps(state))
        for ref, value in zip(refs, values, strict=True):
            batch.settle(k.watchlist_pending(sub_id), k.watchlist(sub_id), ref, value)
        batch.clean(k.watchlist_pending(sub_id), k.watchlist_dirty(), sub_id)
        added = await batch.run(self.redis)
        if added:
            self.wake(sub_id)
            log.info("watchlist alerts", subscription=sub_id, events=added)
        return True

    def _apply(self, sub_id: str, present: list[Customer], gone: list[str]) -> None:
        for ref in gone:
            self.customers.remove(sub_id, ref)
        for customer in present:
            self.customers.put(sub_id, customer)
        self._settle_memory(len(present))

    async def _lists_current(self) -> bool:
        """Load into `lists` any source whose serving version it does not hold yet."""
        # In the event loop, like the API's own refresh: one writer at a time.
        return not (await follow(self.store, self.lists, self.sources)).behind

    async def _screen(
        self, sub: Subscription, customers: list[Customer]
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
                seq=self._position,
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
