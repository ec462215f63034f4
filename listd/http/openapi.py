"""The OpenAPI 3.1 document, written from the table of operations.

Each operation names the roles it admits in `x-listd-roles`; one that needs no credential
has `security: []`. The error answers follow from the declaration: every gated route may
answer 400 (two credentials), 401, 403, 429 and 503; every route with a body 400 and 413.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from listd.http.fields import JSON, Components, Schema, obj, path_parameter, ref
from listd.http.table import Operation

ERRORS = {
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
# The components every document has: the body of every error (`error_body`, and
# `ListdError.to_json`), and any JSON object.
BASE: Components = {
    "Error": obj(
        {
            "error": {"type": "string", "description": "Machine-readable code."},
            "message": {"type": "string"},
            "field": {"type": "string", "description": "The request field at fault."},
            "retry_after": {"type": "integer", "description": "Also sent as Retry-After."},
        },
        ("error", "message"),
        closed=False,
    ),
    "Object": {"type": "object"},
}
_GATED = {400, 401, 403, 429, 503}
_WITH_BODY = {400, 413}


def ok(schema: Schema, description: str = "OK", media: str = JSON) -> Schema:
    """A successful answer's response object."""
    return {"description": description, "content": {media: {"schema": schema}}}


def _error(status: int) -> Schema:
    return {"description": ERRORS[status], "content": {JSON: {"schema": ref("Error")}}}


def operation(op: Operation, components: Components) -> Schema:
    """The OpenAPI operation object of `op` (request schemas go into `components`)."""
    responses: dict[str, Schema] = {str(code): answer for code, answer in op.ok.items()}
    statuses = set(op.errors)
    if op.roles is not None:
        statuses |= _GATED
    if op.body is not None:
        statuses |= _WITH_BODY
    for code in sorted(statuses):
        responses[str(code)] = _error(code)
    doc: Schema = {"summary": op.summary, "tags": [op.tag], "responses": responses}
    if op.roles is None:
        doc["security"] = []
    else:
        doc["x-listd-roles"] = list(op.roles)
    params = [path_parameter(n, op.path_help.get(n, "")) for n in _templated(op.path)]
    params += [p.parameter() for p in op.params]
    if params:
        doc["parameters"] = params
    if op.body is not None:
        doc["requestBody"] = op.body.request_body(components)
    return doc


def _templated(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def document(
    operations: Iterable[Operation], head: dict[str, Any], schemas: Components
) -> dict[str, Any]:
    """The whole document: `head` (info, tags, security...) with paths and components
    (the response `schemas` and the request schemas the operations declare)."""
    components: Components = BASE | schemas
    paths: dict[str, dict[str, Schema]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = operation(op, components)
    doc = dict(head)
    doc["paths"] = paths
    doc["components"] = dict(doc.get("components", {})) | {"schemas": components}
    return doc
