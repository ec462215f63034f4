"""HTTP handlers for screening, sources and deltas, each declared once in `routes` (roles,
parameters, body, answers); state comes from typed app keys."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from listd.api import live
from listd.api.state import METRICS
from listd.basis import BASIS_FIELDS, basis_from
from listd.errors import BadRequest, NotFound
from listd.http import body as v
from listd.http.fields import (
    OBJECT,
    OBJECTS,
    Array,
    Body,
    Choice,
    Declared,
    Int,
    Num,
    Obj,
    QInt,
    QText,
    Schema,
    Strings,
    Text,
    obj,
    ref,
)
from listd.http.openapi import ok
from listd.http.params import BASIS, CASE_REF, CASE_REF_RULE, DELTA_CLASS, IN_QUERY, SOURCE
from listd.http.state import (
    FRESHNESS,
    INDEX,
    READY,
    REDIS,
    ROLE,
    SETTINGS,
    STORE,
    SYNCER,
    note,
)
from listd.http.table import Routes
from listd.model import Entity
from listd.notifications import events
from listd.screening import DEFAULT_THRESHOLD, Query
from listd.status import ScreenWarning, consulted, source_status

routes = Routes("screening")

SCREENER = ("screener",)
ADMIN = ("admin",)
BATCH_LIMIT = 10_000


@dataclass(frozen=True)
class _Name(Text):
    """The name to screen: a string with at least one letter or digit."""

    def read(self, data: Any) -> str:
        return v.name(dict(data), self.name)


@dataclass(frozen=True)
class _BirthDate(Declared):
    def read(self, data: Any) -> str | None:
        return v.birth_date(dict(data), self.name)


NAME = _Name("name", required=True, description="Name in any script.")
TYPE = Choice("type", options=("person", "entity"), null_in_enum=True)
BIRTH_DATE = _BirthDate(
    "birth_date",
    shape={
        "anyOf": [
            {"type": "string", "pattern": r"^[0-9]{4}(-(0[1-9]|1[0-2]))?$"},
            {"type": "string", "format": "date"},
            {"type": "null"},
        ],
    },
    description="YYYY, YYYY-MM or a valid YYYY-MM-DD (DD.MM.YYYY is also read); not in the future.",
)
LIMIT = Int("limit", lo=1, hi=100, default=10)
THRESHOLD = Num("threshold", lo=0.0, hi=1.0)
SOURCES = Strings("sources", description="Configured source names (unknown: 404).")
PROGRAMS = Strings("programs")
NATIONALITY = Text("nationality", max_len=100)
IDENTIFIERS = Strings("identifiers")
QUERY = Obj(
    "query",
    fields=(NAME, TYPE, BIRTH_DATE, LIMIT, THRESHOLD, SOURCES, PROGRAMS, NATIONALITY, IDENTIFIERS),
    component="ScreenQuery",
)
SCREEN = Body(
    QUERY.with_fields(BASIS, CASE_REF, component="ScreenRequest", rule=CASE_REF_RULE),
    example={"name": "Aamir Ali Chaudhry", "basis": "onboarding"},
)
QUERIES = Array("queries", required=True, item=QUERY, max_items=BATCH_LIMIT)
BATCH = Body(
    Obj("batch", fields=(QUERIES, BASIS, CASE_REF), component="BatchRequest", rule=CASE_REF_RULE),
    max_bytes=32 * 1024 * 1024,
    example={
        "queries": [{"name": "Aamir Ali Chaudhry"}, {"name": "7th of Tir", "type": "entity"}],
        "basis": "periodic_review",
    },
)
HISTORY_LIMIT = QInt("limit", lo=1, hi=500, default=50)
AFTER = QInt("after", lo=0, hi=2**62, default=0)
DELTAS_LIMIT = QInt("limit", lo=1, hi=1000, default=100)
_SEQ: Schema = {"type": "string", "pattern": r"^[0-9]+$"}
ENTITY_ID = {"id": "Entity id, e.g. un:QDi.312."}
SOURCE_NAME = {"name": "A configured source name."}
_TEXT = {"type": "string"}
READY_BODY = obj(
    {
        "ready": {"type": "boolean"},
        "problems": {"type": "array", "items": {"type": "string"}},
        "versions": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    ("ready", "problems", "versions"),
)


@routes.get(
    "/healthz",
    "The process is alive.",
    tag="operations",
    roles=None,
    public=True,
    ok={200: ok(obj({"status": {"const": "alive"}}, ("status",)))},
)
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


@routes.get(
    "/readyz",
    "Ready to answer a screening: initial load done, at least one list loaded, Redis reachable.",
    tag="operations",
    roles=None,
    public=True,
    ok={200: ok(READY_BODY), 503: ok(READY_BODY, "Not ready; `problems` says why.")},
)
async def readyz(request: web.Request) -> web.Response:
    problems: list[str] = []
    if not request.app[READY].is_set():
        problems.append("initial load from the store is still running")
    elif not request.app[INDEX].versions:
        # Ready means "can answer a screening", which answers 503 with no list loaded.
        problems.append(
            "no list is loaded: sync a source (listd sync SOURCE, or --file for an offline import)"
        )
    try:
        await request.app[REDIS].ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        problems.append(f"redis unreachable: {type(exc).__name__}")
    body = {"ready": not problems, "problems": problems, "versions": request.app[INDEX].versions}
    if ROLE in request.app:  # the daemon's leader election (absent in embedded apps)
        body["role"] = request.app[ROLE].to_json()
    return web.json_response(body, status=200 if not problems else 503)


@routes.get(
    "/metrics",
    "Prometheus metrics.",
    tag="operations",
    roles=None,
    public=True,
    ok={200: ok(_TEXT, "Text exposition format.", "text/plain")},
)
async def metrics(request: web.Request) -> web.Response:
    m = request.app[METRICS]
    bounds = {n: c.stale_after_minutes for n, c in request.app[SETTINGS].sources.items()}
    await m.refresh(request.app[STORE], bounds, len(request.app[INDEX]))
    return m.render()


def _match_json(match: Any) -> dict[str, Any]:
    entity: Entity = match.entity
    return {
        "id": entity.id,
        "score": match.score,
        "source": entity.source,
        "program": entity.programs[0] if entity.programs else None,
        "programs": list(entity.programs),
        "reference": entity.reference,
        "schema": entity.schema,
        "name": entity.primary_name,
        "matched_name": match.matched_name,
        "explanation": match.explanation,
    }


def parse_query(body: dict[str, Any]) -> Query:
    """A screening query from a JSON object; 400 names the offending field."""
    QUERY.reject_unknown(body)
    return Query(
        name=NAME.read(body),
        type=TYPE.read(body),
        birth_date=BIRTH_DATE.read(body),
        limit=LIMIT.read(body),
        threshold=THRESHOLD.read(body, DEFAULT_THRESHOLD),
        sources=SOURCES.read(body),
        programs=PROGRAMS.read(body),
        nationality=NATIONALITY.read(body),
        identifiers=IDENTIFIERS.read(body),
    )


def _put_warnings(body: dict[str, Any], warnings: list[ScreenWarning]) -> None:
    """`warnings` (the English sentences, as always) and `warning_details`."""
    if warnings:
        body["warnings"] = [w.message for w in warnings]
        body["warning_details"] = [w.to_json() for w in warnings]


def _versions(
    request: web.Request, queries: list[Query]
) -> tuple[dict[str, str], list[ScreenWarning]]:
    """The list versions a screening uses, and warnings for lists it cannot consult."""
    asked = {s for q in queries for s in q.sources}
    freshness: dict[str, str | None] = request.app[FRESHNESS]
    return consulted(
        request.app[SETTINGS],
        request.app[INDEX].versions,
        freshness,
        asked if asked and all(q.sources for q in queries) else (),
    )


@routes.post(
    "/v1/screen",
    "Screen one name against the loaded lists.",
    roles=SCREENER,
    cached=True,
    ok={200: ok(ref("ScreenResult"))},
    errors=(404,),
    body=SCREEN,
)
async def screen(request: web.Request) -> web.Response:
    body = await SCREEN.json(request)
    asked = {k: val for k, val in body.items() if k not in BASIS_FIELDS}
    note(request, query=asked)
    note(request, basis_from(body))  # the legal ground: 400 without it
    query = parse_query(asked)
    versions, warnings = _versions(request, [query])
    started = time.perf_counter()
    matches = request.app[INDEX].screen(query)
    note(request, matches=len(matches), list_versions=versions)
    stats = request.app[METRICS]
    stats.screen_latency.labels("screen").observe(time.perf_counter() - started)
    stats.screenings.labels("screen", "match" if matches else "clear").inc()
    body_out: dict[str, Any] = {
        "query_id": uuid.uuid4().hex,
        "matches": [_match_json(m) for m in matches],
        "list_versions": versions,
        "took_ms": round((time.perf_counter() - started) * 1000, 3),
    }
    _put_warnings(body_out, warnings)
    return web.json_response(body_out)


@routes.post(
    "/v1/screen/batch",
    f"Screen up to {BATCH_LIMIT:,} queries with one legal basis.",
    roles=SCREENER,
    cached=True,
    ok={200: ok(ref("BatchResult"))},
    errors=(404,),
    body=BATCH,
)
async def screen_batch(request: web.Request) -> web.Response:
    """Up to 10,000 queries in one request: {"queries": [{...}, ...]}."""
    body = await BATCH.json(request)
    raw = body.get("queries")
    note(request, query=raw)
    BATCH.shape.reject_unknown(body)
    note(request, basis_from(body))  # one legal ground for the whole batch
    if not isinstance(raw, list) or not raw:
        raise BadRequest("queries must be a non-empty list", field="queries")
    if len(raw) > QUERIES.max_items:
        raise BadRequest(f"at most {QUERIES.max_items} queries per batch", field="queries")
    queries: list[Query] = []
    for n, item in enumerate(raw):
        if not isinstance(item, dict):
            raise BadRequest("each query must be an object", field=f"queries[{n}]")
        try:
            queries.append(parse_query(item))
        except BadRequest as exc:
            raise BadRequest(exc.message, field=f"queries[{n}].{exc.detail.get('field')}") from None
    versions, warnings = _versions(request, queries)
    started = time.perf_counter()
    # Scoring is CPU-bound: run it off the event loop so other requests keep flowing.
    results = await asyncio.to_thread(request.app[INDEX].screen_many, queries)
    stats = request.app[METRICS]
    stats.screen_latency.labels("batch").observe(time.perf_counter() - started)
    hits = sum(1 for found in results if found)
    stats.screenings.labels("batch", "match").inc(hits)
    stats.screenings.labels("batch", "clear").inc(len(results) - hits)
    note(request, matches=sum(len(found) for found in results), list_versions=versions)
    body_out: dict[str, Any] = {
        "batch_id": uuid.uuid4().hex,
        "results": [
            {"index": n, "query_id": uuid.uuid4().hex, "matches": [_match_json(m) for m in found]}
            for n, found in enumerate(results)
        ],
        "list_versions": versions,
        "took_ms": round((time.perf_counter() - started) * 1000, 3),
    }
    _put_warnings(body_out, warnings)
    return web.json_response(body_out)


@routes.get(
    "/v1/programs",
    "Programme tags of the loaded lists with entity counts, the legal basis alerts cite "
    "and the Kazakh FM-1 codes (`fm1`, null where no FM-1 rule applies; docs/webhooks.md).",
    roles=SCREENER,
    cached=True,
    ok={200: ok(obj({"programs": OBJECTS}, ("programs",)))},
)
async def programs(request: web.Request) -> web.Response:
    """Programme tags of the loaded lists, with how many entities carry each, the legal
    basis alerts cite and the Kazakh FM-1 codes (null where no FM-1 rule applies)."""
    counts: dict[str, dict[str, int]] = {}
    labels: dict[str, str | None] = {}
    for entity in request.app[INDEX].entities.values():
        for tag in entity.programs:
            per_source = counts.setdefault(tag, {})
            per_source[entity.source] = per_source.get(entity.source, 0) + 1
            labels.setdefault(tag, entity.list_type)
    rows = [
        {
            "program": tag,
            "entities": sum(by.values()),
            "sources": dict(sorted(by.items())),
            "legal_basis": events.legal_basis([tag], labels.get(tag))[0],
            "fm1": events.fm1_terms(tag),
        }
        for tag, by in sorted(counts.items())
    ]
    return web.json_response({"programs": rows})


@routes.get(
    "/v1/entities/{id}",
    "One designation, by id.",
    roles=SCREENER,
    cached=True,
    ok={200: ok(ref("Entity"))},
    errors=(400, 404),
    path_help=ENTITY_ID,
    params=IN_QUERY,
)
async def entity(request: web.Request) -> web.Response:
    entity_id = request.match_info["id"]
    note(request, query={"id": entity_id}, matches=0)
    note(request, basis_from(request.query))  # ?basis=...&case_ref=...: 400 without it
    found = request.app[INDEX].entities.get(entity_id)
    if found is None:
        found = await request.app[STORE].entity(entity_id)
    if found is None:
        raise NotFound(f"no entity {entity_id!r} in the current lists", id=entity_id)
    note(
        request,
        matches=1,
        list_versions={found.source: request.app[INDEX].versions.get(found.source)},
    )
    return web.json_response(found.to_dict())


async def _source_json(request: web.Request, name: str) -> dict[str, Any]:
    cfg = request.app[SETTINGS].sources[name]
    state = await request.app[STORE].state(name)
    return {
        "name": name,
        "kind": cfg.kind,
        "url": cfg.url or cfg.page_url,
        "interval_minutes": cfg.interval_minutes,
        **source_status(cfg, state),
        "loaded_version": request.app[INDEX].versions.get(name),
    }


@routes.get(
    "/v1/sources",
    "Every configured source with its status (stale, held, error...).",
    tag="sources",
    roles=SCREENER,
    cached=True,
    ok={200: ok(obj({"sources": {"type": "array", "items": ref("Source")}}))},
)
async def sources(request: web.Request) -> web.Response:
    names = sorted(request.app[SETTINGS].sources)
    return web.json_response({"sources": [await _source_json(request, n) for n in names]})


@routes.get(
    "/v1/sources/{name}/history",
    "The source's recent sync attempts, newest first.",
    tag="sources",
    roles=SCREENER,
    ok={200: ok(obj({"history": OBJECTS}, ("history",)))},
    errors=(400, 404),
    path_help=SOURCE_NAME,
    params=(HISTORY_LIMIT,),
)
async def history(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    request.app[SETTINGS].source(name)
    limit = HISTORY_LIMIT.read(request)
    return web.json_response({"history": await request.app[STORE].history(name, limit)})


@routes.post(
    "/v1/sources/{name}/sync",
    "Sync the source now.",
    tag="sources",
    roles=ADMIN,
    ok={200: ok(ref("SyncResult"))},
    errors=(404, 409, 502),
    path_help=SOURCE_NAME,
)
async def sync_now(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    request.app[SETTINGS].source(name)
    result = await request.app[SYNCER].sync(name)
    return web.json_response(result.to_dict())


@routes.get(
    "/v1/deltas",
    "Deltas after a sequence number, oldest first.",
    tag="deltas",
    roles=SCREENER,
    ok={
        200: ok(
            obj(
                {"deltas": {"type": "array", "items": ref("Delta")}, "next": {"type": "integer"}},
                ("deltas", "next"),
            )
        )
    },
    errors=(400, 404, 410),
    params=(AFTER, DELTAS_LIMIT, SOURCE, DELTA_CLASS),
)
async def deltas(request: web.Request) -> web.Response:
    after = AFTER.read(request)
    limit = DELTAS_LIMIT.read(request)
    source = SOURCE.read(request)
    if source is not None:
        request.app[SETTINGS].source(source)
    klass = DELTA_CLASS.read(request)
    found, cursor = await request.app[STORE].read_deltas(after, limit, source, klass)
    return web.json_response({"deltas": [d.to_dict() for d in found], "next": cursor})


@routes.get(
    "/v1/deltas/stream",
    "Server-Sent Events: every delta after Last-Event-ID (or ?after), then live.",
    tag="deltas",
    roles=SCREENER,
    ok={200: ok(_TEXT, "An endless event stream.", "text/event-stream")},
    errors=(400, 404, 410),
    params=(
        QText("after", shape=_SEQ),
        SOURCE,
        DELTA_CLASS,
        QText("Last-Event-ID", shape=_SEQ, where="header"),
    ),
)
async def deltas_stream(request: web.Request) -> web.StreamResponse:
    source = request.query.get("source")
    if source:
        request.app[SETTINGS].source(source)
    return await live.stream(request)


@routes.get(
    "/v1/sources/{name}/snapshot",
    "The serving list: a header line, then one entity a line (JSON lines).",
    tag="sources",
    roles=SCREENER,
    ok={200: ok(_TEXT, "JSON lines.", "application/x-ndjson")},
    errors=(404,),
    path_help=SOURCE_NAME,
)
async def snapshot(request: web.Request) -> web.StreamResponse:
    """The current list as JSON lines: a header line, then one entity per line."""
    name = request.match_info["name"]
    request.app[SETTINGS].source(name)
    store = request.app[STORE]
    state = await store.state(name)
    version = state.get("version")
    if not version:
        raise NotFound(f"{name} has no data yet", source=name)
    entities = await store.entity_json_all(name, version)
    header = {
        "source": name,
        "version": version,
        "seq": int(state.get("seq", 0)),
        "entities": len(entities),
        "published": state.get("published") or None,
    }
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    await response.prepare(request)
    await response.write(json.dumps(header).encode() + b"\n")
    for entity_id in sorted(entities):
        await response.write(entities[entity_id].encode() + b"\n")
    await response.write_eof()
    return response


@routes.get(
    "/v1/sources/{name}/held",
    "The held snapshot of the source and why it was held.",
    tag="sources",
    roles=SCREENER,
    ok={200: ok(OBJECT)},
    errors=(404,),
    path_help=SOURCE_NAME,
)
async def held(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    request.app[SETTINGS].source(name)
    found = await request.app[STORE].held(name)
    if not found:
        raise NotFound(f"{name} has no held snapshot", source=name)
    return web.json_response(found)


@routes.post(
    "/v1/sources/{name}/held/approve",
    "Publish the held snapshot.",
    tag="sources",
    roles=ADMIN,
    ok={200: ok(ref("SyncResult"))},
    errors=(404, 409),
    path_help=SOURCE_NAME,
)
async def held_approve(request: web.Request) -> web.Response:
    result = await request.app[SYNCER].approve_held(request.match_info["name"])
    return web.json_response(result.to_dict())


@routes.post(
    "/v1/sources/{name}/held/reject",
    "Discard the held snapshot.",
    tag="sources",
    roles=ADMIN,
    ok={200: ok(obj({"rejected": OBJECT}, ("rejected",)))},
    errors=(404, 409),
    path_help=SOURCE_NAME,
)
async def held_reject(request: web.Request) -> web.Response:
    discarded = await request.app[SYNCER].reject_held(request.match_info["name"])
    return web.json_response({"rejected": discarded})
