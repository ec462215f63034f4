"""What a screening request asks and what it gets back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from listd.model import Entity

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
