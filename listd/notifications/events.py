"""Webhook events: their ids, their JSON and the legal basis they cite.

Every event has a deterministic id, so the same fact produces the same id however
often it is computed (a fan-out re-run after a crash, or the same alert found both by
a new designation and by a customer upload): the id is the receiver's idempotency key.
The legal basis of each programme is `PROGRAMMES` (listd/scrapers/programmes.py, beside the
sources that define the programmes); the Kazakh FM-1 report codes are here.
The schema is documented in docs/webhooks.md; `SCHEMA_VERSION` changes only when a
field changes meaning or disappears (new fields may appear at any time).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from listd.notifications.subscriptions import Subscription
from listd.notifications.watchlist import Customer
from listd.pipeline.delta import Delta
from listd.pipeline.store import now_iso
from listd.scrapers.programmes import KZ_LAW as _KZ_LAW
from listd.scrapers.programmes import PROGRAMMES, Regime
from listd.screening import Match

SCHEMA_VERSION = 1
_UN = re.compile(r"^UN-(\d+)$")
_FM1_RULES = (
    "AFM rules for FM-1 reports (edition of 10.07.2025), appendix 5 as amended by AFM order"
    " No. 6 of 28.09.2023"
)

# FM-1 operation codes (appendix 5) by regime; "lifted" splits into partial and full.
_FM1_REQUIRED: dict[Regime, tuple[str, str]] = {
    "tf": ("6040", "crediting money to the account of a person on the TF list"),
    "pf": ("6061", "operation with money or other property of a person on the PF list"),
}
_FM1_LIFTED = {
    "partial": ("6064", "partial lifting of freezing measures"),
    "full": ("6065", "full lifting of freezing measures"),
}
_FM1_LIFTING_BASIS: dict[Regime, str] = {
    "tf": f"{_KZ_LAW}, Article 12, paragraph 4, sub-paragraph 7",
    "pf": f"{_KZ_LAW}, Article 12-1, paragraph 5",
}


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    type: str
    body: str  # the exact JSON sent, byte for byte on every attempt
    delta_seq: int


def event_id(*parts: object) -> str:
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()
    return "evt_" + digest[:32]


def legal_basis(programs: list[str] | tuple[str, ...], list_type: str | None) -> list[str]:
    out: list[str] = []
    for tag in programs:
        known = PROGRAMMES.get(tag)
        un = _UN.match(tag)
        if known is not None and known.basis is not None:
            out.append(known.basis)
        elif un:
            out.append(f"UN Security Council resolution {un.group(1)} ({list_type or tag})")
        elif tag.startswith("OFAC-"):
            out.append(f"US Treasury OFAC sanctions programme {tag.removeprefix('OFAC-')}")
        else:
            out.append(tag)
    return out


def regimes(programs: list[str] | tuple[str, ...]) -> list[Regime]:
    """The Kazakh freezing regimes (tf, pf) a designation under `programs` falls under."""
    found = {p.regime for tag in programs if (p := PROGRAMMES.get(tag)) and p.regime}
    return [r for r in _FM1_REQUIRED if r in found]


def fm1_required(
    programs: list[str] | tuple[str, ...], list_type: str | None = None
) -> list[dict[str, Any]]:
    """FM-1 codes for a customer matching a designation under `programs` (may be empty)."""
    out = []
    for regime in regimes(programs):
        code, operation = _FM1_REQUIRED[regime]
        tags = [t for t in programs if (p := PROGRAMMES.get(t)) and p.regime == regime]
        out.append(
            {
                "code": code,
                "operation": operation,
                "programs": tags,
                "legal_basis": legal_basis(tags, list_type),
                "rules": _FM1_RULES,
            }
        )
    return out


def fm1_terms(tag: str) -> dict[str, Any] | None:
    """The FM-1 codes a programme's matches and liftings are reported with (None: none)."""
    known = PROGRAMMES.get(tag)
    if known is None or known.regime is None:
        return None
    return {
        "regime": known.regime,
        "required": _FM1_REQUIRED[known.regime][0],
        "lifted": {extent: code for extent, (code, _) in _FM1_LIFTED.items()},
    }


