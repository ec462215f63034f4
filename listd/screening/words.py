"""Name words: what a word of a name becomes before it is compared.

A name is split into words; each word is romanised under every transliteration system
(`listd.normalize.latin_variants`), folded, and reduced to *phonetic forms* that erase the
differences those systems make (Zh/J, Kh/H, Y/I, Ou/U, doubled letters...). Arabic
compounds (Abd al-, Abu, -uddin) and the article are joined into one token, patronymic
words into the patronymic, legal forms into one labelled token; titles are dropped.

How two tokens compare, and the keys that find them, are in `tokens.py`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache

from rapidfuzz import process
from rapidfuzz.distance import OSA

from listd.normalize import fold, japanese, latin_variants, script_of, separate, skeleton
from listd.normalize.chinese import (
    chinese_readings,
    looks_chinese,
    marked_words,
    wade_giles_name,
)
from listd.normalize.translit import hangul_readings
from listd.screening.names import (
    ABBREVIATIONS,
    ARTICLES,
    CJK_LEGAL_FORMS,
    COMMON_NAMES,
    EQUIVALENT_NAMES,
    LEGAL_FORMS,
    LOOK_ALIKE_DIGITS,
    NUMBER_WORDS,
    ORG_WORDS,
    PARTICLES,
    PATRONYMIC_SUFFIXES,
    PATRONYMIC_WORDS,
    SURNAME_SUFFIXES,
    TENS,
    TITLES,
    UNITS,
)

# How much each kind of token counts towards a name match. Names are the evidence;
# particles, legal forms and titles-like words are glue that costs little when missing.
WEIGHTS = {
    "name": 1.0,
    "number": 1.0,
    "common": 0.7,
    "org": 0.5,
    "initial": 0.5,
    "patronymic": 0.45,
    "legal": 0.25,
    "particle": 0.2,
}


Mode = str  # "person" | "entity" | "any": which name grammar applies


@dataclass(frozen=True, slots=True)
class Token:
    """One word (or joined compound) of a name, in every form it is compared by."""

    text: str  # folded form shown in explanations
    kind: str  # key of WEIGHTS
    # Small sets are stored as sorted tuples: a one-element frozenset costs 216 bytes, a
    # tuple 48, and there is a token per distinct word of every list.
    pfs: tuple[str, ...]  # phonetic forms, one per transliteration that differs
    arabic: bool = False  # written in Arabic script: no short vowels
    group: str | None = None  # equivalent-names group (its first spelling)
    label: str | None = None  # legal form label (LLP, JSC...)
    stem: str | None = None  # patronymic: the father's name; else the surname stem
    skels: tuple[str, ...] = ()
    stems: tuple[str, ...] = ()  # surname stems: kuralbai for Kuralbayev
    cores: tuple[str, ...] = ()  # phonetic forms of the name inside a compound
    # Chinese, Korean, Japanese: the characters as written. Two such tokens compare by
    # them alone (王 and 汪 both read wang); against a Latin token, by the romanised text.
    chars: str | None = None
    # A word of a Chinese name in pinyin or Wade-Giles syllables (the whole name so
    # written): the pinyin words it reads as (`normalize.chinese`). Hsi, Xi: both xi.
    chinese: tuple[str, ...] = ()
    # A Chinese given name's syllables joined by a reading of the name, not as written
    # (`chinese.joined_given_name`: Tse-tung as Tsetung): it pairs only exactly or by its
    # pinyin reading (`tokens.matcher`).
    joined: bool = False

    @property
    def weight(self) -> float:
        return WEIGHTS[self.kind]


# --- phonetic forms ------------------------------------------------------------------

_PF_MAP = {
    "dzh": "j", "dj": "j", "zh": "j", "kh": "h", "gh": "g", "ph": "f", "th": "t",
    "dh": "d", "ck": "k", "sch": "sh", "tch": "ch", "tsch": "ch", "cz": "ts", "tz": "ts",
    "q": "k", "w": "v", "y": "i", "x": "ks", "ou": "u", "oo": "u", "ee": "i",
}  # fmt: skip
_PF_RE = re.compile(
    "|".join(sorted((re.escape(k) for k in _PF_MAP), key=len, reverse=True)) + "|c(?=[eiy])|c(?!h)"
)
_FINAL_H = re.compile(r"(?<=[aeiou])h$")
# "ye" after a consonant is Е spelled as if word-initial: Syeilkhan, Juldashyev.
_YE = re.compile(r"(?<=[b-df-hj-np-tv-xz])ye")
_DOUBLES = re.compile(r"(.)\1+")
# Abd al-, Abdul, Abdel, Abdur-Rahman, Abdu-Salam: one prefix "abdal".
_ABD = re.compile(
    r"^abd(?:[aeiou]{1,2}l(?=\w{3})|[aeiou]{1,2}(?=([rsdtzn])\1\w)"
    r"|[aeiou]{1,2}(?=[rs][aeiou]\w)|(?=[b-df-hj-np-tv-z]\w\w))"
)
# Nur al-Din, Nuruddin, Nureddine, Nuraddin: one suffix "aldin".
_DIN = re.compile(r"(?<=\w\w)(?:[aeiou][dl]|d)dine?$")


def _pf_sub(match: re.Match[str]) -> str:
    text = match.group()
    if text == "c":
        return (
            "s" if match.end() < len(match.string) and match.string[match.end()] in "eiy" else "k"
        )
    return _PF_MAP[text]


@lru_cache(maxsize=1 << 17)
def phonetic(word: str) -> str:
    """Phonetic form of one folded word: Yusuf, Iusuf → iusuf; Zhomart, Jomart → jomart."""
    if not word.isalpha():
        return word
    word = _YE.sub("e", word)
    word = _FINAL_H.sub("", _PF_RE.sub(_pf_sub, word)) or word
    word = _ABD.sub("abdal", word)
    word = _DIN.sub("aldin", word)
    return _DOUBLES.sub(r"\1", word)


# --- tables compiled to phonetic forms -------------------------------------------------


# Legal forms are matched on folded spellings, not phonetic forms: LLP and LP differ.
_LEGAL: dict[tuple[str, ...], str] = {}
_NOT_SPELLED = frozenset({"co", "ip", "ao", "fund"})
_SPELLED_OUT: set[tuple[str, ...]] = set()  # keys of forms written letter by letter
for _label, _spellings in LEGAL_FORMS.items():
    for _spelling in _spellings:
        for _variant in {fold(_spelling), *latin_variants(_spelling)}:
            _LEGAL.setdefault(tuple(_variant.split()), _label)
# Written letter by letter: G.m.b.H., p.l.c., o.O.O., A.G. (not C.O., I.P., A.O.:
# initials more often than a company's form).
for _label, _spellings in LEGAL_FORMS.items():
    for _spelling in map(fold, _spellings):
        _letters = tuple(_spelling)
        _short = _spelling.isascii() and _spelling.isalpha() and len(_spelling) <= 4
        if _short and _spelling not in _NOT_SPELLED and _letters not in _LEGAL:
            _LEGAL[_letters] = _label
            _SPELLED_OUT.add(_letters)
for _form, _label in CJK_LEGAL_FORMS.items():
    _LEGAL.setdefault((fold(_form).replace(" ", ""),), _label)
_LEGAL_MAX = max(len(k) for k in _LEGAL)
_LEGAL_WORDS = frozenset(w for k in _LEGAL for w in k if len(w) >= 5)
_LEGAL_WORD_LIST = sorted(_LEGAL_WORDS)
_LEGAL_QUALIFIERS = frozenset({"public", "open", "closed", "private"})
_TITLES = frozenset(fold(t) for t in TITLES)
_PARTICLES = frozenset(fold(p) for p in PARTICLES)
_PATRONYMIC_WORDS = frozenset(v for w in PATRONYMIC_WORDS for v in latin_variants(w))
_ORG_WORDS = frozenset(phonetic(w) for t in ORG_WORDS for w in fold(t).split())
_DIN_WORDS = frozenset({"din", "deen", "dine", "diin"})
_ALLAH = frozenset({"allah", "ullah", "ulla", "alla", "ollah", "illah"})
_ARTICLES_ANY = frozenset({"al", "el", "ul"})  # the article before any letter
_ABU = frozenset({"abu", "abou", "abo", "bu", "umm", "um", "oum"})
_ABD_WORD = re.compile(r"^abd(?:[aeiou]{1,2}[lr]?)?$")
# Abdul with its first letter mistyped (QBDUL, SBDUL): no name begins so, and it still
# joins the word after it (the pair then needs `first_letter_typo`'s conditions).
_ABD_TYPO = re.compile(r"^[b-df-hj-np-tv-z]bd[aeiou]{1,2}[lr]?$")


# --- words ----------------------------------------------------------------------------

_BRACKETS = re.compile(r"[()\[\]{}（）]")
# The middle dots and double hyphens Japanese (アイマン・ザワヒリ, アッ＝ザワーヒリー) and
# Chinese (本·拉登) write between the parts of a foreign name are word breaks too.
_SEPARATORS = r"\s\-‐‑‒–—―_/\\,;:.()\[\]{}\"«»“”„!?+*&|#・･·‧゠＝="
_SPLIT = re.compile(f"[{_SEPARATORS}]+")
_RAW = re.compile(f"[^{_SEPARATORS}（）]+")  # one raw word, as `tokenize` cuts them
_HYPHENS = frozenset("-‐‑")


@dataclass(frozen=True, slots=True)
class _Piece:
    text: str
    forms: frozenset[str]
    arabic: bool
    initial: bool = False  # one letter as written: A., Ж. (Zh), Ю. (Yu)
    cores: frozenset[str] = frozenset()  # the name inside a compound: Teir in Abu Teir
    skels: frozenset[str] = frozenset()  # Arabic script: consonant keys from the letters
    chars: str | None = None  # Chinese, Korean, Japanese characters as written


@lru_cache(maxsize=1 << 16)
def _word(raw: str) -> tuple[_Piece, ...]:
    """The folded pieces of one raw word, each with its spellings under every system."""
    script = script_of(raw)
    base = fold(raw).split()
    if not base:
        return ()
    if script in _CJK:
        return _cjk_pieces(raw, False)
    initial = len(base) == 1 and sum(c.isalpha() for c in raw) == 1
    if script in (None, "Latin") or raw.isascii():
        return tuple(_Piece(p, _latin_forms(p), False, initial) for p in base)
    forms: list[set[str]] = [{p} for p in base]
    for variant in latin_variants(raw):
        parts = variant.split()
        if len(parts) == len(base):
            for bucket, part in zip(forms, parts, strict=True):
                bucket.add(part)
    arabic = script == "Arabic"
    skels: list[frozenset[str]] = [frozenset()] * len(base)
    if arabic:
        if raw.endswith("ة"):
            forms[-1] |= {f + "t" for f in forms[-1]}  # 'Usbat: taa marbuta in construct
        split = _arabic_split(raw)
        if len(split) == len(base):
            skels = [frozenset((_arabic_skeleton(w),)) for w in split]
    return tuple(
        _Piece(p, frozenset(f), arabic, initial, skels=k)
        for p, f, k in zip(base, forms, skels, strict=True)
    )


_CJK = frozenset({"Han", "Hangul", "Hiragana", "Katakana"})


@lru_cache(maxsize=1 << 14)
def _cjk_pieces(raw: str, person: bool) -> tuple[_Piece, ...]:
    """A Chinese, Korean or Japanese word: its characters, and their romanised reading
    (anyascii: pinyin without tones for Han, Revised Romanization for Hangul; kanji get
    their Chinese reading; kana the Hepburn reading and the foreign name it writes,
    `normalize.japanese`). `person`: the word is a whole name of 2-4
    characters, cut after the family name (one character; two of four: 欧阳, 山田) as
    the romanised forms on the lists write it (王小明: Wang Xiaoming)."""
    chars = "".join(c for c in raw if c.isalpha())
    parts = [chars]
    script = script_of(raw)
    if person and script in ("Han", "Hangul") and 2 <= len(chars) <= 4:
        cut = 2 if len(chars) == 4 else 1
        parts = [chars[:cut], chars[cut:]]
        if script == "Hangul":  # the lists write a Korean given name by syllable: CHOL-SAM
            parts = [chars[:cut], *chars[cut:]]
    else:
        parts = list(_cjk_legal(chars))
    out: list[_Piece] = []
    for part in parts:
        if japanese.only_kana(part):
            # Katakana as Japan writes a foreign name, read back (`normalize.japanese`).
            kana = japanese.readings(part)
            if kana:
                out.append(_Piece(kana[0], frozenset(kana), False, chars=part))
            continue
        text = fold(part).replace(" ", "")
        if text:
            forms = {text, *(v.replace(" ", "") for v in latin_variants(part))}
            if script == "Hangul":
                forms |= _korean_readings(part)
            out.append(_Piece(text, frozenset(forms), False, chars=part))
    return tuple(out)


# The Arabic article as katakana writes it before the next word, after a double hyphen or
# a middle dot: アル＝ザワヒリ al-Zawahiri, ウル・ラフマン ul-Rahman; and assimilated to the
# word's first consonant, the small tsu doubling it: アッ＝ザワーヒリー az-Zawahiri,
# アッ＝シャーミー ash-Shami.
_KANA_ARTICLES = {
    "アル": "al", "エル": "el", "ウル": "ul", "ウド": "ud", "アッ": "a", "ウッ": "u",
}  # fmt: skip
_KANA_PARTICLES = frozenset({"bin", "ibn", "bint", "ben"})


def _kana_articles(pieces: list[_Piece]) -> list[_Piece]:
    """The article in katakana joined to the word after it, as the Latin article is
    (`_joins`): az-Zawahiri for アッ＝ザワーヒリー; then Abd, Abu to their name (アブド・
    アル＝アジズ Abd al-Aziz, アブドゥル・ラフマン Abdul Rahman). The article's word keeps its
    characters: another katakana spelling of it, with or without the article, compares
    by them."""
    out: list[_Piece] = []
    i = 0
    while i < len(pieces):
        piece = pieces[i]
        nxt = pieces[i + 1] if i + 1 < len(pieces) else None
        article = _KANA_ARTICLES.get(piece.chars or "")
        if article is None or nxt is None or not _kana(nxt):
            out.append(piece)
            i += 1
            continue
        if article in ("a", "u"):  # the next word's first consonant: z, sh, d, r...
            head = re.match("(?:sh|ch|ts|[b-df-hj-np-tv-z])", nxt.text)
            article = article + (head.group() if head else "l")
        forms = frozenset(article + f for f in nxt.forms) | nxt.forms
        out.append(_Piece(article + nxt.text, forms, False, chars=nxt.chars))
        i += 2
    pieces, out = out, []
    i = 0
    while i < len(pieces):
        piece = pieces[i]
        nxt = pieces[i + 1] if i + 1 < len(pieces) else None
        abd = [f for f in piece.forms if f in _ABU or _ABD_WORD.match(f)] if _kana(piece) else []
        if abd and nxt is not None and _kana(nxt) and len(nxt.text) > 3:
            forms = frozenset(a + f for a in abd for f in nxt.forms)
            chars = (piece.chars or "") + (nxt.chars or "")
            out.append(_Piece(piece.text + nxt.text, forms, False, cores=nxt.forms, chars=chars))
            i += 2
            continue
        out.append(piece)
        i += 1
    return out


def _kana(piece: _Piece) -> bool:
    return piece.chars is not None and japanese.only_kana(piece.chars)


def _cjk_legal(chars: str) -> tuple[str, ...]:
    """A CJK firm's name and the legal form it ends with, apart: 旷视科技 有限公司."""
    for form in _CJK_LEGAL_ORDER:
        if chars.endswith(form) and len(chars) > len(form) + 1:
            return chars[: -len(form)], form
    return (chars,)


