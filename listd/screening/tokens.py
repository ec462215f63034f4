"""Name tokens: how two words of a name compare, and the keys that find them.

What a word becomes (`Token`, `tokenize`, the phonetic forms) is in `words.py`,
re-exported here.

`similarity(q, v)` gives a score in 0..1 and the rule that produced it. Every rule is
backed by a lookup key (`index_keys`/`query_keys`) so that the candidate index finds
every list token a query token can match by that rule, except edit distance 2 where the
two spellings share no one-deletion neighbour (two substitutions in one word): that pair
is made within a name whose other words match (`scoring.two_edits`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

from rapidfuzz.distance import OSA, Indel

from listd.normalize.japanese import only_kana
from listd.screening.names import ARTICLES, LEGAL_FAMILIES
from listd.screening.words import WEIGHTS, Mode, Token, group_of, phonetic, tokenize

__all__ = [
    "ARABIC_LOOSE",
    "ARABIC_SKELETON",
    "ARABIC_SPELLING",
    "BALTIC_ENDING",
    "COMPOUND_PART",
    "EDIT_PER_CHAR",
    "EQUIVALENCE",
    "EXACT",
    "FIRST_LETTER",
    "FIRST_LETTER_KEY",
    "FIRST_LETTER_TYPO",
    "INITIAL",
    "LEGAL_KIN",
    "MIN_EDIT_SCORE",
    "Mode",
    "NUMBER",
    "PATRONYMIC",
    "PHONETIC",
    "ROMANISED",
    "SURNAME_FORM",
    "TRANSLITERATION",
    "VOWEL_SPELLING",
    "WADE_GILES",
    "Token",
    "WEIGHTS",
    "baltic",
    "deletions",
    "edit_class",
    "first_swapped",
    "index_keys",
    "initials",
    "matcher",
    "nisba",
    "phonetic",
    "query_keys",
    "similarity",
    "spellings",
    "tokenize",
]

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
# ...by the key beside it on a keyboard (Nahar ~ Bahar, Eiriye ~ Diriye), as most typos
# are: the same score, on a looser condition (`scoring._unsettled`).
FIRST_LETTER_KEY = "first_letter_key"
# Two legal forms of one kind in different languages (`names.LEGAL_FAMILIES`): AG ~ JSC.
LEGAL_KIN = 0.9
NUMBER = 1.0  # one number in words or digits: Seventh ~ 7th, Forty-Four ~ 44
ARABIC_LOOSE = 0.8  # skeleton equal once h is ignored: چوہدری ~ Chaudhry
# Sergejs, Sergejus ~ Sergey; Lavrovs, Lavrovas ~ Lavrov: Latvian and Lithuanian write a
# man's name with an ending (`baltic`).
BALTIC_ENDING = 0.9
# Laden ~ Ladin, Osama ~ Usama: Arabic short vowels written e or i, o or u (`_vowel_pair`).
# Under 0.9, so such a pair never carries a rule counted only when the rest of the name
# matches at 0.9+ (first_letter_typo, two_edits): at 0.9, Sami Qasem (QASIM ... AL-RIMI)
# and Ayman Salem Hamdan (SALIM AHMAD SALIM HAMDAN), unlisted people, alerted.
VOWEL_SPELLING = 0.88
# Hsi ~ Xi, Chin-ping ~ Jinping, Tse-tung ~ Zedong: a word of a Chinese name in Wade-Giles
# and its pinyin, both names in such syllables (`words._chinese`). Written without its
# apostrophes, a Wade-Giles syllable stands for two (Chang: Zhang or Chang), so under
# `transliteration`, as `romanised`.
WADE_GILES = 0.9
EDIT_PER_CHAR = 1.2  # one edit in a word of n letters costs 1.2/n
MIN_EDIT_SCORE = 0.7


def _hless(skel: str) -> str:
    return skel[:1] + skel[1:].replace("h", "")


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
    tails: dict[str, list[str]] = {}
    for a, n, _ in sorted(spelled) if typos else ():
        if n >= 4:  # every spelling: a set's order must not decide (wzim, uzim ~ azim)
            tails.setdefault(a[1:], []).append(a)
    whole = frozenset(a for a, n, _ in spelled if n >= 4) if typos else frozenset()
    chars = q.chars
    kana = _kana(q)
    kin = legal_kin(label) if label is not None else frozenset()
    bare, bare_group = baltic(q)
    chinese = frozenset(q.chinese)  # its pinyin readings, in a name of Chinese syllables
    joined = q.joined
    # For `_vowel_pair`: the query's spellings of 5+ letters, by their form with e as i and
    # o as u.
    vowelled: dict[str, list[str]] = {}
    for a, n, _ in sorted(spelled) if typos else ():
        if n >= 5:
            vowelled.setdefault(a.translate(_VOWEL_FOLD), []).append(a)

    def match(v: Token) -> tuple[float, str]:
        if chars is not None or v.chars is not None:
            if chars is not None and v.chars is not None:
                if chars == v.chars:
                    return EXACT, "exact"
                if kana and _kana(v):
                    # Kana spell: two words read alike are one name (ハッカーニ, ハッカニ).
                    return (ROMANISED, "romanised") if not pfs.isdisjoint(v.pfs) else (0.0, "")
                # Longer words read alike are one name in simplified and traditional
                # characters (华信, 華信); a short one read alike is a homophone (王, 汪).
                if text == v.text and min(len(chars), len(v.chars)) >= 4:
                    return ROMANISED, "romanised"
                return 0.0, ""
            score, rule = plain(v)
            if not score or rule in ("first_letter_typo", FIRST_LETTER_KEY):
                return 0.0, ""  # (a conditional rule would lose its condition's name)
            if score < ARABIC_SPELLING and (v.arabic if kana else q.arabic and _kana(v)):
                # Katakana against Arabic script: both lose letters (l and r, h and kh;
                # short vowels), so a consonant skeleton in common says too little.
                return 0.0, ""
            if rule not in _SPELLED and _korean(chars or v.chars or ""):
                # The Korean readings are every spelling the lists use: a near one is
                # another syllable (광 Kwang is not 경 Kyong).
                return 0.0, ""
            return min(score, ROMANISED), "romanised"
        return plain(v)

    def plain(v: Token) -> tuple[float, str]:
        if text == v.text:
            return EXACT, "exact"
        if joined or v.joined:
            # A given name joined by a reading (`Token.joined`) is there for its pinyin.
            if chinese and v.chinese and not chinese.isdisjoint(v.chinese):
                return WADE_GILES, "wade_giles"
            return 0.0, ""
        if label is not None or v.label is not None:
            if label == v.label:
                return EXACT, "legal_form"
            if v.label is not None and v.label in kin:
                return LEGAL_KIN, "legal_form_kin"
            return 0.0, ""
        if not pfs.isdisjoint(v.pfs):
            if kind == "number" and v.kind == "number":
                return NUMBER, "number"
            if digits or any(c.isdigit() for c in v.text):
                return TRANSLITERATION, "look_alike_digit"
            return TRANSLITERATION, "transliteration"
        if group is not None and group == v.group:
            return EQUIVALENCE, "equivalence"
        if (bare or v.text[-1:] == "s") and _baltic_pair(bare, bare_group, pfs, group, v):
            return BALTIC_ENDING, "baltic_ending"
        if chinese and v.chinese and not chinese.isdisjoint(v.chinese):
            return WADE_GILES, "wade_giles"
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
        # A vowel spelling is one edit, or a short word's first vowel, which edit distance
        # leaves alone: only then is it looked for.
        if (
            vowelled
            and (score or (text[:1] in _VOWELS and v.text[:1] in _VOWELS))
            and v.kind in ("name", "common")
            and _vowel_pair(vowelled, v)
        ):
            return VOWEL_SPELLING, "vowel_spelling"
        if score:
            return score, "edit_distance"
        shared = _common(skels, v.skels)
        # Not in a name of Chinese syllables: they are short and their consonants repeat
        # (Chang, Ching, Chaoyung, Changha), so a skeleton in common says little there.
        if (
            shared
            and min(map(len, shared)) >= 3
            and first & _first_letters(v)
            and not (chinese or v.chinese)
        ):
            return PHONETIC, "phonetic"
        if tails and v.kind in ("name", "common") and _first_letter_typo(tails, whole, v):
            if _key_beside(text, v.text):
                return FIRST_LETTER_TYPO, FIRST_LETTER_KEY
            return FIRST_LETTER_TYPO, "first_letter_typo"
        return 0.0, ""

    return match


_SPELLED = frozenset({"exact", "transliteration"})


def _kana(t: Token) -> bool:
    return t.chars is not None and only_kana(t.chars)


def _korean(chars: str) -> bool:
    return "\uac00" <= chars[:1] <= "\ud7a3"


def _first_letter_typo(tails: dict[str, list[str]], whole: frozenset[str], v: Token) -> bool:
    """The same Latin word of 5+ letters but for its first letter, changed or added
    (the pairs whose one-deletion sets meet in the word without it), in any spelling of
    each. `tails`: the query's spellings of 4+ letters by their tail (all but the first
    letter); `whole`: them."""
    if not v.text.isascii():
        return False
    for b in (v.text, *v.pfs):
        if len(b) < 4:
            continue
        # One first letter for another. (4 letters: see scoring._unsettled; a short word
        # keeps its first vowel, as for edit distance: Omar is not Amar.)
        for a in tails.get(b[1:], ()):
            if a[0] != b[0] and not _vowels_of_short(a, b):
                return True
        # A first letter added in the query...
        if any(len(a) >= 5 for a in tails.get(b, ())):
            return True
        if b[1:] in whole and len(b) >= 5:  # ...or in the list
            return True
    return False


def _baltic_pair(
    bare: frozenset[str], bare_group: str | None, pfs: frozenset[str], group: str | None, v: Token
) -> bool:
    """Whether one of two words is the other with a Latvian or Lithuanian man's ending
    (`bare`, `bare_group`: the query word's stem, if it has such an ending; `pfs`, `group`:
    the query word's own forms and group)."""
    if bare and (not bare.isdisjoint(v.pfs) or (bare_group is not None and bare_group == v.group)):
        return True
    v_bare, v_group = baltic(v)
    if not v_bare:
        return False
    if not v_bare.isdisjoint(pfs) or not v_bare.isdisjoint(bare):
        return True
    return v_group is not None and v_group in (group, bare_group)


# Latvian ends a man's name in -s (Sergejs, Lavrovs, Aleksandrs), Lithuanian in -as, -is,
# -us, -ys (Sergejus, Lavrovas, Igoris), after a consonant or the j of й (not -ss: Strauss).
_BALTIC_END = re.compile(r"(?:(?<=[b-df-hj-np-tv-z])[aiuy]s|(?<=[b-df-hj-np-rtv-z])s)$")
_RUSSIAN_END = ("ov", "ev", "in")  # Lavrov, Nikolaev, Putin
_FINAL_J = re.compile(r"[aeiou]j$")  # й: Sergej, Dmitrij, Nikolaj
_J_VOWEL = re.compile(r"(?<=[aeiou])j(?=[aeiou]|$)")  # Nikolajev: й as y
_NO_BALTIC: tuple[frozenset[str], str | None] = (frozenset(), None)


def baltic(t: Token) -> tuple[frozenset[str], str | None]:
    """A Latin name word's stem without a Latvian or Lithuanian man's ending, as phonetic
    forms, and the stem's equivalence group; nothing for other words."""
    if t.kind not in ("name", "common") or t.arabic or t.chars is not None:
        return _NO_BALTIC
    return _baltic_stem(t.text)


@lru_cache(maxsize=1 << 16)
def _baltic_stem(text: str) -> tuple[frozenset[str], str | None]:
    """The stem of a word with a Baltic ending when the stem is a name Russian speakers
    bear, the Baltic languages' way of writing which is the reason for the ending: a
    surname in -ov, -ev, -in (Lavrovs, Nikolajevs, Putinas), a given name ending in й
    (Sergejs, Dmitrijus), or one of the equivalence tables' names (Vladimirs, Aleksandras).
    So Williams, Roberts, Thomas keep their s. Latvian and Lithuanian write ц as c
    (Kuznecovs) and й as j (Sergej, Nikolajev)."""
    if not text.isascii() or not text.isalpha():
        return _NO_BALTIC
    end = _BALTIC_END.search(text)
    if end is None or end.start() < 4:
        return _NO_BALTIC
    stem = text[: end.start()]
    spelled = {stem, stem.replace("c", "ts")}
    spelled |= {_J_VOWEL.sub("y", w) for w in spelled}
    forms = frozenset(phonetic(w) for w in spelled)
    group = group_of(forms)
    russian = any(f.endswith(_RUSSIAN_END) for f in forms) or _FINAL_J.search(stem)
    if group is None and not russian:
        return _NO_BALTIC
    return forms, group


def _vowel_pair(vowelled: dict[str, list[str]], v: Token) -> bool:
    """Whether a query spelling of 5+ letters and one of `v` differ in one letter only, e
    for i or o for u: how Arabic short vowels are written (Laden, Ladin; Osama, Usama).
    The letter may be the first, unlike edit distance's short words. `vowelled`: the query's
    spellings by their form with e as i and o as u (one dict lookup per spelling of `v`)."""
    if not v.text.isascii():
        return False
    for b in (v.text, *v.pfs):
        for a in vowelled.get(b.translate(_VOWEL_FOLD), ()):
            if sum(x != y for x, y in zip(a, b, strict=True)) == 1:
                return True
    return False


_VOWEL_FOLD = str.maketrans("eo", "iu")


def _key_beside(a: str, b: str) -> bool:
    """Whether folded words `a` and `b` differ only in a first letter typed with the key
    beside the other's (Nahar, Bahar)."""
    return len(a) == len(b) and a[1:] == b[1:] and a[:1] in _KEYS_NEAR.get(b[:1], "")


# The keys around each letter on a QWERTY keyboard (Latin names are typed on it).
_KEYS_NEAR = {
    "q": "wa", "w": "qeas", "e": "wrsd", "r": "etdf", "t": "ryfg", "y": "tugh", "u": "yihj",
    "i": "uojk", "o": "ipkl", "p": "ol", "a": "qwsz", "s": "weadzx", "d": "erfsxc",
    "f": "rtdgcv", "g": "tyfhvb", "h": "yugjbn", "j": "uihknm", "k": "iojlm", "l": "opk",
    "z": "asx", "x": "zsdc", "c": "xdfv", "v": "cfgb", "b": "vghn", "n": "bhjm", "m": "njk",
}  # fmt: skip


def _vowels_of_short(a: str, b: str) -> bool:
    return max(len(a), len(b)) < 6 and a[0] in _VOWELS and b[0] in _VOWELS


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


def legal_kin(label: str) -> frozenset[str]:
    """The labels of the legal forms of `label`'s kind, itself aside."""
    return frozenset(k for f in LEGAL_FAMILIES if label in f for k in f) - {label}


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
    bare, group = baltic(t)
    keys |= {"b" + s for s in bare}
    if group is not None:
        keys.add("c" + group)
    keys |= {"w" + r for r in t.chinese}
    mark = ("A", "B") if t.arabic else ("N", "M")
    keys |= {mark[0] + s for s in t.skels}
    keys |= {mark[1] + s for s in _hless_of(t) if len(s) >= 2}
    return frozenset(keys)


def query_keys(t: Token) -> frozenset[str]:
    """Keys to look up for a query token: every key a matching list token can have."""
    if t.label is not None:
        return frozenset("L" + label for label in (t.label, *legal_kin(t.label)))
    if t.kind == "initial":
        return frozenset()  # an initial matches within a candidate, never finds one
    keys = {"d" + p for p in t.pfs}
    keys |= {"d" + c for c in t.cores}
    keys |= {"I" + i for i in initials(t)}
    if t.chars is not None:
        # A syllable read as one letter (우 U, 오 O) is written so on the lists (YU CHOL
        # U), which reads as an initial: `matcher` pairs it when that letter is a reading.
        keys |= {"I" + p for p in (t.text, *t.pfs) if len(p) == 1}
    if t.group is not None:
        keys.add("g" + t.group)
    if t.kind == "patronymic" and t.stem:
        keys.add("P" + t.stem)
    keys |= {"T" + s for s in t.stems}
    keys |= {"w" + r for r in t.chinese}  # a Chinese name's word by its pinyin readings
    # A Latvian or Lithuanian ending on either word (`baltic`): the query's stem finds
    # the list word, the query word finds a listed stem.
    if t.kind in ("name", "common") and not t.arabic and t.chars is None:
        keys |= {"b" + p for p in t.pfs}
        if t.group is not None:
            keys.add("c" + t.group)
        bare, group = baltic(t)
        keys |= {k + s for s in bare for k in "db"}
        if group is not None:
            keys |= {"g" + group, "c" + group}
    if t.arabic:
        keys |= {"N" + s for s in t.skels}
        keys |= {"M" + s for s in _hless_of(t) if len(s) >= 2}
    else:
        keys |= {"A" + s for s in t.skels if len(s) >= 2}
        keys |= {"B" + s for s in _hless_of(t) if len(s) >= 2}
        keys |= {"N" + s for s in t.skels if len(s) >= 3}  # phonetic rule
    return frozenset(keys)
