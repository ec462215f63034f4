"""The kz-afm-pta source kind, now listd.scrapers.kz_afm.pta (the name kept for imports)."""

from listd.scrapers.kz_afm.pta import KIND, PROGRAM, parse, published, validate

__all__ = ["KIND", "PROGRAM", "parse", "published", "validate"]