_CJK_LEGAL_ORDER = sorted(CJK_LEGAL_FORMS, key=len, reverse=True)


def _korean_readings(part: str) -> frozenset[str]:
    """A Hangul word as McCune-Reischauer and older spellings write it (철삼: cholsam,
    chulsam...), beside anyascii's Revised Romanization: at most 64."""
    found = {""}
    for syllable in part:
        readings = hangul_readings(syllable)
        if not readings:
            return frozenset()
        found = {f + r for f in found for r in readings}
        if len(found) > 64:
            return frozenset()
    return frozenset(found)


_LOOK_ALIKE = str.maketrans(LOOK_ALIKE_DIGITS)
_ORDINAL = re.compile(r"^(\d+)(?:st|nd|rd|th)$")


def _latin_forms(p: str) -> frozenset[str]:
    """A Latin word's spellings: itself, or the number it writes (7th → 7), or the
    letters its digits stand for (M0HAMMAD → mohammad, AL1 → ali, all)."""
    ordinal = _ORDINAL.match(p)
    if ordinal:
        return frozenset((str(int(ordinal.group(1))),))
    if p in ABBREVIATIONS:
        return frozenset((p, ABBREVIATIONS[p]))
    letters = sum(c.isalpha() for c in p)
    if letters >= 2 and letters < len(p) and letters >= 2 * (len(p) - letters):
        read = p.translate(_LOOK_ALIKE)
        if read.isalpha():  # 1 is I or L: ABDU1 is abdul (1 replaced before the table)
            return frozenset((read, p.replace("1", "l").translate(_LOOK_ALIKE)))
    return frozenset((p,))


