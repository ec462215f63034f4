"""The web console for compliance officers, served by listd itself under `/console/`.

The console is static HTML, CSS and JavaScript shipped in the package (no CDN, no build
step). Its files carry no data and need no key; everything it shows comes from the JSON
API, called with the key the officer signs in with, so the gate, the roles and the
journal are the API's. `setup(app)` serves the files and adds the few read routes the
console needs (`listd.console.api`).
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from listd.console import api as console_api
from listd.http.state import SETTINGS
from listd.http.table import Handler, error_body

STATIC = (Path(__file__).parent / "static").resolve()
MOUNT = "/console"

# Same-origin only: the console loads nothing from elsewhere and cannot be framed.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",  # revalidate (ETag) so an upgrade shows at once
}
_TYPES = {".js": "text/javascript", ".json": "application/json", ".svg": "image/svg+xml"}


def setup(app: web.Application) -> None:
    """Serve the console's files under /console/ (and point `GET /` at them); add its API
    routes."""
    # First in the chain: the files are public like /healthz, so they bypass the gate
    # (and the journal). They are not router routes, so the route/role tables of the
    # API stay exactly the API's.
    app.middlewares.insert(0, console_files)
    console_api.routes.add_to(app)


def asset(path: str) -> Path | None:
    """The file under STATIC that a request path names, or None (never outside STATIC)."""
    rel = path[len(MOUNT) + 1 :] or "index.html"
    candidate = (STATIC / rel).resolve()
    if not candidate.is_relative_to(STATIC) or not candidate.is_file():
        return None
    return candidate


def root(request: web.Request) -> web.StreamResponse:
    """`GET /`: a browser goes to the console; any other client learns where things are."""
    if "text/html" in request.headers.get("Accept", ""):
        raise web.HTTPSeeOther(MOUNT + "/")
    pointer = {
        "service": "listd",
        "console": MOUNT + "/",
        "openapi": "/openapi.json",
        "message": "the web console is at /console/; the API is described at /openapi.json",
    }
    return web.json_response(pointer, headers={"Link": f'<{MOUNT}/>; rel="alternate"'})


@web.middleware
async def console_files(request: web.Request, handler: Handler) -> web.StreamResponse:
    path = request.path
    if path == "/" and request.method in ("GET", "HEAD"):
        return root(request)
    if path != MOUNT and not path.startswith(MOUNT + "/"):
        return await handler(request)
    if request.method not in ("GET", "HEAD"):
        response = error_body(405, "method_not_allowed", "the console's files are read-only")
        response.headers["Allow"] = "GET, HEAD"
        return response
    if path == MOUNT:
        raise web.HTTPPermanentRedirect(MOUNT + "/")
    found = asset(path)
    if found is None:
        return error_body(404, "not_found", f"no console file {path!r}")
    headers = dict(HEADERS)
    eds = request.app[SETTINGS].eds
    if eds.enabled:
        # The one other place the page may talk to: NCALayer, on the officer's computer.
        csp = headers["Content-Security-Policy"]
        headers["Content-Security-Policy"] = csp.replace(
            "connect-src 'self'", f"connect-src 'self' {eds.ncalayer_url}"
        )
    if found.suffix in _TYPES:
        headers["Content-Type"] = _TYPES[found.suffix] + (
            "; charset=utf-8" if found.suffix != ".svg" else ""
        )
    return web.FileResponse(found, headers=headers)
