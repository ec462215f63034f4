"""The OpenAPI 3.1 description of the HTTP API, served at `GET /openapi.json`.

One place: `spec()` builds it from the same constants the validators use (roles, bases,
limits, event names), and tests/api/test_openapi.py checks that every route the app
registers is described here and nothing else is, so the two cannot drift apart.
Request schemas state what `listd.api.validate` enforces; each operation names the roles
it admits in `x-listd-roles` (a missing list means no credential is needed).
"""

from __future__ import annotations

import functools
from typing import Any

from aiohttp import web

from listd import __version__
from listd.access import APPLICABLE_ROLES, ROLES
from listd.api.console_api import SCAN_LIMIT
from listd.api.routes import BATCH_LIMIT
from listd.audit import BASES
from listd.blocking.subscriptions import AMENDMENTS, DEFAULT_EVENTS, EVENTS
from listd.delta import CLASSES

__all__ = ["routes", "spec"]

routes = web.RouteTableDef()

Schema = dict[str, Any]

_CASE_REF = r"^[\w\-./:#()][\w\-./:#() ]{0,199}$"
_NAME = r"^[\w][\w .@()'&,/+-]{0,99}$"  # listd.access.check_name


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def _text(max_len: int, *, required: bool = False) -> Schema:
    """A string field as `validate.string` checks it (stripped; empty is absent)."""
    schema: Schema = {"type": "string", "maxLength": max_len}
    if required:
        schema |= {"minLength": 1, "pattern": r"\S"}
        return schema
    return _nullable(schema)


def _strings() -> Schema:
    return _nullable({"type": "array", "items": {"type": "string", "maxLength": 500}})


def _int(lo: int, hi: int, default: int) -> Schema:
    return {"type": "integer", "minimum": lo, "maximum": hi, "default": default}


def _obj(
    props: dict[str, Schema], required: tuple[str, ...] = (), *, closed: bool = True
) -> Schema:
    schema: Schema = {"type": "object", "properties": props}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


def _basis_rule() -> Schema:
    """case_ref is required for an authority's request or "other"."""
    return {
        "if": {"properties": {"basis": {"enum": ["authority_request", "other"]}}},
        "then": {"required": ["case_ref"], "properties": {"case_ref": {"type": "string"}}},
    }


