"""Applications for access: an organisation applies without a credential (a few an hour
per address); an operator approves (its users and keys are created) or rejects."""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiohttp import web

from listd.access import APPLICABLE_ROLES
from listd.api.middleware import ACCESS, Access
from listd.api.schemas import form, listing
from listd.errors import BadRequest, RateLimited
from listd.http import body as v
from listd.http.fields import OBJECT, Components, Declared, Obj, QChoice, QText, Schema, Text, obj
from listd.http.openapi import ok
from listd.http.state import note, principal
from listd.http.table import Routes
from listd.normalize.kzid import check_bin

routes = Routes("access")

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_REGISTRATIONS_PER_HOUR = 10  # per client address: the route needs no credential
OPERATOR = ("operator",)


@dataclass(frozen=True)
class _Email(Text):
    """Read as any required text; `_EMAIL` is checked after (its 400 names contact.email)."""

    def _schema(self, components: Components) -> Schema:
        return {"type": "string", "maxLength": self.max_len, "pattern": f"^{_EMAIL.pattern}$"}


CONTACT_NAME = Text("name", required=True, max_len=200)
EMAIL = _Email("email", required=True, max_len=200)
PHONE = Text("phone", max_len=50)
CONTACT = Obj("contact", required=True, fields=(CONTACT_NAME, EMAIL, PHONE))
BIN = Text("bin", required=True, max_len=12)
ORGANISATION = Text("organisation", required=True, max_len=300)
LEGAL_GROUND = Text("legal_ground", required=True, max_len=2000)
APPLICATION = form(
    ORGANISATION,
    Declared(
        BIN.name,
        required=True,
        shape={"type": "string", "pattern": r"^[0-9]{12}$"},
        description="Kazakh business identification number (checksum verified).",
    ),
    CONTACT,
    Declared(
        "roles",
        required=True,
        shape={"type": "array", "minItems": 1, "items": {"enum": list(APPLICABLE_ROLES)}},
    ),
    LEGAL_GROUND,
    example={
        "organisation": "Bank B JSC",
        "bin": "040540000014",
        "contact": {"name": "Aigul Saparova", "email": "compliance@bank-b.kz"},
        "roles": ["screener", "auditor"],
        "legal_ground": "second-tier bank; reporting entity",
    },
)
REG_STATUS = QChoice("status", options=("pending", "approved", "rejected"))
REJECT_REASON = Text("reason", required=True, max_len=2000)
REJECTION = form(REJECT_REASON)


@routes.post(
    "/v1/registrations",
    "An organisation applies for access (no credential; "
    f"{_REGISTRATIONS_PER_HOUR} an hour per address).",
    roles=None,
    ok={201: ok(OBJECT, "The application, pending.")},
    errors=(400, 409, 413, 429, 503),
    body=APPLICATION,
)
async def register(request: web.Request) -> web.Response:
    """An organisation applies for access (no credential needed)."""
    access = request.app[ACCESS]
    await _limit_registrations(request, access)
    body = await APPLICATION.read(request)
    organisation = ORGANISATION.read(body) or ""
    bin_ = BIN.read(body) or ""
    valid, problems = check_bin(bin_)
    if not valid:
        raise BadRequest(f"bin is not a valid BIN: {'; '.join(problems)}", field="bin")
    contact = body.get("contact")
    if not isinstance(contact, dict):
        raise BadRequest("contact must be an object {name, email, phone}", field="contact")
    CONTACT.reject_unknown(contact)
    clean = {
        "name": CONTACT_NAME.read(contact) or "",
        "email": EMAIL.read(contact) or "",
        "phone": PHONE.read(contact) or "",
    }
    if not _EMAIL.fullmatch(clean["email"]):
        raise BadRequest("contact.email is not an e-mail address", field="contact.email")
    roles = v.string_list(body, "roles")
    if not roles or any(r not in APPLICABLE_ROLES for r in roles):
        raise BadRequest(
            f"roles must be a non-empty list of {', '.join(APPLICABLE_ROLES)}", field="roles"
        )
    ground = LEGAL_GROUND.read(body) or ""
    reg = await access.wiring.registrations.submit(
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
    now = access.wiring.clock.time()
    hour = int(now // 3600)
    key = access.wiring.store.keys.rate_ip(request.remote or "unknown", hour)
    redis = access.wiring.store.redis
    async with redis.pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.expire(key, 7200)
        count, _ = await pipe.execute()
    if int(count) > _REGISTRATIONS_PER_HOUR:
        raise RateLimited(
            "too many applications from this address; try again later",
            retry_after=int((hour + 1) * 3600 - now) + 1,
        )


@routes.get(
    "/v1/registrations",
    "Applications for access.",
    roles=OPERATOR,
    ok={200: listing("registrations")},
    errors=(400,),
    params=(REG_STATUS, QText("overdue", description="1: only those past the SLA.")),
)
async def registrations(request: web.Request) -> web.Response:
    """Applications; `?overdue=1` only the undecided ones past the SLA."""
    status = REG_STATUS.raw(request)
    if status not in (None, *REG_STATUS.options):
        raise BadRequest("status must be pending, approved or rejected", field="status")
    overdue = request.query.get("overdue", "") in ("1", "true", "yes")
    found = await request.app[ACCESS].wiring.registrations.find(status, overdue)
    return web.json_response({"registrations": found})


@routes.get(
    "/v1/registrations/{id}",
    "One application.",
    roles=OPERATOR,
    ok={200: ok(OBJECT)},
    errors=(404,),
)
async def registration(request: web.Request) -> web.Response:
    return web.json_response(
        await request.app[ACCESS].wiring.registrations.get(request.match_info["id"])
    )


@routes.post(
    "/v1/registrations/{id}/approve",
    "Approve: users and keys are created, the keys shown once.",
    roles=OPERATOR,
    ok={200: ok(obj({"registration": OBJECT, "credentials": {}}))},
    errors=(404, 409),
)
async def approve(request: web.Request) -> web.Response:
    """Approve: the organisation's users and keys are created; the keys are shown once."""
    who = principal(request)
    reg_id = request.match_info["id"]
    reg, credentials = await request.app[ACCESS].wiring.registrations.approve(reg_id, who.actor())
    note(request, action="registration.approve", target=reg_id, target_org=reg["bin"])
    return web.json_response({"registration": reg, "credentials": credentials})


@routes.post(
    "/v1/registrations/{id}/reject",
    "Reject with a reason.",
    roles=OPERATOR,
    ok={200: ok(OBJECT)},
    errors=(404, 409),
    body=REJECTION,
)
async def reject(request: web.Request) -> web.Response:
    """Reject with a reason: {"reason": "..."}."""
    who = principal(request)
    body = await REJECTION.read(request)
    reason = REJECT_REASON.read(body) or ""
    reg_id = request.match_info["id"]
    reg = await request.app[ACCESS].wiring.registrations.reject(reg_id, reason, who.actor())
    note(request, action="registration.reject", target=reg_id, target_org=reg["bin"])
    return web.json_response(reg)
