"""The shapes of the API's answers (OpenAPI components), stated once; the request shapes
are written from the field specs the handlers validate with."""

from __future__ import annotations

from listd.http.fields import OBJECTS, Body, Field, Obj, Schema, obj, ref
from listd.http.openapi import ok
from listd.notifications.subscriptions import AMENDMENTS, EVENTS
from listd.pipeline.delta import CLASSES

SMALL = 64 * 1024  # the most a form (every body of the access routes) may hold


def form(*fields: Field, required: bool = True, example: object = None) -> Body:
    """A small JSON form of `fields`, unknown members refused."""
    return Body(Obj("form", fields=fields), required=required, max_bytes=SMALL, example=example)


def listing(name: str) -> Schema:
    """An answer {name: [objects]}."""
    return ok(obj({name: OBJECTS}, (name,)))


def schemas() -> dict[str, Schema]:
    entity: Schema = obj(
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
    match: Schema = obj(
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
    source: Schema = obj(
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
    sync_result: Schema = obj(
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
    subscription: Schema = obj(
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
    watchlist_report: Schema = obj(
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
    return {
        "Match": match,
        "ScreenResult": obj(
            {
                "query_id": {"type": "string"},
                "matches": {"type": "array", "items": ref("Match")},
                "list_versions": versions,
                "took_ms": {"type": "number"},
                "warnings": warnings,
                "warning_details": warning_details,
            },
            ("query_id", "matches", "list_versions"),
        ),
        "BatchResult": obj(
            {
                "batch_id": {"type": "string"},
                "results": {
                    "type": "array",
                    "items": obj(
                        {
                            "index": {"type": "integer"},
                            "query_id": {"type": "string"},
                            "matches": {"type": "array", "items": ref("Match")},
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
        "Delta": obj(
            {
                "seq": {"type": "integer"},
                "source": {"type": "string"},
                "op": {"enum": ["added", "amended", "removed"]},
                "class": {
                    "enum": list(CLASSES),
                    "description": "identity: names, birth dates or places, documents, "
                    "nationality, gender, type or programmes changed, or the entity was "
                    "added or removed (re-screen); details: only comments, links, dates, "
                    "addresses, titles or positions changed. Rule: listd/pipeline/delta.py "
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
        "WatchlistReport": watchlist_report,
    }