# Al or el with a 1 typed for the L (A1-RAHMAN): two characters are too few for the
# look-alike rule of `_latin_forms`, but before a word they are the article.
_DIGIT_ARTICLES = {"a1": "al", "e1": "el"}


def _title(piece: _Piece) -> bool:
    """A title, dropped from a person's name: Haji, Mr, президент, HAJ1, XAJI, ムッラー."""
    return (
        piece.text in _TITLES
        or _title_as_typed(piece)
        or (_kana(piece) and not piece.forms.isdisjoint(_TITLES))
    )


def _hyphened_titles(text: str) -> list[bool]:
    """For each title among the words of `text`, in order, whether a hyphen joins it to
    the word before or after it: then it is part of a name, as Chechen and Dagestani
    given names and the patronymics made from them are written (Хаджи-Мурат, Али-Хаджи,
    Хаджи-Мустафаевич; also run together, Хаджимуратович), not the title Хаджи."""
    out: list[bool] = []
    for m in _RAW.finditer(text):
        start, end = m.span()
        hyphened = (
            start >= 2 and text[start - 1] in _HYPHENS and _RAW.match(text[start - 2]) is not None
        ) or (text[end : end + 1] in _HYPHENS and _RAW.match(text, end + 1) is not None)
        out += [hyphened for piece in _word(m.group()) if _title(piece)]
    return out


