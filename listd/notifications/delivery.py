"""Webhook delivery: one ordered lane per subscription, many lanes at once.

A lane sends its subscription's events strictly in outbox order: the event at the
head is retried (exponential back-off with jitter, Retry-After honoured) until it is
delivered, refused for good, or out of retries, and only then does the next one go.
Lanes run concurrently under one semaphore and every request has a timeout, so a slow
or dead receiver holds back its own events only. Each attempt is recorded, and the
cursor moves, in the outbox script under the lease of the subscription's partition: a
worker that lost the partition cannot settle an event its successor is delivering. A
lane runs only while its worker serves the subscription's partition.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import aiohttp
from redis.asyncio import Redis

from listd import waits
from listd.clock import SYSTEM_CLOCK, Clock
from listd.errors import ListdError
from listd.keyspace import Keys
from listd.logs import get_logger
from listd.notifications import egress
from listd.notifications.events import Event
from listd.notifications.outbox import DEAD_CAP, Batch, record
from listd.notifications.signing import SIGNATURE_HEADER, sign
from listd.notifications.subscriptions import Subscription, SubscriptionStore, from_hash
from listd.pipeline.lease import Lease

log = get_logger(__name__)

USER_AGENT = "listd-webhooks/1 (+asset-blocking notifications)"
_ATTEMPTS_KEPT = 60  # 24 h of back-off capped at an hour is about 35 attempts
_ERROR_BYTES = 300


@dataclass(frozen=True, slots=True)
class Policy:
    """Timeouts, concurrency and the retry schedule (tests use tiny values)."""

    timeout: float = 10.0  # seconds for one whole request
    concurrency: int = 64  # requests in flight over all subscriptions
    backoff_base: float = 5.0  # delay before the first retry; doubles each time, jittered
    backoff_max: float = 3600.0
    retry_window: float = 24 * 3600.0  # retries go on at least this long, then dead letter
    idle_poll: float = 1.0  # how often an idle lane looks for events written elsewhere
    keep_events: int = 10_000  # settled events kept per subscription (history, replays)


@dataclass(frozen=True, slots=True)
class Attempt:
    status: int | None
    latency_ms: float
    error: str | None = None
    retry_after: float | None = None


def headers(sub: Subscription, event: Event, attempt: int, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Listd-Event-Id": event.id,
        "Listd-Event-Type": event.type,
        "Listd-Idempotency-Key": event.id,
        "Listd-Delta-Seq": str(event.delta_seq),
        "Listd-Delivery-Attempt": str(attempt),
        SIGNATURE_HEADER: sign(sub.signing_secrets(), body),
    }


async def post(
    session: aiohttp.ClientSession,
    sub: Subscription,
    event: Event,
    attempt: int,
    seconds: float,
    allow: egress.AllowList,
) -> Attempt:
    """One signed POST of `event`; never raises for what the receiver or network does."""
    body = event.body.encode()
    started = time.monotonic()
    try:
        egress.check_url(sub.url, allow)
        async with session.post(
            sub.url,
            data=body,
            headers=headers(sub, event, attempt, body),
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=seconds),
        ) as resp:
            error = None
            if not 200 <= resp.status < 300:
                text = (await resp.content.read(_ERROR_BYTES)).decode("utf-8", "replace")
                error = f"HTTP {resp.status}: {text.strip()}"[:_ERROR_BYTES]
                if 300 <= resp.status < 400:
                    error = f"HTTP {resp.status}: redirects are not followed"
            return Attempt(
                resp.status,
                _ms(started),
                error,
                retry_after(resp.headers.get("Retry-After")),
            )
    except TimeoutError:
        return Attempt(None, _ms(started), f"timed out after {seconds:g} s")
    except (aiohttp.ClientError, OSError) as exc:
        return Attempt(None, _ms(started), f"{type(exc).__name__}: {exc}"[:_ERROR_BYTES])
    except ListdError as exc:  # the URL no longer passes the egress rules
        return Attempt(None, _ms(started), exc.message)


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    return None


def outcome(attempt: Attempt) -> str:
    """delivered | retry | failed (refused for good) | disabled (410 Gone)."""
    status = attempt.status
    if status is None or status in (408, 429) or status >= 500:
        return "retry"
    if 200 <= status < 300:
        return "delivered"
    if status == 410:
        return "disabled"
    return "failed"


class Deliverer:
    """Runs one lane per subscription of the partitions its worker serves (`owner`
    gives the lease of a subscription's partition, None when it is not served here)."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        owner: Callable[[str], Lease | None],
        session: aiohttp.ClientSession,
        policy: Policy,
        allow: egress.AllowList,
        halt: asyncio.Event | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.clock = clock  # when a retry is due, how long the retry window has run
        self.redis = redis
        self.halt = halt or asyncio.Event()  # set: finish the current step and return
        self.keys = keys
        self.owner = owner
        self.session = session
        self.policy = policy
        self.allow = allow
        self.subs = SubscriptionStore(redis, keys)
        self._semaphore = asyncio.Semaphore(policy.concurrency)
        self._lanes: dict[str, asyncio.Task[None]] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._settled: dict[str, int] = {}

    def wake(self, sub_id: str) -> None:
        event = self._wake.get(sub_id)
        if event is not None:
            event.set()

    async def run(self) -> None:
        """Keep a lane per subscription (new ones started, deleted ones stopped)."""
        try:
            while not self.halt.is_set():
                ids = {s for s in await self.subs.ids() if self.owner(s) is not None}
                for sub_id in ids - set(self._lanes):
                    self._wake[sub_id] = asyncio.Event()
                    self._lanes[sub_id] = asyncio.create_task(
                        self._lane(sub_id), name=f"webhook-lane:{sub_id}"
                    )
                for sub_id in set(self._lanes) - ids:
                    if self.owner(sub_id) is not None:  # deleted; else it returns itself
                        self._lanes.pop(sub_id).cancel()
                        self._wake.pop(sub_id, None)
                for sub_id, task in list(self._lanes.items()):
                    if task.done():  # a lane that failed (Redis down): start it again
                        if not task.cancelled() and task.exception() is not None:
                            exc = task.exception()
                            if isinstance(exc, ListdError) and exc.code == "lease_lost":
                                # The partition moved: its new worker delivers.
                                log.warning("webhook lane fenced", subscription=sub_id)
                            else:
                                log.error(
                                    "webhook lane failed", subscription=sub_id, error=repr(exc)
                                )
                        del self._lanes[sub_id]
                await self._pause(self.policy.idle_poll)
        finally:
            # Lanes see `halt` and return after their current attempt (a bounded POST).
            for event in self._wake.values():
                event.set()
            lanes = set(self._lanes.values())
            if lanes:
                await asyncio.wait(lanes, timeout=self.policy.timeout + 1)
            for task in lanes:
                task.cancel()
            self._lanes.clear()

    async def settle(self, lanes: Callable[[str], bool]) -> None:
        """Wait for the lanes `lanes` selects to finish their current attempt and stop
        (their worker no longer owns their partition)."""
        found = {sub_id: task for sub_id, task in self._lanes.items() if lanes(sub_id)}
        for sub_id in found:
            self.wake(sub_id)
        if found:
            await asyncio.wait(set(found.values()), timeout=self.policy.timeout + 1)
        for sub_id, task in found.items():
            task.cancel()
            if self._lanes.get(sub_id) is task:
                del self._lanes[sub_id]
                self._wake.pop(sub_id, None)

    async def _pause(self, seconds: float) -> None:
        await waits.wait(self.halt, seconds)

    async def _sleep(self, sub_id: str, seconds: float) -> None:
        event = self._wake.get(sub_id)
        if event is None:
            await waits.sleep(seconds)
            return
        await waits.wait(event, seconds)
        event.clear()

    async def _lane(self, sub_id: str) -> None:
        while not self.halt.is_set() and self.owner(sub_id) is not None:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hgetall(self.keys.subscription(sub_id))
                pipe.hgetall(self.keys.sub_cursor(sub_id))
                raw_sub, state = cast(tuple[dict[str, str], dict[str, str]], await pipe.execute())
            if not raw_sub.get("id"):
                return
            sub = from_hash(raw_sub)
            if sub.status != "active":
                await self._sleep(sub_id, self.policy.idle_poll)
                continue
            cursor = state.get("cursor", "0-0")
            entries = cast(
                list[tuple[str, dict[str, str]]],
                await self.redis.xrange(self.keys.sub_events(sub_id), min=f"({cursor}", count=20),
            )
            if not entries:
                await self._sleep(sub_id, self.policy.idle_poll)
                continue
            for entry_id, fields in entries:
                lease = self.owner(sub_id)
                if self.halt.is_set() or lease is None:
                    return
                wait = float(state.get("next_at") or 0) - self.clock.time()
                if state.get("head") == entry_id and wait > 0:
                    await self._sleep(sub_id, min(wait, self.policy.idle_poll))
                    break  # re-read: the subscription may have changed meanwhile
                event = Event(fields["i"], fields["t"], fields["e"], int(fields.get("s") or 0))
                settled = await self._attempt(sub, entry_id, event, lease)
                if not settled:
                    break
                state = {}

    async def _attempt(self, sub: Subscription, entry_id: str, event: Event, lease: Lease) -> bool:
        """One attempt at the head event; True when it is settled (the lane moves on).

        The entry must still be in the outbox, before the POST and when its outcome is
        written: on a cluster, a primary that fails over before its replica received an
        outbox entry takes the entry away (the partition's cursor goes back with it, and
        the event is fanned out again under a new entry id). An entry read before such a
        fail-over is not sent, and one in flight then is not settled: at most that one
        reaches the receiver twice, with the same idempotency key."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hget(self.keys.sub_deliveries(sub.id), event.id)
            pipe.xrange(self.keys.sub_events(sub.id), entry_id, entry_id)
            raw, found = await pipe.execute()
        if not found:
            return False  # the lane reads the outbox again
        rec = record(raw)
        attempts: list[dict[str, Any]] = rec.get("attempts", [])
        number = int(rec.get("attempt_count", len(attempts))) + 1
        async with self._semaphore:
            result = await post(self.session, sub, event, number, self.policy.timeout, self.allow)
        now = self.clock.time()
        first = rec.get("first_attempt_at") or now
        verdict = outcome(result)
        next_at: float | None = None
        if verdict == "retry":
            window_end = first + self.policy.retry_window
            if now >= window_end:
                verdict = "dead"
            else:
                delay = min(self.policy.backoff_max, self.policy.backoff_base * 2 ** (number - 1))
                delay *= random.uniform(0.5, 1.0)
                if result.retry_after is not None:
                    delay = max(delay, result.retry_after)
                next_at = min(now + delay, window_end)
        status = {"retry": "retrying", "disabled": "failed"}.get(verdict, verdict)
        attempts.append(
            {
                "n": number,
                "at": _iso(now),
                "status": result.status,
                "latency_ms": result.latency_ms,
                "error": result.error,
                "outcome": verdict,
                "fence": lease.fence,
            }
        )
        rec.update(
            event_id=event.id,
            type=event.type,
            delta_seq=event.delta_seq,
            stream_id=entry_id,
            status=status,
            attempts=attempts[-_ATTEMPTS_KEPT:],
            attempt_count=number,
            first_attempt_at=first,
            next_attempt_at=_iso(next_at) if next_at is not None else None,
        )
        if verdict == "delivered":
            rec["delivered_at"] = _iso(now)
        k = self.keys
        batch = Batch(lease.key, lease.token)
        batch.present(k.sub_events(sub.id), entry_id)
        batch.hset(k.sub_deliveries(sub.id), event.id, json.dumps(rec))
        batch.count(k.webhook_stats(k.partition_of(sub.id)), verdict)
        if next_at is not None:
            batch.hset(k.sub_cursor(sub.id), "head", entry_id)
            batch.hset(k.sub_cursor(sub.id), "next_at", repr(next_at))
        else:
            batch.hset(k.sub_cursor(sub.id), "cursor", entry_id)
            batch.hdel(k.sub_cursor(sub.id), "head")
            batch.hdel(k.sub_cursor(sub.id), "next_at")
        if verdict in ("failed", "dead", "disabled"):
            dead = {
                "event_id": event.id,
                "type": event.type,
                "delta_seq": event.delta_seq,
                "status": status,
                "at": _iso(now),
                "error": result.error,
                "body": event.body,
            }
            batch.lpush(k.sub_dead(sub.id), json.dumps(dead), DEAD_CAP)
        if verdict == "disabled":
            batch.hset(k.subscription(sub.id), "status", "disabled")
            reason = f"receiver answered 410 Gone at {_iso(now)}; re-enable with PATCH"
            batch.hset(k.subscription(sub.id), "status_reason", reason)
        if await batch.run(self.redis) < 0:
            log.warning(
                "webhook entry gone from the outbox", subscription=sub.id, event_id=event.id
            )
            return False
        log_event = log.info if verdict == "delivered" else log.warning
        log_event(
            "webhook attempt",
            subscription=sub.id,
            event_id=event.id,
            type=event.type,
            attempt=number,
            status=result.status,
            outcome=verdict,
            error=result.error,
        )
        if next_at is None:
            await self._trim(sub.id, entry_id)
        return next_at is None and verdict != "disabled"

    async def _trim(self, sub_id: str, cursor: str) -> None:
        """Every so often, drop settled events beyond `keep_events` (and their records)."""
        count = self._settled[sub_id] = self._settled.get(sub_id, 0) + 1
        if count % 100:
            return
        stream = self.keys.sub_events(sub_id)
        excess = int(await self.redis.xlen(stream)) - self.policy.keep_events
        if excess <= 0:
            return
        old = cast(
            list[tuple[str, dict[str, str]]],
            await self.redis.xrange(stream, "-", cursor, count=excess),
        )
        if not old:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hdel(self.keys.sub_deliveries(sub_id), *{f["i"] for _, f in old})
            pipe.xtrim(stream, minid=old[-1][0], approximate=False)
            pipe.xdel(stream, old[-1][0])
            await pipe.execute()


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"
