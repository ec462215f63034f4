"""Webhook events: their ids, their JSON and the legal basis they cite.

Every event has a deterministic id, so the same fact produces the same id however
often it is computed (a fan-out re-run after a crash, or the same alert found both by
a new designation and by a customer upload): the id is the receiver's idempotency key.
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

from listd.blocking.subscriptions import Subscription
from listd.blocking.watchlist import Customer
from listd.screening import Match
from listd.store import now_iso

SCHEMA_VERSION = 1
_UN = re.compile(r"^UN-(\d+)$")
# What obliges a Kazakh reporting entity to act, by programme tag. UN tags name the
# resolution that set up the regime; compliance officers check the wording.
_KZ_LAW = "Law of the Republic of Kazakhstan No. 191-IV of 28 August 2009 (AML/CFT)"
_BASIS = {
    "KZ-TF": (
        f"{_KZ_LAW}, Article 12: AFM list of organisations and individuals linked to the"
        " financing of terrorism and extremism"
    ),
    "KZ-PTA": f"{_KZ_LAW}: AFM list of participants in terrorist activity",
    "KZ-PF": f"{_KZ_LAW}: AFM list of persons linked to the financing of proliferation",
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
        un = _UN.match(tag)
        if un:
            out.append(f"UN Security Council resolution {un.group(1)} ({list_type or tag})")
        elif tag in _BASIS:
            out.append(_BASIS[tag])
        elif tag.startswith("OFAC-"):
            out.append(f"US Treasury OFAC sanctions programme {tag.removeprefix('OFAC-')}")
        else:
            out.append(tag)
    return out


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


def designation_event(sub: Subscription, seq: int, delta: dict[str, Any]) -> Event:
    """designation.added|amended|removed: the published delta itself."""
    kind = f"designation.{delta['op']}"
    return _envelope(event_id(sub.id, kind, seq), kind, sub, seq, "delta", {**delta, "seq": seq})


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
    }
    return _envelope(eid, "blocking.required", sub, seq, trigger, data)


def blocking_lifted(
    sub: Subscription,
    reference: str,
    required_event: str | None,
    delta: dict[str, Any],
    seq: int,
) -> Event:
    """A designation a customer matched was removed from its list."""
    entity = delta["entity"]
    eid = event_id(sub.id, "blocking.lifted", entity["id"], reference, seq)
    data = {
        "customer": {"reference": reference},
        "designation": {**designation(entity), "op": "removed"},
        "required_event_id": required_event,
        "list": {"source": delta["source"], "version": delta.get("version"), "delta_seq": seq},
        "removed_at": delta.get("at"),
    }
    return _envelope(eid, "blocking.lifted", sub, seq, "delta", data)


def ping(sub: Subscription, seq: int) -> Event:
    """The test delivery that activates a subscription."""
    eid = "evt_ping_" + secrets.token_hex(12)
    return _envelope(eid, "ping", sub, seq, "ping", {"message": "listd test delivery"})
