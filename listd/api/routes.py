"""HTTP handlers. Each declares the role it needs; state comes from typed app keys."""

from __future__ import annotations

import time
import uuid
from typing import Any

from aiohttp import web

from listd.access import Principal
from listd.api import validate as v
from listd.api.state import INDEX, PRINCIPAL, READY, REDIS, SETTINGS, STORE, SYNCER
from listd.errors import NotFound, Unavailable
from listd.model import Entity
from listd.screening import DEFAULT_THRESHOLD, Query

routes = web.RouteTableDef()

_SCREEN_FIELDS = {"name", "type", "birth_date", "limit", "threshold", "sources"}


def principal(request: web.Request, *roles: str) -> Principal:
    who: Principal = request[PRINCIPAL]
    who.require(*roles)
    return who


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    ready = request.app[READY]
    problems: list[str] = []
    if not ready.get("loaded"):
        problems.append("initial load from the store is still running")
    try:
        await request.app[REDIS].ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        problems.append(f"redis unreachable: {type(exc).__name__}")
    body = {"ready": not problems, "problems": problems, "versions": request.app[INDEX].versions}
    return web.json_response(body, status=200 if not problems else 503)


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    index = request.app[INDEX]
    store = request.app[STORE]
    lines = [
        "# HELP listd_source_entities Entities in the snapshot now serving.",
        "# TYPE listd_source_entities gauge",
    ]
    states = {name: await store.state(name) for name in request.app[SETTINGS].sources}
    for name, state in states.items():
        lines.append(f'listd_source_entities{{source="{name}"}} {int(state.get("entities", 0))}')
    lines += [
        "# HELP listd_source_up 1 if the last sync attempt of the source succeeded.",
        "# TYPE listd_source_up gauge",
    ]
    for name, state in states.items():
        lines.append(f'listd_source_up{{source="{name}"}} {int(state.get("status") == "ok")}')
    lines += [
        "# HELP listd_index_entities Entities loaded in this process's screening index.",
        "# TYPE listd_index_entities gauge",
        f"listd_index_entities {len(index)}",
    ]
    return web.Response(text="\n".join(lines) + "\n", content_type="text/plain", charset="utf-8")


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


@routes.post("/v1/screen")
async def screen(request: web.Request) -> web.Response:
    principal(request, "screener")
    body = await v.json_object(request)
    v.reject_unknown(body, _SCREEN_FIELDS)
    query = Query(
        name=v.string(body, "name", required=True) or "",
        type=v.choice(body, "type", ("person", "entity")),
        birth_date=v.birth_date(body),
        limit=v.integer(body, "limit", 10, 1, 100),
        threshold=v.number(body, "threshold", DEFAULT_THRESHOLD, 0.0, 1.0),
        sources=v.string_list(body, "sources"),
    )
    index = request.app[INDEX]
    settings = request.app[SETTINGS]
    wanted = query.sources or tuple(n for n, s in settings.sources.items() if s.enabled)
    unknown = [s for s in query.sources if s not in settings.sources]
    if unknown:
        raise NotFound(f"unknown source {unknown[0]!r}", field="sources")
    versions = {s: index.versions[s] for s in wanted if s in index.versions}
    if not versions:
        raise Unavailable("no list is loaded yet; run a sync first", sources=list(wanted))
    started = time.perf_counter()
    matches = index.screen(query)
    body_out: dict[str, Any] = {
        "query_id": uuid.uuid4().hex,
        "matches": [_match_json(m) for m in matches],
        "list_versions": versions,
        "took_ms": round((time.perf_counter() - started) * 1000, 3),
    }
    missing = [s for s in wanted if s not in versions]
    if missing:
        body_out["warnings"] = [f"source {s} has no data loaded; not screened" for s in missing]
    return web.json_response(body_out)


@routes.get("/v1/entities/{id}")
async def entity(request: web.Request) -> web.Response:
    principal(request, "screener")
    entity_id = request.match_info["id"]
    found = request.app[INDEX].entities.get(entity_id)
    if found is None:
        found = await request.app[STORE].entity(entity_id)
    if found is None:
        raise NotFound(f"no entity {entity_id!r} in the current lists", id=entity_id)
    return web.json_response(found.to_dict())


async def _source_json(request: web.Request, name: str) -> dict[str, Any]:
    cfg = request.app[SETTINGS].sources[name]
    state = await request.app[STORE].state(name)
    status = state.get("status") or "never"
    if state.get("status_detail") == "syncing":
        status = f"{status}+syncing" if status != "never" else "syncing"
    return {
        "name": name,
        "kind": cfg.kind,
        "enabled": cfg.enabled,
        "url": cfg.url or cfg.page_url,
        "interval_minutes": cfg.interval_minutes,
        "version": state.get("version") or None,
        "entities": int(state.get("entities", 0)),
        "published": state.get("published") or None,
        "last_attempt": state.get("last_attempt") or None,
        "last_success": state.get("last_success") or None,
        "status": status,
        "last_error": state.get("last_error") or None,
        "last_error_at": state.get("last_error_at") or None,
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
