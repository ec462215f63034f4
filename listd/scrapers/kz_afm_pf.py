"""The kz-afm-pf source kind, now listd.scrapers.kz_afm.pf (the name kept for imports)."""

from listd.scrapers.kz_afm.pf import KIND, PROGRAM, SCHEMA, parse, published, validate

__all__ = ["KIND", "PROGRAM", "SCHEMA", "parse", "published", "validate"]
