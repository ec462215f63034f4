"""The OpenAPI 3.1 description of the HTTP API, served at `GET /openapi.json`.

Written by `listd.http.openapi` from the table of operations every room declares its
routes in (`TABLES`), so what the handlers check and what the document states are one
declaration. Each operation names the roles it admits in `x-listd-roles` (a missing list
means no credential is needed).
"""

from __future__ import annotations

import functools
from typing import Any

from aiohttp import web

from listd import __version__
from listd.api import eds_routes, operator, registrations
from listd.api import routes as api_routes
from listd.api.schemas import schemas
from listd.console import api as console_api
from listd.http import openapi
from listd.http.fields import OBJECT
from listd.http.table import Operation, Routes
from listd.notifications import routes as notifications_routes

__all__ = ["TABLES", "operations", "routes", "spec"]

routes = Routes("operations")
TAGS = ("screening", "sources", "deltas", "access", "notifications", "operations")
HEAD: dict[str, Any] = {
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
    "tags": [{"name": n} for n in TAGS],
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
    },
}


@routes.get(
    "/openapi.json",
    "This description.",
    roles=None,
    public=True,
    ok={200: openapi.ok(OBJECT)},
)
async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(spec())


# Every room's operations, in the order the document lists them.
TABLES: tuple[Routes, ...] = (
    api_routes.routes,
    routes,
    console_api.routes,
    registrations.routes,
    operator.routes,
    eds_routes.routes,
    notifications_routes.routes,
)


def operations() -> list[Operation]:
    return [op for table in TABLES for op in table]


@functools.cache
def spec() -> dict[str, Any]:
    """The OpenAPI document (built once; treat it as read-only)."""
    return openapi.document(operations(), HEAD, schemas())
