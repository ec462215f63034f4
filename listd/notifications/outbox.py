"""The webhook outbox: per-subscription event streams, delivery records, dead letters.

Every write the dispatcher makes goes through one Lua script, `Batch.run`, which
first checks that the caller still holds the lease of the partition written to and
then applies a list of writes, all or none. A delta's fan-out to a partition is one
batch that starts by advancing the partition's cursor to the delta: if the cursor is
there already (a fan-out that completed before a crash, or by a previous owner), the
batch does nothing. So the events of a delta are appended exactly once, together with
the cursor, and a crash at any point either left no trace or left the complete result.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn, cast

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from listd.errors import Gone, ListdError, NotFound
from listd.keyspace import Keys
from listd.notifications.events import Event
from listd.pipeline.lease import LEADER, LeaseLost

GROUP = "dispatch"  # consumer group that read the delta stream before partitions
DEAD_CAP = 10_000

_APPLY = """
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('LISTD_FENCED the dispatcher lease is held by another process')
end
local i, added = 2, 0
while i <= #ARGV do
  local op = ARGV[i]
  if op == 'ack' then
    if redis.call('XACK', KEYS[tonumber(ARGV[i + 1])], ARGV[i + 2], ARGV[i + 3]) == 0 then
      return -1
    end
    i = i + 4
  elseif op == 'present' then
    if #redis.call('XRANGE', KEYS[tonumber(ARGV[i + 1])], ARGV[i + 2], ARGV[i + 2]) == 0 then
      return -1
    end
    i = i + 3
  elseif op == 'advance' then
    local at = tonumber(redis.call('GET', KEYS[tonumber(ARGV[i + 1])]) or '0')
    if at >= tonumber(ARGV[i + 2]) then return -1 end
    if at < tonumber(ARGV[i + 3]) then
      return redis.error_reply('LISTD_GAP the batch before this one was not applied')
    end
    redis.call('SET', KEYS[tonumber(ARGV[i + 1])], ARGV[i + 2])
    i = i + 4
  elseif op == 'xadd' then
    redis.call('XADD', KEYS[tonumber(ARGV[i + 1])], '*',
               'i', ARGV[i + 2], 't', ARGV[i + 3], 's', ARGV[i + 4], 'e', ARGV[i + 5])
    added = added + 1
    i = i + 6
  elseif op == 'xlog' then
    if redis.call('EXISTS', KEYS[tonumber(ARGV[i + 3])]) == 1 then
      redis.call('XADD', KEYS[tonumber(ARGV[i + 1])], '*', 'refs', ARGV[i + 2])
    end
    i = i + 4
  elseif op == 'del' then
    redis.call('DEL', KEYS[tonumber(ARGV[i + 1])])
    i = i + 2
  elseif op == 'hset' then
    redis.call('HSET', KEYS[tonumber(ARGV[i + 1])], ARGV[i + 2], ARGV[i + 3])
    i = i + 4
  elseif op == 'hdel' then
    redis.call('HDEL', KEYS[tonumber(ARGV[i + 1])], ARGV[i + 2])
    i = i + 3
  elseif op == 'settle' then
    local now = redis.call('HGET', KEYS[tonumber(ARGV[i + 2])], ARGV[i + 3]) or ''
    if now == ARGV[i + 4] then redis.call('SREM', KEYS[tonumber(ARGV[i + 1])], ARGV[i + 3]) end
    i = i + 5
  elseif op == 'clean' then
    if redis.call('SCARD', KEYS[tonumber(ARGV[i + 1])]) == 0 then
      redis.call('SREM', KEYS[tonumber(ARGV[i + 2])], ARGV[i + 3])
    end
    i = i + 4
  elseif op == 'lpush' then
    redis.call('LPUSH', KEYS[tonumber(ARGV[i + 1])], ARGV[i + 2])
    redis.call('LTRIM', KEYS[tonumber(ARGV[i + 1])], 0, tonumber(ARGV[i + 3]) - 1)
    i = i + 4
  elseif op == 'hincrby' then
    redis.call('HINCRBY', KEYS[tonumber(ARGV[i + 1])], ARGV[i + 2], 1)
    i = i + 3
  elseif op == 'xtrim' then
    redis.call('XTRIM', KEYS[tonumber(ARGV[i + 1])], 'MINID', ARGV[i + 2])
    i = i + 3
  elseif op == 'lrem' then
    redis.call('LREM', KEYS[tonumber(ARGV[i + 1])], 0, ARGV[i + 2])
    i = i + 3
  else
    return redis.error_reply('LISTD_BAD_OP ' .. op)
  end
