"""Source plug-ins: one module per source kind, each with a pure `parse(raw) -> Iterator[Entity]`.

A scraper module exposes `KIND`, `validate(raw)` (raises ValidationFailed),
`parse(raw)` and `published(raw)` (the date the document states about itself). Optionally
`validate_fast(raw)` (the same verdict as `validate`, faster), `records(raw)` (`parse` in bounded
memory, for a validated document), `records_part(raw, part, parts)` (every `parts`-th of
those records from the `part`-th on, so several processes share the work), `record_cuts(raw,
parts)` (where a large document's records can be cut into contiguous shares, so that each
process reads only its own: safexml.record_cuts) and `date_span(raw)`
(where the publication date's value sits, so a list re-published unchanged under a new date is
recognised without parsing).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache

from listd.errors import ConfigError
from listd.model import Entity

# kind -> module under listd.scrapers
KINDS: dict[str, str] = {
    "un": "listd.scrapers.un",
    "un-html": "listd.scrapers.un_html",
    "ofac": "listd.scrapers.ofac",
    "kz-afm-tf": "listd.scrapers.kz_afm.tf",
    "kz-afm-pta": "listd.scrapers.kz_afm.pta",
    "kz-afm-pf": "listd.scrapers.kz_afm.pf",
}


@dataclass(frozen=True, slots=True)
class Scraper:
    kind: str
    validate: Callable[[bytes], None]
    parse: Callable[[bytes], Iterator[Entity]]
    published: Callable[[bytes], str | None]
    # Optional: default to validate, parse and "no date span".
    validate_fast: Callable[[bytes], None] = None  # type: ignore[assignment]
    records: Callable[[bytes], Iterator[Entity]] = None  # type: ignore[assignment]
    date_span: Callable[[bytes], tuple[int, int] | None] = None  # type: ignore[assignment]
    records_part: Callable[[bytes, int, int], Iterator[Entity]] | None = None  # None: unshared
    # Optional: where to cut the records into contiguous shares (safexml.record_cuts)
    record_cuts: Callable[[bytes, int], list[int] | None] | None = None

    def __post_init__(self) -> None:
        # Frozen: fill the defaults the only way a frozen dataclass allows.
        if self.validate_fast is None:
            object.__setattr__(self, "validate_fast", self.validate)
        if self.records is None:
            object.__setattr__(self, "records", self.parse)
        if self.date_span is None:
            object.__setattr__(self, "date_span", _no_date_span)


@cache
def scraper(kind: str) -> Scraper:
    """The scraper for a source kind (imported on first use)."""
    try:
        module = importlib.import_module(KINDS[kind])
    except KeyError:
        known = ", ".join(sorted(KINDS))
        raise ConfigError(f"unknown source kind {kind!r} (known: {known})", key="kind") from None
    return Scraper(
        kind=kind,
        validate=module.validate,
        parse=module.parse,
        published=module.published,
        validate_fast=getattr(module, "validate_fast", module.validate),
        records=getattr(module, "records", module.parse),
        date_span=getattr(module, "date_span", _no_date_span),
        records_part=getattr(module, "records_part", None),
        record_cuts=getattr(module, "record_cuts", None),
    )


def _no_date_span(raw: bytes) -> tuple[int, int] | None:
    return None
