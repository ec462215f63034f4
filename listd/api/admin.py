"""Access routes: terms of use, registrations, users, keys, maintenance windows, the journal.

`setup(app)` builds the shared `Access` object, adds these routes and runs the journal
archiver. Operators manage identities for every organisation (they run the service);
everything else a principal reads is confined to its own organisation.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from listd.access import (
    APPLICABLE_ROLES,
    ROLES,
    Gate,
    KeyStore,
    MaintenanceWindows,
    Principal,
    Registrations,
    Terms,
    check_name,
    check_role,
)
from listd.api import validate as v
from listd.api.middleware import ACCESS, Access, AccessMetrics, note
from listd.api.state import KEYSTORE, METRICS, PRINCIPAL, REDIS, SETTINGS
from listd.audit import Journal, JournalWriter, StoreHealth, parse_epoch, parse_time
from listd.errors import BadRequest, Forbidden, RateLimited
from listd.keys import Keys
from listd.logs import get_logger
from listd.normalize.kzid import check_bin
from listd.seal import Checkpointer, ensure_seal

log = get_logger(__name__)

routes = web.RouteTableDef()

_SMALL = 64 * 1024  # every body here is a small form
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_REGISTRATIONS_PER_HOUR = 10  # per client address: the route needs no credential
ARCHIVE_EVERY = 60.0  # seconds between checks of the journal's size


def setup(app: web.Application, *, archive_every: float = ARCHIVE_EVERY) -> None:
    """Share an `Access` on the app, add the routes, archive the journal as it fills."""
    settings, redis = app[SETTINGS], app[REDIS]
    keys = Keys(settings.key_prefix)
    # Created (0600) on the first start: the journal's anchor outside Redis.
    seal = ensure_seal(settings.journal_key_path, create=settings.journal_key_file is None)
    journal = Journal(redis, keys, settings.state_dir / "journal", seal)
    store = KeyStore(redis, keys, ttl_days=settings.key_ttl_days, journal=journal)
    terms = Terms.load(settings.terms_file)
    health = StoreHealth()
    gate = Gate(
        redis,
        keys,
        terms,
        settings.rate_limit,
        cache_seconds=settings.admission_cache_seconds,
        grace_seconds=settings.outage_grace_seconds,
        health=health,
    )
    writer = JournalWriter(
        journal, settings.state_dir / "journal" / "spool", health, on_epoch=gate.learn_epoch
    )
    # Every process signs its own checkpoints (not only the leader: leadership is decided
    # in Redis, which is what the checkpoints must not trust); see docs/security.md.
    checkpointer = Checkpointer(
        redis,
        keys,
        seal,
        settings.state_dir / "journal",
        instance=writer.writer,
        entries=settings.journal_checkpoint_entries,
    )
    writer.on_written = checkpointer.note
    access = Access(
        settings=settings,
        store=store,
        gate=gate,
        journal=journal,
        writer=writer,
        maintenance=MaintenanceWindows(redis, keys, journal),
        registrations=Registrations(redis, keys, store, settings.registration_sla_hours),
        terms=terms,
        metrics=AccessMetrics(app[METRICS].registry),
    )
    app[ACCESS] = access
    app[KEYSTORE] = store  # keys made through the app follow LISTD_KEY_TTL_DAYS
    app.add_routes(routes)

    async def archiver(app: web.Application) -> AsyncIterator[None]:
        await checkpointer.check_key()

        async def loop() -> None:
            while True:
                await asyncio.sleep(archive_every)
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


def _who(request: web.Request, *roles: str) -> Principal:
    who: Principal = request[PRINCIPAL]
    who.require(*roles)
    return who


async def _body(request: web.Request, allowed: set[str]) -> dict[str, Any]:
    body = await v.json_object(request, max_bytes=_SMALL)
    v.reject_unknown(body, allowed)
    return body


def _number(body: dict[str, Any], key: str, lo: float, hi: float) -> float | None:
    if body.get(key) is None:
        return None
    return v.number(body, key, 0.0, lo, hi)


# --- terms of use ---------------------------------------------------------------------------
@routes.get("/v1/agreement")
async def agreement(request: web.Request) -> web.Response:
    """The terms of use; callable before they are accepted."""
    who = _who(request, *ROLES)
    access = _access(request)
    if who.via == "cert":
        record = await access.store.cert_agreement(who.user)
    else:
        record = await access.store.record(who.key_id)
    accepted = record.get("agreed_at") if record.get("agreed") == access.terms.version else None
    return web.json_response(
        {"version": access.terms.version, "text": access.terms.text, "accepted": accepted}
    )


@routes.post("/v1/agreement")
async def accept_agreement(request: web.Request) -> web.Response:
    """Accept the terms: {"accept": true, "version": optional, must be the current one}."""
    who = _who(request, *ROLES)
    access = _access(request)
    body = await _body(request, {"accept", "version"})
    if body.get("accept") is not True:
        raise BadRequest('send {"accept": true} to accept the terms of use', field="accept")
    version = body.get("version")
    if version is not None and version != access.terms.version:
        raise BadRequest(
            f"the terms changed; the current version is {access.terms.version}",
            field="version",
        )
    if who.via == "cert":
        at = await access.store.accept_cert_agreement(who.user, access.terms.version, who.actor())
    else:
        if (await access.store.record(who.key_id)).get("session") == "eds":
            # A digital-signature sign-in accepts the terms by signing them, not by a click.
            raise Forbidden("sign the terms with your EDS: POST /v1/eds/agreement")
        at = await access.store.accept_agreement(
            who.key_id, access.terms.version, actor=who.actor()
        )
    note(request, action="agreement.accept")
    return web.json_response({"accepted": access.terms.version, "at": at})


# --- registrations --------------------------------------------------------------------------
@routes.post("/v1/registrations")
async def register(request: web.Request) -> web.Response:
    """An organisation applies for access (no credential needed)."""
    access = _access(request)
    await _limit_registrations(request, access)
    body = await _body(request, {"organisation", "bin", "contact", "roles", "legal_ground"})
    organisation = v.string(body, "organisation", required=True, max_len=300) or ""
    bin_ = v.string(body, "bin", required=True, max_len=12) or ""
    ok, problems = check_bin(bin_)
    if not ok:
        raise BadRequest(f"bin is not a valid BIN: {'; '.join(problems)}", field="bin")
    contact = body.get("contact")
    if not isinstance(contact, dict):
        raise BadRequest("contact must be an object {name, email, phone}", field="contact")
    v.reject_unknown(contact, {"name", "email", "phone"})
    clean = {
        "name": v.string(contact, "name", required=True, max_len=200) or "",
        "email": v.string(contact, "email", required=True, max_len=200) or "",
        "phone": v.string(contact, "phone", max_len=50) or "",
    }
    if not _EMAIL.fullmatch(clean["email"]):
        raise BadRequest("contact.email is not an e-mail address", field="contact.email")
    roles = v.string_list(body, "roles")
    if not roles or any(r not in APPLICABLE_ROLES for r in roles):
        raise BadRequest(
            f"roles must be a non-empty list of {', '.join(APPLICABLE_ROLES)}", field="roles"
        )
    ground = v.string(body, "legal_ground", required=True, max_len=2000) or ""
    reg = await access.registrations.submit(
        organisation,
        bin_,
        {k: val for k, val in clean.items() if val},
        sorted(set(roles)),
        ground,
        ip=request.remote or "",
    )
    note(request, action="registration.submit", target=reg["id"], target_org=bin_)
    return web.json_response(reg, status=201)


async def _limit_registrations(request: web.Request, access: Access) -> None:
    now = dt.datetime.now(dt.UTC).timestamp()
    hour = int(now // 3600)
    key = access.store.keys.rate_ip(request.remote or "unknown", hour)
    redis = access.store.redis
    async with redis.pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.expire(key, 7200)
        count, _ = await pipe.execute()
    if int(count) > _REGISTRATIONS_PER_HOUR:
        raise RateLimited(
            "too many applications from this address; try again later",
            retry_after=int((hour + 1) * 3600 - now) + 1,
        )


@routes.get("/v1/registrations")
async def registrations(request: web.Request) -> web.Response:
    """Applications; `?overdue=1` only the undecided ones past the SLA."""
    _who(request, "operator")
    status = request.query.get("status") or None
    if status not in (None, "pending", "approved", "rejected"):
        raise BadRequest("status must be pending, approved or rejected", field="status")
    overdue = request.query.get("overdue", "") in ("1", "true", "yes")
    found = await _access(request).registrations.find(status, overdue)
    return web.json_response({"registrations": found})


@routes.get("/v1/registrations/{id}")
async def registration(request: web.Request) -> web.Response:
    _who(request, "operator")
    return web.json_response(await _access(request).registrations.get(request.match_info["id"]))


@routes.post("/v1/registrations/{id}/approve")
async def approve(request: web.Request) -> web.Response:
    """Approve: the organisation's users and keys are created; the keys are shown once."""
    who = _who(request, "operator")
    reg_id = request.match_info["id"]
    reg, credentials = await _access(request).registrations.approve(reg_id, who.actor())
    note(request, action="registration.approve", target=reg_id, target_org=reg["bin"])
    return web.json_response({"registration": reg, "credentials": credentials})