def _title_as_typed(piece: _Piece) -> bool:
    """A title typed with a look-alike digit (HAJ1), or in Uzbek Latin, which writes Х (h,
    kh) as X (XAJI, XAFIZ): dropped as the title is."""
    text = piece.text
    if text[:1] == "x" and text[1:2] in "aeiou" and len(text) > 3:
        return "h" + text[1:] in _TITLES or "kh" + text[1:] in _TITLES
    return any(c.isdigit() for c in text) and not piece.forms.isdisjoint(_TITLES)


_DIGIT = re.compile("^[1-9]$")


def _numbers(pieces: list[_Piece]) -> list[_Piece]:
    """Number words as the number they write: Seventh → 7, Forty-Four → 44."""
    out: list[_Piece] = []
    for piece in pieces:
        value = NUMBER_WORDS.get(piece.text)
        # A unit after tens makes one number with them, in words or a digit (Forty 4).
        unit = UNITS.get(piece.text) or (int(piece.text) if _DIGIT.match(piece.text) else None)
        if unit is not None and out and out[-1].text in TENS:
            prev = out[-1]
            number = NUMBER_WORDS[prev.text] + unit
            out[-1] = _Piece(f"{prev.text} {piece.text}", frozenset((str(number),)), False)
            continue
        if value is None:
            out.append(piece)
            continue
        out.append(_Piece(piece.text, frozenset((str(value),)), False))
    return out


