"""Journal entries: who did what (`Actor`), the stored JSON, its seal and its chain link.

Entry n is stored in a Redis Stream as `e` (the canonical JSON of its fields), `p` (the
link of entry n-1, forty zeros for entry 1) and `h`, its link:

    h = sha1(p + "\\n" + n + "\\n" + sha256(e))

With the journal key (`listd.seal`), the link is computed over HMAC-SHA256(key, e)
instead of SHA-256(e), and `e` names the key as `seal`. Why SHA-1 at all: see
`listd.audit.writer`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from listd.clock import SYSTEM_CLOCK, Clock
from listd.errors import BadRequest
from listd.seal import Seal

GENESIS = "0" * 40


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something, as the journal names them."""

    name: str
    org: str = ""
    role: str = ""
    user: str = ""
    key: str = ""  # key id (first 12 hex of the key hash)
    via: str = "key"  # key | cert | cli | public

    def fields(self) -> dict[str, str]:
        found = {
            "name": self.name,
            "org": self.org,
            "role": self.role,
            "user": self.user,
            "key": self.key,
            "via": self.via,
        }
        return {k: v for k, v in found.items() if v}


def now_ms(clock: Clock = SYSTEM_CLOCK) -> str:
    """UTC now as ISO 8601 with milliseconds: sorts as text in time order."""
    return clock.now().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_time(raw: str, name: str) -> str:
    """An ISO 8601 date or date-time, as `now_ms` writes it (UTC if no offset is given)."""
    try:
        when = dt.datetime.fromisoformat(raw.strip())
    except ValueError:
        raise BadRequest(f"{name} must be an ISO 8601 date or date-time", field=name) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    try:
        utc = when.astimezone(dt.UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise BadRequest(f"{name} is out of range", field=name) from None
    if utc.year < 1970:  # nothing in listd predates the epoch (and %Y would not zero-pad)
        return "1970-01-01T00:00:00.000Z"
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_epoch(raw: str, name: str) -> float:
    """`parse_time` as seconds since the epoch."""
    stamp = parse_time(raw, name)
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def canonical(fields: Mapping[str, Any]) -> str:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def sealed(fields: Mapping[str, Any], seal: Seal | None) -> tuple[str, str]:
    """An entry's stored JSON and what its link is computed over: sha256 of it, or with
    the journal key, HMAC-SHA256 of it once it names the key."""
    if seal is None:
        raw = canonical(fields)
        return raw, content_hash(raw)
    raw = canonical({**fields, "seal": seal.kid})
    return raw, seal.digest(raw)


def entry_orgs(fields: Mapping[str, Any]) -> list[str]:
    """The organisations whose journal index lists an entry."""
    return sorted({str(o) for o in (fields.get("org"), fields.get("target_org")) if o})


def chain_link(prev: str, seq: int, digest: str) -> str:
    """The link of entry `seq`: what the append script computes with redis.sha1hex."""
    return hashlib.sha1(f"{prev}\n{seq}\n{digest}".encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    prev: str
    link: str
    raw: str  # the stored JSON, hashed as it is

    @property
    def fields(self) -> dict[str, Any]:
        try:
            value = json.loads(self.raw)
        except json.JSONDecodeError:
            return {}
        return value if isinstance(value, dict) else {}

    def concerns(self, org: str) -> bool:
        f = self.fields
        return org in (f.get("org"), f.get("target_org"))

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "link": self.link, **self.fields}

    def line(self) -> str:
        return json.dumps({"seq": self.seq, "p": self.prev, "h": self.link, "e": self.raw})


def entry_of(stream_id: str, values: Mapping[str, str]) -> Entry:
    return Entry(
        seq=int(stream_id.split("-", 1)[0]),
        prev=values.get("p", ""),
        link=values.get("h", ""),
        raw=values.get("e", ""),
    )


def in_range(entry: Entry, start: str | None, end: str | None) -> bool:
    at = str(entry.fields.get("at", ""))
    return (start is None or at >= start) and (end is None or at < end)


def stamped(fields: Mapping[str, Any], clock: Clock = SYSTEM_CLOCK) -> dict[str, Any]:
    """The fields an entry stores: empty ones dropped, `at` (from `clock`) added unless given."""
    entry = {k: v for k, v in fields.items() if v is not None and v != ""}
    if "at" not in entry:
        entry["at"] = now_ms(clock)
    return entry
