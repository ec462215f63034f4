"""Romanisation of names: our own Cyrillic and Arabic-script tables, anyascii for the rest.

`to_latin` gives one display form (ICAO 9303 for Cyrillic, a consonantal table for
Arabic script); `latin_variants` gives the spellings other systems produce, folded for
matching. Arabic script writes no short vowels, so its romanisation is a consonant
skeleton plus the long vowels that the letters ا و ي do spell: "محمد" is "Mhmd".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache, partial

from anyascii import anyascii

# --- Cyrillic --------------------------------------------------------------------------

# ICAO Doc 9303 (7th ed. 2015) Part 3 §6: what machine-readable passports print, Kazakh and
# Russian ones included (since 2013 Russia prints Ю→IU, Я→IA, Й→I, Ъ→IE).
_ICAO: dict[str, str] = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh",
    "з": "z", "и": "i", "й": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
    "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
    "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "ie", "ы": "y", "ь": "", "э": "e", "ю": "iu",
    "я": "ia",
    # ICAO rows for Ukrainian, Belarusian and South Slavic letters.
    "є": "ie", "і": "i", "ї": "i", "ґ": "g", "ў": "u", "ђ": "d", "ѓ": "g", "ѕ": "dz",
    "ј": "j", "љ": "lj", "њ": "nj", "ћ": "c", "ќ": "k", "џ": "dz",
    # Kazakh letters as Kazakh passports print them (ICAO has no row for them).
    "ә": "a", "ғ": "g", "қ": "k", "ң": "n", "ө": "o", "ұ": "u", "ү": "u", "һ": "h",
    # Kyrgyz, Tajik, Tatar, Bashkir, Uzbek extras, by analogy with the rows above.
    "ҳ": "h", "ҷ": "j", "ӣ": "i", "ӯ": "u", "җ": "zh", "ҹ": "j", "ҝ": "g", "ӑ": "a",
    "ӗ": "e", "ӧ": "o", "ӱ": "u", "ӓ": "a", "ҡ": "k", "ҫ": "s", "ҙ": "z",
}  # fmt: skip

_CYRILLIC = re.compile("[\u0400-\u052f]")


@dataclass(frozen=True)
class _CyrillicSystem:
    """A whole-string romanisation: a letter table plus context rules run before it."""

    name: str
    table: Mapping[str, str]
    rules: tuple[tuple[re.Pattern[str], str], ...] = ()
    trans: dict[int, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "trans", {ord(k): v for k, v in self.table.items()})

    def apply(self, lower: str) -> str:
        """Romanise casefolded text; characters the table lacks pass through."""
        for pattern, repl in self.rules:
            lower = pattern.sub(repl, lower)
        return lower.translate(self.trans)


def _word_initial(letters: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w)[{letters}]")


_CONSONANTS = "бвгджзклмнпрстфхцчшщғқңһ"
_GOST_B = {
    **_ICAO, "ё": "yo", "й": "j", "х": "x", "ц": "cz", "щ": "shh", "ъ": "", "ю": "yu", "я": "ya",
    "є": "ye", "ї": "yi",
}  # fmt: skip
_KAZAKH_INFORMAL = {
    **_ICAO, "ж": "j", "қ": "q", "ғ": "gh", "ң": "ng", "ә": "ae", "ө": "oe", "й": "y", "ъ": "",
    "ю": "yu", "я": "ya",
}  # fmt: skip

_CYRILLIC_SYSTEMS = (
    _CyrillicSystem("icao", _ICAO),
    # Russian passports 1997-2010 and most older Western documents: Й→Y, Ю→YU, Я→YA.
    _CyrillicSystem("ru-passport-1997", {**_ICAO, "й": "y", "ъ": "", "ю": "yu", "я": "ya"}),
    # GOST 7.79-2000 System B with its apostrophes and backticks already folded away
    # (Ы y', Э e`, Ъ ``; Kazakh a` g` k`...); Ц is c before i, e, y, j and cz elsewhere.
    _CyrillicSystem("gost-7.79-b", _GOST_B, ((re.compile("ц(?=[еиыйіэюяєї])"), "c"),)),
    # BGN/PCGN Russian 1947 (Е, Ё → YE initially and after vowels, Й, Ъ, Ь; Ë folded to E)
    # with the BGN/PCGN 1979 Kazakh rows (Ғ GH, Қ Q, Ң NG; Ә Ө Ұ Ү Ī fold to A O U U I).
    _CyrillicSystem(
        "bgn-pcgn",
        {**_ICAO, "й": "y", "ъ": "", "ю": "yu", "я": "ya", "ғ": "gh", "қ": "q", "ң": "ng"},
        ((re.compile(f"(?<![{_CONSONANTS}])[её]"), "ye"),),
    ),
    # Kazakh Latin alphabet of 2021 with its diacritics folded (Ä Ğ Ñ Ö Ū Ü Ş Ç): Ж→J,
    # Қ→Q, Х→H, Ы→I (ı); Ш and Ч as typed in practice (sh, ch) rather than a bare s, c.
    _CyrillicSystem(
        "kazakh-latin-2021",
        {**_ICAO, "ж": "j", "қ": "q", "х": "h", "ы": "i", "ъ": "", "ё": "io"},
    ),
    # English-keyboard Kazakh seen in documents and on the web: Jomart, Qairat, Nursultan,
    # with umlaut letters written out (Ә AE, Ө OE) and Ғ GH, Ң NG.
    _CyrillicSystem("kazakh-informal", _KAZAKH_INFORMAL),
)

# Ukrainian national system (Cabinet resolution 55/2010), only for text with letters that
# only Ukrainian uses: Г→H, И→Y, and Є Ї Й Ю Я spelled YE YI Y YU YA word-initially.
_UKRAINIAN = _CyrillicSystem(
    "ukrainian-2010",
    {**_ICAO, "г": "h", "и": "y"},
    tuple(
        (_word_initial(k), v)
        for k, v in {"є": "ye", "ї": "yi", "й": "y", "ю": "yu", "я": "ya"}.items()
    ),
)
_UKRAINIAN_ONLY = re.compile("[єїґ]")

# --- Arabic script ---------------------------------------------------------------------

# One letter, one Latin spelling, in the English-language style of UN and OFAC lists.
_AR_CONSONANTS: dict[str, str] = {
    "ب": "b", "ت": "t", "ث": "th", "ج": "j", "ح": "h", "خ": "kh", "د": "d", "ذ": "dh",
    "ر": "r", "ز": "z", "س": "s", "ش": "sh", "ص": "s", "ض": "d", "ط": "t", "ظ": "z",
    "غ": "gh", "ف": "f", "ق": "q", "ك": "k", "ل": "l", "م": "m", "ن": "n", "ه": "h",
    # Persian and Urdu
    "پ": "p", "چ": "ch", "ژ": "zh", "گ": "g", "ک": "k", "ہ": "h", "ھ": "h", "ٹ": "t",
    "ڈ": "d", "ڑ": "r", "ں": "n",
    # Pashto, Kurdish, Maghrebi
    "ځ": "dz", "څ": "ts", "ټ": "t", "ډ": "d", "ړ": "r", "ږ": "zh", "ښ": "sh", "ګ": "g",
    "ڼ": "n", "ڤ": "v", "ۋ": "v", "ڨ": "g", "ڥ": "v", "ڵ": "l", "ڕ": "r", "ڭ": "ng",
}  # fmt: skip
_AR_ALEFS = {"ا": "a", "أ": "a", "إ": "i", "آ": "a", "ٱ": "a", "ى": "a"}
_AR_MAKSURA = "ى"
# Persian, Urdu and Pashto text: there ى is a keyboard stand-in for final ی (i), not the
# Arabic alef maksura (a) of مصطفى Mustafa: حاجى Haji, نورزى Nurzi (UN TAi.153).
_PERSIANATE = re.compile("[یپچژگکہےۀ]")
_AR_GLOTTAL = {"ع": "'", "ء": "'", "ؤ": "'", "ئ": "'"}
# Letters that always spell a vowel: taa marbuta, Urdu bari ye, Pashto and Kurdish vowels.
_AR_VOWELS = {
    "ة": "a", "ۃ": "a", "ے": "e", "ۓ": "e", "ې": "e", "ۍ": "ai", "ۆ": "o", "ۇ": "u", "ێ": "e",
    "ە": "e",
}  # fmt: skip
_AR_WAW = "و"
_AR_SEMI = {_AR_WAW: "w", "ي": "y", "ی": "y"}  # as consonants
_AR_HEH = {"ه", "ہ"}
# Marks dropped so pointed and unpointed spellings of a name romanise alike: harakat,
# shadda, sukun, superscript alef, Quranic marks, tatweel, zero-width non-joiner.
_AR_DROP = {ord(c): None for c in "\u0640\u0670\u200c"} | {c: None for c in range(0x064B, 0x0660)}

_ARABIC_RUN = re.compile(
    "[\u0620-\u063a\u0640-\u065f\u0670-\u06d3\u06d5\u06ee\u06ef\u06fa-\u06fc"
    "\u0750-\u077f\u08a0-\u08ff\u200c]+"
)


@dataclass(frozen=True)
class _ArabicSystem:
    name: str
    consonants: Mapping[str, str]
    particles: Mapping[str, str]
    vowel_waw: str = "u"  # و between consonants spells a long u (or o)
    article: str = "al-"
    maksura: str = "a"


# Whole words whose letters mislead: short particles, and على/طه whose final letter is
# read as a vowel in names ('Ali, Taha) but would romanise as 'Ala, Ta.
_AR_PARTICLES = {
    "بن": "bin", "ابن": "ibn", "بنت": "bint", "ولد": "ould", "و": "wa", "الياس": "ilyas",
    "على": "'ali", "طه": "taha",
}  # fmt: skip

_ARABIC_SYSTEMS = (
    _ArabicSystem("english", _AR_CONSONANTS, _AR_PARTICLES),
    # French style of Maghrebi documents: Djamel, Chekau, Lahbous, Ben, El.
    _ArabicSystem(
        "maghrebi",
        {**_AR_CONSONANTS, "ج": "dj", "ش": "ch", "ق": "k", "ث": "t", "ذ": "d", "ظ": "d"},
        {**_AR_PARTICLES, "بن": "ben"},
        vowel_waw="ou",
        article="el-",
    ),
    # Persian and Urdu pronunciation of the Arabic letters (Reza, Zia, Mohsen, Ghulam).
    _ArabicSystem(
        "persian",
        {**_AR_CONSONANTS, "ث": "s", "ذ": "z", "ض": "z", "ظ": "z", "ق": "gh"},
        _AR_PARTICLES,
        vowel_waw="o",
    ),
    # Egyptian: ج is a hard g (Gamal), ث and ذ are s and z.
    _ArabicSystem("egyptian", {**_AR_CONSONANTS, "ج": "g", "ث": "s", "ذ": "z"}, _AR_PARTICLES),
)
_ENGLISH = _ARABIC_SYSTEMS[0]


def _arabic_letters(word: str, system: _ArabicSystem) -> str:
    """Romanise one word letter by letter; و and ي are read as vowel or consonant by context."""
    consonants = system.consonants
    out: list[str] = []
    last = len(word) - 1
    after_vowel = True  # word start behaves like a vowel: initial و ي are w, y
    for i, ch in enumerate(word):
        nxt = word[i + 1] if i < last else ""
        vowel = False
        if ch in _AR_HEH and i == last and i and not after_vowel:
            latin, vowel = "a", True  # final ه after a consonant is the -a(h) ending: Hamada
        elif ch in consonants:
            latin = consonants[ch]
        elif ch == _AR_MAKSURA:
            latin, vowel = system.maksura, True
        elif ch in _AR_ALEFS:
            latin, vowel = _AR_ALEFS[ch], True
        elif ch in _AR_SEMI:
            # Between consonants (or word-final after one) و ي spell long u, i: يوسف Yusuf.
            # و before ي is consonantal: حويش Huwaysh, سويد Suwayd.
            vowel = (
                not after_vowel and nxt not in _AR_ALEFS and not (ch == _AR_WAW and nxt in _AR_SEMI)
            )
            vowel_latin = system.vowel_waw if ch == _AR_WAW else "i"
            latin = vowel_latin if vowel else _AR_SEMI[ch]
        elif ch in _AR_GLOTTAL:
            # ع before a consonant nearly always carries a: علي 'Ali, عبد 'Abd.
            carries_a = ch == "ع" and (nxt in consonants or nxt in _AR_GLOTTAL)
            latin = "'a" if carries_a else "'"
        elif ch in _AR_VOWELS:
            latin, vowel = _AR_VOWELS[ch], True
        else:
            latin = anyascii(ch)
        out.append(latin)
        after_vowel = vowel
    return "".join(out)


def _arabic_word(word: str, system: _ArabicSystem) -> str:
    word = word.translate(_AR_DROP)
    if not word:
        return ""
    if word in system.particles:
        return system.particles[word]
    if word.endswith(("لله", "للہ")):  # الله, عبدالله, عبدلله (sic, QDi.380), Urdu اللہ
        head = word[:-3].removesuffix("ا")
        return (_arabic_word(head, system) if head else "") + "allah"
    if word.startswith("عبدال") and len(word) > 6:
        rest = _arabic_letters(word[5:], system)
        return _arabic_letters("عبد", system) + " " + system.article + rest
    if word.startswith("ال") and len(word) > 3:
        return system.article + _arabic_letters(word[2:], system)
    return _arabic_letters(word, system)


def _capitalise(piece: str) -> str:
    for article in ("al-", "el-"):
        if piece.startswith(article) and len(piece) > len(article):
            return article + _capitalise(piece[len(article) :])
    for i, ch in enumerate(piece):
        if ch.isalpha():
            return piece[:i] + ch.upper() + piece[i + 1 :]
    return piece


def _arabic_run(match: re.Match[str], system: _ArabicSystem, display: bool) -> str:
    latin = _arabic_word(match.group(), system)
    if display:
        return " ".join(_capitalise(p) for p in latin.split(" "))
    return latin


def _romanise_arabic(text: str, system: _ArabicSystem, display: bool) -> str:
    if _PERSIANATE.search(text):
        system = replace(system, maksura="i")
    return _ARABIC_RUN.sub(partial(_arabic_run, system=system, display=display), text)


# --- everything else -------------------------------------------------------------------

_PUNCTUATION = {"،": ",", "؛": ";", "؟": "?", "٪": "%", "٫": ".", "٬": ","}


def _fallback(ch: str) -> str:
    """Display form of a character no table of ours covers."""
    if ch.isascii():
        return ch
    category = unicodedata.category(ch)
    if category == "Nd":
        return str(unicodedata.decimal(ch))
    if ch in _PUNCTUATION:
        return _PUNCTUATION[ch]
    if category[0] == "L" or (
        category[0] == "M" and not unicodedata.name(ch, "").startswith("COMBINING")
    ):
        name = unicodedata.name(ch, "")
        if name.startswith("LATIN") or name.startswith("MODIFIER"):
            return ch  # Latin keeps its diacritics here; folding is names.fold's job
        return anyascii(ch)  # Greek, Han, Hangul, Hebrew, Georgian...
    return ch


class _Table(dict[int, str]):
    """A str.translate table filled on first sight of each character."""

    def __init__(self, compute: Callable[[str], str]) -> None:
        super().__init__()
        self._compute = compute

    def __missing__(self, key: int) -> str:
        value = self[key] = self._compute(chr(key))
        return value


def _mixed_case(ch: str) -> str:
    lower = ch.lower()
    if lower in _ICAO:
        latin = _ICAO[lower]
        return latin.capitalize() if ch != lower else latin
    return _fallback(ch)


def _all_caps(ch: str) -> str:
    latin = _mixed_case(ch)
    return latin.upper() if ch.isupper() and not ch.isascii() else latin


_MIXED = _Table(_mixed_case)
_CAPS = _Table(_all_caps)
_TOKEN = re.compile(r"\S+")


def _display_token(match: re.Match[str]) -> str:
    token = match.group()
    # ЖОМАРТ → ZHOMART, but Жомарт and the initial Ж. → Zhomart, Zh.
    caps = token.isupper() and sum(1 for c in token if c.isupper()) > 1
    return token.translate(_CAPS if caps else _MIXED)


@lru_cache(maxsize=1 << 16)
def to_latin(text: str) -> str:
    """One canonical Latin spelling for display; Latin text (diacritics too) is kept as is."""
    text = unicodedata.normalize("NFKC", text)
    if text.isascii():
        return text
    if _ARABIC_RUN.search(text):
        text = _romanise_arabic(text, _ENGLISH, display=True)
    return _TOKEN.sub(_display_token, text)


def arabic_to_latin(text: str) -> str:
    """Romanise only the Arabic-script words of `text`, in lowercase (a step of folding)."""
    if _ARABIC_RUN.search(text):
        return _romanise_arabic(text, _ENGLISH, display=False)
    return text


def char_to_latin(ch: str) -> str:
    """Display romanisation of one non-Arabic character, as `to_latin` writes it."""
    return _MIXED[ord(ch)]


def latin_variants(text: str) -> set[str]:
    """Folded Latin spellings of `text` under each romanisation system seen in documents.

    One whole-string spelling per system (ICAO 9303, Russian passports 1997-2010, GOST 7.79
    B, BGN/PCGN, Kazakh Latin, informal Kazakh, Ukrainian; English, Maghrebi, Persian,
    Egyptian for Arabic script), so at most 10 and never a per-letter explosion.
    """
    from listd.normalize.names import fold  # names imports this module

    lower = unicodedata.normalize("NFKC", text.replace("´", "'")).casefold()  # as fold does
    has_cyrillic = _CYRILLIC.search(lower) is not None
    has_arabic = _ARABIC_RUN.search(lower) is not None
    cyrillic: tuple[_CyrillicSystem, ...] = _CYRILLIC_SYSTEMS[:1]
    if has_cyrillic:
        cyrillic = _CYRILLIC_SYSTEMS
        if _UKRAINIAN_ONLY.search(lower):
            cyrillic = (*cyrillic, _UKRAINIAN)
    arabic = _ARABIC_SYSTEMS if has_arabic else _ARABIC_SYSTEMS[:1]
    pairs = [(c, arabic[0]) for c in cyrillic] + [(cyrillic[0], a) for a in arabic[1:]]
    variants: set[str] = set()
    for cyr, ar in pairs:
        spelled = lower
        if has_arabic:
            spelled = _romanise_arabic(spelled, ar, display=False)
        if has_cyrillic:
            spelled = cyr.apply(spelled)
        folded = fold(spelled)
        if folded:
            variants.add(folded)
    return variants


# Hangul syllables as the lists romanise Korean names. anyascii gives the Revised
# Romanization of South Korea (김정철: gimjeongcheol); the UN and OFAC write North Korean
# names in McCune-Reischauer without its breves and apostrophes (KIM CHONG CHOL, RI JE-SON,
# PAEK CHANG-HO), and people spell their own names in older ways (Sung, Lee, Park). Each
# jamo has the few spellings those systems give it; a syllable's readings are their product.
_HANGUL_FIRST = (
    ("g", "k"), ("kk", "k"), ("n",), ("d", "t"), ("tt", "t"), ("r", "l"), ("m",), ("b", "p"),
    ("pp", "p"), ("s", "sh"), ("ss", "s"), ("",), ("j", "ch"), ("jj", "ch"), ("ch",), ("k",),
    ("t",), ("p",), ("h",),
)  # fmt: skip
_HANGUL_VOWEL = (
    ("a",), ("ae",), ("ya",), ("yae",), ("eo", "o", "u"), ("e",), ("yeo", "yo"), ("ye",),
    ("o",), ("wa",), ("wae",), ("oe",), ("yo",), ("u", "oo"), ("wo",), ("we",), ("wi",),
    ("yu",), ("eu", "u"), ("ui", "i"), ("i",),
)  # fmt: skip
_HANGUL_LAST = (
    ("",), ("k",), ("k",), ("k",), ("n",), ("n",), ("n",), ("t",), ("l",), ("k",), ("m",),
    ("l",), ("l",), ("l",), ("p",), ("l",), ("m",), ("p",), ("p",), ("t",), ("t",),
    ("ng",), ("t",), ("t",), ("k",), ("t",), ("p",), ("t",),
)  # fmt: skip
_HANGUL_BASE, _HANGUL_END = 0xAC00, 0xD7A3


def _alternatives(table: tuple[tuple[str, ...], ...]) -> str:
    """A regular expression for one spelling of any row of `table` (longest first)."""
    spelled = sorted({s for row in table for s in row if s}, key=lambda s: (-len(s), s))
    optional = "?" if any("" in row for row in table) else ""
    return f"(?:{'|'.join(spelled)}){optional}"


_HANGUL_READING = re.compile(
    "".join(map(_alternatives, (_HANGUL_FIRST, _HANGUL_VOWEL, _HANGUL_LAST)))
)


def hangul_reading(word: str) -> bool:
    """Whether folded `word` is how some Hangul syllable is read (`hangul_readings`):
    CHOL, NAM, KIM, SONG are; DHOL, KHOL are no Korean syllable."""
    return _HANGUL_READING.fullmatch(word) is not None


@lru_cache(maxsize=1 << 12)
def hangul_readings(syllable: str) -> frozenset[str]:
    """The Latin spellings of one Hangul syllable under Revised Romanization and
    McCune-Reischauer as the lists write it (철: cheol, chol, chul; 리: ri, li); empty
    for anything else."""
    code = ord(syllable) - _HANGUL_BASE if len(syllable) == 1 else -1
    if not 0 <= code <= _HANGUL_END - _HANGUL_BASE:
        return frozenset()
    first, rest = divmod(code, 21 * 28)
    vowel, last = divmod(rest, 28)
    return frozenset(
        a + b + c
        for a in _HANGUL_FIRST[first]
        for b in _HANGUL_VOWEL[vowel]
        for c in _HANGUL_LAST[last]
    )