# Consonant classes of Arabic-script letters, as `skeleton` classes Latin spellings: the
# romanised text cannot be used, since unvowelled ص ح reads as the digraph "sh" (ش).
_AR_SKELETON = str.maketrans({
    "ب": "b", "پ": "b", "ت": "t", "ث": "t", "ط": "t", "ټ": "t", "ٹ": "t", "ج": "j", "چ": "c",
    "ح": "h", "خ": "h", "ه": "h", "ہ": "h", "ھ": "h", "د": "d", "ذ": "d", "ض": "d", "ڈ": "d",
    "ډ": "d", "ر": "r", "ڑ": "r", "ړ": "r", "ز": "z", "ظ": "z", "ژ": "j", "ږ": "j", "س": "s",
    "ص": "s", "ش": "c", "ښ": "c", "غ": "k", "ق": "k", "ك": "k", "ک": "k", "گ": "k", "ګ": "k",
    "ف": "f", "ڤ": "f", "ل": "l", "م": "m", "ن": "n", "ں": "n", "ڼ": "n", "ځ": "z", "څ": "s",
})  # fmt: skip
_AR_ANY = re.compile("[\u0600-\u06ff]")


def _arabic_skeleton(word: str) -> str:
    kept = "".join(c for c in word.translate(_AR_SKELETON) if c.isascii())
    return _DOUBLES.sub(r"\1", kept)


def _arabic_split(raw: str) -> list[str]:
    """The Arabic word cut as the romaniser cuts it: عبد|ال|رحمن, ال|صحراوي."""
    if raw.startswith("عبدال") and len(raw) > 6 and not raw.endswith(("لله", "للہ")):
        return ["عبد", "ال", raw[5:]]
    if raw.startswith("ال") and len(raw) > 3 and not raw.endswith(("لله", "للہ")):
        return ["ال", raw[2:]]
    return [raw]


def _join(a: _Piece, b: _Piece, *, keep_b: bool = False, core: _Piece | None = None) -> _Piece:
    forms = {x + y for x in a.forms for y in b.forms}
    if keep_b:
        forms |= b.forms
    cores = core.forms | core.cores if core is not None else frozenset()
    skels: frozenset[str] = frozenset()
    if a.skels or b.skels:
        skels = frozenset(x + y for x in _piece_skels(a) for y in _piece_skels(b))
        if keep_b:
            skels |= _piece_skels(b)
    return _Piece(a.text + b.text, frozenset(forms), a.arabic or b.arabic, cores=cores, skels=skels)


def _piece_skels(p: _Piece) -> frozenset[str]:
    return p.skels or frozenset(skeleton(f).replace(" ", "") for f in p.forms)


def _abd_digits(piece: _Piece) -> bool:
    """ABDU1 (a digit typed for the L): the Abd prefix once read, so it joins its name."""
    return any(c.isdigit() for c in piece.text) and any(
        f in _ABU or _ABD_WORD.match(f) for f in piece.forms
    )


