"""Source plug-ins: one module per source kind, each with a pure `parse(raw) -> Iterator[Entity]`.

A scraper module exposes `KIND`, `validate(raw)` (raises ValidationFailed),
`parse(raw)` and `published(raw)` (the date the document states about itself).
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
    "kz-afm-tf": "listd.scrapers.kz_afm_tf",
    "kz-afm-pta": "listd.scrapers.kz_afm_pta",
    "kz-afm-pf": "listd.scrapers.kz_afm_pf",
}


@dataclass(frozen=True, slots=True)
class Scraper:
    kind: str
    validate: Callable[[bytes], None]
    parse: Callable[[bytes], Iterator[Entity]]
    published: Callable[[bytes], str | None]


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
    )
