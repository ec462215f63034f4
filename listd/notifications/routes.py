"""HTTP handlers for subscriptions, watchlists and deliveries (role `subscriber`), each
declared once in `routes`.

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

from listd.errors import BadRequest, PingFailed, Unavailable
from listd.http import body as v
from listd.http.fields import (
    OBJECT,
    OBJECTS,
    Body,
    Choice,
    Declared,
    Field,
    Num,
    Obj,
    QChoice,
    QInt,
    RawBody,
    Schema,
    Strings,
    Text,
    nullable,
    obj,
    ref,
)
from listd.http.openapi import ok
from listd.http.state import SETTINGS, note, principal
from listd.http.table import Routes
from listd.notifications import egress, events
from listd.notifications.config import WebhookConfig
from listd.notifications.delivery import outcome, post
from listd.notifications.dispatcher import Dispatcher
from listd.notifications.outbox import Outbox
from listd.notifications.partitions import PartitionCheck
from listd.notifications.subscriptions import (
    AMENDMENTS,
    DEFAULT_EVENTS,
    EVENTS,
    Subscription,
    SubscriptionStore,
)
from listd.notifications.watchlist import WatchlistStore, body_too_large, sniff, spool
from listd.pipeline.store import now_iso
from listd.screening import DEFAULT_THRESHOLD

routes = Routes("notifications")

SUBSCRIBER = ("subscriber",)


@dataclass(frozen=True)
class _Url(Field):
    """A webhook URL, exactly as sent (a URL is refused, not mended); the destination
    rules are `egress.check_destination`'s."""

    max_len: int = 2000

    def read(self, data: dict[str, Any]) -> str:
        return v.string(data, self.name, required=True, max_len=self.max_len, strip=False) or ""

    def _schema(self, components: dict[str, Schema]) -> Schema:
        return {
            "type": "string",
            "format": "uri",
            "maxLength": self.max_len,
            "pattern": r"^https?://",
        }


URL = _Url("url", required=True)
EVENTS_FIELD = Declared(
    "events",
    shape=nullable({"type": "array", "minItems": 1, "items": {"enum": list(EVENTS)}})
    | {"default": list(DEFAULT_EVENTS)},
)
SOURCES = Strings("sources")
PROGRAMS = Strings("programs")
# Below 0.5 an alert stream is noise, not a blocking instruction.
THRESHOLD = Num("threshold", lo=0.5, hi=1.0)
AMENDMENTS_FIELD = Choice(
    "amendments",
    options=AMENDMENTS,
    default="identity",
    description="Amended designations that raise events: identity changes only "
    "(names, birth dates, documents...), or all (comments and links too).",
)
DESCRIPTION = Text("description", max_len=500)
_SETTINGS = (EVENTS_FIELD, SOURCES, PROGRAMS, THRESHOLD, AMENDMENTS_FIELD, DESCRIPTION)
CREATE = Body(
    Obj("subscription", fields=(URL, *_SETTINGS), component="SubscriptionCreate"),
    example={"url": "https://hooks.bank-a.kz/listd", "threshold": 0.9},
)
UPDATE = Body(
    Obj(
        "subscription",
        fields=(
            replace(URL, required=False),
            *_SETTINGS,
            Declared("status", shape={"enum": ["disabled"]}),
        ),
        component="SubscriptionUpdate",
    )
)
OVERLAP = Num("overlap_hours", lo=0.0, hi=24 * 30)
ROTATE = Body(Obj("rotation", fields=(OVERLAP,)), required=False)
WATCHLIST = RawBody(
    "JSON lines (one customer object a line) or CSV with a header line; "
    "fields: reference, name, type, birth_date, iin, passport, identifiers, nationality "
    '(PATCH: {"reference": ..., "delete": true} removes one).',
    {
        "application/x-ndjson": {
            "schema": {"type": "string"},
            "example": '{"reference": "c-1", "name": "Aamir Ali Chaudhry", "type": "person"}\n',
        },
        "text/csv": {
            "schema": {"type": "string"},
            "example": "reference,name,birth_date\nc-2,Хабибуллаев Алишер,1980-02-01\n",
        },
    },
)
DELIVERIES_LIMIT = QInt("limit", lo=1, hi=500, default=50)
DELIVERY_STATUS = QChoice("status", options=("queued", "retrying", "delivered", "failed", "dead"))
SUB_ID = {"id": "Subscription id."}
_SUBSCRIPTION = ok(ref("Subscription"))
_REPORT = ok(ref("WatchlistReport"))
_OBJECT = ok(OBJECT)


