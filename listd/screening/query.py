"""What a screening request asks and what it gets back."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from listd.model import Entity

_ISO = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$", re.ASCII)
_DOTTED = re.compile(r"^(\d{2})\.(\d{2})\.(\d{4})$", re.ASCII)  # 31.12.1980, as KZ records
BIRTH_DATE_FORMS = "YYYY, YYYY-MM, YYYY-MM-DD or DD.MM.YYYY"


def parse_birth_date(value: str, today: dt.date) -> str:
    """A date of birth as YYYY, YYYY-MM or YYYY-MM-DD (DD.MM.YYYY is rewritten); ValueError
    for anything else, and for a date after `today` (surely a typing mistake).

    One rule for every place a birth date is taken: screening, batches, watchlists, the CLI."""
    value = value.strip()
    dotted = _DOTTED.match(value)
    if dotted:
        value = f"{dotted.group(3)}-{dotted.group(2)}-{dotted.group(1)}"
    m = _ISO.match(value)
    if m is None:
        raise ValueError(f"birth_date must be {BIRTH_DATE_FORMS}")
    try:
        first = dt.date(int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1))
    except ValueError:
        raise ValueError(f"birth_date {value!r} is not a date") from None
    # A day's grace: east of UTC (Kazakhstan is UTC+5) a child born today is "tomorrow".
    if first > today + dt.timedelta(days=1):
        raise ValueError(f"birth_date {value!r} is in the future")
    return value


def check_name(value: str) -> str:
    """The name to screen, or ValueError when it holds no letter or digit ("---", "?")."""
    if not any(ch.isalnum() for ch in value):
        raise ValueError("name must hold at least one letter or digit")
    return value


def utc_today() -> dt.date:
    """Today's date in UTC, the reference for "a birth date in the future"."""
    return dt.datetime.now(dt.UTC).date()


# One threshold for every caller: the score at which a match becomes an alert. Chosen
# on bench/quality.py's labelled set (see docs/matching.md for recall and precision).
DEFAULT_THRESHOLD = 0.8


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    type: str | None = None  # person | entity | None (any)
    birth_date: str | None = None  # YYYY, YYYY-MM or YYYY-MM-DD
    limit: int = 10
    threshold: float = DEFAULT_THRESHOLD
    sources: tuple[str, ...] = ()
    nationality: str | None = None  # country name or ISO code
    identifiers: tuple[str, ...] = ()  # passport, IIN/BIN or other document numbers
    programs: tuple[str, ...] = ()  # only entities under one of these programmes


@dataclass(frozen=True, slots=True)
class Match:
    entity: Entity
    score: float
    matched_name: str
    explanation: dict[str, Any] = field(default_factory=dict)
