"""Name tokens: what a word of a name becomes before it is compared, and how two compare.

A name is split into words; each word is romanised under every transliteration system
(`listd.normalize.latin_variants`), folded, and reduced to *phonetic forms* that erase the
differences those systems make (Zh/J, Kh/H, Y/I, Ou/U, doubled letters...). Arabic
compounds (Abd al-, Abu, -uddin) and the article are joined into one token, patronymic
words into the patronymic, legal forms into one labelled token; titles are dropped.

`similarity(q, v)` gives a score in 0..1 and the rule that produced it. Every rule is
backed by a lookup key (`index_keys`/`query_keys`) so that the candidate index finds
every list token a query token can match by that rule, except edit distance 2 where the
two spellings share no one-deletion neighbour (two substitutions in one word).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import process
from rapidfuzz.distance import OSA, Indel

from listd.normalize import fold, latin_variants, script_of, separate, skeleton
from listd.screening.names import (
    ARTICLES,
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

# Token similarity by rule. Edit distance and the Arabic rules compute theirs.
EXACT = 1.0
TRANSLITERATION = 0.98
EQUIVALENCE = 0.95
ARABIC_SPELLING = 0.92  # Arabic-script word whose letters spell the Latin one (عامر ~ Aamir)
PATRONYMIC = 0.9
SURNAME_FORM = 0.88  # Құралбай ~ Kuralbayev: the Russified form of a Kazakh surname
ARABIC_SKELETON = 0.85
INITIAL = 0.85
COMPOUND_PART = 0.85  # Teir ~ Abu Teir, Dilmurod ~ Dilmurod ugli
PHONETIC = 0.85  # same consonant skeleton and first letter: Chaudhry ~ Chowdhury
# The same word once its first letter is put in the class transliterations swap it within
# (ق: Q, K, G, Gh; خ: Kh, X; Й: Y, J): Gazim ~ Kazim, Jusif ~ Yusif, Ghasem ~ Qasem.
FIRST_LETTER = 0.92
# Chinese, Korean or Japanese characters against a Latin spelling, by their romanised
# reading: one reading stands for many characters (王, 汪: wang), so at most this.
ROMANISED = 0.9
# A first letter mistyped (Gamir ~ Aamir) or added (Qaamir ~ Aamir), outside those
# classes: Tahir and Zahir are different names, so this pair counts only when the rest of
# the name matches closely (`scoring.CONDITIONAL`), and then at a penalty.
FIRST_LETTER_TYPO = 0.75
NUMBER = 1.0  # one number in words or digits: Seventh ~ 7th, Forty-Four ~ 44
ARABIC_LOOSE = 0.8  # skeleton equal once h is ignored: چوہدری ~ Chaudhry
EDIT_PER_CHAR = 1.2  # one edit in a word of n letters costs 1.2/n
MIN_EDIT_SCORE = 0.7

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


def _hless(skel: str) -> str:
    return skel[:1] + skel[1:].replace("h", "")


# --- tables compiled to phonetic forms -------------------------------------------------


# Legal forms are matched on folded spellings, not phonetic forms: LLP and LP differ.
_LEGAL: dict[tuple[str, ...], str] = {}
for _label, _spellings in LEGAL_FORMS.items():
    for _spelling in _spellings:
        for _variant in {fold(_spelling), *latin_variants(_spelling)}:
            _LEGAL.setdefault(tuple(_variant.split()), _label)
_LEGAL_MAX = max(len(k) for k in _LEGAL)
_LEGAL_WORDS = frozenset(w for k in _LEGAL for w in k if len(w) >= 5)
_LEGAL_WORD_LIST = sorted(_LEGAL_WORDS)
_TITLES = frozenset(fold(t) for t in TITLES)
_PARTICLES = frozenset(fold(p) for p in PARTICLES)
_PATRONYMIC_WORDS = frozenset(v for w in PATRONYMIC_WORDS for v in latin_variants(w))
_ORG_WORDS = frozenset(phonetic(w) for t in ORG_WORDS for w in fold(t).split())
_DIN_WORDS = frozenset({"din", "deen", "dine", "diin"})
_ALLAH = frozenset({"allah", "ullah", "ulla", "alla", "ollah", "illah"})
_ARTICLES_ANY = frozenset({"al", "el", "ul"})  # the article before any letter
_ABU = frozenset({"abu", "abou", "abo", "bu", "umm", "um", "oum"})
_ABD_WORD = re.compile(r"^abd(?:[aeiou]{1,2}[lr]?)?$")


# --- words ----------------------------------------------------------------------------

_SPLIT = re.compile(r"[\s\-‐‑‒–—―_/\\,;:.()\[\]{}\"«»“”„!?+*&|#]+")


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
    (anyascii: pinyin without tones for Han, Revised Romanization for Hangul, kana as
    read; kanji get their Chinese reading). `person`: the word is a whole name of 2-4
    characters, cut after the family name (one character; two of four: 欧阳, 山田) as
    the romanised forms on the lists write it (王小明: Wang Xiaoming)."""
    chars = "".join(c for c in raw if c.isalpha())
    parts = [chars]
    if person and script_of(raw) in ("Han", "Hangul") and 2 <= len(chars) <= 4:
        cut = 2 if len(chars) == 4 else 1
        parts = [chars[:cut], chars[cut:]]
    out: list[_Piece] = []
    for part in parts:
        text = fold(part).replace(" ", "")
        if text:
            forms = {text, *(v.replace(" ", "") for v in latin_variants(part))}
            out.append(_Piece(text, frozenset(forms), False, chars=part))
    return tuple(out)


