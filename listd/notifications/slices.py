"""Slices: one big subscription's customers indexed by several partitions.

A subscription lives in one partition (its *home*), whose worker fans each delta out to
it and delivers its events in order. One of 10 million customers made that worker the
slowest lookup and the slowest takeover of all. So once a watchlist outgrows
`LISTD_DISPATCH_SLICE_CUSTOMERS`, its home worker records it as sliced
(`Keys.dispatch_sliced`, for good) and stops indexing it; its customers are split into
`LISTD_DISPATCH_SLICES` slices by a stable hash of their reference, and slice j is
indexed by the worker of partition `slice_partition(home, j)`, spread around the ring.

Only the shortlist moves. A slice's worker looks each delta newer than the home's
cursor up in its slice (`CustomerIndex.candidates`, as the home would) and writes the
result in the subscription's slot (`Keys.slice_found`), with the entry of the slice's
change stream it had applied. The home worker waits for the shortlists of every slice,
then reads the records, scores exactly and writes the outbox exactly as for any other
subscription: order, fencing, outbox and delivery are unchanged.

Changes. The home worker still drains the subscription's changed customers: it screens
them against the lists and, in the script that clears their pending mark, appends their
references to the slice's change stream (`Keys.slice_changes`, in the subscription's
slot). The slice's worker applies that stream to its index. A shortlist is complete for
the changes up to the entry it names; the home adds to it every reference logged after
that entry (exact scoring decides), and refuses a shortlist whose entry has been trimmed
away (a worker that lost the slice long ago): it is computed again. So a customer is
either in the slice index the shortlist came from, or in the stream after it, or still
pending (then screened against the lists by the drain, after the delta).

A slice's worker writes its slices' snapshot (`Keys.slice_snapshot`, under the
partition's lease) and trims each change stream to the entry the snapshot holds; a
worker taking the partition over loads it and applies the stream from there, or, when
that entry is gone, reads the subscription's records again for its slice. A dead slice
worker delays its subscription's fan-out until the slice is taken over; nothing is lost.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import zlib
from collections.abc import Container
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from listd import waits
from listd.logs import get_logger
from listd.model import Entity, entity_from_dict
from listd.notifications import snapshot, stored
from listd.notifications.customers import CustomerIndex, record_check
from listd.notifications.outbox import Batch
from listd.notifications.watchlist import customer_from_json
from listd.pipeline.delta import Delta
from listd.pipeline.lease import LeaseLost
from listd.screening.evidence import MAX_BONUS_BIRTH, MAX_BONUS_NATIONALITY

if TYPE_CHECKING:
    from listd.notifications.dispatcher import Dispatcher

log = get_logger(__name__)

_BONUS = MAX_BONUS_BIRTH + MAX_BONUS_NATIONALITY
_READ = 500  # deltas per read


def slice_of(ref: str, count: int) -> int:
    """The slice (0 .. count-1) of a customer reference: stable everywhere."""
    return zlib.crc32(ref.encode()) % count


def slice_partition(home: int, piece: int, count: int, partitions: int) -> int:
    """The partition indexing slice `piece` of a subscription whose home is `home`:
    spread evenly around the partitions (workers take partitions in runs of neighbours)."""
    return (home + piece * partitions // count) % partitions


def slice_count(wanted: int, partitions: int) -> int:
    """The slices a subscription is cut into: as configured, at most one a partition."""
    return max(1, min(wanted, partitions))


def piece_id(sub_id: str, piece: int) -> str:
    """The name a slice is indexed under (`CustomerIndex` keys customers by it)."""
    return f"{sub_id}/{piece}"


def parse_piece(name: str) -> tuple[str, int]:
    sub_id, _, piece = name.rpartition("/")
    return sub_id, int(piece)


# --- the slice worker -------------------------------------------------------------------

# Seconds a shortlist is kept at most: its home deletes it as its cursor passes the delta,
# so this only bounds one left behind (a cursor taken back by a Redis fail-over).
_TTL = 86_400
_PAGE = 2000  # stream entries or records per round trip

# KEYS: shortlists of the delta, the home's cursor, the subscription. ARGV: seq, slice,
# shortlist, ttl. Written only while the home has not passed the delta (it deletes the
# shortlists as it does) and the subscription exists (its deletion deletes them): so a
# late writer leaves nothing behind. Returns 1 if written.
_SHORTLIST = """
if tonumber(redis.call('GET', KEYS[2]) or '0') >= tonumber(ARGV[1]) then return 0 end
if redis.call('EXISTS', KEYS[3]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return 1
"""
# KEYS: a slice's change stream, the subscription. ARGV: mark. The entry id, or false
# once the subscription is deleted (nothing recreates its stream).
_MARK = """
if redis.call('EXISTS', KEYS[2]) == 0 then return false end
return redis.call('XADD', KEYS[1], '*', 'mark', ARGV[1])
"""


@dataclass(slots=True)
class Piece:
    """A slice this worker indexes."""

    sub_id: str
    piece: int
    partition: int
    applied: str  # the last entry of its change stream applied to the index

    @property
    def name(self) -> str:
        return piece_id(self.sub_id, self.piece)


class Slicer:
    """The slices held by one dispatcher worker: their index, its snapshots, and the
    shortlists it writes for the subscriptions' home workers. Runs as a task of its own
    beside the fan-out, which may be waiting for another worker's shortlists (and that
    worker's fan-out for this one's)."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.d = dispatcher
        self.redis = dispatcher.redis
        self.keys = dispatcher.keys
        self.config = dispatcher.config
        self.index = CustomerIndex(dispatcher.vocab)  # under the dispatcher's index lock
        self.pieces: dict[str, Piece] = {}
        self.sliced: dict[str, int] = {}  # subscription id -> slices
        self.held: dict[int, Any] = {}  # partition -> the Partition object indexed for
        self.unsaved: set[int] = set()
        # Partitions whose slice snapshot holds slices no longer wanted (a subscription
        # deleted): written again at once, not at the snapshot interval.
        self.purge: set[int] = set()
        self.checked: dict[int, Any] = {}  # partition -> the Partition its snapshot was read for
        self.snapped: dict[int, float] = {}
        self._last: str | None = None  # the last delta entry read
        self._halt = asyncio.Event()
        self._snapping = waits.Aside()  # the slice snapshot written

    # -- both sides ----------------------------------------------------------------------

    async def refresh(self) -> dict[str, int]:
        raw = cast(dict[str, str], await self.redis.hgetall(self.keys.dispatch_sliced()))
        self.sliced = {s: int(n) for s, n in raw.items()}
        return self.sliced

    async def mark(self, sub_ids: list[str]) -> set[str]:
        """Of `sub_ids` (subscriptions of a partition this worker holds), those sliced:
        already, or now because their watchlist outgrew the threshold."""
        await self.refresh()
        limit = self.config.slice_customers
        fresh = [s for s in sub_ids if s not in self.sliced]
        if limit and fresh:
            async with self.redis.pipeline(transaction=False) as pipe:
                for sub_id in fresh:
                    pipe.hlen(self.keys.watchlist(sub_id))
                sizes = await pipe.execute()
            count = slice_count(self.config.slices, self.config.partitions)
            for sub_id, size in zip(fresh, sizes, strict=True):
                if int(size) > limit:
                    await self.redis.hsetnx(self.keys.dispatch_sliced(), sub_id, count)
                    log.info("subscription sliced", subscription=sub_id, slices=count)
            await self.refresh()
        return {s for s in sub_ids if s in self.sliced}

    # -- the home's side -----------------------------------------------------------------

    async def shortlist(
        self, part: Any, sub_id: str, wanted: dict[str, int], cutoff: float
    ) -> dict[str, set[str]] | None:
        """{customer ref: entity ids} that may match, over every slice of `sub_id`, for
        the entities of `wanted` (entity id -> the delta sequence of its content); waits
        for every slice's shortlist. None if the partition was given up or lost meanwhile;
        empty if the subscription was deleted."""
        count = self.sliced[sub_id]
        seqs = sorted(set(wanted.values()))
        replies: dict[tuple[int, int], dict[str, Any]] = {}
        while True:
            if self.d.parts.get(part.number) is not part:
                return None
            missing = [(s, j) for s in seqs for j in range(count) if (s, j) not in replies]
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.exists(self.keys.subscription(sub_id))
                for seq in seqs:
                    pipe.hgetall(self.keys.slice_found(sub_id, seq))
                exists, *lists = await pipe.execute()
            if not exists:
                return {}  # deleted meanwhile: no slice answers for it any more
            found = dict(zip(seqs, lists, strict=True))
            fresh: dict[tuple[int, int], dict[str, Any]] = {}
            for seq, j in missing:
                raw = found[seq].get(str(j))
                if raw:
                    fresh[(seq, j)] = json.loads(raw)
            # A shortlist is usable if the stream entry it was made at is still there
            # (else a worker that lost the slice made it: the later changes are gone).
            usable = await self._marks_present(sub_id, fresh)
            for key, reply in fresh.items():
                if key in usable and float(reply["cutoff"]) <= cutoff + 1e-9:
                    replies[key] = reply
                else:
                    await self.redis.hdel(self.keys.slice_found(sub_id, key[0]), str(key[1]))
            if len(replies) == len(seqs) * count:
                break
            await waits.sleep(min(self.config.poll_interval, 0.02))
        out: dict[str, set[str]] = {}
        for (seq, _), reply in replies.items():
            for ref, entity_ids in reply["refs"].items():
                for entity_id in entity_ids:
                    if wanted.get(entity_id) == seq:
                        out.setdefault(ref, set()).add(entity_id)
        # Customers changed after a shortlist's entry: every one, for every entity.
        for j in range(count):
            oldest = min((r["applied"] for (_, p), r in replies.items() if p == j), key=_order)
            for ref in await self._logged_after(sub_id, j, oldest):
                out.setdefault(ref, set()).update(wanted)
        return out

    async def _marks_present(
        self, sub_id: str, replies: dict[tuple[int, int], dict[str, Any]]
    ) -> set[tuple[int, int]]:
        keys = list(replies)
        if not keys:
            return set()
        async with self.redis.pipeline(transaction=False) as pipe:
            for _, j in keys:
                entry = replies[(_, j)]["applied"]
                pipe.xrange(self.keys.slice_changes(sub_id, j), min=entry, max=entry, count=1)
            found = await pipe.execute()
        return {k for k, f in zip(keys, found, strict=True) if f}

    async def _logged_after(self, sub_id: str, piece: int, entry: str) -> set[str]:
        refs: set[str] = set()
        start = f"({entry}"
        key = self.keys.slice_changes(sub_id, piece)
        while batch := cast(
            list[tuple[str, dict[str, str]]],
            await self.redis.xrange(key, min=start, count=_PAGE),
        ):
            for _, fields in batch:
                if "refs" in fields:
                    refs.update(json.loads(fields["refs"]))
            start = f"({batch[-1][0]}"
        return refs

    def changes(self, sub_id: str, refs: list[str]) -> dict[int, list[str]]:
        """`refs` of a sliced subscription by slice (for the drain's `Batch.log`)."""
        count = self.sliced[sub_id]
        out: dict[int, list[str]] = {}
        for ref in refs:
            out.setdefault(slice_of(ref, count), []).append(ref)
        return out

    # -- the slice worker's side -------------------------------------------------------

    async def run(self, halt: asyncio.Event) -> None:
        """Until `halt`: keep the slices of the partitions held indexed, write their
        shortlists for every delta their homes have not fanned out yet, and snapshots."""
        self._halt = halt
        try:
            while not halt.is_set():
                busy = False
                await self.refresh()
                await self._follow_partitions()
                if self.pieces:
                    await self._apply_changes()
                    busy = await self._answer()
                if not busy:
                    await self._snapshot_due()
                if not busy and not halt.is_set():
                    await self._wait()
        finally:
            await self._snapping.stop()

    async def _wait(self) -> None:
        """Until a delta newer than the last read is published (or the poll interval)."""
        if not self.pieces or self._last is None:
            await waits.sleep(self.config.poll_interval)
            return
        await self.redis.xread(
            {self.keys.deltas(): self._last},
            count=1,
            block=max(int(self.config.poll_interval * 1000), 1),
        )

    def ready(self) -> bool:
        """Every slice of the partitions held is indexed."""
        return set(self._wanted()) <= set(self.pieces)

    def _wanted(self, parts: Container[int] | None = None) -> dict[str, tuple[str, int, int]]:
        """Slice name -> (subscription, slice, partition) for the partitions held (or
        those of `parts`)."""
        held = self.d.parts if parts is None else parts
        out: dict[str, tuple[str, int, int]] = {}
        for sub_id, count in self.sliced.items():
            home = self.d.partition(sub_id)
            for j in range(count):
                number = slice_partition(home, j, count, self.config.partitions)
                if number in held:
                    out[piece_id(sub_id, j)] = (sub_id, j, number)
        return out

    async def _follow_partitions(self) -> None:
        """Drop the slices of partitions no longer held; index those of partitions taken:
        from their snapshot, else from the subscription's records."""
        wanted = self._wanted()
        subs = set(await self.d.subs.ids()) if wanted or self.pieces else set()
        gone = [
            p
            for name, p in self.pieces.items()
            if name not in wanted
            or p.sub_id not in subs
            or self.held.get(p.partition) is not self.d.parts.get(p.partition)
        ]
        if gone:
            for p in gone:
                del self.pieces[p.name]
                if self.held.get(p.partition) is self.d.parts.get(p.partition):
                    # Still held (the subscription was deleted): its snapshot is written
                    # again without the slice.
                    self.unsaved.add(p.partition)
                    self.purge.add(p.partition)
            await asyncio.to_thread(self.d._locked, _drop, self.index, [p.name for p in gone])
        for number in list(self.held):
            if number not in self.d.parts:
                del self.held[number]
        await self._check_snapshots()
        missing: dict[int, list[tuple[str, int]]] = {}
        for name, (sub_id, j, number) in wanted.items():
            if name not in self.pieces and sub_id in subs:
                missing.setdefault(number, []).append((sub_id, j))
        for number, pieces in sorted(missing.items()):
            part = self.d.parts.get(number)
            if part is None:
                continue
            self.held[number] = part
            loaded = await self._load(number, pieces)
            for sub_id, j in pieces:
                if piece_id(sub_id, j) not in loaded:
                    await self._build(number, sub_id, j)
            self.unsaved.add(number)

    async def _check_snapshots(self) -> None:
        """For each partition newly held: if its slice snapshot holds slices no longer
        wanted (of a subscription deleted while nobody held it), write it again.

        What is wanted there is worked out here, for these partitions: the caller's view
        was taken before its awaits, and a partition taken meanwhile (as a dead worker's
        are, all at once) wanted nothing in it, so its snapshot was deleted and its
        slices built again from their records."""
        for number in list(self.checked):
            if self.checked[number] is not self.d.parts.get(number):
                del self.checked[number]
        fresh = [(n, p) for n, p in sorted(self.d.parts.items()) if n not in self.checked]
        if not fresh:
            return
        wanted = self._wanted({n for n, _ in fresh})
        async with self.redis.pipeline(transaction=False) as pipe:
            for number, _ in fresh:
                pipe.hget(self.keys.slice_snapshot(number), "meta")
            metas = await pipe.execute()
        for (number, part), meta in zip(fresh, metas, strict=True):
            self.checked[number] = part
            if meta and set(json.loads(meta).get("applied", {})) - set(wanted):
                self.held[number] = part
                self.unsaved.add(number)
                self.purge.add(number)

    async def _load(self, number: int, pieces: list[tuple[str, int]]) -> set[str]:
        """The slices of `pieces` found in the partition's slice snapshot with their
        change stream still reaching back to it, taken into the index."""
        snapshot = await stored.read(self.redis, self.keys.slice_snapshot(number))
        if snapshot is None:
            return set()
        meta, chunks = snapshot
        if chunks is None:
            return set()
        try:
            index = await asyncio.to_thread(stored.load_index, chunks, self.d.vocab)
        except ValueError as exc:
            log.warning("slice snapshot unreadable", partition=number, error=str(exc))
            return set()
        applied: dict[str, str] = meta["applied"]
        want = {piece_id(s, j): (s, j) for s, j in pieces}
        keep: dict[str, Piece] = {}
        for name, entry in applied.items():
            if name not in want:
                continue
            sub_id, j = want[name]
            found = await self.redis.xrange(
                self.keys.slice_changes(sub_id, j), min=entry, max=entry, count=1
            )
            if found:
                keep[name] = Piece(sub_id, j, number, entry)
        for name in set(index.subs) - set(keep):
            index.drop(name)
        await asyncio.to_thread(self.d._locked, self.index.absorb, index)
        self.pieces.update(keep)
        log.info("slices loaded", partition=number, slices=sorted(keep), customers=len(index))
        return set(keep)

    async def _build(self, number: int, sub_id: str, j: int) -> None:
        """Index slice j of `sub_id` from its records (after a mark in its change stream:
        what is drained from then on is applied after)."""
        count = self.sliced[sub_id]
        started = time.monotonic()
        stream, sub_key = self.keys.slice_changes(sub_id, j), self.keys.subscription(sub_id)
        entry = await self.redis.eval(_MARK, 2, stream, sub_key, secrets.token_hex(6))
        if not entry:
            return  # deleted meanwhile
        mark = str(entry)
        name = piece_id(sub_id, j)
        index = CustomerIndex(self.d.vocab)
        async with self.d._building:
            page: list[str] = []
            async for ref, raw in self.redis.hscan_iter(self.keys.watchlist(sub_id), count=5000):
                if self._halt.is_set() or self.d.parts.get(number) is None:
                    return  # stopping, or the partition is gone: indexes nothing
                if slice_of(ref, count) == j:
                    page.append(raw)
                if len(page) >= 5000:
                    await asyncio.to_thread(self.d._put_raw, index, name, page)
                    page = []
            if page:
                await asyncio.to_thread(self.d._put_raw, index, name, page)
        await asyncio.to_thread(self.d._locked, self.index.absorb, index)
        self.pieces[name] = Piece(sub_id, j, number, mark)
        log.info(
            "slice indexed",
            partition=number,
            slice=name,
            customers=len(index),
            seconds=round(time.monotonic() - started, 2),
        )

    async def _apply_changes(self) -> None:
        """Apply to the index what the change streams of the slices held logged."""
        for p in list(self.pieces.values()):
            key = self.keys.slice_changes(p.sub_id, p.piece)
            while entries := cast(
                list[tuple[str, dict[str, str]]],
                await self.redis.xrange(key, min=f"({p.applied}", count=_PAGE),
            ):
                refs = sorted({r for _, f in entries if "refs" in f for r in json.loads(f["refs"])})
                for at in range(0, len(refs), _PAGE):
                    chunk = refs[at : at + _PAGE]
                    values = cast(
                        list[str | None],
                        await self.redis.hmget(self.keys.watchlist(p.sub_id), chunk),
                    )
                    present = [customer_from_json(v) for v in values if v]
                    checks = [record_check(v) for v in values if v]
                    gone = [r for r, v in zip(chunk, values, strict=True) if v is None]
                    await asyncio.to_thread(
                        self.d._locked, self.d._apply, self.index, p.name, present, checks, gone
                    )
                p.applied = entries[-1][0]
                self.unsaved.add(p.partition)

    async def _answer(self) -> bool:
        """Write the shortlists of every slice held for the deltas its home has not fanned
        out yet; True if there may be more to read."""
        subs = {}
        for sub_id in sorted({p.sub_id for p in self.pieces.values()}):
            sub = await self.d.subs.get(sub_id)
            if sub is not None:
                subs[sub_id] = sub
        pieces = [
            p
            for p in self.pieces.values()
            if p.sub_id in subs and subs[p.sub_id].wants("blocking.required")
        ]
        if not pieces:
            return False
        homes = sorted({self.d.partition(p.sub_id) for p in pieces})
        async with self.redis.pipeline(transaction=False) as pipe:
            for home in homes:
                pipe.get(self.keys.partition_cursor(home))
            cursors = {h: int(c or 0) for h, c in zip(homes, await pipe.execute(), strict=True)}
        # Not past a shortlist written already: the home refuses one whose entry was
        # trimmed meanwhile, and it is written again.
        since = {
            p.name: max(cursors[self.d.partition(p.sub_id)], subs[p.sub_id].created_seq)
            for p in pieces
        }
        low = min(since.values())
        entries = cast(
            list[tuple[str, dict[str, str]]],
            await self.redis.xrange(self.keys.deltas(), min=f"({low}-0", count=_READ),
        )
        if not entries:
            return False
        self._last = entries[-1][0]
        # Deltas that add or amend, by sequence; those a slice has a shortlist for skipped.
        todo: dict[int, Entity] = {}
        for entry_id, fields in entries:
            seq = int(entry_id.split("-", 1)[0])
            delta = Delta.from_json(seq, fields["d"])
            if delta.op != "removed":
                todo[seq] = entity_from_dict(delta.entity)
        need: dict[int, list[Piece]] = {}
        if todo:
            async with self.redis.pipeline(transaction=False) as pipe:
                asked = [(seq, p) for seq in todo for p in pieces if since[p.name] < seq]
                for seq, p in asked:
                    pipe.hexists(self.keys.slice_found(p.sub_id, seq), str(p.piece))
                there = await pipe.execute()
            for (seq, p), have in zip(asked, there, strict=True):
                if not have:
                    need.setdefault(seq, []).append(p)
        if need:
            await self._write(need, todo, subs)
        return bool(need)

    async def _write(
        self, need: dict[int, list[Piece]], todo: dict[int, Entity], subs: dict[str, Any]
    ) -> None:
        """Look the deltas of `need` up in the slices needing them and write the
        shortlists (an entity amended twice in a read: each content on its own round)."""
        rounds: list[dict[int, Entity]] = []
        for seq in sorted(need):
            entity = todo[seq]
            for r in rounds:
                if all(e.id != entity.id for e in r.values()):
                    r[seq] = entity
                    break
            else:
                rounds.append({seq: entity})
        names = {p.name for ps in need.values() for p in ps}
        cutoff = min(subs[parse_piece(n)[0]].threshold for n in names) - _BONUS
        applied = {p.name: p.applied for ps in need.values() for p in ps}
        for batch in rounds:
            found = await self.d._lookup(
                "slices",
                self.index.candidates,
                list(batch.values()),
                cutoff,
                names,
                self.d.prepared,  # the names the worker's own lookup worked out
                entities=len(batch),
            )
            by_entity = {e.id: seq for seq, e in batch.items()}
            out: dict[tuple[int, str], dict[str, list[str]]] = {}
            for seq in batch:
                for p in need[seq]:
                    out[(seq, p.name)] = {}
            for name, hits in found.items():
                for ref, entity_ids in hits.items():
                    for entity_id in entity_ids:
                        at = (by_entity[entity_id], name)
                        if at in out:
                            out[at].setdefault(ref, []).append(entity_id)
            async with self.redis.pipeline(transaction=False) as pipe:
                for (seq, name), refs in out.items():
                    sub_id, piece = parse_piece(name)
                    reply = {"refs": refs, "applied": applied[name], "cutoff": cutoff}
                    keys = [
                        self.keys.slice_found(sub_id, seq),
                        self.keys.partition_cursor(self.d.partition(sub_id)),
                        self.keys.subscription(sub_id),
                    ]
                    pipe.eval(_SHORTLIST, 3, *keys, seq, piece, json.dumps(reply), _TTL)
                await pipe.execute()
            log.info("slice shortlists written", deltas=sorted(batch), slices=sorted(names))

    async def _snapshot_due(self) -> None:
        if self._snapping.running():  # (a Redis error of the last stops the worker)
            return
        now = time.monotonic()
        for number in sorted(self.unsaved):
            part = self.d.parts.get(number)
            if part is None or self.held.get(number) is not part:
                self.unsaved.discard(number)
                self.purge.discard(number)
                continue
            last = self.snapped.get(number)
            due = last is None or now - last >= self.config.snapshot_interval
            if due or number in self.purge:
                await self._snapshot(number, part)
                return

    async def _snapshot(self, number: int, part: Any) -> None:
        """Write the partition's slices as its slice snapshot (delete it when it holds
        none any more), then trim their change streams to the entries it holds. Only the
        copy of the slices' arrays holds the index lock, and it is taken here, between two
        changes applied: the encoding and the writing go on in a task of their own while
        the shortlists are answered, one at a time (each holds a copy)."""
        mine = [p for p in self.pieces.values() if p.partition == number]
        applied = {p.name: p.applied for p in mine}
        self.unsaved.discard(number)  # a change applied after the copy makes it due again
        self.purge.discard(number)
        exported = None
        if mine:
            exported = await asyncio.to_thread(self.d._locked, self.index.export, list(applied))
        write = self._write_snapshot(number, part, mine, applied, exported)
        self._snapping.start(write, f"slice-snapshot:{number}")

    async def _write_snapshot(
        self,
        number: int,
        part: Any,
        mine: list[Piece],
        applied: dict[str, str],
        exported: snapshot.Arrays | None,
    ) -> None:
        batch = Batch(part.lease.key, part.lease.token)
        key = self.keys.slice_snapshot(number)
        try:
            if exported is not None:
                blob = await asyncio.to_thread(stored.encode_index, exported)
                del exported  # before the write: the copy is as large as the arrays
                meta = {"applied": applied}
                await stored.write(self.redis, key, blob, secrets.token_hex(6), meta, batch)
            else:
                batch.delete(key)
            await batch.run(self.redis)
        except LeaseLost:
            log.error("partition lease lost", partition=number)
            return
        except BaseException:
            self.unsaved.add(number)
            raise
        self.snapped[number] = time.monotonic()
        for p in mine:
            await self.redis.xtrim(
                self.keys.slice_changes(p.sub_id, p.piece), minid=applied[p.name]
            )
        if mine:
            log.info("slice snapshot written", partition=number, slices=sorted(applied))
        else:
            log.info("slice snapshot deleted", partition=number)


def _drop(index: CustomerIndex, names: list[str]) -> None:
    for name in names:
        index.drop(name)


def _order(entry: str) -> tuple[int, int]:
    ms, _, n = entry.partition("-")
    return int(ms), int(n or 0)
