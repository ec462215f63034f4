"""Matching forms of names: folding, tokens, a consonant skeleton, and entity enrichment."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace
from functools import lru_cache

from anyascii import anyascii

from listd.model import Entity, Name
from listd.normalize.chinese import SYLLABLE_JOIN, joined_given_name
from listd.normalize.scripts import script_of
from listd.normalize.translit import arabic_to_latin, char_to_latin, to_latin

# Apostrophes and ayn/hamza signs join the word they sit in: O'Neil → oneil, ʿAbd → abd.
_APOSTROPHES = frozenset("'`´ʼʻʹʽʾʿ‘’‛′")
# Letters NFKD does not decompose; spelled as in German/Nordic/Polish/Turkish name lists.
_LETTERS = {
    "ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th",
    "ı": "i", "ħ": "h", "ŧ": "t", "ŋ": "ng", "ƒ": "f", "ĸ": "k", "ſ": "s", "ɨ": "i",
}  # fmt: skip


# Characters that show as nothing, or as a blank, and so can sit between two words unseen:
# Unicode's default-ignorable code points (soft hyphen, zero-width space and joiners, bidi
# controls, word joiner, BOM, Mongolian vowel separator and selectors, Hangul fillers, Khmer
# inherent vowels, variation selectors, tags), plus the braille blank. With every format
# control (Cf), separator (Zs, Zl, Zp) and control (Cc) they are word boundaries, never
# nothing: "ERIC<ZWSP>BADEGE" is two words. ZWNJ too, although Persian writes it inside words
# (رحمت‌الله): a split compound still matches (Rahmat Ullah ~ Rahmatullah), words run
# together do not. docs/matching.md says so.
_INVISIBLE_RANGES = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160),
    (0x17B4, 0x17B5), (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E),
    (0x2060, 0x206F), (0x2800, 0x2800), (0x3164, 0x3164), (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)  # fmt: skip
_BOUNDARY_CATEGORIES = frozenset({"Cf", "Zs", "Zl", "Zp", "Cc"})
# str.isprintable() is False for every Cf, Z* (but the ASCII space) and Cc character; these
# ranges add the printable invisibles (fillers, selectors). Together: the fast "plain" test.
_INVISIBLE = re.compile("[" + "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in _INVISIBLE_RANGES) + "]")


def _plain(text: str) -> bool:
    """True if `text` holds no boundary but the ASCII space (most names: no copying)."""
    return text.isprintable() and (text.isascii() or _INVISIBLE.search(text) is None)


def is_boundary(ch: str) -> bool:
    """True for a character that separates words: any space, control or invisible mark."""
    code = ord(ch)
    if any(lo <= code <= hi for lo, hi in _INVISIBLE_RANGES):
        return True
    return unicodedata.category(ch) in _BOUNDARY_CATEGORIES


class _SeparateTable(dict[int, str]):
    """str.translate table filled on first sight: a boundary becomes a space, all else stays."""

    def __missing__(self, key: int) -> str:
        value = self[key] = " " if is_boundary(chr(key)) else chr(key)
        return value


_SEPARATE = _SeparateTable()


def separate(text: str) -> str:
    """`text` with every invisible character and separator turned into a plain space.

    The one place names are cut into words, for list names, queries and watchlists alike
    (`fold` and the screening tokenizer both start here)."""
    return text if _plain(text) else text.translate(_SEPARATE)


class _JoinTable(dict[int, str]):
    """str.translate table: invisible characters (not spaces) removed, all else kept."""

    def __missing__(self, key: int) -> str:
        ch = chr(key)
        code = ord(ch)
        invisible = unicodedata.category(ch) == "Cf" or any(
            lo <= code <= hi for lo, hi in _INVISIBLE_RANGES
        )
        value = self[key] = "" if invisible else ch
        return value


_JOIN = _JoinTable()


def readings(text: str) -> tuple[str, ...]:
    """The ways a name holding invisible characters is read: first as written (the
    tokenizer makes each one a word boundary), then with them removed, for a soft hyphen or
    a Persian ZWNJ inside one word (Bara<SHY>dar ~ Baradar). A plain name has one reading.

    Lists, queries and watchlists are read through here, so an invisible mark can neither
    join two words (ERIC<ZWSP>BADEGE) nor split one. A Chinese name is also read with its
    given name written together, as pinyin writes it (Mao Tse-tung, Mao Tse Tung: Mao
    Tsetung, which the rule `wade_giles` pairs with Mao Zedong; `chinese.joined_given_name`),
    its joined word marked so that nothing but that rule or the same word pairs it."""
    if SYLLABLE_JOIN in text:  # typed: it would read as the mark the joined reading has
        text = text.replace(SYLLABLE_JOIN, "")
    if _plain(text):
        found: tuple[str, ...] = (text,)
    else:
        joined = text.translate(_JOIN)
        found = (text,) if joined == text else (text, joined)
    given = joined_given_name(found[-1])
    return found if given is None else (*found, given)


def _fold_ascii(text: str) -> str:
    return "".join(c.lower() if c.isalnum() else ("" if c in _APOSTROPHES else " ") for c in text)


def _fold_char(ch: str) -> str:
    if ch in _APOSTROPHES:
        return ""
    if ch.isascii():
        return _fold_ascii(ch)
    if ch in _LETTERS:
        return _LETTERS[ch]
    if is_boundary(ch):
        return " "
    category = unicodedata.category(ch)
    if category[0] in "PSZC":
        return " "  # « » „ “ – — · and any other punctuation, symbol or space
    out: list[str] = []
    for c in unicodedata.normalize("NFKD", char_to_latin(ch)):
        if unicodedata.combining(c):
            continue
        if c.isascii():
            out.append(_fold_ascii(c))
        elif c in _LETTERS:
            out.append(_LETTERS[c])
        else:
            out.append(_fold_ascii(anyascii(c)))
    return "".join(out)


class _FoldTable(dict[int, str]):
    """str.translate table filled on first sight of each character."""

    def __missing__(self, key: int) -> str:
        value = self[key] = _fold_char(chr(key))
        return value


_FOLD = _FoldTable()


@lru_cache(maxsize=1 << 16)
def fold(text: str) -> str:
    """Matching form: romanised, casefolded, diacritics and punctuation gone, spaces collapsed."""
    # NFKC would turn the acute accent used as an apostrophe (Ali´s) into space + combining mark.
    text = separate(text).replace("´", "'")
    lower = arabic_to_latin(unicodedata.normalize("NFKC", text).casefold())
    return " ".join(lower.translate(_FOLD).split())


def tokens(text: str) -> list[str]:
    """The words of the folded name."""
    return fold(text).split()


# Letter groups that romanisations swap for one another, each to one class: Ш/ش as sh,
# ch (French) or sch (German); Х/خ as kh, h or x... Uppercase marks "already classed".
# French c before e, i, y is s (Lounici, Belgacem).
_DIGRAPHS = re.compile("sch|tch|tsh|dzh|kh|gh|sh|ch|zh|dj|th|dh|ph|ck|c(?=[eiy])")
_DIGRAPH_CLASS = {
    "sch": "C", "tch": "C", "tsh": "C", "sh": "C", "ch": "C", "dzh": "J", "zh": "J", "dj": "J",
    "kh": "H", "gh": "K", "th": "T", "dh": "D", "ph": "F", "ck": "K", "c": "S",
}  # fmt: skip
# Vowels, y and w are what Arabic script leaves unwritten (و ي are vowel or consonant) and
# Cyrillic systems disagree on; g, k, q and hard c are one class because ق and غ are
# written g in the Maghreb (Belgacem, Ghedeir) and گ is often written with ك.
_SINGLE_CLASS = str.maketrans({"a": "", "e": "", "i": "", "o": "", "u": "", "y": "", "w": "",
                               "q": "k", "c": "k", "g": "k", "x": "ks"})  # fmt: skip
_REPEATS = re.compile(r"(.)\1+")


def _skeleton_word(word: str) -> str:
    if len(word) > 2 and word[-1] == "h" and word[-2] in "aeiou":
        word = word[:-1]  # Abdallah ~ Abdalla, Fatimah ~ Fatima
    word = _DIGRAPHS.sub(lambda m: _DIGRAPH_CLASS[m.group()], word)
    return _REPEATS.sub(r"\1", word.translate(_SINGLE_CLASS).lower())


@lru_cache(maxsize=1 << 16)
def skeleton(text: str) -> str:
    """Consonant key for cross-script matching: Muhammad, Мухаммед and محمد all give "mhmd"."""
    return " ".join(s for s in map(_skeleton_word, fold(text).split()) if s)


# Keyed by the whole (frozen, hashable) Name: each sync re-parses mostly the same names.
@lru_cache(maxsize=1 << 16)
def _normalize_name(name: Name) -> Name:
    script = script_of(name.full)
    latin = to_latin(name.full) if script is not None and script != "Latin" else None
    if name.script == script and name.latin == latin:
        return name
    return replace(name, script=script, latin=latin)


def normalize_names(names: tuple[Name, ...]) -> tuple[Name, ...]:
    """`names`, each carrying its script and, when not Latin, a romanisation."""
    return tuple(map(_normalize_name, names))


def normalize_entity(entity: Entity) -> Entity:
    """A copy of `entity` whose names carry their script and, when not Latin, a romanisation."""
    return replace(entity, names=normalize_names(entity.names))