@routes.post("/v1/registrations/{id}/reject")
async def reject(request: web.Request) -> web.Response:
    """Reject with a reason: {"reason": "..."}."""
    who = _who(request, "operator")
    body = await _body(request, {"reason"})
    reason = v.string(body, "reason", required=True, max_len=2000) or ""
    reg_id = request.match_info["id"]
    reg = await _access(request).registrations.reject(reg_id, reason, who.actor())
    note(request, action="registration.reject", target=reg_id, target_org=reg["bin"])
    return web.json_response(reg)


# --- users ----------------------------------------------------------------------------------
@routes.get("/v1/users")
async def users(request: web.Request) -> web.Response:
    _who(request, "operator")
    org = request.query.get("org") or None
    found = await _access(request).store.users(org)
    return web.json_response({"users": [u.to_json() for u in found]})


@routes.post("/v1/users")
async def create_user(request: web.Request) -> web.Response:
    """{"name", "org", "role", "cert_subject": optional TLS client certificate subject}."""
    who = _who(request, "operator")
    body = await _body(request, {"name", "org", "role", "cert_subject"})
    user = await _access(request).store.create_user(
        check_name(body.get("name"), "name"),
        check_name(body.get("org"), "org"),
        check_role(body.get("role")),
        cert_subject=v.string(body, "cert_subject", max_len=500),
        actor=who.actor(),
    )
    note(request, action="user.create", target=user.id, target_org=user.org)
    return web.json_response(user.to_json(), status=201)


