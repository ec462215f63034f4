"""Server-Sent Events: the delta stream for live consumers, resumable by Last-Event-ID."""

from __future__ import annotations

import json
import re

from aiohttp import web

from listd.api.middleware import refused_now
from listd.errors import BadRequest
from listd.http.params import DELTA_CLASS
from listd.http.state import BELL, STORE, note
from listd.pipeline.delta import Delta

_KEEPALIVE_S = 15.0


_SEQ = re.compile(r"[0-9]{1,19}", re.ASCII)  # str.isdigit would take "²", int() would not
_MAX_SEQ = 2**62


def last_event_id(request: web.Request) -> int:
    raw = (request.headers.get("Last-Event-ID") or request.query.get("after") or "0").strip()
    if not _SEQ.fullmatch(raw) or int(raw) > _MAX_SEQ:
        raise BadRequest("Last-Event-ID / after must be a delta sequence number", field="after")
    return int(raw)


async def stream(request: web.Request) -> web.StreamResponse:
    """GET /v1/deltas/stream: every delta after Last-Event-ID, then live ones as they come."""
    store = request.app[STORE]
    after = last_event_id(request)
    source = request.query.get("source") or None
    klass = DELTA_CLASS.read(request)
    # Validate before the stream starts, so a too-old position is a plain 410 answer.
    deltas, cursor = await store.read_deltas(after, 500, source, klass)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    try:
        await _serve(request, response, deltas, cursor, source, klass)
    except ConnectionResetError:
        # The reader left (a closed console tab, a consumer restarting): a normal end of a
        # stream, found out by the next write. Not an error to log or alert on.
        note(request, stream_ended="client_left")
    return response


async def _serve(
    request: web.Request,
    response: web.StreamResponse,
    deltas: list[Delta],
    cursor: int,
    source: str | None,
    klass: str | None,
) -> None:
    store = request.app[STORE]
    bell = request.app[BELL]
    await response.write(b"retry: 2000\n\n")
    while True:
        for delta in deltas:
            data = json.dumps(delta.to_dict(), ensure_ascii=False, sort_keys=True)
            await response.write(f"id: {delta.seq}\nevent: delta\ndata: {data}\n\n".encode())
        if len(deltas) < 500 and not await bell.wait(_KEEPALIVE_S):
            await response.write(b": keep-alive\n\n")
        if bell.closed:
            # Shutting down: the client reconnects (to another instance) with Last-Event-ID.
            return
        refused = await refused_now(request)
        if refused is not None:
            # Blocking a user is immediate, for a stream opened before the block too.
            body = json.dumps(refused.to_json(), ensure_ascii=False, sort_keys=True)
            await response.write(f"event: refused\ndata: {body}\n\n".encode())
            note(request, stream_ended=refused.code)
            return
        deltas, cursor = await store.read_deltas(cursor, 500, source, klass)
