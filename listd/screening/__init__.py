"""In-memory screening of names against the loaded lists.

Each API process holds one `ScreeningIndex`, built from the Redis snapshots and
replaced per source when a sync flips that source's version. Queries never touch
Redis. Name comparison works on folded (transliterated, case- and accent-free)
forms and is scored with rapidfuzz.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz, process

from listd.model import Entity
from listd.normalize import fold

DEFAULT_THRESHOLD = 0.75
_BIRTH_BONUS = 0.05
_BIRTH_PENALTY = 0.15
_SUBSET_WEIGHT = 0.92  # a query that is a subset of a longer listed name scores a little lower
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    type: str | None = None  # person | entity | None (any)
    birth_date: str | None = None  # YYYY or YYYY-MM-DD
    limit: int = 10
    threshold: float = DEFAULT_THRESHOLD
    sources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Match:
    entity: Entity
    score: float
    matched_name: str
    explanation: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class _Names:
    folded: list[str] = field(default_factory=list)
    shown: list[str] = field(default_factory=list)
    owner: list[str] = field(default_factory=list)


def _birth_effect(query_date: str, entity: Entity) -> tuple[float, str]:
    """How the query's birth date moves the score, and why."""
    q = _DATE.match(query_date)
    if q is None or not entity.birth_dates:
        return 0.0, "not compared (no birth date on the list)"
    q_year = int(q.group(1))
    for bd in entity.birth_dates:
        if bd.date:
            if bd.date.startswith(query_date) or query_date.startswith(bd.date):
                return _BIRTH_BONUS, f"matches listed birth date {bd.date}"
        elif (
            bd.from_year is not None
            and bd.to_year is not None
            and bd.from_year <= q_year <= bd.to_year
        ):
            return _BIRTH_BONUS, f"within listed range {bd.from_year}-{bd.to_year}"
    years = [int(bd.date[:4]) for bd in entity.birth_dates if bd.date]
    years += [y for bd in entity.birth_dates for y in (bd.from_year, bd.to_year) if y]
    if years and min(abs(y - q_year) for y in years) <= 1:
        return 0.0, "within a year of a listed birth date"
    listed = ", ".join(
        sorted({bd.date or f"{bd.from_year}-{bd.to_year}" for bd in entity.birth_dates})
    )
    return -_BIRTH_PENALTY, f"differs from listed birth date(s) {listed}"


class ScreeningIndex:
    """All listed names, folded, with the entity each belongs to."""

    def __init__(self) -> None:
        self.entities: dict[str, Entity] = {}
        self.versions: dict[str, str] = {}
        self._by_source: dict[str, list[Entity]] = {}
        self._names = _Names()

    def replace_source(self, source: str, version: str, entities: Iterable[Entity]) -> None:
        """Swap in a new version of one source's entities (built aside, then assigned)."""
        by_source = dict(self._by_source)
        by_source[source] = list(entities)
        names = _Names()
        index: dict[str, Entity] = {}
        for src in sorted(by_source):
            for entity in by_source[src]:
                index[entity.id] = entity
                seen: set[str] = set()
                for name in entity.names:
                    folded = fold(name.full)
                    if folded and folded not in seen:
                        seen.add(folded)
                        names.folded.append(folded)
                        names.shown.append(name.full)
                        names.owner.append(entity.id)
        # Assignments last, so a concurrent query sees the old or the new index.
        self._by_source = by_source
        self._names = names
        self.entities = index
        self.versions = {**self.versions, source: version}

    def __len__(self) -> int:
        return len(self.entities)

    def screen(self, query: Query) -> list[Match]:
        folded = fold(query.name)
        if not folded:
            return []
        names, entities = self._names, self.entities
        best: dict[str, tuple[float, int, str]] = {}
        cutoff = max(0.0, query.threshold - _BIRTH_BONUS) * 100
        n_tokens = len(folded.split())
        scorers: Sequence[tuple[Any, float, str]] = [(fuzz.token_sort_ratio, 1.0, "token_sort")]
        if n_tokens >= 2:
            scorers = [*scorers, (fuzz.token_set_ratio, _SUBSET_WEIGHT, "token_set")]
        for scorer, weight, rule in scorers:
            hits = process.extract(
                folded,
                names.folded,
                scorer=scorer,
                processor=None,
                limit=None,
                score_cutoff=cutoff / weight,
            )
            for _, raw_score, pos in hits:
                score = raw_score * weight / 100
                owner = names.owner[pos]
                if owner not in best or score > best[owner][0]:
                    best[owner] = (score, pos, rule)
        matches: list[Match] = []
        for entity_id, (name_score, pos, rule) in best.items():
            entity = entities[entity_id]
            if query.sources and entity.source not in query.sources:
                continue
            if query.type == "person" and entity.schema != "person":
                continue
            if query.type == "entity" and entity.schema == "person":
                continue
            explanation: dict[str, Any] = {
                "name": {
                    "score": round(name_score, 4),
                    "rule": rule,
                    "query": folded,
                    "candidate": names.folded[pos],
                },
            }
            score = name_score
            if query.birth_date:
                delta, why = _birth_effect(query.birth_date, entity)
                score += delta
                explanation["birth_date"] = {"effect": delta, "reason": why}
            score = round(max(0.0, min(1.0, score)), 4)
            if score >= query.threshold:
                matches.append(Match(entity, score, names.shown[pos], explanation))
        matches.sort(key=lambda m: (-m.score, m.entity.id))
        return matches[: query.limit]