@routes.get("/v1/users/{id}")
async def user(request: web.Request) -> web.Response:
    _who(request, "operator")
    store = _access(request).store
    found = await store.user(request.match_info["id"])
    return web.json_response({**found.to_json(), "keys": await store.list_keys(found.id)})


@routes.post("/v1/users/{id}/block")
async def block_user(request: web.Request) -> web.Response:
    """Block a user: every key of the user is refused from the next request on."""
    return await _user_status(request, "blocked")


@routes.post("/v1/users/{id}/unblock")
async def unblock_user(request: web.Request) -> web.Response:
    return await _user_status(request, "active")


async def _user_status(request: web.Request, status: str) -> web.Response:
    who = _who(request, "operator")
    body = await _body(request, {"reason"}) if request.body_exists else {}
    reason = v.string(body, "reason", max_len=2000) or ""
    user_id = request.match_info["id"]
    found = await _access(request).store.set_user_status(user_id, status, reason, who.actor())
    action = "user.block" if status == "blocked" else "user.unblock"
    note(request, action=action, target=user_id, target_org=found.org)
    return web.json_response(found.to_json())


# --- keys -----------------------------------------------------------------------------------
@routes.get("/v1/keys")
async def keys(request: web.Request) -> web.Response:
    _who(request, "operator")
    user_id = request.query.get("user") or None
    org = request.query.get("org") or None
    return web.json_response({"keys": await _access(request).store.list_keys(user_id, org)})


@routes.post("/v1/keys")
async def create_key(request: web.Request) -> web.Response:
    """A key for a user: {"user", "expires_days", "rate_limit"}; the key is shown once."""
    who = _who(request, "operator")
    body = await _body(request, {"user", "expires_days", "rate_limit"})
    user_id = v.string(body, "user", required=True, max_len=100) or ""
    days = _number(body, "expires_days", 0.001, 3650)
    limit = v.integer(body, "rate_limit", 0, 0, 1_000_000) if "rate_limit" in body else None
    issued = await _access(request).store.issue(
        user_id, ttl_days=days, rate_limit=limit, actor=who.actor()
    )
    note(request, action="key.create", target=issued.key_id, target_org=issued.org)
    return web.json_response(issued.to_json(), status=201)


