"""The kz-afm-tf source kind, now listd.scrapers.kz_afm.tf (the name kept for imports)."""

from listd.scrapers.kz_afm.tf import KIND, PROGRAM, parse, person, published, validate

__all__ = ["KIND", "PROGRAM", "parse", "person", "published", "validate"]
