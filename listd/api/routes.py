"""HTTP handlers. Each declares the role it needs; state comes from typed app keys."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

from aiohttp import web

from listd.access import Principal
from listd.api import live
from listd.api import validate as v
from listd.api.middleware import note
from listd.api.state import (
    FRESHNESS,
    INDEX,
    METRICS,
    PRINCIPAL,
    READY,
    REDIS,
    ROLE,
    SETTINGS,
    STORE,
    SYNCER,
)
from listd.basis import BASIS_FIELDS, basis_from
from listd.blocking import events
from listd.delta import CLASSES
from listd.errors import BadRequest, NotFound
from listd.model import Entity
from listd.screening import DEFAULT_THRESHOLD, Query
from listd.status import ScreenWarning, consulted, source_status

routes = web.RouteTableDef()

_SCREEN_FIELDS = {
    "name", "type", "birth_date", "limit", "threshold", "sources", "programs",
    "nationality", "identifiers",
}  # fmt: skip


def principal(request: web.Request, *roles: str) -> Principal:
    who: Principal = request[PRINCIPAL]
    who.require(*roles)
    return who


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


@routes.get("/readyz")
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


@routes.get("/metrics")
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


BATCH_LIMIT = 10_000


def parse_query(body: dict[str, Any]) -> Query:
    """A screening query from a JSON object; 400 names the offending field."""
    v.reject_unknown(body, _SCREEN_FIELDS)
    return Query(
        name=v.name(body),
        type=v.choice(body, "type", ("person", "entity")),
        birth_date=v.birth_date(body),
        limit=v.integer(body, "limit", 10, 1, 100),
        threshold=v.number(body, "threshold", DEFAULT_THRESHOLD, 0.0, 1.0),
        sources=v.string_list(body, "sources"),
        programs=v.string_list(body, "programs"),
        nationality=v.string(body, "nationality", max_len=100),
        identifiers=v.string_list(body, "identifiers"),
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


@routes.post("/v1/screen")
async def screen(request: web.Request) -> web.Response:
    principal(request, "screener")
    body = await v.json_object(request)
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


@routes.post("/v1/screen/batch")
async def screen_batch(request: web.Request) -> web.Response:
    """Up to 10,000 queries in one request: {"queries": [{...}, ...]}."""
    principal(request, "screener")
    body = await v.json_object(request, max_bytes=32 * 1024 * 1024)
    raw = body.get("queries")
    note(request, query=raw)
    v.reject_unknown(body, {"queries", *BASIS_FIELDS})
    note(request, basis_from(body))  # one legal ground for the whole batch
    if not isinstance(raw, list) or not raw:
        raise BadRequest("queries must be a non-empty list", field="queries")
    if len(raw) > BATCH_LIMIT:
        raise BadRequest(f"at most {BATCH_LIMIT} queries per batch", field="queries")
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


@routes.get("/v1/programs")
async def programs(request: web.Request) -> web.Response:
    """Programme tags of the loaded lists, with how many entities carry each, the legal
    basis alerts cite and the Kazakh FM-1 codes (null where no FM-1 rule applies)."""
    principal(request, "screener")
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


@routes.get("/v1/entities/{id}")
async def entity(request: web.Request) -> web.Response:
    principal(request, "screener")
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


@routes.get("/v1/sources")
async def sources(request: web.Request) -> web.Response:
    principal(request, "screener")
    names = sorted(request.app[SETTINGS].sources)
    return web.json_response({"sources": [await _source_json(request, n) for n in names]})


@routes.get("/v1/sources/{name}/history")
async def history(request: web.Request) -> web.Response:
    principal(request, "screener")
    name = request.match_info["name"]
    request.app[SETTINGS].source(name)
    limit = v.query_int(request, "limit", 50, 1, 500)
    return web.json_response({"history": await request.app[STORE].history(name, limit)})


@routes.post("/v1/sources/{name}/sync")
async def sync_now(request: web.Request) -> web.Response:
    principal(request, "admin")
    name = request.match_info["name"]
    request.app[SETTINGS].source(name)
    result = await request.app[SYNCER].sync(name)
    return web.json_response(result.to_dict())


@routes.get("/v1/deltas")
async def deltas(request: web.Request) -> web.Response:
    principal(request, "screener")
    after = v.query_int(request, "after", 0, 0, 2**62)
    limit = v.query_int(request, "limit", 100, 1, 1000)
    source = request.query.get("source") or None
    if source is not None:
        request.app[SETTINGS].source(source)
    klass = v.query_choice(request, "class", CLASSES)
    found, cursor = await request.app[STORE].read_deltas(after, limit, source, klass)
    return web.json_response({"deltas": found, "next": cursor})


@routes.get("/v1/deltas/stream")
async def deltas_stream(request: web.Request) -> web.StreamResponse:
    principal(request, "screener")
    source = request.query.get("source")
    if source:
        request.app[SETTINGS].source(source)
    return await live.stream(request)


@routes.get("/v1/sources/{name}/snapshot")
async def snapshot(request: web.Request) -> web.StreamResponse:
    """The current list as JSON lines: a header line, then one entity per line."""
    principal(request, "screener")
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


@routes.get("/v1/sources/{name}/held")
async def held(request: web.Request) -> web.Response:
    principal(request, "screener")
    name = request.match_info["name"]
    request.app[SETTINGS].source(name)
    found = await request.app[STORE].held(name)
    if not found:
        raise NotFound(f"{name} has no held snapshot", source=name)
    return web.json_response(found)


@routes.post("/v1/sources/{name}/held/approve")
async def held_approve(request: web.Request) -> web.Response:
    principal(request, "admin")
    result = await request.app[SYNCER].approve_held(request.match_info["name"])
    return web.json_response(result.to_dict())


@routes.post("/v1/sources/{name}/held/reject")
async def held_reject(request: web.Request) -> web.Response:
    principal(request, "admin")
    discarded = await request.app[SYNCER].reject_held(request.match_info["name"])
    return web.json_response({"rejected": discarded})
