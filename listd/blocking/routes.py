"""HTTP handlers for subscriptions, watchlists and deliveries (role `subscriber`).

Every handler resolves the subscription through `SubscriptionStore.owned`, so an
organisation sees only its own subscriptions: another's id answers 404, as an unknown
one does.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
from aiohttp import web

from listd.access import Principal
from listd.api import validate as v
from listd.api.middleware import note
from listd.api.state import PRINCIPAL, SETTINGS
from listd.blocking import egress, events
from listd.blocking.config import WebhookConfig
from listd.blocking.delivery import outcome, post
from listd.blocking.dispatcher import Dispatcher
from listd.blocking.outbox import Outbox
from listd.blocking.subscriptions import (
    AMENDMENTS,
    DEFAULT_EVENTS,
    EVENTS,
    Subscription,
    SubscriptionStore,
)
from listd.blocking.watchlist import WatchlistStore, body_too_large, sniff, spool
from listd.errors import BadRequest, PingFailed, Unavailable
from listd.screening import DEFAULT_THRESHOLD
from listd.store import now_iso

routes = web.RouteTableDef()

_FIELDS = {"url", "events", "sources", "programs", "threshold", "amendments", "description"}
_MIN_THRESHOLD = 0.5  # below this an alert stream is noise, not a blocking instruction


@dataclass(slots=True)
class Blocking:
    """What the handlers share: stores, configuration, the webhook HTTP client."""

    config: WebhookConfig
    subs: SubscriptionStore
    watchlists: WatchlistStore
    outbox: Outbox
    allow: egress.AllowList
    session: aiohttp.ClientSession | None = None
    dispatcher: Dispatcher | None = None

    def wake(self, sub_id: str) -> None:
        if self.dispatcher is not None:
            self.dispatcher.wake(sub_id)


BLOCKING = web.AppKey("blocking", Blocking)


def _who(request: web.Request) -> Principal:
    who: Principal = request[PRINCIPAL]
    who.require("subscriber")
    return who


async def _owned(request: web.Request) -> tuple[Blocking, Subscription]:
    who = _who(request)
    blocking = request.app[BLOCKING]
    sub = await blocking.subs.owned(who.org, request.match_info["id"])
    return blocking, sub


def _events(body: dict[str, Any], default: tuple[str, ...] | None) -> tuple[str, ...]:
    if body.get("events") is None and default is not None:
        return default
    chosen = v.string_list(body, "events")
    unknown = [e for e in chosen if e not in EVENTS]
    if unknown or not chosen:
        raise BadRequest(f"events must be a non-empty list of {', '.join(EVENTS)}", field="events")
    return tuple(dict.fromkeys(chosen))


def _sources(request: web.Request, body: dict[str, Any]) -> tuple[str, ...]:
    chosen = v.string_list(body, "sources")
    configured = request.app[SETTINGS].sources
    for name in chosen:
        if name not in configured:
            raise BadRequest(f"unknown source {name!r}", field="sources")
    return tuple(dict.fromkeys(chosen))


def _threshold(body: dict[str, Any], default: float) -> float:
    return v.number(body, "threshold", default, _MIN_THRESHOLD, 1.0)


@routes.post("/v1/subscriptions")
async def create(request: web.Request) -> web.Response:
    who = _who(request)
    blocking = request.app[BLOCKING]
    body = await v.json_object(request)
    v.reject_unknown(body, _FIELDS)
    url = v.string(body, "url", required=True, max_len=2000, strip=False) or ""
    await egress.check_destination(url, blocking.allow)
    draft = Subscription(
        id="",
        org=who.org,
        url=url,
        events=_events(body, DEFAULT_EVENTS),
        sources=_sources(request, body),
        programs=v.string_list(body, "programs"),
        threshold=_threshold(body, DEFAULT_THRESHOLD),
        amendments=v.choice(body, "amendments", AMENDMENTS) or "identity",
        description=v.string(body, "description", max_len=500),
    )
    sub, secret = await blocking.subs.create(draft)
    note(request, subscription=sub.id, url=sub.url, events=list(sub.events))
    return web.json_response(sub.public() | {"secret": secret}, status=201)


@routes.get("/v1/subscriptions")
async def list_all(request: web.Request) -> web.Response:
    who = _who(request)
    subs = await request.app[BLOCKING].subs.list_for(who.org)
    return web.json_response({"subscriptions": [s.public() for s in subs]})


@routes.get("/v1/subscriptions/{id}")
async def read(request: web.Request) -> web.Response:
    blocking, sub = await _owned(request)
    summary = await blocking.watchlists.summary(sub.id)
    return web.json_response(sub.public() | {"watchlist": summary})


@routes.patch("/v1/subscriptions/{id}")
async def update(request: web.Request) -> web.Response:
    blocking, sub = await _owned(request)
    body = await v.json_object(request)
    v.reject_unknown(body, _FIELDS | {"status"})
    changed = sub
    if "url" in body:
        url = v.string(body, "url", required=True, max_len=2000, strip=False) or ""
        await egress.check_destination(url, blocking.allow)
        if url != sub.url:  # a new endpoint must prove itself again
            changed = replace(changed, url=url, status="pending", status_reason="url changed")
    if "events" in body:
        changed = replace(changed, events=_events(body, None))
    if "sources" in body:
        changed = replace(changed, sources=_sources(request, body))
    if "programs" in body:
        changed = replace(changed, programs=v.string_list(body, "programs"))
    if "threshold" in body:
        changed = replace(changed, threshold=_threshold(body, sub.threshold))
    if "amendments" in body:
        amendments = v.choice(body, "amendments", AMENDMENTS) or "identity"
        changed = replace(changed, amendments=amendments)
    if "description" in body:
        changed = replace(changed, description=v.string(body, "description", max_len=500))
    if "status" in body:
        if body["status"] != "disabled":
            raise BadRequest(
                "status can only be set to disabled; POST .../ping to activate", field="status"
            )
        changed = replace(changed, status="disabled", status_reason="disabled by the subscriber")
    saved = await blocking.subs.save(changed)
    rescreened = 0
    if _wider(sub, saved):
        # Customers already screened under narrower terms might match now.
        rescreened = await blocking.watchlists.rescreen(sub.id)
        blocking.wake(sub.id)
    note(request, subscription=sub.id, fields=sorted(body), rescreened=rescreened)
    return web.json_response(saved.public() | {"rescreening": rescreened})


def _wider(before: Subscription, after: Subscription) -> bool:
    """Whether `after` can alert on customers `before` could not."""
    if not after.wants("blocking.required"):
        return False
    if not before.wants("blocking.required") or after.threshold < before.threshold:
        return True
    sources = bool(before.sources) and (
        not after.sources or set(after.sources) - set(before.sources)
    )
    programs = bool(before.programs) and (
        not after.programs or set(after.programs) - set(before.programs)
    )
    return bool(sources or programs)


@routes.delete("/v1/subscriptions/{id}")
async def delete(request: web.Request) -> web.Response:
    blocking, sub = await _owned(request)
    await blocking.subs.delete(sub)
    note(request, subscription=sub.id)
    return web.Response(status=204)


@routes.post("/v1/subscriptions/{id}/ping")
async def ping(request: web.Request) -> web.Response:
    """A signed test delivery; on a 2xx answer the subscription becomes active."""
    blocking, sub = await _owned(request)
    if blocking.session is None:
        raise Unavailable("the webhook client is not running")
    await egress.check_destination(sub.url, blocking.allow, saving=False)
    seq = int(await blocking.subs.redis.get(blocking.subs.keys.delta_seq()) or 0)
    event = events.ping(sub, seq)
    timeout = blocking.config.delivery.timeout
    attempt = await post(blocking.session, sub, event, 1, timeout, blocking.allow)
    verdict = outcome(attempt)
    note(request, subscription=sub.id, delivered=verdict == "delivered", status=attempt.status)
    record = {
        "event_id": event.id,
        "type": "ping",
        "delta_seq": seq,
        "status": "delivered" if verdict == "delivered" else "failed",
        "attempts": [
            {
                "n": 1,
                "at": now_iso(),
                "status": attempt.status,
                "latency_ms": attempt.latency_ms,
                "error": attempt.error,
                "outcome": verdict,
            }
        ],
    }
    await blocking.subs.redis.hset(
        blocking.subs.keys.sub_deliveries(sub.id), event.id, json.dumps(record)
    )
    if verdict != "delivered":
        raise PingFailed(
            f"the test delivery to {sub.url} failed: {attempt.error}",
            status=attempt.status,
            event_id=event.id,
        )
    await blocking.subs.set_status(sub.id, "active")
    blocking.wake(sub.id)
    return web.json_response(
        {
            "delivered": True,
            "status": attempt.status,
            "latency_ms": attempt.latency_ms,
            "event_id": event.id,
            "subscription": {**sub.public(), "status": "active", "status_reason": None},
        }
    )


@routes.post("/v1/subscriptions/{id}/secret/rotate")
async def rotate(request: web.Request) -> web.Response:
    """A new signing secret, shown once; the previous one keeps signing for a while."""
    blocking, sub = await _owned(request)
    body = await v.json_object(request) if request.can_read_body else {}
    v.reject_unknown(body, {"overlap_hours"})
    default = blocking.config.rotation_overlap / 3600
    hours = v.number(body, "overlap_hours", default, 0.0, 24 * 30)
    rotated, secret = await blocking.subs.rotate(sub, hours * 3600)
    note(request, subscription=sub.id, overlap_hours=hours)
    return web.json_response(rotated.public() | {"secret": secret})


async def _upload(request: web.Request, *, replace_all: bool) -> web.Response:
    blocking, sub = await _owned(request)
    limit = blocking.config.max_customers
    if not replace_all:
        limit -= int(await blocking.subs.redis.hlen(blocking.subs.keys.watchlist(sub.id)))
    started = time.monotonic()
    max_bytes = blocking.config.max_watchlist_bytes
    if (request.content_length or 0) > max_bytes:
        raise body_too_large(max_bytes)  # declared too large: refused before reading
    # +1: a CSV header line.
    chunks = request.content.iter_chunked(1 << 16)
    file = await spool(chunks, max(limit, 0) + 1, max_bytes)
    try:
        head = file.read(64)
        file.seek(0)
        fmt = sniff(request.headers.get("Content-Type", ""), head)
        report = await blocking.watchlists.write(sub.id, file, fmt, replace=replace_all)
    finally:
        file.close()
    blocking.wake(sub.id)
    counts = {k: v for k, v in report.to_dict().items() if isinstance(v, int)}
    note(request, subscription=sub.id, mode=report.mode, counts=counts)
    return web.json_response(
        report.to_dict() | {"format": fmt, "seconds": round(time.monotonic() - started, 3)}
    )


@routes.put("/v1/subscriptions/{id}/watchlist")
async def watchlist_replace(request: web.Request) -> web.Response:
    """Replace the watchlist with the uploaded one (JSON lines or CSV)."""
    return await _upload(request, replace_all=True)


@routes.patch("/v1/subscriptions/{id}/watchlist")
async def watchlist_patch(request: web.Request) -> web.Response:
    """Add or change customers; {"reference": ..., "delete": true} removes one."""
    return await _upload(request, replace_all=False)


@routes.get("/v1/subscriptions/{id}/watchlist")
async def watchlist_summary(request: web.Request) -> web.Response:
    blocking, sub = await _owned(request)
    return web.json_response(await blocking.watchlists.summary(sub.id))


@routes.delete("/v1/subscriptions/{id}/watchlist")
async def watchlist_clear(request: web.Request) -> web.Response:
    blocking, sub = await _owned(request)
    removed = await blocking.watchlists.clear(sub.id)
    note(request, subscription=sub.id, removed=removed)
    return web.json_response({"removed": removed})


@routes.get("/v1/subscriptions/{id}/deliveries")
async def deliveries(request: web.Request) -> web.Response:
    """Recent events, newest first, with every delivery attempt."""
    blocking, sub = await _owned(request)
    limit = v.query_int(request, "limit", 50, 1, 500)
    status = request.query.get("status") or None
    allowed = ("queued", "retrying", "delivered", "failed", "dead")
    if status is not None and status not in allowed:
        raise BadRequest(f"status must be one of {', '.join(allowed)}", field="status")
    found = await blocking.outbox.deliveries(sub.id, limit, status)
    return web.json_response({"deliveries": found})


@routes.post("/v1/subscriptions/{id}/deliveries/{event}/redeliver")
async def redeliver(request: web.Request) -> web.Response:
    """Queue an event again (same id, so the receiver can tell it is a replay)."""
    blocking, sub = await _owned(request)
    queued = await blocking.outbox.redeliver(sub.id, request.match_info["event"])
    note(request, subscription=sub.id, event_id=queued["event_id"])
    blocking.wake(sub.id)
    return web.json_response(queued, status=202)