def fm1_lifted(programs: list[str] | tuple[str, ...], extent: str) -> list[dict[str, Any]]:
    """FM-1 code for lifting the freeze a designation under `programs` imposed.

    `extent` is "full" when the customer matches no other designation in force under a
    Kazakh freezing regime, "partial" when one still holds (docs/webhooks.md)."""
    found = regimes(programs)
    if not found:
        return []
    code, operation = _FM1_LIFTED[extent]
    return [
        {
            "code": code,
            "operation": operation,
            "extent": extent,
            "programs": [t for t in programs if (p := PROGRAMMES.get(t)) and p.regime],
            "legal_basis": [_FM1_LIFTING_BASIS[r] for r in found],
            "rules": _FM1_RULES,
        }
    ]


def _encode(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _envelope(
    eid: str, kind: str, sub: Subscription, seq: int, trigger: str, data: dict[str, Any]
) -> Event:
    body = {
        "id": eid,
        "type": kind,
        "schema_version": SCHEMA_VERSION,
        "created": now_iso(),
        "subscription_id": sub.id,
        "delta_seq": seq,
        "trigger": trigger,
        "data": data,
    }
    return Event(eid, kind, _encode(body), seq)


def designation(entity: dict[str, Any]) -> dict[str, Any]:
    """The designated entity as an alert names it (the full record stays in the feed)."""
    programs = list(entity.get("programs") or [])
    names = entity.get("names") or []
    primary = next((n["full"] for n in names if n.get("kind") == "primary"), None)
    return {
        "entity_id": entity["id"],
        "source": entity["source"],
        "reference": entity.get("reference"),
        "schema": entity.get("schema"),
        "name": primary or (names[0]["full"] if names else entity.get("reference")),
        "program": programs[0] if programs else None,
        "programs": programs,
        "list_type": entity.get("list_type"),
        "legal_basis": legal_basis(programs, entity.get("list_type")),
        "listed_on": entity.get("listed_on"),
    }


def designation_event(sub: Subscription, delta: Delta) -> Event:
    """designation.added|amended|removed: the published delta itself."""
    kind = f"designation.{delta.op}"
    seq = delta.seq
    return _envelope(event_id(sub.id, kind, seq), kind, sub, seq, "delta", delta.to_dict())


def blocking_required(
    sub: Subscription,
    customer: Customer,
    match: Match,
    entity: dict[str, Any],
    content_hash: str,
    *,
    seq: int,
    version: str | None,
    op: str,
    trigger: str,
    previous_event: str | None,
) -> Event:
    """A customer matches a designation above the subscription's threshold."""
    eid = event_id(sub.id, "blocking.required", entity["id"], content_hash, customer.reference)
    data = {
        "customer": customer.public(),
        "designation": {**designation(entity), "op": op},
        "match": {
            "score": match.score,
            "threshold": sub.threshold,
            "matched_name": match.matched_name,
            "explanation": match.explanation,
        },
        "list": {"source": entity["source"], "version": version, "delta_seq": seq},
        "previous_event_id": previous_event,
        "fm1": fm1_required(entity.get("programs") or [], entity.get("list_type")),
    }
    return _envelope(eid, "blocking.required", sub, seq, trigger, data)


def blocking_lifted(
    sub: Subscription,
    reference: str,
    required_event: str | None,
    delta: Delta,
    extent: str = "full",
) -> Event:
    """A designation a customer matched was removed from its list; `extent` is "partial"
    when the customer still matches another designation under a Kazakh freezing regime."""
    entity, seq = delta.entity, delta.seq
    eid = event_id(sub.id, "blocking.lifted", entity["id"], reference, seq)
    data = {
        "customer": {"reference": reference},
        "designation": {**designation(entity), "op": "removed"},
        "required_event_id": required_event,
        "list": {"source": delta.source, "version": delta.version, "delta_seq": seq},
        "removed_at": delta.at,
        "fm1": fm1_lifted(entity.get("programs") or [], extent),
    }
    return _envelope(eid, "blocking.lifted", sub, seq, "delta", data)


def ping(sub: Subscription, seq: int) -> Event:
    """The test delivery that activates a subscription."""
    eid = "evt_ping_" + secrets.token_hex(12)
    return _envelope(eid, "ping", sub, seq, "ping", {"message": "listd test delivery"})