def _joins(pieces: list[_Piece]) -> list[tuple[_Piece, str | None]]:
    """Join articles, Abd/Abu compounds, -din and patronymic words; tag patronymics."""
    out: list[_Piece] = []
    i = 0
    # The article joins the word after it (al-Baghdadi); the bare word stays a spelling.
    while i < len(pieces):
        piece = pieces[i]
        article = _DIGIT_ARTICLES.get(piece.text)
        if article is not None and i + 1 < len(pieces) and len(pieces[i + 1].text) > 2:
            # A1 keeps its text (the explanation shows the digit), read as the article.
            piece = _Piece(piece.text, frozenset((article,)), False)
        else:
            article = piece.text
        if (
            article in ARTICLES
            and i + 1 < len(pieces)
            and (len(pieces[i + 1].text) > 2 or pieces[i + 1].arabic)
            # An article other than al/el/ul takes the next word's first consonant (ad-Din,
            # ash-Shami, ar-Rahman): AD AZIZ is two initials or a particle, not ad-Aziz.
            and (article in _ARTICLES_ANY or pieces[i + 1].text.startswith(article[1:]))
        ):
            nxt = pieces[i + 1]
            out.append(_join(piece, nxt, keep_b=True))
            i += 2
            continue
        out.append(piece)
        i += 1
    joined: list[tuple[_Piece, str | None]] = []
    i = 0
    while i < len(out):
        piece = out[i]
        after = out[i + 1] if i + 1 < len(out) else None
        if (
            after is not None
            and not after.initial
            and (
                piece.text in _ABU
                or _ABD_WORD.match(piece.text)
                or _ABD_TYPO.match(piece.text)
                or _abd_digits(piece)
            )
            and (after.text not in _PARTICLES or len(after.text) > 3)
        ):
            joined.append((_join(piece, after, core=after), None))
            i += 2
            continue
        # A1-DIN: the article read from a look-alike digit, then the -din word
        base = _din_base(piece.text) or (
            piece.text[:2] in _DIGIT_ARTICLES and any(_din_base(f) for f in piece.forms)
        )
        if joined and base and joined[-1][1] is None:
            prev, _ = joined.pop()
            joined.append((_join(prev, piece, core=prev), None))
            i += 1
            continue
        if joined and piece.text in _PATRONYMIC_WORDS and joined[-1][1] is None:
            prev, _ = joined.pop()
            joined.append((_join(prev, piece, core=prev), prev.text))
            i += 1
            continue
        joined.append((piece, None))
        i += 1
    return joined


def _din_base(text: str) -> bool:
    """A word that ends the name before it: (ud-)din, (ul-)lah: Nur ad-Din, Khayr Allah."""
    return text in _DIN_BASES


_DIN_BASES = _DIN_WORDS | _ALLAH | frozenset(a + d for a in ARTICLES for d in _DIN_WORDS)


def _patronymic_stem(text: str) -> str | None:
    for suffix in PATRONYMIC_SUFFIXES:
        if text.endswith(suffix) and len(text) >= len(suffix) + 3:
            return text[: -len(suffix)]
    return None


def _surname_stems(pf: str) -> tuple[str, ...]:
    for suffix in SURNAME_SUFFIXES:
        if pf.endswith(suffix) and len(pf) >= len(suffix) + 4:
            stem = pf[: -len(suffix)]
            # Kazakh -бай + Russian -ев is -баев: the й is gone (Кұралбаев ~ Құралбай).
            if suffix.startswith("e") and stem[-1] in "aou":
                return stem, stem + "i"
            return (stem,)
    return ()


def _stems(kind: str, pfs: frozenset[str]) -> frozenset[str]:
    if kind not in ("name", "common"):
        return frozenset()
    return frozenset(s for p in pfs for s in _surname_stems(p)) | (
        pfs if any(len(p) >= 6 for p in pfs) else frozenset()
    )


def group_of(pfs: frozenset[str]) -> str | None:
    """The equivalence group (its first spelling) of a word with phonetic forms `pfs`."""
    for pf in sorted(pfs):
        group = _GROUPS.get(pf)
        if group is not None:
            return group
    return None


