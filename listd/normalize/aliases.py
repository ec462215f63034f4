"""Split a published name that packs several names into one string.

The UN list writes some aliases as `Mohammad Islami; Mohamed Islami; Mohammed Islami`,
`Mohammed Sabet b) M. Javad Kareemi Sabet`, `Al-Qaida in Yemen (AQY)` or
`Abu Muhammad (original script: Абу Мухаммад)`. Matched as one name, such a string
hides each of its names: a query for `Jabhat al-Nusrah` scores low against a
twenty-word string that contains it. The stored entity keeps the text as published;
the screening indexes file each form found here as a name of its own.
"""

from __future__ import annotations

import re

_ENUMERATOR = re.compile(r"(?:^|\s)[a-z]\)\s")  # "... b) M. Javad ..."
_SCRIPT_LABEL = re.compile(r"^\s*original\s+script\s*:?\s*", re.IGNORECASE)
_DIGIT = re.compile(r"\d")
# Parenthesised remarks that describe a name rather than give one.
_LABELS = frozenset(
    {
        "original script",
        "combat name",
        "birth name",
        "previously listed as",
        "nickname",
        "alias",
        "formerly",
    }
)
_MAX_REMARK_WORDS = 6
_TRIM = " \t,;:.-"


def name_forms(full: str) -> list[str]:
    """The names `full` holds, each once, in order. A name with a parenthesis keeps
    itself first: a customer recorded as "Armament Industries Group (AIG)", as listed,
    must still meet it whole; a list of names ("A; B; C") is nobody's name."""
    packed = ";" in full or _ENUMERATOR.search(full) is not None
    if not packed and "(" not in full and ")" not in full:
        return [full, *_conjoined(full)]
    forms: list[str] = [] if packed else [full]
    for part in _ENUMERATOR.split(full.replace(";", " a) ")):
        for form in _part_forms(part):
            for each in (form, *_conjoined(form)):
                if each and each not in forms:
                    forms.append(each)
    return forms


def _conjoined(name: str) -> list[str]:
    """The two names of `BANK SEPAH AND BANK SEPAH INTERNATIONAL`: an "and" followed by
    the name's own first word joins two firms listed as one (not RESEARCH AND PRODUCTION,
    which is one firm's name)."""
    words = name.split()
    first = words[0].casefold() if words else ""
    for i in range(2, len(words) - 2):
        if words[i].casefold() == "and" and words[i + 1].casefold() == first:
            return [" ".join(words[:i]), " ".join(words[i + 1 :])]
    return []


def _part_forms(part: str) -> list[str]:
    """The name outside parentheses, then each parenthesised name (not remarks)."""
    base: list[str] = []
    chunks: list[str] = []
    depth = 0
    for char in part:
        if char == "(":
            if depth == 0:
                chunks.append("")
            else:
                chunks[-1] += char
            depth += 1
        elif char == ")":
            if depth > 1:
                chunks[-1] += char
            depth = max(depth - 1, 0)  # a stray ")" closes nothing
        elif depth:
            chunks[-1] += char
        else:
            base.append(char)
    forms = [_clean("".join(base))]
    for chunk in chunks:
        chunk = _SCRIPT_LABEL.sub("", chunk)
        if "(" in chunk:
            forms += _part_forms(chunk)
        elif _is_name(chunk):
            forms.append(_clean(chunk))
    return forms


def _is_name(chunk: str) -> bool:
    text = _clean(chunk)
    words = text.split()
    if not words or text.casefold() in _LABELS or _DIGIT.search(text):
        return False
    if len(words) > _MAX_REMARK_WORDS:
        return False  # "false identity related to fraudulent ... passport number ..."
    # "(third)", "(Sheikh)": a remark or a title; "(AQY)" is kept.
    return not (len(words) == 1 and text.isascii() and not text.isupper())


def _clean(text: str) -> str:
    return " ".join(text.split()).strip(_TRIM)
