"""Error and access middleware: every failure becomes a JSON body; every request is
admitted by the gate (credential, block, expiry, maintenance, terms, rate limit) and
written to the journal with its outcome.

Which routes are public, anonymous, agreement-exempt or cacheable is read from the table
of operations (`listd.http.table`), where each route declares it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from listd.access import (
    Admission,
    Principal,
    Serving,
    Wiring,
    check_maintenance,
    rate_limited,
)
from listd.api.state import METRICS
from listd.audit import Confirm, Unconfirmed, Written
from listd.basis import BASIS_FIELDS
from listd.errors import (
    BadRequest,
    Forbidden,
    JournalUnavailable,
    ListdError,
    RetryLater,
    StoreUnavailable,
    Unauthorized,
)
from listd.http.state import NOTE, PRINCIPAL
from listd.http.state import note as note
from listd.http.table import Handler as Handler
from listd.http.table import Operation, error_body, operation_of, public_paths
from listd.logs import get_logger

log = get_logger(__name__)

STORE_DOWN = (
    "the store (Redis) is unreachable: answered from this instance's memory, so list data "
    "may be stale; the journal entry waits in a local spool until the store returns"
)
STORE_ERRORS = (RedisConnectionError, RedisTimeoutError)


def _count(request: web.Request, status: int) -> None:
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    outcome = "ok" if status < 400 else "client_error" if status < 500 else "server_error"
    if route == "/readyz" and status == 503:
        outcome = "not_ready"  # the probe doing its job (start-up, Redis away): no fault
    request.app[METRICS].requests.labels(route, outcome).inc()


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await _errors(request, handler)
    _count(request, response.status)
    return response


async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ListdError as exc:
        if exc.status >= 500 and not isinstance(exc, RetryLater):  # maintenance is no error
            log.error("request failed", path=request.path, error=exc.message, code=exc.code)
        response = web.json_response(exc.to_json(), status=exc.status)
        if isinstance(exc, RetryLater):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except STORE_ERRORS as exc:
        # A route that needs Redis while it is unreachable (screening does not).
        log.warning("redis unreachable", path=request.path, error=str(exc))
        unavailable = StoreUnavailable("the store (Redis) is unreachable; retry later")
        return web.json_response(unavailable.to_json(), status=unavailable.status)
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


# --- access ---------------------------------------------------------------------------------
class AccessMetrics:
    """Access gauges, registered on the app's own registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.journal_live = Gauge(
            "listd_journal_live_entries", "Journal entries in Redis, not yet archived.",
            registry=registry,
        )  # fmt: skip
        self.journal_seq = Gauge(
            "listd_journal_entries", "Journal entries ever written (the head's number).",
            registry=registry,
        )  # fmt: skip
        self.overdue = Gauge(
            "listd_registrations_overdue",
            "Applications for access undecided for longer than the SLA.", registry=registry,
        )  # fmt: skip
        self.refused = Counter(
            "listd_access_refused", "Requests the gate refused, by reason.", ["reason"],
            registry=registry,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Access:
    """What the access middleware and the operator's routes share: the deployment's access
    and journal objects (`listd.access.wiring.wire`), what an API process adds to them, and
    the gauges they feed."""

    wiring: Wiring
    serving: Serving
    metrics: AccessMetrics

    async def refresh_metrics(self) -> None:
        journal = self.wiring.journal
        self.metrics.journal_live.set(await journal.length())
        self.metrics.journal_seq.set((await journal.head())[0])
        self.metrics.overdue.set(await self.wiring.registrations.overdue())


ACCESS = web.AppKey("access", Access)


def _anonymous(op: Operation | None) -> bool:
    """Callable without a credential (still journaled, still closed during maintenance):
    an organisation applies for access before it has a key."""
    return op is not None and op.anonymous


def _exempt(op: Operation | None) -> bool:
    """What a credential that has not accepted the terms of use may do."""
    return op is not None and op.exempt


def _cached(op: Operation | None) -> bool:
    """Routes a key's cached admission may serve: they change nothing and answer with one
    body, which is withheld if the journal append finds the admission no longer holds."""
    return op is not None and op.cached


def route_of(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def peer_subject(request: web.Request) -> str | None:
    """The subject of a verified TLS client certificate, RFC 4514 order (CN first)."""
    transport = request.transport
    cert = transport.get_extra_info("peercert") if transport is not None else None
    if not cert or not cert.get("subject"):
        return None
    parts = [f"{_SHORT.get(k, k)}={v}" for rdn in cert["subject"] for k, v in rdn]
    return ",".join(reversed(parts))


_SHORT = {
    "commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU",
    "countryName": "C", "localityName": "L", "stateOrProvinceName": "ST",
    "serialNumber": "SERIALNUMBER", "emailAddress": "emailAddress",
}  # fmt: skip


async def _admit(request: web.Request, access: Access, cached: bool) -> Admission | None:
    """Check the credential (401, or 403 when blocked); None for anonymous routes.

    One credential per request: two Authorization headers, or a key and a client certificate
    mapped to another user, are refused (400) rather than one of them silently chosen."""
    headers = request.headers.getall("Authorization", [])
    if len(headers) > 1:
        raise BadRequest(
            f"send one Authorization header, not {len(headers)}", field="Authorization"
        )
    if _anonymous(operation_of(request)):
        return None
    header = headers[0] if headers else ""
    subject = peer_subject(request)
    if not header and subject is not None:
        user = await access.wiring.store.user_by_cert(subject)
        if user is None:
            raise Unauthorized("this client certificate is not mapped to a user")
        return await access.serving.gate.admit_cert(user)
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized("send 'Authorization: Bearer <API key>'")
    admission = await access.serving.gate.admit(secret.strip(), cached)
    if subject is not None:
        # A certificate mapped to nobody is no credential (TLS may be mutual for every client).
        user = await access.wiring.store.user_by_cert(subject)
        if user is not None and user.id != admission.principal.user:
            raise BadRequest(
                "the API key and the client certificate belong to different users; "
                "send one credential",
                field="Authorization",
            )
    return admission


async def refused_now(request: web.Request) -> ListdError | None:
    """For a long-lived answer (the SSE stream): the 401/403 its credential gets if admitted
    afresh now (blocked, expired, revoked, terms to accept), or None while it still holds.

    A Redis outage is not a refusal here: the stream's own reads fail then."""
    try:
        await _admit_afresh(request, request.app[ACCESS])
    except (Unauthorized, Forbidden) as exc:
        return exc
    except ListdError:
        return None
    return None


async def _admit_afresh(request: web.Request, access: Access) -> None:
    """Admit the request's credential again, from Redis; raises what the gate refuses."""
    fresh = await _admit(request, access, cached=False)
    if fresh is not None:
        fresh.check(_exempt(operation_of(request)))


def _failure(exc: BaseException) -> tuple[int, str]:
    if isinstance(exc, ListdError):
        return exc.status, exc.code
    if isinstance(exc, web.HTTPException):
        return exc.status, exc.reason.lower().replace(" ", "_")
    if isinstance(exc, asyncio.CancelledError):
        return 499, "cancelled"  # the client went away (or the server is stopping)
    if isinstance(exc, STORE_ERRORS):
        return StoreUnavailable.status, StoreUnavailable.code
    return 500, "internal_error"


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in public_paths(request.app):
        if request.path == "/metrics":
            with contextlib.suppress(RedisError, OSError):
                await request.app[ACCESS].refresh_metrics()
        return await handler(request)
    access = request.app[ACCESS]
    started = time.perf_counter()
    request[NOTE] = {}
    op = operation_of(request)
    principal: Principal | None = None
    admission: Admission | None = None
    admitted = False
    try:
        admission = await _admit(request, access, _cached(op))
        if admission is None:  # anonymous: only maintenance applies
            now = access.wiring.clock.time()
            check_maintenance(await access.serving.gate.maintenance_ends(now), now, None)
        else:
            principal = request[PRINCIPAL] = admission.principal
            admission.check(_exempt(op))
        admitted = True
        response = await handler(request)
    except BaseException as exc:
        status, code = _failure(exc)
        if not admitted and isinstance(exc, ListdError):
            access.metrics.refused.labels(code).inc()
            if principal is None and exc.detail.get("key_id"):
                # A refused credential is still named (by its key id), never by its secret.
                request[NOTE]["key"] = exc.detail["key_id"]
        entry = _entry(request, principal, started, status, code)
        if isinstance(exc, asyncio.CancelledError):
            access.serving.writer.submit(entry)  # finish the entry though this task is cancelled
        else:
            with contextlib.suppress(JournalUnavailable):
                await access.serving.writer.write(entry)
        raise
    confirm = admission.confirm if admission is not None and not response.prepared else None
    try:
        written = await _journal(request, access, principal, started, response, confirm)
    except Unconfirmed as exc:
        assert admission is not None and principal is not None
        written = await _reconfirm(request, access, admission, started, response, exc)
    if (admission is not None and admission.degraded) or (
        written is not None and written.seq is None and access.serving.writer.health.down
    ):
        _warn(response, STORE_DOWN, "store_down")
    return response


async def _reconfirm(
    request: web.Request,
    access: Access,
    admission: Admission,
    started: float,
    response: web.StreamResponse,
    unconfirmed: Unconfirmed,
) -> Written | None:
    """A cached admission did not hold when the entry was appended: the access rules
    changed (check afresh) or the key is over its rate limit. The answer is withheld
    unless a fresh admission passes."""
    principal = admission.principal
    refusal: ListdError | None
    if unconfirmed.reason == "limit":
        access.serving.gate.counted(principal.key_id, int(admission.now // 60), unconfirmed.count)
        refusal = rate_limited(admission.limit, access.wiring.clock.time())
    else:
        try:
            await _admit_afresh(request, access)
            refusal = None
        except ListdError as exc:
            refusal = exc
    if refusal is None:
        return await _journal(request, access, principal, started, response, None)
    access.metrics.refused.labels(refusal.code).inc()
    noted: dict[str, Any] = request[NOTE]
    for withheld in ("matches", "list_versions"):
        noted.pop(withheld, None)
    entry = _entry(request, principal, started, refusal.status, refusal.code)
    with contextlib.suppress(JournalUnavailable):
        await access.serving.writer.write(entry)
    raise refusal


def _entry(
    request: web.Request,
    principal: Principal | None,
    started: float,
    status: int,
    code: str,
) -> dict[str, Any]:
    entry: dict[str, Any] = {"kind": "request"}
    if principal is not None:
        entry |= principal.actor().fields()
    else:
        entry["via"] = "public" if _anonymous(operation_of(request)) else "none"
    entry |= {
        "method": request.method,
        "route": route_of(request),
        "path": request.path,
        "status": status,
        "outcome": "ok" if status < 400 else "refused" if status < 500 else "error",
        "error": code,
        "ip": request.remote or "",
        "request_id": uuid.uuid4().hex,
        "ms": round((time.perf_counter() - started) * 1000, 2),
    }
    noted: dict[str, Any] = request[NOTE]
    if "query" not in noted:
        query = {k: v for k, v in request.query.items() if k not in BASIS_FIELDS}
        noted = {**noted, "query": query or None}
    entry |= noted
    return entry


async def _journal(
    request: web.Request,
    access: Access,
    principal: Principal | None,
    started: float,
    response: web.StreamResponse,
    confirm: Confirm | None,
) -> Written | None:
    """Journal a request that was answered; withhold the answer (503) if that fails."""
    entry = _entry(request, principal, started, response.status, "")
    try:
        written = await access.serving.writer.write(entry, confirm)
    except JournalUnavailable:
        log.error("journal write failed", path=request.path, status=response.status)
        if response.prepared:
            return None  # already streamed: too late to withhold
        raise
    if confirm is not None and confirm.rate_key and principal is not None:
        access.serving.gate.counted(
            principal.key_id, int(access.wiring.clock.time() // 60), written.count
        )
    if not response.prepared:
        response.headers["X-Request-Id"] = entry["request_id"]
        if written.seq is not None:
            response.headers["X-Journal-Seq"] = str(written.seq)
        else:
            response.headers["X-Journal-Spooled"] = "1"
    return written


def _warn(response: web.StreamResponse, message: str, code: str) -> None:
    """Add a warning to an answer (its JSON `warnings` list with its `warning_details`
    entry, and a Warning header)."""
    if response.prepared:
        return
    response.headers["Warning"] = f'199 listd "{message}"'
    if not isinstance(response, web.Response) or response.content_type != "application/json":
        return
    try:
        body = json.loads(response.text or "")
    except ValueError:
        return
    if isinstance(body, dict):
        warnings = body.setdefault("warnings", [])
        details = body.setdefault("warning_details", [])
        if isinstance(warnings, list) and isinstance(details, list):
            warnings.append(message)
            details.append({"code": code, "message": message})
            response.text = json.dumps(body, ensure_ascii=False)
