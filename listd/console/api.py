"""Read-only routes the web console needs and the rest of the API lacks: who am I, the
delta feed newest first with filters, an entity's change history, the organisation's
blocking alerts. They go through the same gate, roles and journal as every `/v1` route.

The feed scans the delta stream from its newest end; a scan stops after `SCAN_LIMIT`
deltas and says so (`complete: false`), so one request never reads an unbounded stream.
An entity's history reads the per-entity index of delta seqs written at publication (only
deltas older than the index are found by such a scan).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, cast

from aiohttp import web

from listd.access import ROLES, Principal
from listd.basis import basis_from
from listd.errors import Forbidden
from listd.http.fields import OBJECTS, QChoice, QInt, QText, obj
from listd.http.openapi import ok
from listd.http.params import DELTA_CLASS, IN_QUERY, SOURCE
from listd.http.state import INDEX, SETTINGS, STORE, note, principal
from listd.http.table import Routes
from listd.notifications.outbox import record
from listd.notifications.routes import BLOCKING
from listd.pipeline.delta import Delta

routes = Routes("deltas")

SCAN_LIMIT = 20_000  # deltas one request may read from the stream
_PAGE = 500
_OPS = ("added", "amended", "removed")
_ALERTS = ("blocking.required", "blocking.lifted")
BEFORE = QInt("before", lo=0, hi=2**62, default=0, description="Only deltas before this sequence.")
FEED_LIMIT = QInt("limit", lo=1, hi=500, default=50)
PROGRAM = QText("program")
OP = QChoice("op", options=_OPS)
HISTORY_LIMIT = QInt("limit", lo=1, hi=1000, default=100)
ALERTS_LIMIT = QInt("limit", lo=1, hi=1000, default=100)
ALERT_TYPE = QChoice("type", options=_ALERTS)


@routes.get(
    "/v1/whoami",
    "The caller: name, organisation, role and every role it may act as.",
    tag="access",
    roles=ROLES,
    ok={
        200: ok(
            obj(
                {
                    "name": {"type": "string"},
                    "org": {"type": "string"},
                    "role": {"enum": list(ROLES)},
                    "roles": {"type": "array", "items": {"enum": list(ROLES)}},
                    "key_id": {"type": "string"},
                    "via": {"type": "string"},
                },
                ("name", "org", "role", "roles"),
            )
        )
    },
)
async def whoami(request: web.Request) -> web.Response:
    """The caller: name, organisation, role and the roles it implies (the console's menu)."""
    who = principal(request)
    roles = [role for role in ROLES if _may(who, role)]
    return web.json_response(
        {
            "name": who.name,
            "org": who.org,
            "role": who.role,
            "roles": roles,
            "key_id": who.key_id,
            "via": who.via,
        }
    )


def _may(who: Principal, role: str) -> bool:
    try:
        who.require(role)
    except Forbidden:
        return False
    return True


def _summary(delta: Delta) -> dict[str, Any]:
    """A feed row: the delta without the full entity, but with its name and programmes."""
    entity = delta.entity
    names = entity.get("names") or []
    primary = next((n.get("full") for n in names if n.get("kind") == "primary"), None)
    return {
        "seq": delta.seq,
        "op": delta.op,
        "entity_id": delta.entity_id,
        "source": delta.source,
        "at": delta.at,
        "version": delta.version,
        "name": primary or (names[0].get("full") if names else entity.get("reference")),
        "schema": entity.get("schema"),
        "programs": delta.programs,
        "changed": sorted(delta.changes),
        "class": delta.klass,
    }


async def _scan_newest(
    request: web.Request, before: int, want: int, keep: Callable[[Delta], bool]
) -> tuple[list[Delta], int | None, bool]:
    """Deltas with seq < `before` (0: from the newest), newest first, that `keep` accepts.

    Returns up to `want` of them, the cursor to continue before (None at the end), and
    whether the scan reached the oldest retained delta."""
    store = request.app[STORE]
    redis = store.redis
    top = f"({before}-0" if before else "+"
    found: list[Delta] = []
    scanned = 0
    while len(found) < want and scanned < SCAN_LIMIT:
        page = cast(
            list[tuple[str, dict[str, str]]],
            await redis.xrevrange(store.keys.deltas(), max=top, count=_PAGE),
        )
        if not page:
            return found, None, True
        for entry_id, data in page:
            scanned += 1
            seq = int(entry_id.split("-", 1)[0])
            top = f"({seq}-0"
            delta = Delta.from_json(seq, data["d"])
            if keep(delta):
                found.append(delta)
                if len(found) >= want:
                    return found, seq, False
    cursor = int(top[1:].split("-", 1)[0]) if top != "+" else None
    return found, cursor, False


@routes.get(
    "/v1/deltas/recent",
    "The delta feed newest first, summarised, with filters (the console's feed). "
    f"One request scans at most {SCAN_LIMIT:,} deltas (`complete` says whether "
    "it reached the oldest retained one).",
    roles=("screener",),
    ok={
        200: ok(
            obj(
                {
                    "deltas": OBJECTS,
                    "next": {"type": ["integer", "null"]},
                    "complete": {"type": "boolean"},
                    "last_seq": {"type": "integer"},
                },
                ("deltas", "next", "complete", "last_seq"),
            )
        )
    },
    errors=(400, 404),
    params=(BEFORE, FEED_LIMIT, SOURCE, PROGRAM, OP, DELTA_CLASS),
)
async def recent(request: web.Request) -> web.Response:
    """The delta feed newest first: ?before=SEQ&limit=N&source=&program=&op=&class=.
    Rows summarise each delta; `next` is the `before` of the following page."""
    before = BEFORE.read(request)
    limit = FEED_LIMIT.read(request)
    source = SOURCE.read(request)
    if source is not None:
        request.app[SETTINGS].source(source)
    program = PROGRAM.read(request)
    op = OP.read(request)
    klass = DELTA_CLASS.read(request)

    def keep(delta: Delta) -> bool:
        if source is not None and delta.source != source:
            return False
        if op is not None and delta.op != op:
            return False
        if klass is not None and delta.klass != klass:
            return False
        return program is None or program in delta.programs

    found, cursor, complete = await _scan_newest(request, before, limit, keep)
    return web.json_response(
        {
            "deltas": [_summary(d) for d in found],
            "next": cursor,
            "complete": complete,
            "last_seq": await request.app[STORE].last_seq(),
        }
    )


@routes.get(
    "/v1/entities/{id}/history",
    "Every retained delta about one entity, newest first, with its changes.",
    tag="screening",
    roles=("screener",),
    ok={
        200: ok(
            obj(
                {
                    "entity_id": {"type": "string"},
                    "listed": {"type": "boolean"},
                    "history": OBJECTS,
                    "complete": {"type": "boolean"},
                },
                ("entity_id", "listed", "history", "complete"),
            )
        )
    },
    errors=(400,),
    path_help={"id": "Entity id, e.g. un:QDi.312."},
    params=(*IN_QUERY, HISTORY_LIMIT),
)
async def entity_history(request: web.Request) -> web.Response:
    """Every retained delta about one entity, newest first (with its field changes).
    Needs a basis like the entity read: ?basis=...&case_ref=..."""
    entity_id = request.match_info["id"]
    note(request, query={"id": entity_id, "history": True})
    note(request, basis_from(request.query))
    limit = HISTORY_LIMIT.read(request)
    found, indexed_from = await request.app[STORE].entity_deltas(entity_id, limit)
    complete = True
    if len(found) < limit and indexed_from != 1:
        # Deltas published before the per-entity index existed: the bounded scan, below
        # the first indexed seq (from the newest when nothing is indexed yet).
        older, _, complete = await _scan_newest(
            request, indexed_from, limit - len(found), lambda d: d.entity_id == entity_id
        )
        found += older
    note(request, matches=len(found))
    rows = [_summary(d) | {"changes": d.changes} for d in found]
    loaded = request.app[INDEX].entities.get(entity_id)
    return web.json_response(
        {
            "entity_id": entity_id,
            "listed": loaded is not None,
            "history": rows,
            "complete": complete,
        }
    )


@routes.get(
    "/v1/alerts",
    "The organisation's blocking alerts over all its subscriptions, newest first, "
    "with their delivery status.",
    tag="notifications",
    roles=("subscriber",),
    ok={200: ok(obj({"alerts": OBJECTS}, ("alerts",)))},
    errors=(400,),
    params=(ALERTS_LIMIT, ALERT_TYPE),
)
async def alerts(request: web.Request) -> web.Response:
    """The organisation's blocking alerts (blocking.required / blocking.lifted) across its
    subscriptions, newest first, each with its delivery status: ?limit=N&type=."""
    who = principal(request)
    limit = ALERTS_LIMIT.read(request)
    kind = ALERT_TYPE.read(request)
    blocking = request.app[BLOCKING]
    await blocking.partitions.require()  # reads by partition: not with another count
    redis = blocking.subs.redis
    keys = blocking.subs.keys
    rows: list[dict[str, Any]] = []
    for sub in await blocking.subs.list_for(who.org):
        cursor = str(await redis.hget(keys.sub_cursor(sub.id), "cursor") or "0-0")
        page = cast(
            list[tuple[str, dict[str, str]]],
            await redis.xrevrange(keys.sub_events(sub.id), count=SCAN_LIMIT // 2),
        )
        wanted = [(i, f) for i, f in page if f.get("t") in ((kind,) if kind else _ALERTS)]
        seen: set[str] = set()  # a redelivered event is in the stream twice
        picked = []
        for entry_id, fields in wanted:
            if fields["i"] not in seen:
                seen.add(fields["i"])
                picked.append((entry_id, fields))
            if len(picked) >= limit:
                break
        if not picked:
            continue
        raws = cast(
            list[str | None],
            await redis.hmget(keys.sub_deliveries(sub.id), [f["i"] for _, f in picked]),
        )
        for (entry_id, fields), raw in zip(picked, raws, strict=True):
            rec = record(raw)
            body = json.loads(fields["e"])
            status = rec.get("status") or ("queued" if _after(entry_id, cursor) else "delivered")
            attempts = rec.get("attempts") or []
            rows.append(
                {
                    "event_id": fields["i"],
                    "type": fields["t"],
                    "delta_seq": int(fields.get("s") or 0),
                    "created": body.get("created"),
                    "subscription_id": sub.id,
                    "subscription_url": sub.url,
                    "status": status,
                    "attempts": len(attempts),
                    "last_attempt": attempts[-1] if attempts else None,
                    "data": body.get("data") or {},
                }
            )
    rows.sort(key=lambda r: (r["created"] or "", r["delta_seq"]), reverse=True)
    return web.json_response({"alerts": rows[:limit]})


def _after(a: str, b: str) -> bool:
    """Stream id `a` sorts after `b`."""
    am, _, asq = a.partition("-")
    bm, _, bsq = b.partition("-")
    return (int(am), int(asq or 0)) > (int(bm), int(bsq or 0))