@dataclass(slots=True)
class Blocking:
    """What the handlers share: stores, configuration, the webhook HTTP client."""

    config: WebhookConfig
    subs: SubscriptionStore
    watchlists: WatchlistStore
    outbox: Outbox
    allow: egress.AllowList
    # LISTD_DISPATCH_PARTITIONS against the workers' count: every route here files or
    # reads a subscription's keys by partition, so none runs while it differs.
    partitions: PartitionCheck
    session: aiohttp.ClientSession | None = None
    dispatcher: Dispatcher | None = None

    def wake(self, sub_id: str) -> None:
        if self.dispatcher is not None:
            self.dispatcher.wake(sub_id)


BLOCKING = web.AppKey("blocking", Blocking)


async def _blocking(request: web.Request) -> Blocking:
    """The routes' shared state, once the partition count is known to be the workers'."""
    blocking = request.app[BLOCKING]
    await blocking.partitions.require()
    return blocking


async def _owned(request: web.Request) -> tuple[Blocking, Subscription]:
    who = principal(request)
    blocking = await _blocking(request)
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
    chosen = SOURCES.read(body)
    configured = request.app[SETTINGS].sources
    for name in chosen:
        if name not in configured:
            raise BadRequest(f"unknown source {name!r}", field="sources")
    return tuple(dict.fromkeys(chosen))


@routes.post(
    "/v1/subscriptions",
    "Create a webhook subscription; the signing secret is shown once.",
    roles=SUBSCRIBER,
    ok={201: _SUBSCRIPTION},
    body=CREATE,
)
async def create(request: web.Request) -> web.Response:
    who = principal(request)
    blocking = await _blocking(request)
    body = await CREATE.read(request)
    url = URL.read(body)
    await egress.check_destination(url, blocking.allow)
    draft = Subscription(
        id="",
        org=who.org,
        url=url,
        events=_events(body, DEFAULT_EVENTS),
        sources=_sources(request, body),
        programs=PROGRAMS.read(body),
        threshold=THRESHOLD.read(body, DEFAULT_THRESHOLD),
        amendments=AMENDMENTS_FIELD.read(body) or "identity",
        description=DESCRIPTION.read(body),
    )
    sub, secret = await blocking.subs.create(draft)
    note(request, subscription=sub.id, url=sub.url, events=list(sub.events))
    return web.json_response(sub.public() | {"secret": secret}, status=201)


@routes.get(
    "/v1/subscriptions",
    "The organisation's subscriptions.",
    roles=SUBSCRIBER,
    ok={
        200: ok(
            obj(
                {"subscriptions": {"type": "array", "items": ref("Subscription")}},
                ("subscriptions",),
            )
        )
    },
)
async def list_all(request: web.Request) -> web.Response:
    who = principal(request)
    subs = await (await _blocking(request)).subs.list_for(who.org)
    return web.json_response({"subscriptions": [s.public() for s in subs]})


@routes.get(
    "/v1/subscriptions/{id}",
    "One subscription with its watchlist summary.",
    roles=SUBSCRIBER,
    ok={200: _SUBSCRIPTION},
    errors=(404,),
    path_help=SUB_ID,
)
async def read(request: web.Request) -> web.Response:
    blocking, sub = await _owned(request)
    summary = await blocking.watchlists.summary(sub.id)
    return web.json_response(sub.public() | {"watchlist": summary})


@routes.patch(
    "/v1/subscriptions/{id}",
    "Change a subscription (a new URL must be pinged again).",
    roles=SUBSCRIBER,
    ok={200: _SUBSCRIPTION},
    errors=(404,),
    path_help=SUB_ID,
    body=UPDATE,
)
async def update(request: web.Request) -> web.Response:
    blocking, sub = await _owned(request)
    body = await UPDATE.read(request)
    changed = sub
    if "url" in body:
        url = URL.read(body)
        await egress.check_destination(url, blocking.allow)
        if url != sub.url:  # a new endpoint must prove itself again
            changed = replace(changed, url=url, status="pending", status_reason="url changed")
    if "events" in body:
        changed = replace(changed, events=_events(body, None))
    if "sources" in body:
        changed = replace(changed, sources=_sources(request, body))
    if "programs" in body:
        changed = replace(changed, programs=PROGRAMS.read(body))
    if "threshold" in body:
        changed = replace(changed, threshold=THRESHOLD.read(body, sub.threshold))
    if "amendments" in body:
        amendments = AMENDMENTS_FIELD.read(body) or "identity"
        changed = replace(changed, amendments=amendments)
    if "description" in body:
        changed = replace(changed, description=DESCRIPTION.read(body))
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


@routes.delete(
    "/v1/subscriptions/{id}",
    "Delete a subscription.",
    roles=SUBSCRIBER,
    ok={204: {"description": "Deleted."}},
    errors=(404,),
    path_help=SUB_ID,
)
async def delete(request: web.Request) -> web.Response:
    blocking, sub = await _owned(request)
    await blocking.subs.delete(sub)
    note(request, subscription=sub.id)
    return web.Response(status=204)


