"""Other readings of a name as people type it: words run together or split apart,
initials without dots, a word typed twice.

Core banking systems and payment messages drop spaces (`AamirAli Chaudhry`, `ERICBADEGE`),
clerks split a long word (`Chau dhry`), write initials without dots (`AA Chaudhry`) and
repeat a word (`Chaudhry Chaudhry Aamir`). `rewrite` gives the name read with those
mended; the screening engine scores both readings and keeps the better, so a rewrite can
only find more, and the explanation says which reading matched and why.

Splitting an all-caps or lowercase run (`ERICBADEGE`) and joining two typed words needs
to know which words exist: `known` says whether a folded word is a listed word. Without
it (a watchlist customer is filed before any list is read) only the rewrites that need
no vocabulary are made (CamelCase, dotless initials, repeated words).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from listd.normalize import fold, separate
from listd.screening.names import ARTICLES, LEGAL_FORMS, PARTICLES

Known = Callable[[str], bool]  # is this folded word a word of some listed name

# Codes of the rewrites, as the explanation names them (the console translates them).
JOINED = "joined_words"  # AamirAli, ERICBADEGE: one typed word read as two or three
SPLIT = "split_word"  # Chau dhry: two typed words read as one
INITIALS = "initials"  # AA: two or three letters read as initials
REPEATED = "repeated_word"  # Chaudhry Chaudhry: the second one dropped
ARTICLE = "article"  # QL-ASHQAR: the article al- with its first letter mistyped
CHANGES = (JOINED, SPLIT, INITIALS, REPEATED, ARTICLE)

_GLUE_WORDS = (*ARTICLES, *PARTICLES, "in", "on", "at", "to", "by", "an", "or", "and", "for",
               *(f for forms in LEGAL_FORMS.values() for f in forms if " " not in f))  # fmt: skip
_GLUE = frozenset(fold(w) for w in _GLUE_WORDS)
# Legal forms that begin a name are initials there: SA Jones is S.-A. (Sally-Anne) Jones.
_LEGAL_ONLY = _GLUE - frozenset(fold(w) for w in (*ARTICLES, *PARTICLES))
_ARTICLES = frozenset(fold(w) for w in ARTICLES)
# As written, for capitals in other scripts: АД folds to the article "ad", but in Cyrillic
# it is two initials; АО (JSC) and ИП stay glue.
_GLUE_AS_WRITTEN = frozenset(w.lower() for w in _GLUE_WORDS)
_MIN_PART = 3  # a joined word is split only into parts of 3+ letters (no "Al", "Li")
# Legal forms as firms capitalise them, run into the name before them (SiemensAG).
_CAMEL_FORMS = ("GmbH", "mbH", "AG", "KG", "LLC", "LLP", "PLC", "Ltd", "LTD", "Inc", "INC",
                "Corp", "SA", "SpA", "SRL", "Srl", "SARL", "BV", "NV", "JSC", "PJSC",
                "OOO")  # fmt: skip
_MIN_JOINED = 6
_MIN_SHORT_JOINED = 4  # ... or, failing that, a listed name word of two letters (RIMAN)
_MAX_INITIALS = 3


@dataclass(frozen=True, slots=True)
class Reading:
    """A name read another way, and the rewrites that made it."""

    text: str
    changes: tuple[str, ...]


def syllable_cut(typed: str, reading: str) -> bool:
    """Whether `reading` cut a word of `typed` at a syllable of one or two letters
    (KWANGIL as KWANG IL, RIMAN as RI MAN)."""
    short = {p for p in re.split(r"[\s\-]+", reading) if 0 < len(p) <= 2}
    return bool(short - set(re.split(r"[\s\-]+", typed)))


def rewrite(
    name: str,
    known: Known | None = None,
    *,
    eager: bool = False,
    split: bool = True,
    join: bool = True,
) -> Reading | None:
    """`name` with joined words split, split words joined, dotless initials read as
    initials and repeated words dropped; None when nothing changes. `eager`: split and
    join even words that are known as they are (a listed name looked up among customers,
    where the vocabulary is every customer's words: then splitting and joining are asked
    for one at a time, or the one would undo the other)."""
    words = separate(name).split()
    if len(words) > 12:
        return None  # a remark, an address: not a name to take apart
    changes: list[str] = []
    mended = [_article(w) for w in words]
    if mended != words:
        changes.append(ARTICLE)
        words = mended
    out: list[str] = []
    cut: set[int] = set()  # positions in `out` of the pieces cut out of a run
    for i, word in enumerate(words):
        parts = _camel(word) or _before_article(word, known) or _before_abd(word, known)
        if not parts and known is not None and split:
            parts = _unjoin(word, known, eager) or _unjoin_hyphenated(word, known, eager)
            # A word that makes a listed word with the word beside it was split by the
            # clerk (ABDOLL AHI): it is joined, not taken apart into others (ABD OLL).
            if parts and join and _half(words, i, known):
                parts = None
        if parts:
            cut.update(range(len(out), len(out) + len(parts)))
            out.extend(parts)
            changes.append(JOINED)
        else:
            out.append(word)
    if known is not None and join:
        before = len(out)
        out = _rejoin(out, known, changes, eager)
        if len(out) < before:
            cut = set()  # (positions moved; a word joined is no initial either)
    # Three capitals may be a word (IAN): read as initials only when the lists say they are
    # not one (a watchlist customer, filed without the lists' words, gets both readings),
    # and in a name all in capitals only when they hold no vowel (MTH HUSSEIN).
    shouting = all(w.isupper() for w in out)
    # In a reading that already joins or splits words, two capitals that are a listed word
    # stay a word (RA KY'O NG-SU is RA KY'ONG-SU): the name as typed, the other reading
    # scored, lacks the join. Two letters cut out of a run (RI of RIMAN) are a word.
    mended_words = known is not None and (JOINED in changes or SPLIT in changes)
    read = [
        not (len(w) == 2 and (i in cut or (mended_words and known is not None and known(fold(w)))))
        and _dotless_initials(w, known, _MAX_INITIALS, first=i == 0, shouting=shouting)
        for i, w in enumerate(out)
    ]
    if len(out) > 1 and any(read):
        changes.append(INITIALS)
        out = [" ".join(c + "." for c in w) if r else w for w, r in zip(out, read, strict=True)]
    kept: list[str] = []
    seen: set[str] = set()
    for word in out:
        key = fold(word)
        if key and key in seen and len(key) > 1:
            changes.append(REPEATED)
            continue
        seen.add(key)
        kept.append(word)
    if not changes or not kept:
        return None
    return Reading(" ".join(kept), tuple(dict.fromkeys(changes)))


def _camel(word: str) -> list[str] | None:
    """AamirAli → Aamir Ali; AsetAbdibekov → Aset Abdibekov (any cased script); SiemensAG →
    Siemens AG, VolkswagenGmbH → Volkswagen GmbH (a legal form as it is capitalised)."""
    for form in _CAMEL_FORMS:
        head = word[: -len(form)]
        if len(head) >= _MIN_PART and word.endswith(form) and head[-1].islower():
            return [*(_camel(head) or [head]), form]
    cuts = [i for i in range(1, len(word)) if word[i].isupper() and word[i - 1].islower()]
    if not cuts or not _APOSTROPHES.sub("", word).replace("-", "").isalpha():
        return None  # (Mas'udNikbakht: an apostrophe stays inside its word; so does a hyphen)
    parts = [word[a:b] for a, b in zip([0, *cuts], [*cuts, len(word)], strict=True)]
    # Each part a capitalised word: ISLcMIC is a typo, not two words.
    return parts if all(len(p) >= 2 and p[0].isupper() and p[1:].islower() for p in parts) else None


_APOSTROPHES = re.compile("['’`ʼ]")
_ARTICLE_JOINED = re.compile(
    r"^([^\W\d_]{3,}?)((?:al|el|ul)-[^\W\d_](?:[^\W\d_]|['’`ʼ]){2,})$", re.IGNORECASE
)


def _before_article(word: str, known: Known | None) -> list[str] | None:
    """MAHMOUDAL-KHATIB → MAHMOUD AL-KHATIB: a word run into the article of the next
    (the first part a listed word, when the lists' words are known)."""
    found = _ARTICLE_JOINED.match(word)
    if found is None:
        return None
    first, rest = found.groups()
    if known is not None and not known(fold(first)):
        return None
    return [first, rest]


_ABD_JOINED = re.compile(
    r"^([^\W\d_](?:[^\W\d_]|['’`ʼ])+?[^\W\d_])((?:abd(?:[aeiou]l)?|abu)-[^\W\d_]{3,})$",
    re.IGNORECASE,
)


def _before_abd(word: str, known: Known | None) -> list[str] | None:
    """SA’IDABDAL-RAHMAN → SA’ID ABDAL-RAHMAN: a word run into the Abd/Abu of a hyphenated
    compound after it (the first part a listed word of 3+ letters, when the lists' words
    are known)."""
    found = _ABD_JOINED.match(word)
    if found is None:
        return None
    first, rest = found.groups()
    if len(_APOSTROPHES.sub("", first)) < 3 or (known is not None and not known(fold(first))):
        return None
    return [first, rest]


def _unjoin(word: str, known: Known, eager: bool) -> list[str] | None:
    """ERICBADEGE → ERIC BADEGE: an unknown word that is two or three known words. Cut
    as typed and each piece folded, so a Cyrillic run (БАГЛАНКАСЫМОВИЧ) is cut too."""
    letters = _APOSTROPHES.sub("", word)
    if len(word) < _MIN_SHORT_JOINED or not letters.isalpha():
        return None
    if not (word.isupper() or word.islower()):
        return None  # a capitalised word (Tulpar) is one word; CamelCase is `_camel`'s
    folded = fold(word)
    if " " in folded or (known(folded) and not eager):
        return None

    def listed(piece: str) -> bool:
        # An apostrophe stays inside its word (ESMA'ILRAZAVI: Esma'il Razavi)
        if _APOSTROPHES.match(piece) or _APOSTROPHES.match(piece[-1]):
            return False
        f = fold(piece)
        return " " not in f and known(f)

    n = len(word)
    if n < _MIN_JOINED:
        return _unjoin_short(word, listed)
    best: list[str] | None = None
    for i in range(_MIN_PART, n - _MIN_PART + 1):
        balanced = best is None or min(i, n - i) > min(map(len, best))
        if balanced and listed(word[:i]) and listed(word[i:]):
            best = [word[:i], word[i:]]
    if best is not None:
        return best
    for i in range(_MIN_PART, n - 2 * _MIN_PART + 1):
        if not listed(word[:i]):
            continue
        for j in range(i + _MIN_PART, n - _MIN_PART + 1):
            if listed(word[i:j]) and listed(word[j:]):
                return [word[:i], word[i:j], word[j:]]
    return _unjoin_short(word, listed)


def _unjoin_short(word: str, listed: Callable[[str], bool]) -> list[str] | None:
    """RIMAN → RI MAN, TCHIPANA → TCHIPA NA, RIJE → RI JE: failing a cut into parts of 3+
    letters, one into two listed words of which one or both have two letters, a name
    word (RI, NA, JE: Korean and Chinese syllables), not an article, particle or legal
    form (AL, BIN, SA)."""
    for i in (2, len(word) - 2):
        a, b = word[:i], word[i:]
        short = [p for p in (a, b) if len(p) == 2]
        if all(fold(p) not in _GLUE for p in short) and listed(a) and listed(b):
            return [a, b]
    return None


def _unjoin_hyphenated(word: str, known: Known, eager: bool) -> list[str] | None:
    """PAEKCHANG-HO → PAEK CHANG-HO: `_unjoin` on each part of a hyphenated word."""
    if "-" not in word:
        return None
    mended = [_unjoin(part, known, eager) or [part] for part in word.split("-")]
    if all(len(m) == 1 for m in mended):
        return None
    out: list[str] = []
    for i, pieces in enumerate(mended):
        if i and out:
            out[-1] += "-" + pieces[0]
            out += pieces[1:]
        else:
            out += pieces
    return out


def _dotless_initials(
    word: str, known: Known | None, longest: int = 2, *, first: bool = False, shouting: bool = False
) -> bool:
    """AA, MA, AAC: two or three (`longest`) capitals that are not glue read as initials.
    Two capitals always (MA, KO, LI may be names, but the reading as typed is scored too);
    three consonants always (MJN); other three only when they are not a listed word (IAN)."""
    if not 2 <= len(word) <= longest or not word.isalpha() or not word.isupper():
        return False
    folded = fold(word)
    glue = folded in _GLUE if word.isascii() else word.lower() in _GLUE_AS_WRITTEN
    # First in a name not all in capitals, an article in capitals is initials too: AR
    # al-'Ansari is A.-R. (Abu-Rayhanah). Such a name writes its articles ar-, al-.
    article = first and not shouting and word.isascii() and folded in _ARTICLES
    if glue and not (first and word.isascii() and folded in _LEGAL_ONLY) and not article:
        return False  # AL, BIN, IN, LLP, ИП: articles, particles, legal forms
    if len(word) == 2:
        return True  # ЖУ (Юсупов ЖУ), AA, MA: the reading as typed is scored too
    if _NO_VOWEL.match(folded):
        return True  # MJN: no name is three consonants, even when the lists hold it (an acronym)
    if shouting:
        return False
    return known is None or not known(folded)


_NO_VOWEL = re.compile(r"^[b-df-hj-np-tv-xz]+$")


def _rejoin(words: list[str], known: Known, changes: list[str], eager: bool) -> list[str]:
    """Chau dhry → Chaudhry: two typed words, not both known, that make a known word; if
    there are none, two known ones of which one is short (Yas Sin → Yassin), or any two
    when `eager`. Not both passes at once: Ali Akbar Ahmad ian must not become Aliakbar
    Ahmadian, which matches neither way."""
    for strict in (True, False):
        out: list[str] = []
        i = 0
        while i < len(words):
            if i + 1 < len(words):
                joined = _joined(words[i], words[i + 1], known, strict, eager)
                if joined is not None:
                    out.append(joined)
                    i += 2
                    continue
            out.append(words[i])
            i += 1
        if len(out) < len(words):
            changes.append(SPLIT)
            return out
    return words


def _joined(first: str, second: str, known: Known, strict: bool, eager: bool) -> str | None:
    """`first` and `second` written as one word, if they make a listed word (`_rejoin`)."""
    # The parts that meet, of hyphenated words too: AL-HO UTHI, KWA NG-IL.
    before, _, a = first.rpartition("-")
    b, _, after = second.partition("-")
    # Two capitals are initials, not a word's part: AA ABUTALEBI is not Aaabutalebi
    # (which reads as Abutalebi once its letters are undoubled). (A part joined by a
    # hyphen to another, AL-HO, NG-IL, is no initial; an article so joined stays one:
    # MATI UR-REHMAN.) A listed name (`eager`) writes no dotless initials: RI MAN GON
    # is the customer's RIMAN GON.
    initials = not eager and (
        (not before and _dotless_initials(a, known)) or (not after and _dotless_initials(b, known))
    )
    initials = initials or (bool(after) and fold(b) in _GLUE)
    # An apostrophe stays inside its word: KY'O NG-SU is KY'ONG-SU.
    letters = _APOSTROPHES.sub("", a) + _APOSTROPHES.sub("", b)
    if not letters.isalpha() or len(a) < 2 or len(b) < 2 or initials:
        return None
    fa, fb = fold(a), fold(b)
    both = known(fa) and known(fb)
    # Two known words are joined only when one is short (Yas Sin, Ali reza): Abdul
    # Rahman, Abu Bakr need no second reading.
    loose = not strict and (eager or min(len(fa), len(fb)) <= _MIN_PART)
    if " " in fa + fb or (both and not loose) or not known(fa + fb):
        return None
    return "-".join(p for p in (before, a + b, after) if p)


def _half(words: list[str], i: int, known: Known) -> bool:
    """Whether `words[i]` makes a listed word with the word before or after it, neither
    read as initials (ABDOLL AHI → ABDOLLAHI), at `_rejoin`'s first pass."""
    return (i > 0 and _joined(words[i - 1], words[i], known, True, False) is not None) or (
        i + 1 < len(words) and _joined(words[i], words[i + 1], known, True, False) is not None
    )


_ARTICLE_TYPO = re.compile(r"^[b-df-hj-np-tv-z]l$", re.IGNORECASE)


def _article(word: str) -> str:
    """QL-ASHQAR → AL-ASHQAR, ql-Aziz → al-Aziz: a consonant and L hyphenated to a word
    of 3+ letters is the article al- with its first letter mistyped (no name is two
    consonants; a clerk's finger slips off the A to Q, W, S, Z)."""
    if "-" not in word:
        return word
    parts = word.split("-")
    for i, part in enumerate(parts[:-1]):
        nxt = _APOSTROPHES.sub("", parts[i + 1])
        if _ARTICLE_TYPO.match(part) and len(nxt) >= 3 and nxt.isalpha():
            parts[i] = ("A" if part[1].isupper() else "a") + part[1]
    return "-".join(parts)