end
return added
"""


class CursorGap(ListdError):
    """A batch's cursor guard found the partition's cursor behind what the batch expects:
    an earlier batch was not applied, or a Redis fail-over lost writes already confirmed
    (the caller reads the cursor again and fans out from there)."""

    status = 503
    code = "cursor_gap"


class Batch:
    """Writes applied together by one script, under the dispatcher lease (if given).

    Ops: ack (guard: stop if the delta was acknowledged already), advance (guard: the
    partition cursor), present (guard: the entry is in its stream), xadd (an event),
    log (a slice's changes), delete, hset, hdel, hincrby (count), settle (clear a customer's
    pending mark unless its record changed since it was read), clean (forget a dirty
    watchlist once nothing is pending), lpush (capped), lrem."""

    def __init__(self, lease_key: str, token: str = "") -> None:
        self.keys: list[str] = [lease_key]
        self._index: dict[str, str] = {lease_key: "1"}
        self.args: list[str] = [token]
        self.events = 0

    def _k(self, key: str) -> str:
        found = self._index.get(key)
        if found is None:
            self.keys.append(key)
            found = self._index[key] = str(len(self.keys))
        return found

    def ack(self, stream: str, group: str, entry_id: str) -> None:
        assert len(self.args) == 1, "ack must be the first op"
        self.args += ["ack", self._k(stream), group, entry_id]

    def advance(self, cursor: str, seq: int, after: int = -1) -> None:
        """Guard: move a partition's cursor to delta `seq`; stop (all or none, -1) if it
        is there already (the delta was fanned out to the partition before). `after`:
        the cursor must have reached it (the batch of the delta before was applied, and
        no fail-over lost it), else nothing is written and the batch fails (CursorGap)."""
        assert len(self.args) == 1, "advance must be the first op"
        self.args += ["advance", self._k(cursor), str(seq), str(after)]

    def present(self, stream: str, entry_id: str) -> None:
        """Guard: stop (all or none, -1) unless the entry is in the stream: a fail-over
        to a replica that never received it took it away (and with it the fan-out that
        wrote it, which is done again under new entry ids)."""
        assert len(self.args) == 1, "present must be the first op"
        self.args += ["present", self._k(stream), entry_id]

    def xadd(self, stream: str, event: Event) -> None:
        self.args += [
            "xadd",
            self._k(stream),
            event.id,
            event.type,
            str(event.delta_seq),
            event.body,
        ]
        self.events += 1

    def log(self, stream: str, refs: list[str], subscription: str) -> None:
        """Append the references to a slice's change stream (`Keys.slice_changes`) while
        the subscription (its hash) exists: once deleted, nothing recreates the stream."""
        self.args += ["xlog", self._k(stream), json.dumps(refs), self._k(subscription)]

    def delete(self, key: str) -> None:
        self.args += ["del", self._k(key)]

    def hset(self, key: str, field: str, value: str) -> None:
        self.args += ["hset", self._k(key), field, value]

    def hdel(self, key: str, field: str) -> None:
        self.args += ["hdel", self._k(key), field]

    def settle(self, pending: str, watchlist: str, ref: str, value: str | None) -> None:
        self.args += ["settle", self._k(pending), self._k(watchlist), ref, value or ""]

    def clean(self, pending: str, dirty: str, sub_id: str) -> None:
        self.args += ["clean", self._k(pending), self._k(dirty), sub_id]

    def lpush(self, key: str, value: str, cap: int) -> None:
        self.args += ["lpush", self._k(key), value, str(cap)]

    def count(self, key: str, field: str) -> None:
        """Add one to a hash field (a counter settled with the rest of the batch)."""
        self.args += ["hincrby", self._k(key), field]

    def xtrim(self, stream: str, min_id: str) -> None:
        """Drop the stream's entries before `min_id`."""
        self.args += ["xtrim", self._k(stream), min_id]

    def lrem(self, key: str, value: str) -> None:
        self.args += ["lrem", self._k(key), value]

    @property
    def empty(self) -> bool:
        return len(self.args) == 1

    def queue(self, pipe: Any) -> None:
        """Add the batch to a pipeline (several batches in one round trip; run it with
        raise_on_error=False and read each reply with `result`)."""
        pipe.eval(_APPLY, len(self.keys), *self.keys, *self.args)

    @staticmethod
    def result(reply: Any) -> int:
        """A queued batch's reply as `run` returns it (LeaseLost when fenced, CursorGap
        when the cursor guard found the cursor behind)."""
        if isinstance(reply, ResponseError):
            _raise(reply)
        return int(reply)

    async def run(self, redis: Redis) -> int:
        """Apply; returns events appended, -1 if the guarding ack found nothing to do."""
        try:
            result = await redis.eval(_APPLY, len(self.keys), *self.keys, *self.args)
        except ResponseError as exc:
            _raise(exc)
        return int(result)


def _raise(error: ResponseError) -> NoReturn:
    if "LISTD_FENCED" in str(error):
        raise LeaseLost("the dispatcher lease is held by another process") from error
    if "LISTD_GAP" in str(error):
        raise CursorGap("the partition cursor is behind the batch's") from error
    raise error


def record(raw: str | bytes | None) -> dict[str, Any]:
    return cast(dict[str, Any], json.loads(raw)) if raw else {}


