"""The shared field reader's value cleaning."""

from __future__ import annotations

import re

import pytest

from listd.scrapers.ofac.record import clean as ofac_clean
from listd.scrapers.toolkit import cleaner

# Padded, doubled, tabbed, NBSP, ideographic space, line separator, bidi marks (dropped by
# OFAC's cleaner), ZWNJ and soft hyphen (kept: not whitespace), and plain values.
VALUES = [
    "", " ", "Ali", "Ali Ben", " Ali", "Ali ", "Ali  Ben", "Ali\tBen", "Ali\nBen", "Ali\xa0Ben",
    "Ali\u3000Ben", "Ali\u2028Ben", "\u202bعلي\u202c", "Ali\u200eBen", "\ufeffAli",
    "رحمت\u200cالله", "Bara\xaddar", "NA", "na", "null", "Müller", "\x85",
]  # fmt: skip


def _slow(drop: str, stop: frozenset[str], casefold: bool, value: str) -> str | None:
    """The cleaner's definition, without its shortcut for values that are already clean."""
    value = re.sub(f"[{drop}]", "", value) if drop else value
    value = re.sub(r"\s+", " ", value).strip()
    if not value or (value.lower() if casefold else value) in stop:
        return None
    return value


@pytest.mark.parametrize(
    ("drop", "placeholders", "casefold"),
    [("", (), False), ("", ("na", "null"), True), ("\u200e\u200f\u202a-\u202e\ufeff", (), False)],
)
def test_a_cleaner_gives_what_its_definition_says(
    drop: str, placeholders: tuple[str, ...], casefold: bool
) -> None:
    clean = cleaner(placeholders, casefold=casefold, drop=drop)
    for value in VALUES:
        assert clean(value) == _slow(drop, frozenset(placeholders), casefold, value), value
    assert clean(None) is None


def test_a_printable_character_to_drop_is_dropped() -> None:
    # The shortcut takes printable values as clean: only right while `drop` is unprintable.
    assert cleaner(drop=".,")("Al Qaida., Ltd.") == "Al Qaida Ltd"
    assert cleaner(drop="a-c")("abcd ab") == "d"


def test_ofac_values_lose_bidi_marks_and_keep_joiners() -> None:
    assert ofac_clean("\u202bعلي\u202c") == "علي"
    assert ofac_clean("رحمت\u200cالله") == "رحمت\u200cالله"