# --- components -----------------------------------------------------------------------------
def _schemas() -> dict[str, Schema]:
    query_props: dict[str, Schema] = {
        "name": _text(500, required=True) | {"description": "Name in any script."},
        "type": {"enum": ["person", "entity", None]},
        "birth_date": {
            "anyOf": [
                {"type": "string", "pattern": r"^[0-9]{4}(-(0[1-9]|1[0-2]))?$"},
                {"type": "string", "format": "date"},
                {"type": "null"},
            ],
            "description": "YYYY, YYYY-MM or a valid YYYY-MM-DD (DD.MM.YYYY is also read);"
            " not in the future.",
        },
        "limit": _nullable(_int(1, 100, 10)),
        "threshold": _nullable({"type": "number", "minimum": 0, "maximum": 1}),
        "sources": _strings() | {"description": "Configured source names (unknown: 404)."},
        "programs": _strings(),
        "nationality": _text(100),
        "identifiers": _strings(),
    }
    basis_props: dict[str, Schema] = {
        "basis": {"enum": list(BASES), "description": "The legal ground of the request."},
        "case_ref": _nullable({"type": "string", "pattern": _CASE_REF}),
    }
    entity: Schema = _obj(
        {
            "id": {"type": "string"},
            "source": {"type": "string"},
            "schema": {"type": "string"},
            "reference": {"type": "string"},
            "names": {"type": "array", "items": {"type": "object"}},
            "programs": {"type": "array", "items": {"type": "string"}},
        },
        ("id", "source", "schema", "names"),
        closed=False,
    )
    match: Schema = _obj(
        {
            "id": {"type": "string"},
            "score": {"type": "number"},
            "source": {"type": "string"},
            "program": {"type": ["string", "null"]},
            "programs": {"type": "array", "items": {"type": "string"}},
            "reference": {"type": ["string", "null"]},
            "schema": {"type": "string"},
            "name": {"type": ["string", "null"]},
            "matched_name": {"type": ["string", "null"]},
            "explanation": {},
        },
        ("id", "score", "source", "schema"),
        closed=False,
    )
    versions: Schema = {"type": "object", "additionalProperties": {"type": "string"}}
    warnings: Schema = {
        "type": "array",
        "items": {"type": "string"},
        "description": "Lists not consulted, or stale: the answer may be incomplete.",
    }
    warning_details: Schema = {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"enum": ["source_not_loaded", "source_stale", "store_down"]},
                "message": {"type": "string", "description": "The same text as in warnings."},
                "source": {"type": "string"},
                "hours": {"type": "number", "description": "source_stale: hours since success"},
            },
        },
        "description": "Each warning with a stable code and its parameters (for translation).",
    }
    source: Schema = _obj(
        {
            "name": {"type": "string"},
            "kind": {"type": "string"},
            "enabled": {
                "type": "boolean",
                "description": "Polled by the scheduler. A source that is not may still serve "
                "data imported from a file (see origin).",
            },
            "url": {"type": ["string", "null"]},
            "interval_minutes": {"type": "number"},
            "version": {"type": ["string", "null"]},
            "entities": {"type": "integer"},
            "published": {"type": ["string", "null"]},
            "last_attempt": {"type": ["string", "null"]},
            "last_success": {"type": ["string", "null"]},
            "status": {
                "type": "string",
                "description": "never, ok, stale, held, error; '+syncing' while a sync runs.",
            },
            "origin": {
                "type": ["string", "null"],
                "enum": ["fetched", "imported", None],
                "description": "Where the serving data came from at its last successful sync: "
                "fetched from the source's URL, or imported from a file (listd sync --file); "
                "null when no data is stored or it predates this field.",
            },
            "imported_from": {
                "type": ["string", "null"],
                "description": "The imported file's name, when origin is imported.",
            },
            "last_error": {"type": ["string", "null"]},
            "last_error_at": {"type": ["string", "null"]},
            "loaded_version": {"type": ["string", "null"]},
            "seq": {"type": "integer"},
            "stale": {"type": "boolean"},
            "age_minutes": {"type": ["number", "null"]},
            "held_reason": {"type": ["string", "null"]},
        },
        ("name", "status", "stale", "entities"),
        closed=False,
    )
    sync_result: Schema = _obj(
        {
            "source": {"type": "string"},
            "outcome": {"enum": ["updated", "unchanged", "not_modified", "held", "failed"]},
            "version": {"type": ["string", "null"]},
            "entities": {"type": "integer"},
            "duration": {"type": "number"},
            "error": {"type": ["string", "null"]},
            "deltas": {"type": "object", "additionalProperties": {"type": "integer"}},
            "phases": {"type": "object", "additionalProperties": {"type": "number"}},
        },
        ("source", "outcome"),
        closed=False,
    )
    subscription: Schema = _obj(
        {
            "id": {"type": "string"},
            "url": {"type": "string"},
            "events": {"type": "array", "items": {"enum": list(EVENTS)}},
            "sources": {"type": "array", "items": {"type": "string"}},
            "programs": {"type": "array", "items": {"type": "string"}},
            "threshold": {"type": "number"},
            "amendments": {"enum": list(AMENDMENTS)},
            "status": {"enum": ["pending", "active", "disabled"]},
            "status_reason": {"type": ["string", "null"]},
            "description": {"type": ["string", "null"]},
            "secrets": {"type": "array", "items": {"type": "object"}},
        },
        ("id", "url", "events", "status"),
        closed=False,
    )
    sub_props: dict[str, Schema] = {
        "url": {"type": "string", "format": "uri", "maxLength": 2000, "pattern": r"^https?://"},
        "events": _nullable({"type": "array", "minItems": 1, "items": {"enum": list(EVENTS)}})
        | {"default": list(DEFAULT_EVENTS)},
        "sources": _strings(),
        "programs": _strings(),
        "threshold": _nullable({"type": "number", "minimum": 0.5, "maximum": 1}),
        "amendments": _nullable({"enum": list(AMENDMENTS)})
        | {
            "default": "identity",
            "description": "Amended designations that raise events: identity changes only "
            "(names, birth dates, documents...), or all (comments and links too).",
        },
        "description": _text(500),
    }
    watchlist_report: Schema = _obj(
        {
            "mode": {"type": "string"},
            "received": {"type": "integer"},
            "added": {"type": "integer"},
            "updated": {"type": "integer"},
            "unchanged": {"type": "integer"},
            "removed": {"type": "integer"},
            "invalid": {"type": "integer"},
            "total": {"type": "integer"},
            "format": {"enum": ["csv", "jsonl"]},
        },
        ("mode", "received", "total"),
        closed=False,
    )
    any_object: Schema = {"type": "object"}
    return {
        "Error": _obj(
            {
                "error": {"type": "string", "description": "Machine-readable code."},
                "message": {"type": "string"},
                "field": {"type": "string", "description": "The request field at fault."},
                "retry_after": {"type": "integer", "description": "Also sent as Retry-After."},
            },
            ("error", "message"),
            closed=False,
        ),
        "ScreenQuery": _obj(query_props, ("name",)),
        "ScreenRequest": _obj(query_props | basis_props, ("name", "basis")) | _basis_rule(),
        "BatchRequest": _obj(
            {
                "queries": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": BATCH_LIMIT,
                    "items": _ref("ScreenQuery"),
                },
                **basis_props,
            },
            ("queries", "basis"),
        )
        | _basis_rule(),
        "Match": match,
        "ScreenResult": _obj(
            {
                "query_id": {"type": "string"},
                "matches": {"type": "array", "items": _ref("Match")},
                "list_versions": versions,
                "took_ms": {"type": "number"},
                "warnings": warnings,
                "warning_details": warning_details,
            },
            ("query_id", "matches", "list_versions"),
        ),
        "BatchResult": _obj(
            {
                "batch_id": {"type": "string"},
                "results": {
                    "type": "array",
                    "items": _obj(
                        {
                            "index": {"type": "integer"},
                            "query_id": {"type": "string"},
                            "matches": {"type": "array", "items": _ref("Match")},
                        },
                        ("index", "query_id", "matches"),
                    ),
                },
                "list_versions": versions,
                "took_ms": {"type": "number"},
                "warnings": warnings,
                "warning_details": warning_details,
            },
            ("batch_id", "results", "list_versions"),
        ),
        "Entity": entity,
        "Source": source,
        "SyncResult": sync_result,
        "Delta": _obj(
            {
                "seq": {"type": "integer"},
                "source": {"type": "string"},
                "op": {"enum": ["added", "amended", "removed"]},
                "class": {
                    "enum": list(CLASSES),
                    "description": "identity: names, birth dates or places, documents, "
                    "nationality, gender, type or programmes changed, or the entity was "
                    "added or removed (re-screen); details: only comments, links, dates, "
                    "addresses, titles or positions changed. Rule: listd/delta.py "
                    "FIELD_CLASSES.",
                },
                "changes": {"type": "object", "description": "Changed fields (amendments)."},
                "entity_id": {"type": "string"},
                "at": {"type": "string"},
                "version": {"type": "string"},
                "previous_version": {"type": ["string", "null"]},
            },
            ("seq", "source", "op", "entity_id"),
            closed=False,
        ),
        "Subscription": subscription,
        "SubscriptionCreate": _obj(sub_props, ("url",)),
        "SubscriptionUpdate": _obj(sub_props | {"status": {"enum": ["disabled"]}}),
        "WatchlistReport": watchlist_report,
        "Object": any_object,
    }