def _token(piece: _Piece, kind: str, stem: str | None = None, label: str | None = None) -> Token:
    pfs = frozenset((label,)) if label else frozenset(phonetic(f) for f in piece.forms)
    if not label and not piece.arabic:
        # Russian writes W as У: Уали Wali, Уон Won.
        pfs |= {phonetic(f.replace("w", "u")) for f in piece.forms if "w" in f}
        # Uzbek Latin writes Х (kh) as X: Xolmatov Kholmatov, Xasan Hasan.
        pfs |= {phonetic("kh" + f[1:]) for f in piece.forms if f[:1] == "x" and f[1:2] in "aeiou"}
    skels = frozenset(s for f in piece.forms if (s := skeleton(f).replace(" ", "")))
    skels |= piece.skels
    group = group_of(pfs) if kind not in ("legal", "particle") else None
    if kind == "name" and (group in COMMON_NAMES or pfs & _COMMON_PFS):
        kind = "common"
    return Token(
        text=piece.text,
        kind=kind,
        pfs=tuple(sorted(pfs)),
        arabic=piece.arabic,
        group=group,
        label=label,
        stem=stem,
        skels=tuple(sorted(skels)),
        stems=tuple(sorted(_stems(kind, pfs))),
        cores=tuple(sorted(frozenset(phonetic(c) for c in piece.cores) - pfs)),
        chars=piece.chars,
    )


@lru_cache(maxsize=1 << 16)
def _classify(piece: _Piece, patronymic_of: str | None, mode: Mode) -> Token:
    text = piece.text
    if patronymic_of is not None:
        return _token(piece, "patronymic", stem=phonetic(patronymic_of))
    if piece.initial:
        return _token(piece, "initial")
    if piece.chars is not None:
        if _kana(piece) and not piece.forms.isdisjoint(_KANA_PARTICLES):
            return _token(piece, "particle")  # ビン bin, イブン ibn
        return _token(piece, "name")  # 라 (Ra) read "la" is no particle
    if any(c.isdigit() for c in text) and not any(f.isalpha() for f in piece.forms):
        return _token(piece, "number")
    if all(f.isdigit() for f in piece.forms):
        return _token(piece, "number")  # a number written as words
    if text in _PARTICLES or text in _PATRONYMIC_WORDS:
        return _token(piece, "particle")
    if mode != "entity":
        stem = _patronymic_stem(text)
        if stem is not None and not piece.arabic:
            return _token(piece, "patronymic", stem=phonetic(stem))
    if mode != "person" and phonetic(text) in _ORG_WORDS:
        return _token(piece, "org")
    return _token(piece, "name")


def _legal_spans(pieces: list[_Piece], mode: Mode) -> dict[int, tuple[int, str]]:
    """Start index → (end, label) of each legal-form phrase, longest first. In a name of
    unknown type, single letters that begin it are initials, not a legal form: S.-A. Jones
    (Sally-Anne), not S.A."""
    spans: dict[int, tuple[int, str]] = {}
    forms = [p.forms | _legal_word(p.text) for p in pieces]
    i = covered = 0  # pieces before `covered` belong to a span
    while i < len(pieces):
        for size in range(min(_LEGAL_MAX, len(pieces) - i), 0, -1):
            if size == len(pieces):
                continue  # a name that is nothing but a legal form stays a name
            if i == 0 and mode == "any" and all(p.initial for p in pieces[:size]):
                continue
            # Letters that spell a form: in a firm's name, or three or more ending a name
            # of unknown type (John A. G. Smith and Ivanov A.G. have initials).
            spelled = mode == "entity" or (i + size == len(pieces) and size >= 3)
            label = _legal_at(forms, i, size, spelled)
            if label is not None:
                # Public, open, closed: the kind of a joint-stock company, part of its form
                # (PUBLIC JOINT STOCK COMPANY is one form; public A.Ş. the same one).
                start = i
                if (
                    i > covered
                    and pieces[i - 1].text in _LEGAL_QUALIFIERS
                    and size + 1 < len(pieces)
                ):
                    start -= 1
                spans[start] = (i + size, label)
                i += size
                covered = i
                break
        else:
            i += 1
            continue
    return spans


@lru_cache(maxsize=1 << 14)
def _legal_word(text: str) -> frozenset[str]:
    """The legal-form word `text` is one typo away from (Libaility → liability), if any."""
    if len(text) < 5 or text in _LEGAL_WORDS:
        return frozenset()
    found = process.extractOne(text, _LEGAL_WORD_LIST, scorer=OSA.distance, score_cutoff=1)
    return frozenset((found[0],)) if found is not None else frozenset()


def _legal_at(
    forms: list[frozenset[str]], start: int, size: int, spelled: bool = True
) -> str | None:
    """The label of the legal form the pieces from `start` write, if any; `spelled`: also
    one written letter by letter (G.m.b.H.)."""
    candidates: list[tuple[str, ...]] = [()]
    for spellings in forms[start : start + size]:
        candidates = [c + (f,) for c in candidates for f in sorted(spellings)][:16]
    for cand in candidates:
        label = _LEGAL.get(cand)
        if label is not None and (spelled or cand not in _SPELLED_OUT):
            return label
    return None