@routes.post(
    "/v1/subscriptions/{id}/ping",
    "A signed test delivery; on a 2xx answer the subscription becomes active.",
    roles=SUBSCRIBER,
    ok={200: _OBJECT},
    errors=(400, 404, 502),
    path_help=SUB_ID,
)
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


@routes.post(
    "/v1/subscriptions/{id}/secret/rotate",
    "A new signing secret, shown once; the previous one signs for overlap_hours.",
    roles=SUBSCRIBER,
    ok={200: _SUBSCRIPTION},
    errors=(404,),
    path_help=SUB_ID,
    body=ROTATE,
)
async def rotate(request: web.Request) -> web.Response:
    """A new signing secret, shown once; the previous one keeps signing for a while."""
    blocking, sub = await _owned(request)
    body = await ROTATE.json(request) if request.can_read_body else {}
    ROTATE.shape.reject_unknown(body)
    hours = OVERLAP.read(body, blocking.config.rotation_overlap / 3600)
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


@routes.put(
    "/v1/subscriptions/{id}/watchlist",
    "Replace the watchlist with the uploaded one.",
    roles=SUBSCRIBER,
    ok={200: _REPORT},
    errors=(400, 404, 413),
    path_help=SUB_ID,
    body=WATCHLIST,
)
async def watchlist_replace(request: web.Request) -> web.Response:
    """Replace the watchlist with the uploaded one (JSON lines or CSV)."""
    return await _upload(request, replace_all=True)


@routes.patch(
    "/v1/subscriptions/{id}/watchlist",
    "Add, change or delete customers.",
    roles=SUBSCRIBER,
    ok={200: _REPORT},
    errors=(400, 404, 413),
    path_help=SUB_ID,
    body=WATCHLIST,
)
async def watchlist_patch(request: web.Request) -> web.Response:
    """Add or change customers; {"reference": ..., "delete": true} removes one."""
    return await _upload(request, replace_all=False)


@routes.get(
    "/v1/subscriptions/{id}/watchlist",
    "Watchlist summary.",
    roles=SUBSCRIBER,
    ok={
        200: ok(
            obj(
                {
                    "customers": {"type": "integer"},
                    "pending_screening": {"type": "integer"},
                    "last_upload": {"type": ["object", "null"]},
                },
                ("customers", "pending_screening"),
            )
        )
    },
    errors=(404,),
    path_help=SUB_ID,
)
async def watchlist_summary(request: web.Request) -> web.Response:
    blocking, sub = await _owned(request)
    return web.json_response(await blocking.watchlists.summary(sub.id))


@routes.delete(
    "/v1/subscriptions/{id}/watchlist",
    "Remove every customer.",
    roles=SUBSCRIBER,
    ok={200: ok(obj({"removed": {"type": "integer"}}, ("removed",)))},
    errors=(404,),
    path_help=SUB_ID,
)
async def watchlist_clear(request: web.Request) -> web.Response:
    blocking, sub = await _owned(request)
    removed = await blocking.watchlists.clear(sub.id)
    note(request, subscription=sub.id, removed=removed)
    return web.json_response({"removed": removed})


@routes.get(
    "/v1/subscriptions/{id}/deliveries",
    "Recent events, newest first, with every delivery attempt.",
    roles=SUBSCRIBER,
    ok={200: ok(obj({"deliveries": OBJECTS}, ("deliveries",)))},
    errors=(400, 404),
    path_help=SUB_ID,
    params=(DELIVERIES_LIMIT, DELIVERY_STATUS),
)
async def deliveries(request: web.Request) -> web.Response:
    """Recent events, newest first, with every delivery attempt."""
    blocking, sub = await _owned(request)
    limit = DELIVERIES_LIMIT.read(request)
    status = DELIVERY_STATUS.read(request)
    found = await blocking.outbox.deliveries(sub.id, limit, status)
    return web.json_response({"deliveries": found})


@routes.post(
    "/v1/subscriptions/{id}/deliveries/{event}/redeliver",
    "Queue an event again (same id: the receiver can tell it is a replay).",
    roles=SUBSCRIBER,
    ok={202: _OBJECT},
    errors=(404, 410),
    path_help=SUB_ID | {"event": "Event id."},
)
async def redeliver(request: web.Request) -> web.Response:
    """Queue an event again (same id, so the receiver can tell it is a replay)."""
    blocking, sub = await _owned(request)
    queued = await blocking.outbox.redeliver(sub.id, request.match_info["event"])
    note(request, subscription=sub.id, event_id=queued["event_id"])
    blocking.wake(sub.id)
    return web.json_response(queued, status=202)
