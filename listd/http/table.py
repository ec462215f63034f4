"""The table of operations: each route of the HTTP API declared once.

An `Operation` holds what the handler, the gate and the OpenAPI document all need: method
and path, the roles it admits (None: no credential), whether it is public (no gate, no
journal), agreement-exempt or cacheable, its parameters, body and answers. `Routes`
collects them as `web.RouteTableDef` does; `add_to` registers them on an app, which checks
the roles before each handler runs and gives the gate each route's policy
(`operation_of`). `listd.http.openapi` writes the document from the same table.

A new route, in the room it belongs to:

    LIMIT = QInt("limit", lo=1, hi=500, default=50)

    @routes.get("/v1/things/{id}", "One thing and its history.", roles=("screener",),
                ok={200: ok(ref("Thing"))}, errors=(404,), params=(LIMIT,))
    async def thing(request: web.Request) -> web.Response:
        limit = LIMIT.read(request)  # 400 naming `limit` outside 1..500
        ...

The room's `routes.add_to(app)` registers it; its table is listed once in
`listd.api.openapi.TABLES` (a test fails while a registered route is missing there).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from listd.http.fields import Body, Param, RawBody, Schema
from listd.http.state import PRINCIPAL

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_body(status: int, code: str, message: str, **extra: object) -> web.Response:
    return web.json_response({"error": code, "message": message, **extra}, status=status)


@dataclass(frozen=True)
class Operation:
    """One method on one path, and everything declared about it."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    roles: tuple[str, ...] | None  # None: no credential (anonymous or public)
    ok: dict[int, Schema]  # status -> OpenAPI response object
    public: bool = False  # no gate, no journal: probes and this description
    exempt: bool = False  # allowed before the terms of use are accepted
    cached: bool = False  # a key's cached admission may serve it (reads with one body)
    params: tuple[Param, ...] = ()
    path_help: dict[str, str] = field(default_factory=dict)
    body: Body | RawBody | None = None
    errors: tuple[int, ...] = ()  # statuses besides those every such route may answer

    @property
    def anonymous(self) -> bool:
        """Callable without a credential, yet gated (maintenance) and journaled."""
        return self.roles is None and not self.public

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)


OPERATIONS = web.AppKey("operations", dict)  # (method, path) -> Operation, as registered


def operation_of(request: web.Request) -> Operation | None:
    """The operation a request was routed to; None when none matched. A HEAD runs its GET's
    handler (and role check) but has no policy of its own: it is gated, never exempt from
    the terms and never served from a cached admission."""
    resource = request.match_info.route.resource
    if resource is None:
        return None
    table: dict[tuple[str, str], Operation] = request.app.get(OPERATIONS, {})
    return table.get((request.method, resource.canonical))


PUBLIC_PATHS = web.AppKey("public_paths", frozenset)  # paths of the public operations


def public_paths(app: web.Application) -> frozenset[str]:
    """Paths whose every method bypasses the gate (a public path has no template)."""
    return app.get(PUBLIC_PATHS, frozenset())


class Routes:
    """A room's operations, declared with decorators next to their handlers."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self._ops: list[Operation] = []

    def __iter__(self) -> Iterator[Operation]:
        return iter(self._ops)

    def route(
        self,
        method: str,
        path: str,
        summary: str,
        *,
        roles: Iterable[str] | None,
        ok: dict[int, Schema],
        tag: str = "",
        **declared: Any,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self._ops.append(
                Operation(
                    method,
                    path,
                    handler,
                    summary,
                    tag or self.tag,
                    None if roles is None else tuple(roles),
                    ok,
                    **declared,
                )
            )
            return handler

        return register

    def get(self, path: str, summary: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, summary, **kw)

    def post(self, path: str, summary: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, summary, **kw)

    def put(self, path: str, summary: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, summary, **kw)

    def patch(self, path: str, summary: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, summary, **kw)

    def delete(self, path: str, summary: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, summary, **kw)

    def add_to(self, app: web.Application) -> None:
        """Register every operation on `app`; its roles are checked before its handler."""
        if OPERATIONS not in app:
            app[OPERATIONS] = {}
        for op in self._ops:
            app[OPERATIONS][op.key] = op
            if op.public:
                app[PUBLIC_PATHS] = public_paths(app) | {op.path}
            if op.method == "GET":  # answers HEAD too
                app.router.add_get(op.path, _guarded(op))
            else:
                app.router.add_route(op.method, op.path, _guarded(op))


def _guarded(op: Operation) -> Handler:
    if op.roles is None:
        return op.handler
    roles = op.roles

    @functools.wraps(op.handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        request[PRINCIPAL].require(*roles)
        return await op.handler(request)

    return guarded