class Outbox:
    """Reading a subscription's deliveries, and queueing an event again."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def deliveries(
        self, sub_id: str, limit: int = 50, status: str | None = None
    ) -> list[dict[str, Any]]:
        """Newest events first, each with its delivery status and every attempt."""
        if status == "dead":
            return [
                {k: v for k, v in d.items() if k != "body"}
                | await self._record(sub_id, d["event_id"])
                for d in await self.dead(sub_id, limit)
            ]
        cursor = (await self.redis.hget(self.keys.sub_cursor(sub_id), "cursor")) or "0-0"
        out: list[dict[str, Any]] = []
        listed: set[str] = set()  # a redelivered event is in the stream twice
        last = "+"
        while len(out) < limit:
            page = cast(
                list[tuple[str, dict[str, str]]],
                await self.redis.xrevrange(self.keys.sub_events(sub_id), max=last, count=200),
            )
            if last != "+" and page and page[0][0] == last:
                page = page[1:]
            if not page:
                break
            ids = [fields["i"] for _, fields in page]
            raws = cast(
                list[str | None], await self.redis.hmget(self.keys.sub_deliveries(sub_id), ids)
            )
            for (entry_id, fields), raw in zip(page, raws, strict=True):
                if fields["i"] in listed:
                    continue
                listed.add(fields["i"])
                rec = record(raw)
                item = {
                    "event_id": fields["i"],
                    "type": fields["t"],
                    "delta_seq": int(fields.get("s") or 0),
                    "status": rec.get("status") or _queued(entry_id, str(cursor)),
                    "attempts": rec.get("attempts", []),
                    "next_attempt_at": rec.get("next_attempt_at"),
                }
                if status is None or item["status"] == status:
                    out.append(item)
                if len(out) >= limit:
                    break
            last = page[-1][0]
        return out

    async def _record(self, sub_id: str, event_id: str) -> dict[str, Any]:
        rec = record(await self.redis.hget(self.keys.sub_deliveries(sub_id), event_id))
        return {"attempts": rec.get("attempts", []), "status": rec.get("status", "dead")}

    async def dead(self, sub_id: str, limit: int = 50) -> list[dict[str, Any]]:
        rows = cast(list[str], await self.redis.lrange(self.keys.sub_dead(sub_id), 0, limit - 1))
        return [json.loads(r) for r in rows]

    async def find(self, sub_id: str, event_id: str) -> tuple[dict[str, Any], str | None]:
        """An event's type, seq and body, and its dead-letter entry if it has one."""
        for raw in cast(list[str], await self.redis.lrange(self.keys.sub_dead(sub_id), 0, -1)):
            dead = json.loads(raw)
            if dead.get("event_id") == event_id:
                return dead, raw
        rec = record(await self.redis.hget(self.keys.sub_deliveries(sub_id), event_id))
        stream_id = rec.get("stream_id")
        if stream_id:
            found = cast(
                list[tuple[str, dict[str, str]]],
                await self.redis.xrange(self.keys.sub_events(sub_id), stream_id, stream_id),
            )
            if found:
                fields = found[0][1]
                item = {"event_id": fields["i"], "type": fields["t"], "delta_seq": fields["s"]}
                return item | {"body": fields["e"]}, None
        if rec:
            raise Gone(f"event {event_id} is no longer retained", event_id=event_id)
        raise NotFound(f"no event {event_id!r} in this subscription", event_id=event_id)

    async def redeliver(self, sub_id: str, event_id: str) -> dict[str, Any]:
        """Queue an event again (same id and body) at the end of the subscription's outbox."""
        item, dead_raw = await self.find(sub_id, event_id)
        event = Event(item["event_id"], item["type"], item["body"], int(item["delta_seq"]))
        rec = record(await self.redis.hget(self.keys.sub_deliveries(sub_id), event_id))
        rec.update(
            event_id=event.id,
            type=event.type,
            delta_seq=event.delta_seq,
            status="queued",
            redeliveries=int(rec.get("redeliveries", 0)) + 1,
            first_attempt_at=None,
            next_attempt_at=None,
        )
        batch = Batch(self.keys.lease(LEADER))
        batch.xadd(self.keys.sub_events(sub_id), event)
        batch.hset(self.keys.sub_deliveries(sub_id), event.id, json.dumps(rec))
        if dead_raw is not None:
            batch.lrem(self.keys.sub_dead(sub_id), dead_raw)
        await batch.run(self.redis)
        return {"event_id": event.id, "status": "queued", "redeliveries": rec["redeliveries"]}


def _queued(entry_id: str, cursor: str) -> str:
    return "queued" if _after(entry_id, cursor) else "delivered"


def _after(a: str, b: str) -> bool:
    """Stream id `a` sorts after `b`."""
    am, _, asq = a.partition("-")
    bm, _, bsq = b.partition("-")
    return (int(am), int(asq or 0)) > (int(bm), int(bsq or 0))
