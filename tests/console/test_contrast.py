"""The console's colour pairs meet WCAG AA contrast (4.5:1 for text, 3:1 for the focus ring)."""

from __future__ import annotations

import re

import pytest

from listd.console import STATIC

CSS = (STATIC / "console.css").read_text("utf-8")
COLOURS = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})", CSS))

# (text, background, minimum): every text colour on the backgrounds it is used on.
PAIRS = [
    ("ink", "back", 4.5), ("ink", "paper", 4.5), ("muted", "back", 4.5), ("muted", "paper", 4.5),
    ("brand", "paper", 4.5), ("brand", "back", 4.5), ("paper", "brand", 4.5),
    ("paper", "brand-dark", 4.5), ("ok-ink", "ok-bg", 4.5), ("warn-ink", "warn-bg", 4.5),
    ("held-ink", "held-bg", 4.5), ("err-ink", "err-bg", 4.5), ("none-ink", "none-bg", 4.5),
    ("focus", "paper", 3.0), ("focus", "back", 3.0),
]  # fmt: skip


def luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize(("text", "background", "minimum"), PAIRS)
def test_colour_pairs_meet_wcag_aa(text: str, background: str, minimum: float) -> None:
    assert contrast(COLOURS[text], COLOURS[background]) >= minimum
