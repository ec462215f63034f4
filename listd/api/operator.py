"""Access routes: terms of use, users, keys, maintenance windows, the journal, each declared
once in `routes` (applications for access: `listd.api.registrations`).

`setup(app)` builds the shared `Access` object, adds these routes and runs the journal
archiver. Operators manage identities for every organisation (they run the service);
everything else a principal reads is confined to its own organisation.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from listd import waits
from listd.access import (
    ROLES,
    check_name,
    check_role,
    wire,
)
from listd.access.roles import NAME_PATTERN
from listd.api import registrations
from listd.api.middleware import ACCESS, Access, AccessMetrics
from listd.api.schemas import form, listing
from listd.api.state import METRICS
from listd.audit import parse_epoch, parse_time
from listd.errors import BadRequest, Forbidden
from listd.http import body as v
from listd.http.fields import OBJECT, OBJECTS, Declared, Int, Num, QInt, QText, Schema, Text, obj
from listd.http.openapi import ok
from listd.http.state import CLOCK, KEYSTORE, REDIS, SETTINGS, note, principal
from listd.http.table import Routes
from listd.logs import get_logger
from listd.seal import ensure_seal

log = get_logger(__name__)

routes = Routes("access")

ARCHIVE_EVERY = 60.0  # seconds between checks of the journal's size
_NAME = f"^{NAME_PATTERN}$"  # what listd.access.check_name checks
OPERATOR = ("operator",)
_TIME: Schema = {"type": "string", "format": "date-time"}


REASON_TEXT = Text("reason", max_len=2000)
REASON = form(REASON_TEXT, required=False)
ACCEPT = form(
    Declared("accept", required=True, shape={"const": True}),
    Declared("version", shape={"type": "string"}),
    example={"accept": True},
)
NEW_USER = form(
    Declared("name", required=True, shape={"type": "string", "pattern": _NAME}),
    Declared("org", required=True, shape={"type": "string", "pattern": _NAME}),
    Declared("role", required=True, shape={"enum": list(ROLES)}),
    Text("cert_subject", max_len=500),
    example={"name": "bank-b screening", "org": "bank-b", "role": "screener"},
)
KEY_USER = Text("user", required=True, max_len=100)
EXPIRES_DAYS = Num("expires_days", lo=0.001, hi=3650)
RATE_LIMIT = Int("rate_limit", lo=0, hi=1_000_000, default=0)
NEW_KEY = form(KEY_USER, EXPIRES_DAYS, RATE_LIMIT)
OVERLAP = Num("overlap_hours", lo=0, hi=720)
ROTATION = form(OVERLAP, required=False)
WINDOW_REASON = Text("reason", required=True, max_len=500)
WINDOW = form(
    Declared("start", shape={"anyOf": [_TIME, {"type": "null"}]}),
    Declared("end", required=True, shape=_TIME),
    WINDOW_REASON,
    example={
        "start": "2030-01-01T02:00:00Z",
        "end": "2030-01-01T03:00:00Z",
        "reason": "Redis upgrade",
    },
)
ORG = QText("org")
USER = QText("user")
AUDIT_AFTER = QInt("after", lo=0, hi=2**62, default=0)
AUDIT_LIMIT = QInt("limit", lo=1, hi=1000, default=100)


def setup(app: web.Application, *, archive_every: float = ARCHIVE_EVERY) -> None:
    """Share an `Access` on the app, add the routes, archive the journal as it fills."""
    settings, redis = app[SETTINGS], app[REDIS]
    # Created (0600) on the first start: the journal's anchor outside Redis.
    seal = ensure_seal(settings.journal_key_path, create=settings.journal_key_file is None)
    wiring = wire(settings, redis, seal, app[CLOCK])
    journal, store = wiring.journal, wiring.store
    serving = wiring.serving()
    writer, checkpointer = serving.writer, serving.checkpointer
    access = Access(wiring, serving, AccessMetrics(app[METRICS].registry))
    app[ACCESS] = access
    app[KEYSTORE] = store  # keys made through the app follow LISTD_KEY_TTL_DAYS
    routes.add_to(app)
    registrations.routes.add_to(app)

    async def archiver(app: web.Application) -> AsyncIterator[None]:
        await checkpointer.check_key()

        async def loop() -> None:
            while True:
                await waits.sleep(archive_every)
                try:
                    await journal.archive(settings.journal_archive_at)
                except (RedisError, OSError) as exc:
                    log.warning("journal archiving failed", error=str(exc))

        tasks = [
            asyncio.create_task(loop(), name="listd-journal-archiver"),
            asyncio.create_task(writer.run(), name="listd-journal-spool"),
            asyncio.create_task(
                checkpointer.run(settings.journal_checkpoint_seconds),
                name="listd-journal-checkpoints",
            ),
        ]
        yield
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await writer.close()
        await checkpointer.close()

    app.cleanup_ctx.append(archiver)


def _access(request: web.Request) -> Access:
    return request.app[ACCESS]


# --- terms of use ---------------------------------------------------------------------------
@routes.get(
    "/v1/agreement",
    "The terms of use and whether this credential accepted them.",
    roles=ROLES,
    exempt=True,
    ok={
        200: ok(
            obj(
                {
                    "version": {"type": "string"},
                    "text": {"type": "string"},
                    "accepted": {"type": ["string", "null"]},
                },
                ("version", "text", "accepted"),
            )
        )
    },
)
async def agreement(request: web.Request) -> web.Response:
    """The terms of use; callable before they are accepted."""
    who = principal(request)
    access = _access(request)
    if who.via == "cert":
        record = await access.wiring.store.cert_agreement(who.user)
    else:
        record = await access.wiring.store.record(who.key_id)
    accepted = (
        record.get("agreed_at") if record.get("agreed") == access.serving.terms.version else None
    )
    return web.json_response(
        {
            "version": access.serving.terms.version,
            "text": access.serving.terms.text,
            "accepted": accepted,
        }
    )


@routes.post(
    "/v1/agreement",
    "Accept the terms of use.",
    roles=ROLES,
    exempt=True,
    ok={200: ok(obj({"accepted": {"type": "string"}, "at": {}}, ("accepted",)))},
    body=ACCEPT,
)
async def accept_agreement(request: web.Request) -> web.Response:
    """Accept the terms: {"accept": true, "version": optional, must be the current one}."""
    who = principal(request)
    access = _access(request)
    body = await ACCEPT.read(request)
    if body.get("accept") is not True:
        raise BadRequest('send {"accept": true} to accept the terms of use', field="accept")
    version = body.get("version")
    if version is not None and version != access.serving.terms.version:
        raise BadRequest(
            f"the terms changed; the current version is {access.serving.terms.version}",
            field="version",
        )
    if who.via == "cert":
        at = await access.wiring.store.accept_cert_agreement(
            who.user, access.serving.terms.version, who.actor()
        )
    else:
        if (await access.wiring.store.record(who.key_id)).get("session") == "eds":
            # A digital-signature sign-in accepts the terms by signing them, not by a click.
            raise Forbidden("sign the terms with your EDS: POST /v1/eds/agreement")
        at = await access.wiring.store.accept_agreement(
            who.key_id, access.serving.terms.version, actor=who.actor()
        )
    note(request, action="agreement.accept")
    return web.json_response({"accepted": access.serving.terms.version, "at": at})


# --- users ----------------------------------------------------------------------------------
@routes.get(
    "/v1/users",
    "Users, optionally of one organisation.",
    roles=OPERATOR,
    ok={200: listing("users")},
    params=(ORG,),
)
async def users(request: web.Request) -> web.Response:
    org = ORG.read(request)
    found = await _access(request).wiring.store.users(org)
    return web.json_response({"users": [u.to_json() for u in found]})


@routes.post(
    "/v1/users",
    "Create a user.",
    roles=OPERATOR,
    ok={201: ok(OBJECT)},
    errors=(409,),
    body=NEW_USER,
)
async def create_user(request: web.Request) -> web.Response:
    """{"name", "org", "role", "cert_subject": optional TLS client certificate subject}."""
    who = principal(request)
    body = await NEW_USER.read(request)
    user = await _access(request).wiring.store.create_user(
        check_name(body.get("name"), "name"),
        check_name(body.get("org"), "org"),
        check_role(body.get("role")),
        cert_subject=v.string(body, "cert_subject", max_len=500),
        actor=who.actor(),
    )
    note(request, action="user.create", target=user.id, target_org=user.org)
    return web.json_response(user.to_json(), status=201)


@routes.get(
    "/v1/users/{id}",
    "One user and their keys.",
    roles=OPERATOR,
    ok={200: ok(OBJECT)},
    errors=(404,),
)
async def user(request: web.Request) -> web.Response:
    store = _access(request).wiring.store
    found = await store.user(request.match_info["id"])
    return web.json_response({**found.to_json(), "keys": await store.list_keys(found.id)})


@routes.post(
    "/v1/users/{id}/block",
    "Block a user: every key of theirs is refused from the next request.",
    roles=OPERATOR,
    ok={200: ok(OBJECT)},
    errors=(404,),
    body=REASON,
)
async def block_user(request: web.Request) -> web.Response:
    """Block a user: every key of the user is refused from the next request on."""
    return await _user_status(request, "blocked")


@routes.post(
    "/v1/users/{id}/unblock",
    "Unblock a user.",
    roles=OPERATOR,
    ok={200: ok(OBJECT)},
    errors=(404,),
    body=REASON,
)
async def unblock_user(request: web.Request) -> web.Response:
    return await _user_status(request, "active")


async def _user_status(request: web.Request, status: str) -> web.Response:
    who = principal(request)
    body = await REASON.read(request)
    reason = REASON_TEXT.read(body) or ""
    user_id = request.match_info["id"]
    found = await _access(request).wiring.store.set_user_status(
        user_id, status, reason, who.actor()
    )
    action = "user.block" if status == "blocked" else "user.unblock"
    note(request, action=action, target=user_id, target_org=found.org)
    return web.json_response(found.to_json())


# --- keys -----------------------------------------------------------------------------------
@routes.get(
    "/v1/keys",
    "Keys (never their secrets), by user or organisation.",
    roles=OPERATOR,
    ok={200: listing("keys")},
    params=(USER, ORG),
)
async def keys(request: web.Request) -> web.Response:
    user_id = USER.read(request)
    org = ORG.read(request)
    return web.json_response({"keys": await _access(request).wiring.store.list_keys(user_id, org)})


@routes.post(
    "/v1/keys",
    "Issue a key to a user; the secret is shown once.",
    roles=OPERATOR,
    ok={201: ok(OBJECT)},
    errors=(404, 409),
    body=NEW_KEY,
)
async def create_key(request: web.Request) -> web.Response:
    """A key for a user: {"user", "expires_days", "rate_limit"}; the key is shown once."""
    who = principal(request)
    body = await NEW_KEY.read(request)
    user_id = KEY_USER.read(body) or ""
    days = EXPIRES_DAYS.optional(body)
    limit = RATE_LIMIT.read(body) if "rate_limit" in body else None
    issued = await _access(request).wiring.store.issue(
        user_id, ttl_days=days, rate_limit=limit, actor=who.actor()
    )
    note(request, action="key.create", target=issued.key_id, target_org=issued.org)
    return web.json_response(issued.to_json(), status=201)


@routes.post(
    "/v1/keys/{key_id}/rotate",
    "A successor key; the old one keeps working overlap_hours (default 24).",
    roles=ROLES,
    ok={201: ok(OBJECT)},
    errors=(404, 409),
    body=ROTATION,
)
async def rotate_key(request: web.Request) -> web.Response:
    """A successor key; the old one works `overlap_hours` (default 24) more. An operator
    rotates any key; everyone else only the key they call with."""
    who = principal(request)
    key_id = request.match_info["key_id"]
    store = _access(request).wiring.store
    record = await store.record(key_id)
    if who.role != "operator":
        who.require_org(record.get("org", ""))
        if key_id != who.key_id:
            raise Forbidden("you may rotate only the key you are calling with", key_id=key_id)
    body = await ROTATION.read(request)
    overlap = OVERLAP.optional(body)
    new, old_expires = await store.rotate(key_id, 24.0 if overlap is None else overlap, who.actor())
    note(request, action="key.rotate", target=key_id, target_org=new.org)
    return web.json_response({**new.to_json(), "old_key_expires": old_expires}, status=201)


@routes.post(
    "/v1/keys/{key_id}/block",
    "Block a key.",
    roles=OPERATOR,
    ok={200: ok(OBJECT)},
    errors=(404,),
    body=REASON,
)
async def block_key(request: web.Request) -> web.Response:
    return await _key_status(request, "blocked")


@routes.post(
    "/v1/keys/{key_id}/unblock",
    "Unblock a key.",
    roles=OPERATOR,
    ok={200: ok(OBJECT)},
    errors=(404,),
    body=REASON,
)
async def unblock_key(request: web.Request) -> web.Response:
    return await _key_status(request, "active")


async def _key_status(request: web.Request, status: str) -> web.Response:
    who = principal(request)
    body = await REASON.read(request)
    reason = REASON_TEXT.read(body) or ""
    key_id = request.match_info["key_id"]
    found = await _access(request).wiring.store.set_key_status(key_id, status, reason, who.actor())
    action = "key.block" if status == "blocked" else "key.unblock"
    note(request, action=action, target=key_id, target_org=found["org"])
    return web.json_response(found)


# --- maintenance ----------------------------------------------------------------------------
@routes.get(
    "/v1/maintenance",
    "Announced maintenance windows not yet over.",
    roles=ROLES,
    ok={200: listing("windows")},
)
async def maintenance(request: web.Request) -> web.Response:
    """Announced maintenance windows that are not over, soonest first."""
    return web.json_response({"windows": await _access(request).wiring.maintenance.windows()})


@routes.post(
    "/v1/maintenance",
    "Announce a maintenance window (only operators and admins are served in it).",
    roles=OPERATOR,
    ok={201: ok(OBJECT)},
    body=WINDOW,
)
async def announce(request: web.Request) -> web.Response:
    """{"start": ISO (default now), "end": ISO, "reason"}."""
    who = principal(request)
    body = await WINDOW.read(request)
    start = _timestamp(body, "start") or _access(request).wiring.clock.time()
    end = _timestamp(body, "end")
    if end is None:
        raise BadRequest("end is required", field="end")
    reason = WINDOW_REASON.read(body) or ""
    window = await _access(request).wiring.maintenance.announce(start, end, reason, who.actor())
    note(request, action="maintenance.announce", target=window["id"])
    return web.json_response(window, status=201)


@routes.delete(
    "/v1/maintenance/{id}",
    "Cancel a maintenance window.",
    roles=OPERATOR,
    ok={200: ok(obj({"cancelled": {"type": "string"}}, ("cancelled",)))},
    errors=(404,),
)
async def cancel_maintenance(request: web.Request) -> web.Response:
    who = principal(request)
    window_id = request.match_info["id"]
    await _access(request).wiring.maintenance.cancel(window_id, who.actor())
    note(request, action="maintenance.cancel", target=window_id)
    return web.json_response({"cancelled": window_id})


def _timestamp(body: dict[str, Any], key: str) -> float | None:
    raw = v.string(body, key, max_len=40)
    if raw is None:
        return None
    return parse_epoch(raw, key)


# --- the journal ----------------------------------------------------------------------------
@routes.get(
    "/v1/audit",
    "Journal entries by or about the auditor's organisation (`to` exclusive).",
    roles=("auditor",),
    ok={
        200: ok(
            obj(
                {"entries": OBJECTS, "next": {"type": ["integer", "null"]}},
                ("entries", "next"),
            )
        )
    },
    errors=(400, 410),
    params=(
        QText("from", shape=_TIME),
        QText("to", shape=_TIME),
        AUDIT_AFTER,
        AUDIT_LIMIT,
        QText("org", description="Must be the caller's organisation."),
    ),
)
async def audit(request: web.Request) -> web.Response:
    """The journal entries by or about the auditor's organisation:
    ?from=ISO&to=ISO&after=SEQ&limit=N (to is exclusive); `next` pages on."""
    who = principal(request)
    org = request.query.get("org")
    if org is not None:
        who.require_org(org)
    start = parse_time(request.query["from"], "from") if request.query.get("from") else None
    end = parse_time(request.query["to"], "to") if request.query.get("to") else None
    after = AUDIT_AFTER.read(request)
    limit = AUDIT_LIMIT.read(request)
    found, cursor = await _access(request).wiring.journal.for_org(who.org, after, limit, start, end)
    note(request, matches=len(found))
    return web.json_response({"entries": [e.to_json() for e in found], "next": cursor})