# --- operations -----------------------------------------------------------------------------
_DESCRIPTIONS = {
    400: "The request is malformed; `field` names the offending field.",
    401: "No credential, or an unknown, expired or revoked one.",
    403: "The role may not do this, the key or user is blocked, the terms of use are not "
    "accepted (`agreement_required`), or the object belongs to another organisation.",
    404: "Not found (or belongs to another organisation).",
    405: "Method not allowed.",
    409: "Conflict with the current state.",
    410: "No longer retained.",
    413: "The body is over the route's size limit.",
    429: "Rate limit reached; retry after `Retry-After` seconds.",
    502: "An upstream (a list's publisher or a webhook receiver) failed.",
    503: "Maintenance (with Retry-After), no list loaded yet, or the journal is unwritable.",
}


def _error(status: int) -> Schema:
    content = {"application/json": {"schema": _ref("Error")}}
    return {"description": _DESCRIPTIONS[status], "content": content}


def _ok(schema: Schema, description: str = "OK", media: str = "application/json") -> Schema:
    return {"description": description, "content": {media: {"schema": schema}}}


def _query(name: str, schema: Schema, description: str = "", required: bool = False) -> Schema:
    param: Schema = {"name": name, "in": "query", "required": required, "schema": schema}
    if description:
        param["description"] = description
    return param


def _path(name: str, description: str = "") -> Schema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string", "minLength": 1},
        "description": description or name,
    }


def _json_body(schema: Schema, *, required: bool = True, example: Any = None) -> Schema:
    media: Schema = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {"required": required, "content": {"application/json": media}}


def _op(
    summary: str,
    tag: str,
    roles: tuple[str, ...] | None,
    ok: dict[int, Schema],
    *,
    errors: tuple[int, ...] = (),
    params: list[Schema] | None = None,
    body: Schema | None = None,
) -> Schema:
    """One operation; `roles` None means no credential is needed."""
    responses: dict[str, Schema] = {str(code): answer for code, answer in ok.items()}
    statuses = set(errors)
    if roles is not None:
        # 400: more than one credential (two Authorization headers, or a key and another
        # user's client certificate).
        statuses |= {400, 401, 403, 429, 503}
    if body is not None:
        statuses |= {400, 413}
    for code in sorted(statuses):
        responses[str(code)] = _error(code)
    operation: Schema = {"summary": summary, "tags": [tag], "responses": responses}
    if roles is None:
        operation["security"] = []
    else:
        operation["x-listd-roles"] = list(roles)
    if params:
        operation["parameters"] = params
    if body is not None:
        operation["requestBody"] = body
    return operation


_BASIS_QUERY = [
    _query("basis", {"enum": list(BASES)}, "The legal ground of the read.", required=True),
    _query("case_ref", {"type": "string", "pattern": _CASE_REF}, "Required for "
           "authority_request and other."),
]  # fmt: skip
_SOURCE = _path("name", "A configured source name.")
_OBJ = _ref("Object")


