"""Error and authentication middleware: every failure becomes a JSON body."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from listd.access import Principal
from listd.api.state import KEYSTORE, PRINCIPAL
from listd.errors import ListdError, Unauthorized
from listd.logs import get_logger

log = get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PUBLIC = frozenset({"/healthz", "/readyz", "/metrics"})


def error_body(status: int, code: str, message: str, **extra: object) -> web.Response:
    return web.json_response({"error": code, "message": message, **extra}, status=status)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ListdError as exc:
        if exc.status >= 500:
            log.error("request failed", path=request.path, error=exc.message, code=exc.code)
        return web.json_response(exc.to_json(), status=exc.status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = exc.reason.lower().replace(" ", "_")
        message = exc.text if exc.text and not exc.text.startswith(str(exc.status)) else exc.reason
        response = error_body(exc.status, code, message)
        for header in ("Allow", "Retry-After"):
            if header in exc.headers:
                response.headers[header] = exc.headers[header]
        return response
    except Exception:  # noqa: BLE001 - last resort: a bug must not reach the client as HTML
        log.exception("unhandled error", path=request.path, method=request.method)
        return error_body(500, "internal_error", "internal error; it has been logged")


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in PUBLIC:
        return await handler(request)
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized("send 'Authorization: Bearer <API key>'")
    principal: Principal = await request.app[KEYSTORE].authenticate(secret.strip())
    request[PRINCIPAL] = principal
    return await handler(request)
