"""Error and access middleware: every failure becomes a JSON body; every request is
admitted by the gate (credential, block, expiry, maintenance, terms, rate limit) and
written to the journal with its outcome."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge
from redis.exceptions import RedisError

from listd.access import (
    Admission,
    Gate,
    KeyStore,
    MaintenanceWindows,
    Principal,
    Registrations,
    Terms,
    check_maintenance,
)
from listd.api.state import METRICS, PRINCIPAL
from listd.audit import BASIS_FIELDS, Basis, Journal
from listd.errors import JournalUnavailable, ListdError, RetryLater, Unauthorized
from listd.logs import get_logger
from listd.settings import Settings

log = get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PUBLIC = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json"})
# Routes anyone may call without a credential (still journaled, still closed during
# maintenance): an organisation applies for access before it has a key.
ANONYMOUS = frozenset({("POST", "/v1/registrations")})
# What a credential that has not accepted the terms of use may do.
AGREEMENT_EXEMPT = frozenset({("GET", "/v1/agreement"), ("POST", "/v1/agreement")})


def error_body(status: int, code: str, message: str, **extra: object) -> web.Response:
    return web.json_response({"error": code, "message": message, **extra}, status=status)


def _count(request: web.Request, status: int) -> None:
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    outcome = "ok" if status < 400 else "client_error" if status < 500 else "server_error"
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


@dataclass
class Access:
    """What the access middleware and the admin routes share."""

    settings: Settings
    store: KeyStore
    gate: Gate
    journal: Journal
    maintenance: MaintenanceWindows
    registrations: Registrations
    terms: Terms
    metrics: AccessMetrics
    # Journal writes of cancelled requests, finishing in the background.
    pending: set[asyncio.Task[Any]] = field(default_factory=set)

    async def refresh_metrics(self) -> None:
        self.metrics.journal_live.set(await self.journal.length())
        self.metrics.journal_seq.set((await self.journal.head())[0])
        self.metrics.overdue.set(await self.registrations.overdue())


ACCESS = web.AppKey("access", Access)
NOTE = web.RequestKey("journal_note", dict)  # fields a handler adds to its journal entry


def note(request: web.Request, basis: Basis | None = None, **fields: Any) -> None:
    """Add to the request's journal entry: its basis, query, matches, list versions..."""
    entry: dict[str, Any] = request[NOTE]
    if basis is not None:
        entry.update(basis=basis.basis, case_ref=basis.case_ref)
    entry.update(fields)


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


async def _admit(request: web.Request, access: Access) -> Admission | None:
    """Check the credential (401, or 403 when blocked); None for anonymous routes."""
    if (request.method, route_of(request)) in ANONYMOUS:
        return None
    header = request.headers.get("Authorization", "")
    if not header:
        subject = peer_subject(request)
        if subject is not None:
            user = await access.store.user_by_cert(subject)
            if user is None:
                raise Unauthorized("this client certificate is not mapped to a user")
            return await access.gate.admit_cert(user)
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized("send 'Authorization: Bearer <API key>'")
    return await access.gate.admit(secret.strip())


def _failure(exc: BaseException) -> tuple[int, str]:
    if isinstance(exc, ListdError):
        return exc.status, exc.code
    if isinstance(exc, web.HTTPException):
        return exc.status, exc.reason.lower().replace(" ", "_")
    if isinstance(exc, asyncio.CancelledError):
        return 499, "cancelled"  # the client went away (or the server is stopping)
    return 500, "internal_error"


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in PUBLIC:
        if request.path == "/metrics":
            with contextlib.suppress(RedisError, OSError):
                await request.app[ACCESS].refresh_metrics()
        return await handler(request)
    access = request.app[ACCESS]
    started = time.perf_counter()
    request[NOTE] = {}
    principal: Principal | None = None
    admitted = False
    try:
        admission = await _admit(request, access)
        if admission is None:  # anonymous: only maintenance applies
            now = time.time()
            check_maintenance(await access.gate.maintenance_ends(now), now, None)
        else:
            principal = request[PRINCIPAL] = admission.principal
            admission.check((request.method, route_of(request)) in AGREEMENT_EXEMPT)
        admitted = True
        response = await handler(request)
    except BaseException as exc:
        status, code = _failure(exc)
        if not admitted and isinstance(exc, ListdError):
            access.metrics.refused.labels(code).inc()
            if principal is None and exc.detail.get("key_id"):
                # A refused credential is still named (by its key id), never by its secret.
                request[NOTE]["key"] = exc.detail["key_id"]
        write = _journal(request, access, principal, started, status, code)
        if isinstance(exc, asyncio.CancelledError):
            # Finish the entry even though this task is being cancelled.
            task = asyncio.create_task(write)
            access.pending.add(task)
            task.add_done_callback(access.pending.discard)
        else:
            with contextlib.suppress(JournalUnavailable):
                await write
        raise
    await _journal(request, access, principal, started, response.status, "", response)
    return response


async def _journal(
    request: web.Request,
    access: Access,
    principal: Principal | None,
    started: float,
    status: int,
    code: str,
    response: web.StreamResponse | None = None,
) -> None:
    request_id = uuid.uuid4().hex
    entry: dict[str, Any] = {"kind": "request"}
    if principal is not None:
        entry |= principal.actor().fields()
    else:
        entry["via"] = "public" if (request.method, route_of(request)) in ANONYMOUS else "none"
    entry |= {
        "method": request.method,
        "route": route_of(request),
        "path": request.path,
        "status": status,
        "outcome": "ok" if status < 400 else "refused" if status < 500 else "error",
        "error": code,
        "ip": request.remote or "",
        "request_id": request_id,
        "ms": round((time.perf_counter() - started) * 1000, 2),
    }
    noted: dict[str, Any] = request[NOTE]
    if "query" not in noted:
        query = {k: v for k, v in request.query.items() if k not in BASIS_FIELDS}
        noted = {**noted, "query": query or None}
    entry |= noted
    try:
        seq = await access.journal.append(entry)
    except (RedisError, OSError) as exc:
        log.error("journal write failed", path=request.path, status=status, error=str(exc))
        if response is not None and response.prepared:
            return  # already streamed: too late to withhold
        raise JournalUnavailable(
            "the request could not be journaled, so its answer is withheld; retry"
        ) from exc
    if response is not None and not response.prepared:
        response.headers["X-Request-Id"] = request_id
        response.headers["X-Journal-Seq"] = str(seq)