def _paths() -> dict[str, dict[str, Schema]]:
    scr = ("screener",)
    adm = ("admin",)
    opr = ("operator",)
    sub = ("subscriber",)
    everyone = ROLES
    objects = {"type": "array", "items": _OBJ}
    probe = _obj({"status": {"const": "alive"}}, ("status",))
    ready = _obj(
        {
            "ready": {"type": "boolean"},
            "problems": {"type": "array", "items": {"type": "string"}},
            "versions": {"type": "object", "additionalProperties": {"type": "string"}},
        },
        ("ready", "problems", "versions"),
    )
    sub_id = _path("id", "Subscription id.")
    reason_body = _json_body(_obj({"reason": _text(2000)}), required=False)
    overlap = _json_body(
        _obj({"overlap_hours": _nullable({"type": "number", "minimum": 0, "maximum": 720})}),
        required=False,
    )
    watchlist_body = {
        "required": True,
        "description": "JSON lines (one customer object a line) or CSV with a header line; "
        "fields: reference, name, type, birth_date, iin, passport, identifiers, nationality "
        '(PATCH: {"reference": ..., "delete": true} removes one).',
        "content": {
            "application/x-ndjson": {
                "schema": {"type": "string"},
                "example": '{"reference": "c-1", "name": "Aamir Ali Chaudhry", "type": "person"}\n',
            },
            "text/csv": {
                "schema": {"type": "string"},
                "example": "reference,name,birth_date\nc-2,Хабибуллаев Алишер,1980-02-01\n",
            },
        },
    }
    time_param = {"type": "string", "format": "date-time"}
    return {
        # --- probes and documents (no credential) ---
        "/healthz": {"get": _op("The process is alive.", "operations", None, {200: _ok(probe)})},
        "/readyz": {
            "get": _op(
                "Ready to answer a screening: initial load done, at least one list loaded, "
                "Redis reachable.",
                "operations",
                None,
                {200: _ok(ready), 503: _ok(ready, "Not ready; `problems` says why.")},
            )
        },
        "/metrics": {
            "get": _op(
                "Prometheus metrics.",
                "operations",
                None,
                {200: _ok({"type": "string"}, "Text exposition format.", "text/plain")},
            )
        },
        "/openapi.json": {"get": _op("This description.", "operations", None, {200: _ok(_OBJ)})},
        # --- screening ---
        "/v1/screen": {
            "post": _op(
                "Screen one name against the loaded lists.",
                "screening",
                scr,
                {200: _ok(_ref("ScreenResult"))},
                errors=(404,),
                body=_json_body(
                    _ref("ScreenRequest"),
                    example={"name": "Aamir Ali Chaudhry", "basis": "onboarding"},
                ),
            )
        },
        "/v1/screen/batch": {
            "post": _op(
                f"Screen up to {BATCH_LIMIT:,} queries with one legal basis.",
                "screening",
                scr,
                {200: _ok(_ref("BatchResult"))},
                errors=(404,),
                body=_json_body(
                    _ref("BatchRequest"),
                    example={
                        "queries": [
                            {"name": "Aamir Ali Chaudhry"},
                            {"name": "7th of Tir", "type": "entity"},
                        ],
                        "basis": "periodic_review",
                    },
                ),
            )
        },
        "/v1/programs": {
            "get": _op(
                "Programme tags of the loaded lists with entity counts, the legal basis "
                "alerts cite and the Kazakh FM-1 codes (`fm1`, null where no FM-1 rule "
                "applies; docs/webhooks.md).",
                "screening",
                scr,
                {200: _ok(_obj({"programs": objects}, ("programs",)))},
            )
        },
        "/v1/entities/{id}": {
            "get": _op(
                "One designation, by id.",
                "screening",
                scr,
                {200: _ok(_ref("Entity"))},
                errors=(400, 404),
                params=[_path("id", "Entity id, e.g. un:QDi.312."), *_BASIS_QUERY],
            )
        },
        # --- sources ---
        "/v1/sources": {
            "get": _op(
                "Every configured source with its status (stale, held, error...).",
                "sources",
                scr,
                {200: _ok(_obj({"sources": {"type": "array", "items": _ref("Source")}}))},
            )
        },
        "/v1/sources/{name}/history": {
            "get": _op(
                "The source's recent sync attempts, newest first.",
                "sources",
                scr,
                {200: _ok(_obj({"history": objects}, ("history",)))},
                errors=(400, 404),
                params=[_SOURCE, _query("limit", _int(1, 500, 50))],
            )
        },
        "/v1/sources/{name}/sync": {
            "post": _op(
                "Sync the source now.",
                "sources",
                adm,
                {200: _ok(_ref("SyncResult"))},
                errors=(404, 409, 502),
                params=[_SOURCE],
            )
        },
        "/v1/sources/{name}/snapshot": {
            "get": _op(
                "The serving list: a header line, then one entity a line (JSON lines).",
                "sources",
                scr,
                {200: _ok({"type": "string"}, "JSON lines.", "application/x-ndjson")},
                errors=(404,),
                params=[_SOURCE],
            )
        },
        "/v1/sources/{name}/held": {
            "get": _op(
                "The held snapshot of the source and why it was held.",
                "sources",
                scr,
                {200: _ok(_OBJ)},
                errors=(404,),
                params=[_SOURCE],
            )
        },
        "/v1/sources/{name}/held/approve": {
            "post": _op(
                "Publish the held snapshot.",
                "sources",
                adm,
                {200: _ok(_ref("SyncResult"))},
                errors=(404, 409),
                params=[_SOURCE],
            )
        },
        "/v1/sources/{name}/held/reject": {
            "post": _op(
                "Discard the held snapshot.",
                "sources",
                adm,
                {200: _ok(_obj({"rejected": _OBJ}, ("rejected",)))},
                errors=(404, 409),
                params=[_SOURCE],
            )
        },
        # --- deltas ---
        "/v1/deltas": {
            "get": _op(
                "Deltas after a sequence number, oldest first.",
                "deltas",
                scr,
                {
                    200: _ok(
                        _obj(
                            {
                                "deltas": {"type": "array", "items": _ref("Delta")},
                                "next": {"type": "integer"},
                            },
                            ("deltas", "next"),
                        )
                    )
                },
                errors=(400, 404, 410),
                params=[
                    _query("after", _int(0, 2**62, 0)),
                    _query("limit", _int(1, 1000, 100)),
                    _query("source", {"type": "string"}),
                    _query(
                        "class", {"enum": list(CLASSES)}, "Only identity changes, or only details."
                    ),
                ],
            )
        },
        "/v1/deltas/stream": {
            "get": _op(
                "Server-Sent Events: every delta after Last-Event-ID (or ?after), then live.",
                "deltas",
                scr,
                {200: _ok({"type": "string"}, "An endless event stream.", "text/event-stream")},
                errors=(400, 404, 410),
                params=[
                    _query("after", {"type": "string", "pattern": r"^[0-9]+$"}),
                    _query("source", {"type": "string"}),
                    _query(
                        "class", {"enum": list(CLASSES)}, "Only identity changes, or only details."
                    ),
                    {
                        "name": "Last-Event-ID",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "pattern": r"^[0-9]+$"},
                    },
                ],
            )
        },
        "/v1/deltas/recent": {
            "get": _op(
                "The delta feed newest first, summarised, with filters (the console's feed). "
                f"One request scans at most {SCAN_LIMIT:,} deltas (`complete` says whether "
                "it reached the oldest retained one).",
                "deltas",
                scr,
                {
                    200: _ok(
                        _obj(
                            {
                                "deltas": objects,
                                "next": {"type": ["integer", "null"]},
                                "complete": {"type": "boolean"},
                                "last_seq": {"type": "integer"},
                            },
                            ("deltas", "next", "complete", "last_seq"),
                        )
                    )
                },
                errors=(400, 404),
                params=[
                    _query("before", _int(0, 2**62, 0), "Only deltas before this sequence."),
                    _query("limit", _int(1, 500, 50)),
                    _query("source", {"type": "string"}),
                    _query("program", {"type": "string"}),
                    _query("op", {"enum": ["added", "amended", "removed"]}),
                    _query(
                        "class", {"enum": list(CLASSES)}, "Only identity changes, or only details."
                    ),
                ],
            )
        },
        "/v1/entities/{id}/history": {
            "get": _op(
                "Every retained delta about one entity, newest first, with its changes.",
                "screening",
                scr,
                {
                    200: _ok(
                        _obj(
                            {
                                "entity_id": {"type": "string"},
                                "listed": {"type": "boolean"},
                                "history": objects,
                                "complete": {"type": "boolean"},
                            },
                            ("entity_id", "listed", "history", "complete"),
                        )
                    )
                },
                errors=(400,),
                params=[
                    _path("id", "Entity id, e.g. un:QDi.312."),
                    *_BASIS_QUERY,
                    _query("limit", _int(1, 1000, 100)),
                ],
            )
        },
        "/v1/whoami": {
            "get": _op(
                "The caller: name, organisation, role and every role it may act as.",
                "access",
                everyone,
                {
                    200: _ok(
                        _obj(
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
        },
        "/v1/alerts": {
            "get": _op(
                "The organisation's blocking alerts over all its subscriptions, newest first, "
                "with their delivery status.",
                "notifications",
                sub,
                {200: _ok(_obj({"alerts": objects}, ("alerts",)))},
                errors=(400,),
                params=[
                    _query("limit", _int(1, 1000, 100)),
                    _query("type", {"enum": ["blocking.required", "blocking.lifted"]}),
                ],
            )
        },
        # --- access ---
        "/v1/agreement": {
            "get": _op(
                "The terms of use and whether this credential accepted them.",
                "access",
                everyone,
                {
                    200: _ok(
                        _obj(
                            {
                                "version": {"type": "string"},
                                "text": {"type": "string"},
                                "accepted": {"type": ["string", "null"]},
                            },
                            ("version", "text", "accepted"),
                        )
                    )
                },
            ),
            "post": _op(
                "Accept the terms of use.",
                "access",
                everyone,
                {200: _ok(_obj({"accepted": {"type": "string"}, "at": {}}, ("accepted",)))},
                body=_json_body(
                    _obj({"accept": {"const": True}, "version": {"type": "string"}}, ("accept",)),
                    example={"accept": True},
                ),
            ),
        },
        "/v1/registrations": {
            "post": _op(
                "An organisation applies for access (no credential; 10 an hour per address).",
                "access",
                None,
                {201: _ok(_OBJ, "The application, pending.")},
                errors=(400, 409, 413, 429, 503),
                body=_json_body(
                    _obj(
                        {
                            "organisation": _text(300, required=True),
                            "bin": {
                                "type": "string",
                                "pattern": r"^[0-9]{12}$",
                                "description": "Kazakh business identification number "
                                "(checksum verified).",
                            },
                            "contact": _obj(
                                {
                                    "name": _text(200, required=True),
                                    "email": {
                                        "type": "string",
                                        "maxLength": 200,
                                        "pattern": r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
                                    },
                                    "phone": _text(50),
                                },
                                ("name", "email"),
                            ),
                            "roles": {
                                "type": "array",
                                "minItems": 1,
                                "items": {"enum": list(APPLICABLE_ROLES)},
                            },
                            "legal_ground": _text(2000, required=True),
                        },
                        ("organisation", "bin", "contact", "roles", "legal_ground"),
                    ),
                    example={
                        "organisation": "Bank B JSC",
                        "bin": "040540000014",
                        "contact": {"name": "Aigul Saparova", "email": "compliance@bank-b.kz"},
                        "roles": ["screener", "auditor"],
                        "legal_ground": "second-tier bank; reporting entity",
                    },
                ),
            ),
            "get": _op(
                "Applications for access.",
                "access",
                opr,
                {200: _ok(_obj({"registrations": objects}, ("registrations",)))},
                errors=(400,),
                params=[
                    _query("status", {"enum": ["pending", "approved", "rejected"]}),
                    _query("overdue", {"type": "string"}, "1: only those past the SLA."),
                ],
            ),
        },
        "/v1/registrations/{id}": {
            "get": _op(
                "One application.",
                "access",
                opr,
                {200: _ok(_OBJ)},
                errors=(404,),
                params=[_path("id")],
            )
        },
        "/v1/registrations/{id}/approve": {
            "post": _op(
                "Approve: users and keys are created, the keys shown once.",
                "access",
                opr,
                {200: _ok(_obj({"registration": _OBJ, "credentials": {}}))},
                errors=(404, 409),
                params=[_path("id")],
            )
        },
        "/v1/registrations/{id}/reject": {
            "post": _op(
                "Reject with a reason.",
                "access",
                opr,
                {200: _ok(_OBJ)},
                errors=(404, 409),
                params=[_path("id")],
                body=_json_body(_obj({"reason": _text(2000, required=True)}, ("reason",))),
            )
        },
        "/v1/users": {
            "get": _op(
                "Users, optionally of one organisation.",
                "access",
                opr,
                {200: _ok(_obj({"users": objects}, ("users",)))},
                params=[_query("org", {"type": "string"})],
            ),
            "post": _op(
                "Create a user.",
                "access",
                opr,
                {201: _ok(_OBJ)},
                errors=(409,),
                body=_json_body(
                    _obj(
                        {
                            "name": {"type": "string", "pattern": _NAME},
                            "org": {"type": "string", "pattern": _NAME},
                            "role": {"enum": list(ROLES)},
                            "cert_subject": _text(500),
                        },
                        ("name", "org", "role"),
                    ),
                    example={"name": "bank-b screening", "org": "bank-b", "role": "screener"},
                ),
            ),
        },
        "/v1/users/{id}": {
            "get": _op(
                "One user and their keys.",
                "access",
                opr,
                {200: _ok(_OBJ)},
                errors=(404,),
                params=[_path("id")],
            )
        },
        "/v1/users/{id}/block": {
            "post": _op(
                "Block a user: every key of theirs is refused from the next request.",
                "access",
                opr,
                {200: _ok(_OBJ)},
                errors=(404,),
                params=[_path("id")],
                body=reason_body,
            )
        },
        "/v1/users/{id}/unblock": {
            "post": _op(
                "Unblock a user.",
                "access",
                opr,
                {200: _ok(_OBJ)},
                errors=(404,),
                params=[_path("id")],
                body=reason_body,
            )
        },
        "/v1/keys": {
            "get": _op(
                "Keys (never their secrets), by user or organisation.",
                "access",
                opr,
                {200: _ok(_obj({"keys": objects}, ("keys",)))},
                params=[_query("user", {"type": "string"}), _query("org", {"type": "string"})],
            ),
            "post": _op(
                "Issue a key to a user; the secret is shown once.",
                "access",
                opr,
                {201: _ok(_OBJ)},
                errors=(404, 409),
                body=_json_body(
                    _obj(
                        {
                            "user": _text(100, required=True),
                            "expires_days": _nullable(
                                {"type": "number", "minimum": 0.001, "maximum": 3650}
                            ),
                            "rate_limit": _nullable(_int(0, 1_000_000, 0)),
                        },
                        ("user",),
                    )
                ),
            ),
        },
        "/v1/keys/{key_id}/rotate": {
            "post": _op(
                "A successor key; the old one keeps working overlap_hours (default 24).",
                "access",
                everyone,
                {201: _ok(_OBJ)},
                errors=(404, 409),
                params=[_path("key_id")],
                body=overlap,
            )
        },
        "/v1/keys/{key_id}/block": {
            "post": _op(
                "Block a key.",
                "access",
                opr,
                {200: _ok(_OBJ)},
                errors=(404,),
                params=[_path("key_id")],
                body=reason_body,
            )
        },
        "/v1/keys/{key_id}/unblock": {
            "post": _op(
                "Unblock a key.",
                "access",
                opr,
                {200: _ok(_OBJ)},
                errors=(404,),
                params=[_path("key_id")],
                body=reason_body,
            )
        },
        "/v1/maintenance": {
            "get": _op(
                "Announced maintenance windows not yet over.",
                "access",
                everyone,
                {200: _ok(_obj({"windows": objects}, ("windows",)))},
            ),
            "post": _op(
                "Announce a maintenance window (only operators and admins are served in it).",
                "access",
                opr,
                {201: _ok(_OBJ)},
                body=_json_body(
                    _obj(
                        {
                            "start": _nullable(time_param),
                            "end": time_param,
                            "reason": _text(500, required=True),
                        },
                        ("end", "reason"),
                    ),
                    example={
                        "start": "2030-01-01T02:00:00Z",
                        "end": "2030-01-01T03:00:00Z",
                        "reason": "Redis upgrade",
                    },
                ),
            ),
        },
        "/v1/maintenance/{id}": {
            "delete": _op(
                "Cancel a maintenance window.",
                "access",
                opr,
                {200: _ok(_obj({"cancelled": {"type": "string"}}, ("cancelled",)))},
                errors=(404,),
                params=[_path("id")],
            )
        },
        "/v1/audit": {
            "get": _op(
                "Journal entries by or about the auditor's organisation (`to` exclusive).",
                "access",
                ("auditor",),
                {
                    200: _ok(
                        _obj(
                            {"entries": objects, "next": {"type": ["integer", "null"]}},
                            ("entries", "next"),
                        )
                    )
                },
                errors=(400, 410),
                params=[
                    _query("from", time_param),
                    _query("to", time_param),
                    _query("after", _int(0, 2**62, 0)),
                    _query("limit", _int(1, 1000, 100)),
                    _query("org", {"type": "string"}, "Must be the caller's organisation."),
                ],
            )
        },
        # --- asset-blocking notifications ---
        "/v1/subscriptions": {
            "post": _op(
                "Create a webhook subscription; the signing secret is shown once.",
                "notifications",
                sub,
                {201: _ok(_ref("Subscription"))},
                body=_json_body(
                    _ref("SubscriptionCreate"),
                    example={"url": "https://hooks.bank-a.kz/listd", "threshold": 0.9},
                ),
            ),
            "get": _op(
                "The organisation's subscriptions.",
                "notifications",
                sub,
                {
                    200: _ok(
                        _obj(
                            {"subscriptions": {"type": "array", "items": _ref("Subscription")}},
                            ("subscriptions",),
                        )
                    )
                },
            ),
        },
        "/v1/subscriptions/{id}": {
            "get": _op(
                "One subscription with its watchlist summary.",
                "notifications",
                sub,
                {200: _ok(_ref("Subscription"))},
                errors=(404,),
                params=[sub_id],
            ),
            "patch": _op(
                "Change a subscription (a new URL must be pinged again).",
                "notifications",
                sub,
                {200: _ok(_ref("Subscription"))},
                errors=(404,),
                params=[sub_id],
                body=_json_body(_ref("SubscriptionUpdate")),
            ),
            "delete": _op(
                "Delete a subscription.",
                "notifications",
                sub,
                {204: {"description": "Deleted."}},
                errors=(404,),
                params=[sub_id],
            ),
        },
        "/v1/subscriptions/{id}/ping": {
            "post": _op(
                "A signed test delivery; on a 2xx answer the subscription becomes active.",
                "notifications",
                sub,
                {200: _ok(_OBJ)},
                errors=(400, 404, 502),
                params=[sub_id],
            )
        },
        "/v1/subscriptions/{id}/secret/rotate": {
            "post": _op(
                "A new signing secret, shown once; the previous one signs for overlap_hours.",
                "notifications",
                sub,
                {200: _ok(_ref("Subscription"))},
                errors=(404,),
                params=[sub_id],
                body=_json_body(
                    _obj(
                        {
                            "overlap_hours": _nullable(
                                {"type": "number", "minimum": 0, "maximum": 720}
                            )
                        }
                    ),
                    required=False,
                ),
            )
        },
        "/v1/subscriptions/{id}/watchlist": {
            "put": _op(
                "Replace the watchlist with the uploaded one.",
                "notifications",
                sub,
                {200: _ok(_ref("WatchlistReport"))},
                errors=(400, 404, 413),
                params=[sub_id],
                body=watchlist_body,
            ),
            "patch": _op(
                "Add, change or delete customers.",
                "notifications",
                sub,
                {200: _ok(_ref("WatchlistReport"))},
                errors=(400, 404, 413),
                params=[sub_id],
                body=watchlist_body,
            ),
            "get": _op(
                "Watchlist summary.",
                "notifications",
                sub,
                {
                    200: _ok(
                        _obj(
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
                params=[sub_id],
            ),
            "delete": _op(
                "Remove every customer.",
                "notifications",
                sub,
                {200: _ok(_obj({"removed": {"type": "integer"}}, ("removed",)))},
                errors=(404,),
                params=[sub_id],
            ),
        },
        "/v1/subscriptions/{id}/deliveries": {
            "get": _op(
                "Recent events, newest first, with every delivery attempt.",
                "notifications",
                sub,
                {200: _ok(_obj({"deliveries": objects}, ("deliveries",)))},
                errors=(400, 404),
                params=[
                    sub_id,
                    _query("limit", _int(1, 500, 50)),
                    _query(
                        "status", {"enum": ["queued", "retrying", "delivered", "failed", "dead"]}
                    ),
                ],
            )
        },
        "/v1/subscriptions/{id}/deliveries/{event}/redeliver": {
            "post": _op(
                "Queue an event again (same id: the receiver can tell it is a replay).",
                "notifications",
                sub,
                {202: _ok(_OBJ)},
                errors=(404, 410),
                params=[sub_id, _path("event", "Event id.")],
            )
        },
        # --- digital signatures (listd.api.eds_routes) ------------------------------------
        "/v1/eds/challenge": {
            "post": _op(
                "A single-use sign-in challenge to sign with the AUTH key through NCALayer "
                "(no credential; 30 a minute per address). `data` is its text in base64; "
                "`ncalayer` is the URL the console connects to.",
                "access",
                None,
                {
                    201: _ok(
                        _obj(
                            {
                                "challenge": {"type": "string"},
                                "text": {"type": "string"},
                                "data": {"type": "string"},
                                "expires": {"type": "string"},
                                "ncalayer": {"type": "string"},
                            },
                            closed=False,
                        )
                    )
                },
                errors=(404, 429, 503),
            )
        },
        "/v1/eds/signin": {
            "post": _op(
                "Sign in: the challenge's text signed with an NCA AUTH key (CMS, base64, "
                "attached or detached). Answers a short-lived API key of the user bound to "
                "the certificate's IIN and BIN; 401 `signature_refused` with a `reason`.",
                "access",
                None,
                {201: _ok(_OBJ)},
                errors=(400, 401, 403, 404, 413, 503),
                body=_json_body(
                    _obj(
                        {
                            "challenge": _text(64, required=True),
                            "cms": _text(60_000, required=True),
                        },
                        ("challenge", "cms"),
                    )
                ),
            )
        },
        "/v1/eds/agreement": {
            "get": _op(
                "The terms to sign with the SIGN key: text, version, base64 data.",
                "access",
                everyone,
                {200: _ok(_OBJ)},
            ),
            "post": _op(
                "Accept the terms by signing their exact text with the SIGN key (CMS).",
                "access",
                everyone,
                {200: _ok(_OBJ)},
                errors=(404,),
                body=_json_body(
                    _obj(
                        {"version": _text(64, required=True), "cms": _text(60_000, required=True)},
                        ("version", "cms"),
                    )
                ),
            ),
        },
        "/v1/eds/registrations/{id}/document": {
            "post": _op(
                "The exact document an operator signs to approve or reject a registration "
                "(changes nothing).",
                "access",
                opr,
                {200: _ok(_OBJ)},
                errors=(404,),
                params=[_path("id")],
                body=_json_body(
                    _obj(
                        {"decision": {"enum": ["approve", "reject"]}, "reason": _text(2000)},
                        ("decision",),
                    )
                ),
            )
        },
        "/v1/eds/registrations/{id}/decision": {
            "post": _op(
                "Approve or reject a registration, signed with the operator's SIGN key.",
                "access",
                opr,
                {200: _ok(_OBJ)},
                errors=(404, 409),
                params=[_path("id")],
                body=_json_body(
                    _obj(
                        {
                            "decision": {"enum": ["approve", "reject"]},
                            "reason": _text(2000),
                            "cms": _text(60_000, required=True),
                        },
                        ("decision", "cms"),
                    )
                ),
            )
        },
        "/v1/eds/users/{id}": {
            "post": _op(
                "Bind a user to the NCA certificates of a person (IIN) of an organisation "
                "(BIN, default the user's organisation).",
                "access",
                opr,
                {200: _ok(_OBJ)},
                errors=(404, 409),
                params=[_path("id")],
                body=_json_body(
                    _obj(
                        {
                            "iin": {"type": "string", "pattern": r"^[0-9]{12}$"},
                            "bin": _nullable({"type": "string", "pattern": r"^[0-9]{12}$"}),
                        },
                        ("iin",),
                    )
                ),
            )
        },
    }


@functools.cache
def spec() -> dict[str, Any]:
    """The OpenAPI document (built once; treat it as read-only)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "listd",
            "version": __version__,
            "description": "Sanctions lists (UN, Kazakhstan AFM, OFAC) kept in sync, screening, "
            "deltas and asset-blocking webhooks. Errors are JSON objects "
            '`{"error": code, "message": text, "field": the request field at fault}`. '
            "Every authenticated request is journaled; a new credential must accept the terms "
            "of use (POST /v1/agreement) before anything else. `x-listd-roles` lists the "
            "roles an operation admits; `admin` may also do what `screener` and `subscriber` "
            "may. Every GET also answers HEAD.",
        },
        "servers": [{"url": "/"}],
        "security": [{"apiKey": []}],
        "tags": [
            {"name": n}
            for n in ("screening", "sources", "deltas", "access", "notifications", "operations")
        ],
        "paths": _paths(),
        "components": {
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "listd API key (lk_...)",
                    "description": "`Authorization: Bearer <key>`. A verified TLS client "
                    "certificate mapped to a user is accepted instead where TLS is enabled.",
                }
            },
            "schemas": _schemas(),
        },
    }


@routes.get("/openapi.json")
async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(spec())