_LOOK_ALIKE = str.maketrans(LOOK_ALIKE_DIGITS)
_ORDINAL = re.compile(r"^(\d+)(?:st|nd|rd|th)$")


def _latin_forms(p: str) -> frozenset[str]:
    """A Latin word's spellings: itself, or the number it writes (7th → 7), or the
    letters its digits stand for (M0HAMMAD → mohammad, AL1 → ali, all)."""
    ordinal = _ORDINAL.match(p)
    if ordinal:
        return frozenset((str(int(ordinal.group(1))),))
    letters = sum(c.isalpha() for c in p)
    if letters >= 2 and letters < len(p) and letters >= 2 * (len(p) - letters):
        read = p.translate(_LOOK_ALIKE)
        if read.isalpha():  # 1 is I or L: ABDU1 is abdul (1 replaced before the table)
            return frozenset((read, p.replace("1", "l").translate(_LOOK_ALIKE)))
    return frozenset((p,))


def _numbers(pieces: list[_Piece]) -> list[_Piece]:
    """Number words as the number they write: Seventh → 7, Forty-Four → 44."""
    out: list[_Piece] = []
    for piece in pieces:
        value = NUMBER_WORDS.get(piece.text)
        if value is None:
            out.append(piece)
            continue
        prev = out[-1] if out else None
        if prev is not None and piece.text in UNITS and prev.text in TENS:
            tens = NUMBER_WORDS[prev.text]
            out[-1] = _Piece(f"{prev.text} {piece.text}", frozenset((str(tens + value),)), False)
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
        if (
            piece.text in ARTICLES
            and i + 1 < len(pieces)
            and (len(pieces[i + 1].text) > 2 or pieces[i + 1].arabic)
            # An article other than al/el/ul takes the next word's first consonant (ad-Din,
            # ash-Shami, ar-Rahman): AD AZIZ is two initials or a particle, not ad-Aziz.
            and (piece.text in _ARTICLES_ANY or pieces[i + 1].text.startswith(piece.text[1:]))
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
            and (piece.text in _ABU or _ABD_WORD.match(piece.text) or _abd_digits(piece))
            and (after.text not in _PARTICLES or len(after.text) > 3)
        ):
            joined.append((_join(piece, after, core=after), None))
            i += 2
            continue
        base = _din_base(piece.text)
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


def _group_of(pfs: frozenset[str]) -> str | None:
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
    group = _group_of(pfs) if kind not in ("legal", "particle") else None
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
    i = 0
    while i < len(pieces):
        for size in range(min(_LEGAL_MAX, len(pieces) - i), 0, -1):
            if size == len(pieces):
                continue  # a name that is nothing but a legal form stays a name
            if i == 0 and mode == "any" and all(p.initial for p in pieces[:size]):
                continue
            label = _legal_at(forms, i, size)
            if label is not None:
                spans[i] = (i + size, label)
                i += size
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


def _legal_at(forms: list[frozenset[str]], start: int, size: int) -> str | None:
    candidates: list[tuple[str, ...]] = [()]
    for spellings in forms[start : start + size]:
        candidates = [c + (f,) for c in candidates for f in sorted(spellings)][:16]
    for cand in candidates:
        label = _LEGAL.get(cand)
        if label is not None:
            return label
    return None