@routes.post("/v1/keys/{key_id}/rotate")
async def rotate_key(request: web.Request) -> web.Response:
    """A successor key; the old one works `overlap_hours` (default 24) more. An operator
    rotates any key; everyone else only the key they call with."""
    who = _who(request, *ROLES)
    key_id = request.match_info["key_id"]
    store = _access(request).store
    record = await store.record(key_id)
    if who.role != "operator":
        who.require_org(record.get("org", ""))
        if key_id != who.key_id:
            raise Forbidden("you may rotate only the key you are calling with", key_id=key_id)
    body = await _body(request, {"overlap_hours"}) if request.body_exists else {}
    overlap = _number(body, "overlap_hours", 0, 720)
    new, old_expires = await store.rotate(key_id, 24.0 if overlap is None else overlap, who.actor())
    note(request, action="key.rotate", target=key_id, target_org=new.org)
    return web.json_response({**new.to_json(), "old_key_expires": old_expires}, status=201)


@routes.post("/v1/keys/{key_id}/block")
async def block_key(request: web.Request) -> web.Response:
    return await _key_status(request, "blocked")


@routes.post("/v1/keys/{key_id}/unblock")
async def unblock_key(request: web.Request) -> web.Response:
    return await _key_status(request, "active")


async def _key_status(request: web.Request, status: str) -> web.Response:
    who = _who(request, "operator")
    body = await _body(request, {"reason"}) if request.body_exists else {}
    reason = v.string(body, "reason", max_len=2000) or ""
    key_id = request.match_info["key_id"]
    found = await _access(request).store.set_key_status(key_id, status, reason, who.actor())
    action = "key.block" if status == "blocked" else "key.unblock"
    note(request, action=action, target=key_id, target_org=found["org"])
    return web.json_response(found)


# --- maintenance ----------------------------------------------------------------------------
@routes.get("/v1/maintenance")
async def maintenance(request: web.Request) -> web.Response:
    """Announced maintenance windows that are not over, soonest first."""
    _who(request, *ROLES)
    return web.json_response({"windows": await _access(request).maintenance.windows()})


@routes.post("/v1/maintenance")
async def announce(request: web.Request) -> web.Response:
    """{"start": ISO (default now), "end": ISO, "reason"}."""
    who = _who(request, "operator")
    body = await _body(request, {"start", "end", "reason"})
    start = _timestamp(body, "start") or dt.datetime.now(dt.UTC).timestamp()
    end = _timestamp(body, "end")
    if end is None:
        raise BadRequest("end is required", field="end")
    reason = v.string(body, "reason", required=True, max_len=500) or ""
    window = await _access(request).maintenance.announce(start, end, reason, who.actor())
    note(request, action="maintenance.announce", target=window["id"])
    return web.json_response(window, status=201)


@routes.delete("/v1/maintenance/{id}")
async def cancel_maintenance(request: web.Request) -> web.Response:
    who = _who(request, "operator")
    window_id = request.match_info["id"]
    await _access(request).maintenance.cancel(window_id, who.actor())
    note(request, action="maintenance.cancel", target=window_id)
    return web.json_response({"cancelled": window_id})


def _timestamp(body: dict[str, Any], key: str) -> float | None:
    raw = v.string(body, key, max_len=40)
    if raw is None:
        return None
    return parse_epoch(raw, key)


# --- the journal ----------------------------------------------------------------------------
@routes.get("/v1/audit")
async def audit(request: web.Request) -> web.Response:
    """The journal entries by or about the auditor's organisation:
    ?from=ISO&to=ISO&after=SEQ&limit=N (to is exclusive); `next` pages on."""
    who = _who(request, "auditor")
    org = request.query.get("org")
    if org is not None:
        who.require_org(org)
    start = parse_time(request.query["from"], "from") if request.query.get("from") else None
    end = parse_time(request.query["to"], "to") if request.query.get("to") else None
    after = v.query_int(request, "after", 0, 0, 2**62)
    limit = v.query_int(request, "limit", 100, 1, 1000)
    found, cursor = await _access(request).journal.for_org(who.org, after, limit, start, end)
    note(request, matches=len(found))
    return web.json_response({"entries": [e.to_json() for e in found], "next": cursor})
