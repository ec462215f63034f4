"""Sign-in and signing with a Kazakh digital signature (NCA RK), through NCALayer.

`setup(app)` adds the routes after the access routes (it uses their `Access`). A sign-in
takes a single-use challenge, signed with the person's AUTH key, and answers with a
short-lived API key of the user bound to the certificate's IIN and BIN. The terms of use
are signed with the SIGN key; an operator's registration decision may be too. Every
outcome is journaled: the request's entry names the refusal's `reason`, and a signature
that was accepted is kept whole in an administrative entry as evidence.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from listd.access import ROLES
from listd.access.eds import EdsAccounts, b64, check_iin, evidence
from listd.api.middleware import ACCESS
from listd.api.schemas import form
from listd.clock import SYSTEM_CLOCK
from listd.eds import EdsSettings, Purpose, SignatureRefused, TrustStore, Verified, Verifier
from listd.eds.verify import decode
from listd.errors import BadRequest, Blocked, Forbidden, NotFound, RateLimited
from listd.http import body as v
from listd.http.fields import OBJECT, Declared, Text, nullable, obj
from listd.http.openapi import ok
from listd.http.state import CLOCK, NOTE, SETTINGS, note, principal
from listd.http.table import Routes

routes = Routes("access")

_MAX_CMS = 60_000  # base64 of a signature with its chain: a few kilobytes in practice
_CHALLENGES_PER_MINUTE = 30  # per client address: the route needs no credential
DECISIONS = ("approve", "reject")
OPERATOR = ("operator",)

CHALLENGE = Text("challenge", required=True, max_len=64)
CMS = Text("cms", required=True, max_len=_MAX_CMS, description="CMS (PKCS#7), base64.")
VERSION = Text("version", required=True, max_len=64)
DECISION = Declared("decision", required=True, shape={"enum": list(DECISIONS)})
REASON = Text("reason", max_len=2000)
_IIN_SHAPE = {"type": "string", "pattern": r"^[0-9]{12}$"}
SIGNIN = form(CHALLENGE, CMS)
SIGNED_TERMS = form(VERSION, CMS)
DOCUMENT = form(DECISION, REASON)
SIGNED_DECISION = form(DECISION, REASON, CMS)
BINDING = form(
    Declared("iin", required=True, shape=_IIN_SHAPE),
    Declared("bin", shape=nullable(_IIN_SHAPE), description="Default: the user's organisation."),
)


class EdsOff(NotFound):
    """404: the feature does not exist on this server (not a fault to retry)."""

    code = "eds_not_configured"


@dataclass
class Eds:
    settings: EdsSettings
    accounts: EdsAccounts
    verifier: Verifier | None  # None: LISTD_EDS_TRUST_DIR is not set
    clock: Callable[[], dt.datetime] = field(default=SYSTEM_CLOCK.now)  # the app's CLOCK

    def require(self) -> Verifier:
        if self.verifier is None:
            raise EdsOff("sign-in with a digital signature is not configured on this server")
        return self.verifier

    async def verify(self, request: web.Request, cms: str, data: str, purpose: Purpose) -> Verified:
        """Verify, noting the refusal's reason (or the signer) in the request's entry."""
        verifier = self.require()
        try:
            verified, _ = await verifier.verify(decode(cms), data.encode(), purpose, self.clock())
        except SignatureRefused as exc:
            note(request, eds={"reason": exc.reason, "purpose": purpose.value})
            raise
        note(request, eds={"purpose": purpose.value, **verified.to_json()})
        return verified


EDS = web.AppKey("eds", Eds)


def setup(app: web.Application) -> None:
    """Share an `Eds` on the app (after the access routes' setup) and add the routes."""
    settings = app[SETTINGS].eds
    access = app[ACCESS]
    accounts = EdsAccounts(access.wiring.store.redis, access.wiring.store.keys, access.wiring.store)
    if not settings.enabled:
        app[EDS] = Eds(settings, accounts, None, app[CLOCK].now)
        routes.add_to(app)
        return
    trust = TrustStore.load(settings)  # a bad trust directory stops the start
    eds = app[EDS] = Eds(settings, accounts, Verifier(trust), app[CLOCK].now)

    async def ocsp_session(app: web.Application) -> AsyncIterator[None]:
        timeout = aiohttp.ClientTimeout(total=settings.ocsp_timeout or 5.0)
        async with aiohttp.ClientSession(timeout=timeout) as session:

            async def fetch(url: str, body: bytes) -> bytes:
                headers = {"Content-Type": "application/ocsp-request"}
                try:
                    async with session.post(url, data=body, headers=headers) as resp:
                        if resp.status != 200:
                            raise OSError(f"OCSP responder answered {resp.status}")
                        return await resp.content.read(1 << 20)
                except aiohttp.ClientError as exc:
                    raise OSError(str(exc) or type(exc).__name__) from exc

            eds.verifier = Verifier(trust, fetch)
            yield

    app.cleanup_ctx.append(ocsp_session)
    routes.add_to(app)


def _iso(at: dt.datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- sign-in --------------------------------------------------------------------------------
@routes.post(
    "/v1/eds/challenge",
    "A single-use sign-in challenge to sign with the AUTH key through NCALayer (no "
    f"credential; {_CHALLENGES_PER_MINUTE} a minute per address). `data` is its text in "
    "base64; `ncalayer` is the URL the console connects to.",
    roles=None,
    ok={
        201: ok(
            obj(
                {
                    "challenge": {"type": "string"},
                    "text": {"type": "string"},
                    "data": {"type": "string"},
                    "expires": {"type": "string"},
                    "ncalayer": {"type": "string"},
                },
                closed=False,
            )
        )
    },
    errors=(404, 429, 503),
)
async def challenge(request: web.Request) -> web.Response:
    """A single-use challenge to sign with the AUTH key (no credential needed)."""
    eds = request.app[EDS]
    eds.require()
    await _limit(request, eds)
    nonce, text, expires = await eds.accounts.challenge(eds.settings.challenge_seconds)
    return web.json_response(
        {
            "challenge": nonce,
            "text": text,
            "data": b64(text),
            "expires": _iso(dt.datetime.fromtimestamp(expires, dt.UTC)),
            "ncalayer": eds.settings.ncalayer_url,
        },
        status=201,
    )


@routes.post(
    "/v1/eds/signin",
    "Sign in: the challenge's text signed with an NCA AUTH key (CMS, base64, attached or "
    "detached). Answers a short-lived API key of the user bound to the certificate's IIN and "
    "BIN; 401 `signature_refused` with a `reason`.",
    roles=None,
    ok={201: ok(OBJECT)},
    errors=(400, 401, 403, 404, 413, 503),
    body=SIGNIN,
)
async def signin(request: web.Request) -> web.Response:
    """{"challenge", "cms"}: the challenge's text signed with the AUTH key (CMS, base64,
    attached or detached) -> a short-lived API key of the user the certificate is bound to."""
    eds = request.app[EDS]
    eds.require()
    body = await SIGNIN.read(request)
    nonce = CHALLENGE.read(body) or ""
    cms = CMS.read(body) or ""
    text = await eds.accounts.take_challenge(nonce)
    if text is None:
        note(request, eds={"reason": "challenge"})
        raise SignatureRefused(
            "the challenge is unknown, used or expired: ask for a new one", "challenge"
        )
    verified = await eds.verify(request, cms, text, Purpose.AUTH)
    subject = verified.subject
    user = await eds.accounts.user_for(verified) if subject.iin else None
    if user is None:
        reason = "unknown_iin" if subject.iin else "no_iin"
        note(request, eds={**request[NOTE].get("eds", {}), "reason": reason})
        raise SignatureRefused(
            "this certificate (IIN and BIN) is not registered with listd; ask your operator",
            reason,
        )
    if user.status != "active":
        raise Blocked("this user is blocked; ask your operator", user=user.id)
    access = request.app[ACCESS]
    issued = await eds.accounts.session(
        user,
        eds.settings.session_minutes,
        access.serving.terms,
        format(verified.cert.serial_number, "x"),
    )
    note(
        request,
        action="eds.signin",
        target=user.id,
        target_org=user.org,
        org=user.org,
        name=user.name,
        user=user.id,
        key=issued.key_id,
    )
    signed = await eds.accounts.agreement(user.id)
    return web.json_response(
        {
            **issued.to_json(),
            "agreement_required": signed.get("version") != access.serving.terms.version,
            "signer": verified.to_json(),
        },
        status=201,
    )


async def _limit(request: web.Request, eds: Eds) -> None:
    now = eds.clock().timestamp()
    minute = int(now // 60)
    key = eds.accounts.keys.eds_rate(request.remote or "unknown", minute)
    redis = eds.accounts.redis
    async with redis.pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.expire(key, 120)
        count, _ = await pipe.execute()
    if int(count) > _CHALLENGES_PER_MINUTE:
        raise RateLimited(
            "too many sign-in attempts from this address; try again shortly",
            retry_after=int((minute + 1) * 60 - now) + 1,
        )


# --- the terms, signed ----------------------------------------------------------------------
@routes.get(
    "/v1/eds/agreement",
    "The terms to sign with the SIGN key: text, version, base64 data.",
    roles=ROLES,
    exempt=True,
    ok={200: ok(OBJECT)},
)
async def agreement(request: web.Request) -> web.Response:
    """The terms to sign with the SIGN key: the exact text, its version, its base64."""
    who = principal(request)
    access = request.app[ACCESS]
    signed = await request.app[EDS].accounts.agreement(who.user) if who.user else {}
    current = signed.get("version") == access.serving.terms.version
    return web.json_response(
        {
            "version": access.serving.terms.version,
            "text": access.serving.terms.text,
            "data": b64(access.serving.terms.text),
            "ncalayer": request.app[EDS].settings.ncalayer_url,
            "signed": {"at": signed["at"], "seq": int(signed["seq"])} if current else None,
        }
    )


@routes.post(
    "/v1/eds/agreement",
    "Accept the terms by signing their exact text with the SIGN key (CMS).",
    roles=ROLES,
    exempt=True,
    ok={200: ok(OBJECT)},
    errors=(404,),
    body=SIGNED_TERMS,
)
async def sign_agreement(request: web.Request) -> web.Response:
    """{"version", "cms"}: the terms' text signed with the SIGN key of the calling user."""
    who = principal(request)
    eds, access = request.app[EDS], request.app[ACCESS]
    body = await SIGNED_TERMS.read(request)
    version = VERSION.read(body)
    cms = CMS.read(body) or ""
    if version != access.serving.terms.version:
        raise BadRequest(
            f"the terms changed; the current version is {access.serving.terms.version}",
            field="version",
        )
    verified = await eds.verify(request, cms, access.serving.terms.text, Purpose.SIGN)
    user = await eds.accounts.user_for(verified)
    if user is None or user.id != who.user:
        note(request, eds={**verified.to_json(), "reason": "not_this_user"})
        raise Forbidden("the signing certificate is not bound to this user", reason="not_this_user")
    at, seq = await eds.accounts.sign_agreement(
        user, who.key_id, access.serving.terms, verified, cms, who.actor()
    )
    note(request, action="agreement.sign", evidence=seq)
    return web.json_response({"accepted": access.serving.terms.version, "at": at, "evidence": seq})


# --- operators' signed decisions ------------------------------------------------------------
def decision_document(reg: dict[str, Any], decision: str, reason: str) -> str:
    """The exact text an operator signs to approve or reject a registration."""
    return json.dumps(
        {
            "action": f"registration.{decision}",
            "registration": reg["id"],
            "organisation": reg["organisation"],
            "bin": reg["bin"],
            "reason": reason,
        },
        ensure_ascii=False,
        sort_keys=True,
    )


def _decision(values: dict[str, Any]) -> tuple[str, str]:
    decision = v.choice(values, DECISION.name, DECISIONS)
    if decision is None:
        raise BadRequest("decision must be approve or reject", field="decision")
    reason = (REASON.read(values) or "").strip()
    if decision == "reject" and not reason:
        raise BadRequest("a rejection needs a reason", field="reason")
    return decision, reason


@routes.post(
    "/v1/eds/registrations/{id}/document",
    "The exact document an operator signs to approve or reject a registration (changes nothing).",
    roles=OPERATOR,
    ok={200: ok(OBJECT)},
    errors=(404,),
    body=DOCUMENT,
)
async def decision_text(request: web.Request) -> web.Response:
    """{"decision", "reason"}: the document to sign for that decision (changes nothing; a
    POST because a reason may be longer than a URL)."""
    decision, reason = _decision(await DOCUMENT.read(request))
    reg = await request.app[ACCESS].wiring.registrations.get(request.match_info["id"])
    text = decision_document(reg, decision, reason)
    return web.json_response({"text": text, "data": b64(text)})


@routes.post(
    "/v1/eds/registrations/{id}/decision",
    "Approve or reject a registration, signed with the operator's SIGN key.",
    roles=OPERATOR,
    ok={200: ok(OBJECT)},
    errors=(404, 409),
    body=SIGNED_DECISION,
)
async def signed_decision(request: web.Request) -> web.Response:
    """{"decision", "reason", "cms"}: approve or reject, signed with the operator's SIGN key."""
    who = principal(request)
    eds, access = request.app[EDS], request.app[ACCESS]
    body = await SIGNED_DECISION.read(request)
    decision, reason = _decision(body)
    cms = CMS.read(body) or ""
    reg_id = request.match_info["id"]
    reg = await access.wiring.registrations.get(reg_id)
    document = decision_document(reg, decision, reason)
    verified = await eds.verify(request, cms, document, Purpose.SIGN)
    signer = await eds.accounts.user_for(verified)
    if signer is None or signer.id != who.user:
        note(request, eds={**verified.to_json(), "reason": "not_this_user"})
        raise Forbidden(
            "the signing certificate is not bound to this operator", reason="not_this_user"
        )
    out: dict[str, Any]
    if decision == "approve":
        approved, credentials = await access.wiring.registrations.approve(reg_id, who.actor())
        out = {"registration": approved, "credentials": credentials}
    else:
        out = await access.wiring.registrations.reject(reg_id, reason, who.actor())
    seq = await access.wiring.journal.record(
        who.actor(),
        "registration.signed",
        reg_id,
        reg["bin"],
        **evidence(verified, cms, document, decision=decision),
    )
    note(
        request,
        action=f"registration.{decision}",
        target=reg_id,
        target_org=reg["bin"],
        evidence=seq,
    )
    return web.json_response({**out, "evidence": seq})


# --- binding ---------------------------------------------------------------------------------
@routes.post(
    "/v1/eds/users/{id}",
    "Bind a user to the NCA certificates of a person (IIN) of an organisation (BIN, default "
    "the user's organisation).",
    roles=OPERATOR,
    ok={200: ok(OBJECT)},
    errors=(404, 409),
    body=BINDING,
)
async def bind(request: web.Request) -> web.Response:
    """{"iin", "bin": default the user's organisation}: the NCA certificate of that person
    for that organisation signs in as this user."""
    who = principal(request)
    body = await BINDING.read(request)
    iin = check_iin(body.get("iin"))
    bin_ = check_iin(body["bin"], "bin") if body.get("bin") is not None else None
    user = await request.app[EDS].accounts.bind(request.match_info["id"], iin, bin_, who.actor())
    note(request, action="eds.bind", target=user.id, target_org=user.org)
    return web.json_response({**user.to_json(), "iin": iin, "bin": bin_ or user.org})
