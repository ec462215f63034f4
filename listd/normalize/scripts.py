"""Which writing system a name is in, from Unicode character names (no ICU)."""

from __future__ import annotations

import unicodedata

# First word(s) of a Unicode character name that do not name the script itself.
# Multi-word script names (Old Italic, Tai Le...) come out as their first word only; none
# of them occur in sanctions lists.
_SCRIPT_ALIASES = {"CJK": "Han", "KANGXI": "Han", "IDEOGRAPHIC": "Han"}
# Letters of category L* that belong to no particular script (ʼ, ʻ, the kana length mark).
_COMMON = {"MODIFIER", "KATAKANA-HIRAGANA"}


def _char_script(ch: str) -> str | None:
    # NFKC first so fullwidth, mathematical and ordinal letters (Ａ, 𝐀, ª) count as Latin
    # and Arabic presentation forms as Arabic.
    folded = unicodedata.normalize("NFKC", ch)
    base = folded[0] if folded else ch
    if not base.isalpha():
        return None
    name = unicodedata.name(base, "")
    if not name:
        return None
    first = name.split(" ", 1)[0]
    if first in _COMMON:
        return None
    return _SCRIPT_ALIASES.get(first, first.title())


# Each script gets a private-use code point so that counting letters per script is a
# str.translate plus str.count, both in C: script_of runs on every name of every list.
_NAMES: list[str] = []
_CODES: dict[str, str] = {}


class _CodeTable(dict[int, str | None]):
    def __missing__(self, key: int) -> str | None:
        script = _char_script(chr(key))
        code = None
        if script is not None:
            if script not in _CODES:
                _CODES[script] = chr(0xE000 + len(_NAMES))
                _NAMES.append(script)
            code = _CODES[script]
        self[key] = code
        return code


_TABLE = _CodeTable()


def script_of(text: str) -> str | None:
    """Dominant script of the letters in `text` ("Latin", "Cyrillic", "Arabic", "Han"...)."""
    if text.isascii():
        return "Latin" if any(c.isalpha() for c in text) else None
    codes = text.translate(_TABLE)
    if not codes:
        return None
    first = codes[0]
    if codes.count(first) == len(codes):
        return _NAMES[ord(first) - 0xE000]
    # dict.fromkeys keeps first-seen order and max keeps the first of equals: on a tie the
    # script that appears first wins, deterministically.
    best = max(dict.fromkeys(codes), key=codes.count)
    return _NAMES[ord(best) - 0xE000]