@lru_cache(maxsize=1 << 16)
def tokenize(name: str, mode: Mode = "any") -> tuple[Token, ...]:
    """The tokens of a name. `mode` "person" skips legal forms, "entity" skips titles."""
    name, marked = marked_words(name)
    joined = frozenset(map(fold, marked))
    # Characters typed one at a time are joined into a word, but not across a bracket:
    # 華 信 船 務 ( 香 港 ) 有 限 公 司 is 華信船務 香港 有限公司, as written without spaces.
    raws = [
        run
        for part in _BRACKETS.split(separate(name))
        for run in _cjk_runs([raw for raw in _SPLIT.split(part) if raw])
    ]
    if len(raws) == 1 and mode != "entity" and script_of(raws[0]) in _CJK:
        pieces = list(_cjk_pieces(raws[0], True))  # a whole name as one run: 王小明
    else:
        pieces = _numbers([p for raw in raws for p in _word(raw)])
    if any(p.chars is not None and japanese.only_kana(p.chars) for p in pieces):
        pieces = _kana_articles(pieces)
    if mode != "entity" and any(map(_title, pieces)):
        # A title hyphenated to a word is part of a name (Хаджи-Мурат, Хаджи-Мустафаевич).
        hyphened = iter(_hyphened_titles(separate(name)))
        # A given name a reading joined is no title (Cho Ha-ji is not Cho Haji).
        kept = [p for p in pieces if not _title(p) or next(hyphened, False) or p.text in joined]
        if kept:
            pieces = kept
    spans = _legal_spans(pieces, mode) if mode != "person" else {}
    tokens: list[Token] = []
    i = 0
    run: list[_Piece] = []

    def flush() -> None:
        for piece, patronymic_of in _joins(run):
            tokens.append(_classify(piece, patronymic_of, mode))
        run.clear()

    while i < len(pieces):
        if i in spans:
            flush()
            end, label = spans[i]
            text = " ".join(p.text for p in pieces[i:end])
            tokens.append(
                _token(_Piece(text, frozenset((label.lower(),)), False), "legal", label=label)
            )
            i = end
            continue
        end = i
        while mode == "entity" and end < len(pieces) and pieces[end].initial and end not in spans:
            end += 1
        if end - i >= 3:
            # A firm's three or more letters are its acronym, in their order: A.B.C.
            # Company is ABC Company, not C.B.A. Company (a person's initials are hers in
            # any order). Two stay initials: U.S. is also United States.
            text = "".join(p.text for p in pieces[i:end])
            run.append(_Piece(text, frozenset((text,)), False))
            i = end
            continue
        run.append(pieces[i])
        i += 1
    flush()
    if joined:
        tokens = [replace(t, joined=True) if t.text in joined else t for t in tokens]
    return _chinese(tokens)


def _chinese(tokens: list[Token]) -> tuple[Token, ...]:
    """`tokens`, each with its pinyin readings when the name is Chinese written in Latin
    syllables (every word a name of one or two of them, `looks_chinese`); in a name that
    has a syllable only Wade-Giles writes (Hsi, Tse, Tung), every word is read as
    Wade-Giles too (Chang: zhang, chang). A name of other words gets none, so the rule that
    pairs readings (`tokens.WADE_GILES`) stays within Chinese names."""
    if not 2 <= len(tokens) <= 4 or not all(
        t.kind in ("name", "common") and t.chars is None for t in tokens
    ):
        return tuple(tokens)
    words = [t.text for t in tokens]
    if not looks_chinese(words):
        return tuple(tokens)
    wade_giles = wade_giles_name(words)
    return tuple(
        replace(t, chinese=tuple(sorted(chinese_readings(t.text, wade_giles)))) for t in tokens
    )


def _cjk_runs(raws: list[str]) -> list[str]:
    """Chinese, Korean or Japanese written a character at a time (旷 视 科 技) as one word:
    the scripts put no space between the characters of a name."""
    if len(raws) < 2 or not any(len(r) == 1 and script_of(r) in _CJK for r in raws):
        return raws
    out: list[str] = []
    run = False
    for raw in raws:
        single = len(raw) == 1 and script_of(raw) in _CJK
        if single and run:
            out[-1] += raw
        else:
            out.append(raw)
        run = single
    return out


# Equivalence groups and common names by phonetic form. Built here, after `tokenize`
# exists, from spellings run through the same pipeline as names.
_GROUPS: dict[str, str] = {}
_COMMON_PFS = frozenset(phonetic(n) for n in COMMON_NAMES)
for _spellings in EQUIVALENT_NAMES:
    for _spelling in _spellings:
        for _tok in tokenize(_spelling, "person"):
            if _tok.kind not in ("particle", "legal"):
                for _pf in _tok.pfs:
                    _GROUPS.setdefault(_pf, _spellings[0])
tokenize.cache_clear()  # tokens made before _GROUPS was filled carry no group
_classify.cache_clear()