@lru_cache(maxsize=1 << 16)
def tokenize(name: str, mode: Mode = "any") -> tuple[Token, ...]:
    """The tokens of a name. `mode` "person" skips legal forms, "entity" skips titles."""
    raws = [raw for raw in _SPLIT.split(separate(name)) if raw]
    if len(raws) == 1 and mode != "entity" and script_of(raws[0]) in _CJK:
        pieces = list(_cjk_pieces(raws[0], True))  # a whole name as one run: 王小明
    else:
        pieces = _numbers([p for raw in raws for p in _word(raw)])
    if mode != "entity":
        kept = [p for p in pieces if p.text not in _TITLES]
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
        run.append(pieces[i])
        i += 1
    flush()
    return tuple(tokens)


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


# --- comparison -----------------------------------------------------------------------


_VOWELS = frozenset("aeiou")
_VOWELISH = frozenset("aeiouyj")  # initial letters transliterations swap: Iu/Ju/Yu, E/Ye


def _same_start(a: Token, b: Token) -> bool:
    starts, other = _first_letters(a), _first_letters(b)
    return bool(starts & other) or bool(starts & _VOWELS and other & _VOWELS)


def _meets(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    return any(x in b for x in a)


def _common(a: tuple[str, ...], b: tuple[str, ...]) -> list[str]:
    return [x for x in a if x in b]


def _first_letters(t: Token) -> frozenset[str]:
    return frozenset(p[:1] for p in t.pfs)


def _subsequence(short: str, long: str) -> bool:
    it = iter(long)
    return all(c in it for c in short)


def _arabic(a: Token, latin: Token) -> tuple[float, str]:
    if _meets(a.skels, latin.skels):
        for ap in a.pfs:
            for lp in latin.pfs:
                first = ap[:1] == lp[:1] or (ap[:1] in _VOWELS and lp[:1] in _VOWELS)
                if first and _subsequence(ap, lp):
                    return ARABIC_SPELLING, "transliteration"
        if max(map(len, _common(a.skels, latin.skels))) >= 3 or _same_start(a, latin):
            return ARABIC_SKELETON, "transliteration"
        return 0.0, ""  # two consonants and another first letter: ولی Wali is not Ali
    loose = _hless_of(a) & _hless_of(latin)
    if loose and (max(map(len, loose)) >= 3 or _same_start(a, latin)):
        return ARABIC_LOOSE, "transliteration"
    return 0.0, ""


def _spelled(t: Token) -> tuple[tuple[str, int, str], ...]:
    return tuple((a, len(a), edit_class(a)) for a in spellings(t))


def _edit_score(spelled: tuple[tuple[str, int, str], ...], v: Token) -> float:
    """Similarity by OSA edit distance between phonetic forms (0 when too far); `spelled`:
    the query word's spellings with their lengths and edit classes."""
    best = 0.0
    for b in spellings(v):
        lb, cb = len(b), edit_class(b)
        for a, la, ca in spelled:
            longest = la if la > lb else lb
            if longest < 4 or abs(la - lb) > 1 or ca != cb:
                continue
            if longest < 6 and a[0] != b[0] and a[0] in _VOWELS and b[0] in _VOWELS:
                continue  # Omar is not Amar: short names keep their first vowel
            d = OSA.distance(a, b, score_cutoff=2)
            # One edit; in long words also a substitution, or an insertion with a deletion
            # elsewhere (Indel 2): exactly the pairs whose one-deletion sets meet.
            if d == 1 or (d == 2 and longest >= 8 and Indel.distance(a, b, score_cutoff=2) <= 2):
                best = max(best, 1.0 - EDIT_PER_CHAR * d / longest)
    return best if best >= MIN_EDIT_SCORE else 0.0


def similarity(q: Token, v: Token) -> tuple[float, str]:
    """How well list token `v` stands for query token `q`: (score, rule), (0, "") if not."""
    return matcher(q)(v)


@lru_cache(maxsize=1 << 12)
def matcher(q: Token) -> Callable[[Token], tuple[float, str]]:
    """`similarity` with `q` fixed: what depends on `q` alone is worked out once, for the
    hundreds of list tokens a common query word is compared with."""
    text, label, group, kind, stem = q.text, q.label, q.group, q.kind, q.stem
    pfs, cores, stems = frozenset(q.pfs), frozenset(q.cores), frozenset(q.stems)
    skels, first, spelled = q.skels, _first_letters(q), _spelled(q)
    initial = kind == "initial"
    starts = initials(q)
    digits = any(c.isdigit() for c in text)
    swapped = first_swapped(q)
    # For `_first_letter_typo`: the query's spellings without their first letter.
    typos = kind in ("name", "common") and text.isascii()
    tails = {a[1:]: a for a, n, _ in spelled if n >= 4} if typos else {}
    whole = frozenset(a for a, n, _ in spelled if n >= 4) if typos else frozenset()
    chars = q.chars

    def match(v: Token) -> tuple[float, str]:
        if chars is not None or v.chars is not None:
            if chars is not None and v.chars is not None:
                if chars == v.chars:
                    return EXACT, "exact"
                # Longer words read alike are one name in simplified and traditional
                # characters (华信, 華信); a short one read alike is a homophone (王, 汪).
                if text == v.text and min(len(chars), len(v.chars)) >= 4:
                    return ROMANISED, "romanised"
                return 0.0, ""
            score, rule = plain(v)
            if not score or rule == "first_letter_typo":
                return 0.0, ""  # (a conditional rule would lose its condition's name)
            return min(score, ROMANISED), "romanised"
        return plain(v)

    def plain(v: Token) -> tuple[float, str]:
        if text == v.text:
            return EXACT, "exact"
        if label is not None or v.label is not None:
            return (EXACT, "legal_form") if label == v.label else (0.0, "")
        if not pfs.isdisjoint(v.pfs):
            if kind == "number" and v.kind == "number":
                return NUMBER, "number"
            if digits or any(c.isdigit() for c in v.text):
                return TRANSLITERATION, "look_alike_digit"
            return TRANSLITERATION, "transliteration"
        if group is not None and group == v.group:
            return EQUIVALENCE, "equivalence"
        if not pfs.isdisjoint(v.cores) or not cores.isdisjoint(v.pfs):
            return COMPOUND_PART, "compound_part"
        if kind == "patronymic" and v.kind == "patronymic" and stem == v.stem:
            return PATRONYMIC, "patronymic"
        if initial or v.kind == "initial":
            if kind != v.kind and starts & initials(v):
                return INITIAL, "initial"
            return 0.0, ""
        if group is not None and v.group is not None:
            return 0.0, ""  # two different known names: Mahmoud is not Muhammad
        if q.arabic != v.arabic:
            return _arabic(q, v) if q.arabic else _arabic(v, q)
        if not stems.isdisjoint(v.stems):
            return SURNAME_FORM, "surname_form"
        if swapped and v.text[:1] in _SWAP_FIRST and not swapped.isdisjoint(first_swapped(v)):
            return FIRST_LETTER, "first_letter"
        score = _edit_score(spelled, v)
        if score:
            return score, "edit_distance"
        shared = _common(skels, v.skels)
        if shared and min(map(len, shared)) >= 3 and first & _first_letters(v):
            return PHONETIC, "phonetic"
        if tails and v.kind in ("name", "common") and _first_letter_typo(tails, whole, v):
            return FIRST_LETTER_TYPO, "first_letter_typo"
        return 0.0, ""

    return match


def _first_letter_typo(tails: dict[str, str], whole: frozenset[str], v: Token) -> bool:
    """The same Latin word of 5+ letters but for its first letter, changed or added
    (the pairs whose one-deletion sets meet in the word without it). `tails`: the query's
    spellings of 4+ letters by their tail (all but the first letter); `whole`: them."""
    if not v.text.isascii():
        return False
    for b in (v.text, *v.pfs):
        if len(b) < 4:
            continue
        a = tails.get(b[1:])  # one first letter for another
        if a is not None and a[0] != b[0] and max(len(a), len(b)) >= 5:
            return True
        a = tails.get(b)  # a first letter added in the query
        if a is not None and len(a) >= 5:
            return True
        if b[1:] in whole and len(b) >= 5:  # ...or in the list
            return True
    return False


_SWAP_FIRST = frozenset("kgqxyj")
_FIRST_SWAP = re.compile(r"^(?:kh|gh|q|k|g|x)(?=[aeiouy])|^[yj](?=[aeiou])")


@lru_cache(maxsize=1 << 16)
def first_swapped(t: Token) -> frozenset[str]:
    """A Latin name word's phonetic form with its first letter put in its swap class
    (K for Q, K, G, Gh, Kh, X; Y for Y, J); empty for other words. The lookup finds such
    pairs by their one-deletion neighbours (the rest of the word is the same)."""
    if t.kind not in ("name", "common") or not t.text.isascii() or len(t.text) < 4:
        return frozenset()
    found = _FIRST_SWAP.match(t.text)
    if found is None:
        return frozenset()
    head = "k" if found.group()[0] not in "yj" else "y"
    return frozenset((phonetic(head + t.text[found.end() :]),))


# --- lookup keys ------------------------------------------------------------------------


def initials(t: Token) -> frozenset[str]:
    """What an initial stands for, or the letters a word can be abbreviated to (al-Zindani
    to Z., not A.)."""
    if t.kind == "initial":
        return frozenset((*t.pfs, t.text))
    words = (t.text, *t.pfs)
    article = _article_of(t)
    if article:
        bare = t.text[len(article) :]
        words = (bare, phonetic(bare))
    return frozenset(p[:n] for p in words for n in (1, 2) if len(p) > n)


def nisba(t: Token) -> bool:
    """A word joined to its article, read either way: al-Tikriti ~ Tikriti."""
    return bool(_article_of(t))


def _article_of(t: Token) -> str:
    text = t.text
    if text[:1] not in "aeu":
        return ""
    for a in ARTICLES:
        if text.startswith(a) and len(text) - len(a) >= 3 and phonetic(text[len(a) :]) in t.pfs:
            return a
    return ""


def _hless_of(t: Token) -> frozenset[str]:
    return frozenset(_hless(s) for s in t.skels)


def spellings(t: Token) -> frozenset[str]:
    """The spellings edit distance is measured on: phonetic forms and the folded text."""
    if t.label is not None or t.kind == "initial":
        return frozenset()
    return frozenset((*t.pfs, t.text) if " " not in t.text else t.pfs)


def edit_class(word: str) -> str:
    """Edit distance only pairs words of one class: the first letter, vowel-like ones
    (Iu/Ju/Yu, E/Ye, O/U) together, and the consonants transliterations swap (K/G/Q:
    Kadir Gadir Qadir, the Maghreb and Azerbaijan write ق as G; H/X). Akhmetov is not
    Rakhmetov."""
    first = word[:1]
    return "V" if first in _VOWELISH else _FIRST_CLASS.get(first, first)


_FIRST_CLASS = {"g": "k", "q": "k", "x": "h"}


def deletions(word: str) -> set[str]:
    """The word and, from 4 letters on, every word one deletion away. Two words are within
    the edit rule only if their sets meet: this is what the index looks up."""
    if len(word) < 4:
        return {word}
    return {word, *(word[:i] + word[i + 1 :] for i in range(len(word)))}


def index_keys(t: Token) -> frozenset[str]:
    """Keys under which the candidate index files a list token."""
    if t.label is not None:
        return frozenset(("L" + t.label,))
    if t.kind == "initial":
        return frozenset("I" + i for i in initials(t))
    keys = {"d" + p for p in t.pfs}
    keys |= {"d" + c for c in t.cores}
    if t.group is not None:
        keys.add("g" + t.group)
    if t.kind == "patronymic" and t.stem:
        keys.add("P" + t.stem)
    keys |= {"T" + s for s in t.stems}
    mark = ("A", "B") if t.arabic else ("N", "M")
    keys |= {mark[0] + s for s in t.skels}
    keys |= {mark[1] + s for s in _hless_of(t) if len(s) >= 2}
    return frozenset(keys)


def query_keys(t: Token) -> frozenset[str]:
    """Keys to look up for a query token: every key a matching list token can have."""
    if t.label is not None:
        return frozenset(("L" + t.label,))
    if t.kind == "initial":
        return frozenset()  # an initial matches within a candidate, never finds one
    keys = {"d" + p for p in t.pfs}
    keys |= {"d" + c for c in t.cores}
    keys |= {"I" + i for i in initials(t)}
    if t.group is not None:
        keys.add("g" + t.group)
    if t.kind == "patronymic" and t.stem:
        keys.add("P" + t.stem)
    keys |= {"T" + s for s in t.stems}
    if t.arabic:
        keys |= {"N" + s for s in t.skels}
        keys |= {"M" + s for s in _hless_of(t) if len(s) >= 2}
    else:
        keys |= {"A" + s for s in t.skels if len(s) >= 2}
        keys |= {"B" + s for s in _hless_of(t) if len(s) >= 2}
        keys |= {"N" + s for s in t.skels if len(s) >= 3}  # phonetic rule
    return frozenset(keys)
