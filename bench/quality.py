"""Recall, false-positive rate and precision of screening on a labelled set, as JSON.

Run: .venv/bin/python bench/quality.py [--seed N] [--per-source N]
     .venv/bin/python bench/quality.py --side-by-side [--negatives 50000] [--json FILE]

The set is built from the real lists in ../shared/data (UN, Kazakh AFM, OFAC). For a
seeded sample of listed entities it writes the name the way customers' records carry it:
transliterated Latin <-> Cyrillic by a clerk's letter-by-letter choices (not by the
engine's own tables), with a typo, word order reversed, a middle part or patronymic
dropped, an equivalent given name, an initial, another spelling of the legal form, and,
for UN records with an Arabic original-script name, that Arabic name screened against the
lists *without* their Arabic names (cross-script). Negatives are names of people and firms
that are not listed: common Kazakh, Russian, Arabic and English names, and listed
surnames with another given name.

A returned match counts as correct when it is the sampled entity or another listing of the
same person (an entity sharing one exact folded name with it: UN and OFAC list the same
people). Scores are also binned to show calibration. If nomenklatura is installed, its
logic-v2 algorithm scores the same queries (against the candidates our index returns at a
low threshold plus the target) and is printed beside ours.

--side-by-side prints a table instead: recall per kind of name as records write it (one
family of 50-120 cases per kind, `FAMILIES`, from real list names: joined and split words,
numbers as words, look-alike digits, dotless and hyphen initials, first-letter changes,
two edits in a short word, repeated words, titles, first + last of a longer name with and
without birth date and nationality, foreign legal forms, CJK script, listed people's Latin
names in katakana as Japanese press writes them), the alert rate on CJK names one character
of three away and on 2,000 of the unlisted people in katakana, and the alert rate on
`--negatives` synthetic
unlisted people of ten naming cultures (seeded, checked against the lists) screened
against UN + KZ + an SDN.XML-size OFAC list (bench/sync.py's generator); listd at its
default threshold beside nomenklatura's logic-v2 at 0.7, and each at its best threshold.
listd runs in process (bench/screen.py measures the HTTP path). logic-v2 needs the bench
extra: .venv/bin/pip install -c constraints.txt -e '.[bench]' (nomenklatura builds PyICU,
which needs libicu-dev and a C++ compiler where no wheel fits); without it the table
shows listd only and says why.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import re
import sys
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from listd.model import Entity, Name
from listd.normalize import fold
from listd.screening import DEFAULT_THRESHOLD, Query, ScreeningIndex
from listd.screening.names import EQUIVALENT_NAMES, LEGAL_FORMS

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
UN_FILE = DATA / "un" / "consolidated-2026-05-08.xml"
KZ_FILE = DATA / "kz" / "afm-terror-extremism-active-2022-10-03.xml"
OFAC_FILES = (
    DATA / "ofac" / "CONS_ENHANCED-2025-01-10.zip",
    DATA / "ofac" / "ofac-enhanced-IRGC-2024-08-28.xml",
)


# --- loading ------------------------------------------------------------------------


def load_lists() -> dict[str, list[Entity]]:
    """The real lists by source, each parsed by its own scraper."""
    from listd.scrapers import ofac, un
    from listd.scrapers.kz_afm import tf as kz_afm_tf

    out = {
        "un": list(un.parse(UN_FILE.read_bytes())),
        "kz-afm-tf": list(kz_afm_tf.parse(KZ_FILE.read_bytes())),
    }
    seen: dict[str, Entity] = {}
    for path in OFAC_FILES:
        for entity in ofac.parse(path.read_bytes()):
            seen.setdefault(entity.id, entity)
    out["ofac"] = [seen[k] for k in sorted(seen)]
    return out


def build_index(lists: dict[str, list[Entity]]) -> ScreeningIndex:
    index = ScreeningIndex()
    for source, entities in sorted(lists.items()):
        index.replace_source(source, "bench", entities)
    return index


# --- a clerk's transliteration ---------------------------------------------------------

# Latin -> Russian Cyrillic the way Russian-language documents spell foreign names.
_LAT_CYR = [
    ("shch", "щ"), ("sch", "ш"), ("kh", "х"), ("zh", "ж"), ("ch", "ч"), ("sh", "ш"),
    ("ts", "ц"), ("ya", "я"), ("yu", "ю"), ("yo", "ё"), ("ye", "е"), ("ay", "ай"),
    ("ey", "ей"), ("oy", "ой"), ("iy", "ий"), ("ee", "и"), ("oo", "у"), ("ou", "у"),
    ("gh", "г"), ("th", "т"), ("dh", "д"), ("ph", "ф"), ("dj", "дж"), ("j", "дж"),
    ("q", "к"), ("x", "кс"), ("w", "у"), ("c", "к"), ("a", "а"), ("b", "б"), ("d", "д"),
    ("e", "е"), ("f", "ф"), ("g", "г"), ("h", "х"), ("i", "и"), ("k", "к"), ("l", "л"),
    ("m", "м"), ("n", "н"), ("o", "о"), ("p", "п"), ("r", "р"), ("s", "с"), ("t", "т"),
    ("u", "у"), ("v", "в"), ("y", "и"), ("z", "з"),
]  # fmt: skip
# Cyrillic (Kazakh and Russian) -> Latin: each letter as one of the spellings clerks use.
_CYR_LAT: dict[str, tuple[str, ...]] = {
    "а": ("a",), "б": ("b",), "в": ("v",), "г": ("g",), "д": ("d",), "е": ("e", "e", "ye"),
    "ё": ("e", "yo"), "ж": ("zh", "zh", "j"), "з": ("z",), "и": ("i",), "й": ("y", "i", "j"),
    "к": ("k",), "л": ("l",), "м": ("m",), "н": ("n",), "о": ("o",), "п": ("p",), "р": ("r",),
    "с": ("s",), "т": ("t",), "у": ("u",), "ф": ("f",), "х": ("kh", "kh", "h"),
    "ц": ("ts", "c"), "ч": ("ch",), "ш": ("sh",), "щ": ("shch", "sch"), "ъ": ("",),
    "ы": ("y", "i"), "ь": ("",), "э": ("e",), "ю": ("yu", "iu", "ju"), "я": ("ya", "ia", "ja"),
    "ә": ("a", "a", "ae"), "ғ": ("g", "gh"), "қ": ("k", "k", "q"), "ң": ("n", "ng"),
    "ө": ("o", "o", "oe"), "ұ": ("u",), "ү": ("u", "ue"), "һ": ("h",), "і": ("i",),
}  # fmt: skip


def latin_to_cyrillic(name: str) -> str:
    out: list[str] = []
    for word in name.split():
        low = fold(word)
        cyr = ""
        i = 0
        while i < len(low):
            for lat, c in _LAT_CYR:
                if low.startswith(lat, i):
                    cyr += c
                    i += len(lat)
                    break
            else:
                cyr += low[i]
                i += 1
        out.append(cyr.capitalize())
    return " ".join(out)


def cyrillic_to_latin(name: str, rng: random.Random) -> str:
    out: list[str] = []
    for word in name.split():
        lat = "".join(rng.choice(_CYR_LAT[c]) if c in _CYR_LAT else c for c in word.lower())
        out.append(lat.capitalize())
    return " ".join(out)


def is_cyrillic(text: str) -> bool:
    return any("CYRILLIC" in unicodedata.name(c, "") for c in text)


def is_arabic(text: str) -> bool:
    return any("ARABIC" in unicodedata.name(c, "") for c in text)


# --- variants --------------------------------------------------------------------------

_KEYBOARD = "qwertyuiopasdfghjklzxcvbnm"
_WORDS = re.compile(r"[^\s,]+")


def typo(name: str, rng: random.Random) -> str | None:
    words = _WORDS.findall(name)
    long = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    if not long:
        return None
    i = rng.choice(long)
    w = words[i]
    k = rng.randrange(1, len(w) - 1)
    op = rng.choice(("sub", "del", "ins", "swap"))
    alphabet = "абвгдеклмнопрст" if is_cyrillic(w) else _KEYBOARD
    if op == "sub":
        w = w[:k] + rng.choice(alphabet) + w[k + 1 :]
    elif op == "del":
        w = w[:k] + w[k + 1 :]
    elif op == "ins":
        w = w[:k] + rng.choice(alphabet) + w[k:]
    else:
        w = w[: k - 1] + w[k] + w[k - 1] + w[k + 1 :]
    words[i] = w
    return " ".join(words)


_EQUIV = {fold(s): g for g in EQUIVALENT_NAMES for s in g if s.isascii() and " " not in s}
_LEGAL_SPELLINGS = {fold(s): label for label, spellings in LEGAL_FORMS.items() for s in spellings}
# The spellings added with the foreign legal forms (December 2026): the "legal_form" kind
# draws from the table without them, so that its cases (and the random stream of the
# whole set) stay those of earlier runs; they have their own family, legal_form_foreign.
_LATER_SPELLINGS = frozenset(
    fold(s)
    for s in ("ltda", "limitada", "sociedad limitada", "ltd sti", "limited sirketi",
              "limited şirketi", "sherkat", "sherkate", "shirkat", "sharikat", "sharikah",
              "sharika", "شركة", "شرکت", "gesellschaft mit beschränkter haftung",
              "gesellschaft mit beschraenkter haftung", "aktiengesellschaft",
              "société anonyme", "sociedad anónima", "sa de cv", "s a de c v",
              "société à responsabilité limitée", "société par actions simplifiée",
              "società per azioni", "società a responsabilità limitata", "a s", "a ş",
              "anonim şirketi", "anonim sirketi")
)  # fmt: skip
_EARLIER_SPELLINGS = {
    s: label for s, label in _LEGAL_SPELLINGS.items() if s not in _LATER_SPELLINGS
}


def equivalent(name: str, rng: random.Random) -> str | None:
    words = name.split()
    spots = [i for i, w in enumerate(words) if fold(w) in _EQUIV]
    if not spots:
        return None
    i = rng.choice(spots)
    group = [s for s in _EQUIV[fold(words[i])] if s.isascii() and " " not in s]
    others = [s for s in group if s != fold(words[i])]
    words[i] = rng.choice(others).capitalize()
    return " ".join(words)


def legal_form(name: str, rng: random.Random) -> str | None:
    folded = fold(name)
    for spelling, label in sorted(_EARLIER_SPELLINGS.items(), key=lambda kv: -len(kv[0])):
        pattern = re.compile(rf"(^| ){re.escape(spelling)}( |$)")
        if pattern.search(folded) and len(spelling) > 1:
            others = [
                s
                for s in LEGAL_FORMS[label]
                if fold(s) != spelling and fold(s) in _EARLIER_SPELLINGS
            ]
            if not others:
                return None
            return pattern.sub(rf"\g<1>{rng.choice(others)}\g<2>", folded, count=1)
    return None


def parts(name: str) -> list[str]:
    return [w for w in re.split(r"[\s,]+", name) if w]


def variants(entity: Entity, rng: random.Random) -> Iterator[tuple[str, str]]:
    """(kind, query name) pairs for one listed entity."""
    primary = entity.primary_name
    words = parts(primary)
    yield "exact", primary
    if entity.schema == "person":
        if is_cyrillic(primary):
            latin = cyrillic_to_latin(primary, rng)
            yield "latin_from_cyrillic", latin
            if len(words) >= 3:
                # Kazakh records: surname, given name, patronymic. A passport-style
                # customer record: given name first, no patronymic.
                given_first = cyrillic_to_latin(f"{words[1]} {words[0]}", rng)
                yield "latin_reversed_no_patronymic", given_first
        elif not is_arabic(primary):
            yield "cyrillic_from_latin", latin_to_cyrillic(primary)
        t = typo(primary, rng)
        if t:
            yield "typo", t
        if len(words) >= 2:
            yield "reversed", " ".join(reversed(words))
        if len(words) >= 3:
            drop = rng.randrange(1, len(words) - 1) if len(words) > 3 else 1
            yield "dropped_part", " ".join(w for i, w in enumerate(words) if i != drop)
            yield "initial", " ".join((w[0] + ".") if i == 1 else w for i, w in enumerate(words))
        e = equivalent(primary, rng)
        if e:
            yield "equivalent_name", e
    else:
        if is_cyrillic(primary):
            yield "latin_from_cyrillic", cyrillic_to_latin(primary, rng)
        t = typo(primary, rng)
        if t:
            yield "typo", t
        lf = legal_form(primary, rng)
        if lf:
            yield "legal_form", lf


# --- negatives -------------------------------------------------------------------------

GIVEN = (  # noqa: SIM905 - a word list reads better as text
    "Aigerim Aliya Aruzhan Asel Dana Dinara Gulnara Kamila Madina Saule Zhanna Ainur "
    "Aidos Arman Askar Bauyrzhan Daniyar Dauren Yerlan Kanat Marat Nurlan Olzhas Rustem "
    "Sanzhar Timur Yerzhan Zhandos Alexei Andrei Dmitry Igor Ivan Maxim Nikolai Oleg "
    "Pavel Sergei Viktor Yuri Anna Elena Irina Natalia Olga Svetlana Tatiana Yulia John "
    "Michael David James Robert William Mary Sarah Emily Jessica Laura Thomas Peter "
    "Mohammed Ahmed Omar Youssef Khalid Hassan Ali Fatima Aisha Mariam Layla Karim Tariq"
).split()
SURNAMES = (  # noqa: SIM905
    "Abenov Akhmetov Baimukhanov Dzhaksybekov Ermekov Ibraev Kassymov Mukanov Nurpeisov "
    "Omarov Sadykov Seitkali Suleimenov Tokayev Zhumabayev Ivanov Petrov Sidorov Smirnov "
    "Kuznetsov Popov Sokolov Lebedev Kozlov Novikov Morozov Volkov Smith Johnson Williams "
    "Brown Jones Miller Davis Wilson Taylor Anderson Clark Lewis Walker Haddad Mansour "
    "Nasser Saleh Khoury Farouk Aziz Hamdan Qureshi Siddiqui Malik Rahimi Tan Wang Chen"
).split()
PATRONYMICS = ("Nurlanovich", "Maratovna", "Serikuly", "Askarkyzy", "Ivanovich", "Petrovna")
FIRM_WORDS = (  # noqa: SIM905
    "Almaty Astana Steppe Caspian Altyn Nomad Sunrise Atlas Vega Orion Baiterek Kazyna "
    "Tulpar Samruk Arman Zhuldyz Delta Nova Prime Global Logistics Agro Stroy Invest "
    "Consulting Trade Service Motors Foods Pharm Energy Textile"
).split()
FIRM_FORMS = ("LLP", "ТОО", "JSC", "АО", "LLC", "Ltd", "ИП")


def negatives(
    rng: random.Random, listed: set[frozenset[str]], persons: Sequence[Entity], n: int
) -> Iterator[tuple[str, str, str]]:
    """(kind, query name, type) for names of people and firms that are not listed."""
    made = 0
    while made < n:
        roll = rng.random()
        if roll < 0.45:
            name = f"{rng.choice(GIVEN)} {rng.choice(SURNAMES)}"
            if rng.random() < 0.3:
                name += f" {rng.choice(PATRONYMICS)}"
            kind, qtype = "not_listed_person", "person"
        elif roll < 0.55:
            name = latin_to_cyrillic(f"{rng.choice(SURNAMES)} {rng.choice(GIVEN)}")
            kind, qtype = "not_listed_person_cyrillic", "person"
        elif roll < 0.8:
            entity = rng.choice(persons)
            words = parts(entity.primary_name)
            if len(words) < 2:
                continue
            surname = words[0] if is_cyrillic(entity.primary_name) else words[-1]
            if is_cyrillic(surname):
                surname = cyrillic_to_latin(surname, rng)
            name = f"{rng.choice(GIVEN)} {surname}"
            kind, qtype = "listed_surname_other_given_name", "person"
        else:
            words = rng.sample(FIRM_WORDS, 2)
            name = f"{' '.join(words)} {rng.choice(FIRM_FORMS)}"
            kind, qtype = "not_listed_company", "entity"
        if frozenset(fold(name).split()) in listed:
            continue
        made += 1
        yield kind, name, qtype


# --- the labelled set ----------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    kind: str
    name: str
    type: str | None
    target: str | None  # entity id, None for negatives
    source: str  # list of the target ("" for negatives)
    cross_script: bool = False
    birth_date: str | None = None  # what the customer record adds to the name
    nationality: str | None = None


def labelled_set(
    lists: dict[str, list[Entity]], seed: int, per_source: int
) -> tuple[list[Case], int]:
    rng = random.Random(seed)
    cases: list[Case] = []
    persons: list[Entity] = []
    listed: set[frozenset[str]] = set()
    for entities in lists.values():
        for e in entities:
            for n in e.names:
                listed.add(frozenset(fold(n.full).split()))
            if e.schema == "person":
                persons.append(e)
    for source, entities in sorted(lists.items()):
        people = [e for e in entities if e.schema == "person"]
        firms = [e for e in entities if e.schema != "person"]
        sample = rng.sample(people, min(per_source, len(people)))
        sample += rng.sample(firms, min(per_source // 3, len(firms)))
        for entity in sorted(sample, key=lambda e: e.id):
            qtype = "person" if entity.schema == "person" else "entity"
            for kind, name in variants(entity, rng):
                cases.append(Case(kind, name, qtype, entity.id, source))
    arabic = [
        e for e in lists["un"] if any(n.kind == "original" and is_arabic(n.full) for n in e.names)
    ]
    for entity in sorted(rng.sample(arabic, min(per_source, len(arabic))), key=lambda e: e.id):
        name = next(n.full for n in entity.names if n.kind == "original" and is_arabic(n.full))
        qtype = "person" if entity.schema == "person" else "entity"
        cases.append(Case("arabic_cross_script", name, qtype, entity.id, "un", cross_script=True))
    positives = len(cases)
    n_neg = positives
    for kind, name, qtype in negatives(rng, listed, persons, n_neg):
        cases.append(Case(kind, name, qtype, None, ""))
    return cases, positives


# --- names as typed: one case family per kind of name customers' records carry -----------

TITLE_WORDS = ("President", "Minister", "Sheikh", "Emir", "Colonel", "Mr", "Mrs", "Dr",
               "General", "Deputy Minister", "Governor", "Haji")  # fmt: skip
# The bench's own table of legal forms, so that the cases do not depend on the engine's
# table (the same cases on every tree): English forms found in listed firms' names, and
# the other languages' spellings of the same form (German, French, Spanish, Italian,
# Turkish, Persian, Arabic as written in Latin letters on the OFAC and EU lists).
ENGLISH_FORMS = {
    "limited": "LTD", "ltd": "LTD", "llc": "LLC", "l l c": "LLC",
    "limited liability company": "LLC", "company": "CO", "co": "CO",
    "joint stock company": "JSC", "jsc": "JSC", "corporation": "CORP", "corp": "CORP",
    "plc": "JSC", "inc": "CORP", "incorporated": "CORP",
}  # fmt: skip
FOREIGN_FORMS = {
    "LTD": ("GmbH", "Gesellschaft mit beschränkter Haftung", "S.A.R.L.", "SARL",
            "Société à responsabilité limitée", "S.L.", "Sociedad Limitada", "Ltda",
            "Limitada", "S.r.l.", "Società a responsabilità limitata", "Ltd. Şti.",
            "Limited Şirketi", "Sherkat-e Ba Masuliyat-e Mahdud",
            "Sharikat Dhat Mas'uliyya Mahduda"),
    "LLC": ("GmbH", "SARL", "S.L.", "S.r.l.", "Ltd. Şti.", "Limited Şirketi",
            "Sherkat-e Ba Masuliyat-e Mahdud", "Sharikat Dhat Mas'uliyya Mahduda"),
    "CO": ("Gesellschaft", "Compagnie", "Compañía", "Compagnia", "Şirketi", "Sherkat",
           "Sherkate", "Sharikat", "Sharika"),
    "JSC": ("Aktiengesellschaft", "AG", "Société Anonyme", "S.A.", "Sociedad Anónima",
            "S.p.A.", "Società per Azioni", "A.Ş.", "Anonim Şirketi", "Sherkat-e Sahami",
            "Sherkat-e Sahami-ye Aam", "Sharikat Musahama"),
    "CORP": ("Aktiengesellschaft", "Société Anonyme", "Sociedad Anónima", "S.p.A.",
             "Anonim Şirketi", "Sherkat-e Sahami", "Sharikat Musahama"),
}  # fmt: skip
FAMILIES = (
    "joined_camel", "joined_caps", "split_word", "number_words", "look_alike_digits",
    "dotless_initials", "hyphen_initials", "first_letter_swap", "first_letter_typo",
    "two_edits_short", "repeated_word", "title", "first_and_last",
    "first_and_last_with_evidence", "legal_form_foreign", "cjk_script",
    "cjk_against_romanised", "katakana",
)  # fmt: skip
TYPED_KINDS = FAMILIES  # (the name earlier versions of this bench used)
PER_KIND = 120
KANA_UNLISTED = 2_000  # unlisted people written in katakana
MUST_NOT_ALERT = {"cjk_one_character_of_three"}  # another person by construction
# First letters transliterations swap: ق as Q, K or G; Х as Kh, H or X (Uzbek); Й as Y or J.
_FIRST_SWAPS = (("kh", "x"), ("q", "g"), ("k", "g"), ("g", "k"), ("q", "k"), ("y", "j"),
                ("j", "y"), ("h", "x"), ("x", "h"), ("q", "k"))  # fmt: skip
# Letters that transliterations exchange at the start of a word: a change inside a class
# is a first_letter_swap, any other first-letter change a first_letter_typo.
_LETTER_CLASSES = ("kgqc", "hx", "jyi", "vw", "fp", "sz", "aeiou")
_NEIGHBOURS = {
    "q": "wa", "w": "qes", "e": "wrd", "r": "etf", "t": "ryg", "y": "tuh", "u": "yij",
    "i": "uok", "o": "ipl", "p": "ol", "a": "qswz", "s": "awedxz", "d": "serfcx",
    "f": "drtgvc", "g": "ftyhbv", "h": "gyujnb", "j": "huikmn", "k": "jiolm", "l": "kop",
    "z": "asx", "x": "zsdc", "c": "xdfv", "v": "cfgb", "b": "vghn", "n": "bhjm", "m": "njk",
}  # fmt: skip
_UNITS = ("", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
          "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
          "eighteen", "nineteen")  # fmt: skip
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_ORDINALS = {"one": "first", "two": "second", "three": "third", "five": "fifth",
             "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}  # fmt: skip
# Digits typed for the letters they look like: 0 for O, 1 for I (and l).
_LOOK_ALIKE = {"o": "0", "i": "1", "l": "1"}


def in_words(number: int, ordinal: bool, joiner: str) -> str:
    """1..99 in English words, as a clerk writes them (Forty-Four, forty four)."""
    words = [_UNITS[number]] if number < 20 else [_TENS[number // 10], _UNITS[number % 10]]
    words = [w for w in words if w]
    if ordinal:
        last = words[-1]
        words[-1] = _ORDINALS.get(last) or (
            last[:-1] + "ieth" if last.endswith("y") else last + "th"
        )
    return joiner.join(words).title()


def number_variants(name: str) -> list[str]:
    """The name with its number in words, each way a clerk writes it (7TH OF TIR →
    Seventh of Tir, SEVENTH OF TIR; Laskar 99 → Laskar Ninety-Nine, Laskar Ninety Nine), or
    its number word in digits (SECOND ACADEMY → 2nd Academy, 2 Academy)."""
    found = re.search(r"\b(\d{1,2})(st|nd|rd|th)?\b", name, flags=re.IGNORECASE)
    out: list[str] = []
    if found and 0 < int(found.group(1)) < 100:
        for joiner in ("-", " "):
            words = in_words(int(found.group(1)), bool(found.group(2)), joiner)
            out.append(name[: found.start()] + words + name[found.end() :])
            out.append(out[-1].upper())
    else:
        for word, digits in (("second", "2nd"), ("first", "1st"), ("third", "3rd")):
            hit = re.search(rf"\b{word}\b", name, flags=re.IGNORECASE)
            if hit:
                out.append(name[: hit.start()] + digits + name[hit.end() :])
                out.append(name[: hit.start()] + digits[:-2] + name[hit.end() :])
                break
    return list(dict.fromkeys(v for v in out if v != name))


def _latin_words(entity: Entity) -> list[str]:
    """The name's words, hyphenated and apostrophised ones included (AL-QIZANI, SA'D):
    dropping them made one-word queries of some names that no screener could answer."""
    return [w for w in parts(entity.primary_name) if _is_word(w)]


def _is_word(word: str) -> bool:
    pieces = re.split(r"[-'’`]", word)
    return all(p.isalpha() for p in pieces) and word[0].isalpha()


def _edit(word: str, k: int, op: str, rng: random.Random) -> str:
    """One keyboard edit at position k (never the first letter)."""
    alphabet = "абвгдеклмнопрст" if is_cyrillic(word) else _KEYBOARD
    letter = rng.choice(alphabet)
    if op == "sub":
        while letter == word[k].lower():
            letter = rng.choice(alphabet)
        letter = letter.upper() if word[k].isupper() else letter
        return word[:k] + letter + word[k + 1 :]
    if op == "del":
        return word[:k] + word[k + 1 :]
    if op == "ins":
        return word[:k] + (letter.upper() if word.isupper() else letter) + word[k:]
    return word[: k - 1] + word[k] + word[k - 1] + word[k + 1 :]  # swap


def _same_class(a: str, b: str) -> bool:
    return any(a in c and b in c for c in _LETTER_CLASSES)


def as_typed(kind: str, entity: Entity, rng: random.Random) -> str | None:
    """The entity's primary name written the way `kind` says, or None if it cannot be."""
    words = _latin_words(entity)
    cyrillic = is_cyrillic(entity.primary_name)
    if kind == "look_alike_digits":
        spots = [i for i, w in enumerate(words) if w.isascii() and len(w) >= 4]
        if not spots:
            return None
        i = rng.choice(spots)
        letters = [k for k, c in enumerate(words[i]) if c.lower() in _LOOK_ALIKE and k > 0]
        if not letters:
            return None
        k = rng.choice(letters)
        words[i] = words[i][:k] + _LOOK_ALIKE[words[i][k].lower()] + words[i][k + 1 :]
        return " ".join(words)
    if kind in ("first_and_last", "first_and_last_with_evidence"):
        # Every word counts here, one opening with an apostrophe too (‘ABD AL-RAHMAN ...
        # AL-QADULI): dropping it made AL-RAHMAN the first word of a shorter name.
        words = [w for w in parts(entity.primary_name) if _is_word(w.lstrip("'’‘`ʿ"))]
        if not 3 <= len(words) <= 4 or cyrillic:
            return None  # (Kazakh records put the surname first: see latin_reversed_...)
        if kind == "first_and_last_with_evidence" and not entity.birth_dates:
            return None
        return f"{words[0]} {words[-1]}"
    if kind == "first_letter_swap":
        swaps = [
            (i, a, b)
            for i, w in enumerate(words)
            for a, b in _FIRST_SWAPS
            if w.isascii() and w.lower().startswith(a) and len(w) > len(a) + 2
        ]
        if not swaps:
            return None
        at, a, b = rng.choice(swaps)
        words[at] = (b.upper() if words[at].isupper() else b.capitalize()) + words[at][len(a) :]
        return " ".join(words)
    if kind == "first_letter_typo":  # Gamir for Aamir: a letter no transliteration gives
        spots = [i for i, w in enumerate(words) if w.isascii() and len(w) >= 4]
        if not spots:
            return None
        i = rng.choice(spots)
        first = words[i][0].lower()
        options = [c for c in _NEIGHBOURS.get(first, "") if not _same_class(c, first)]
        if not options:
            options = [c for c in _KEYBOARD if not _same_class(c, first) and c != first]
        new = rng.choice(options)
        words[i] = (new.upper() if words[i][0].isupper() else new) + words[i][1:]
        return " ".join(words)
    if kind == "two_edits_short":  # two edits in one word of 4-7 letters
        spots = [i for i, w in enumerate(words) if 4 <= len(w) <= 7 and w.isalpha()]
        if not spots:
            return None
        i = rng.choice(spots)
        w = words[i]
        k1, k2 = sorted(rng.sample(range(1, len(w)), 2))
        w = _edit(w, k2, rng.choice(("sub", "del", "ins")), rng)
        w = _edit(w, k1, rng.choice(("sub", "swap")), rng)
        if fold(w) == fold(words[i]):
            return None
        words[i] = w
        return " ".join(words)
    if kind == "hyphen_initials":  # J.-M. RUNIGA for JEAN-MARIE LUGERERO RUNIGA
        for listed in entity.names:
            ws = parts(listed.full)
            spots = [
                i
                for i, w in enumerate(ws[:-1])
                if w.count("-") == 1 and all(len(p) >= 3 and p.isalpha() for p in w.split("-"))
            ]
            if spots:
                i = spots[0]
                a, b = ws[i].split("-")
                style = rng.choice(("{a}.-{b}.", "{a}-{b}", "{a}{b}", "{a}. {b}."))
                ws[i] = style.format(a=a[0].upper(), b=b[0].upper())
                return " ".join(ws)
        return None
    if kind == "legal_form_foreign":
        folded = fold(entity.primary_name)
        for spelling, label in sorted(ENGLISH_FORMS.items(), key=lambda kv: -len(kv[0])):
            pattern = re.compile(rf"(^| ){re.escape(spelling)}( |$)")
            if pattern.search(folded):  # the longest form present
                other = rng.choice(FOREIGN_FORMS[label])
                return pattern.sub(rf"\g<1>{other}\g<2>", folded, count=1)
        return None
    if len(words) < 2 or len(words) != len(parts(entity.primary_name)):
        return None
    if kind == "joined_camel":
        return "".join(w.capitalize() for w in words[:2]) + " " + " ".join(words[2:])
    if kind == "joined_caps":
        at = rng.randrange(len(words) - 1)
        joined = [*words[:at], words[at] + words[at + 1], *words[at + 2 :]]
        return " ".join(joined).upper()
    if kind == "split_word":
        long = [i for i, w in enumerate(words) if len(w) >= 6]
        if not long:
            return None
        i = rng.choice(long)
        k = rng.randrange(3, len(words[i]) - 2)
        return " ".join([*words[:i], words[i][:k], words[i][k:], *words[i + 1 :]])
    if kind == "dotless_initials":
        if not 3 <= len(words) <= 4:
            return None
        if cyrillic:  # Kazakh records: surname, given, patronymic
            return words[0] + " " + "".join(w[0] for w in words[1:]).upper()
        return "".join(w[0] for w in words[:-1]).upper() + " " + words[-1]
    if kind == "repeated_word":
        i = rng.randrange(len(words))
        return " ".join([*words[: i + 1], words[i], *words[i + 1 :]])
    if kind == "title":
        return f"{rng.choice(TITLE_WORDS)} {' '.join(words)}"
    raise ValueError(kind)


def _evidence(entity: Entity) -> tuple[str | None, str | None]:
    """The entity's first birth date (or year) and nationality, as a customer record has them."""
    born = next(
        (b.date or (str(b.from_year) if b.from_year else None) for b in entity.birth_dates), None
    )
    return born, (entity.nationalities[0] if entity.nationalities else None)


# --- CJK ---------------------------------------------------------------------------------

# Traditional <-> Simplified for the characters of the listed CJK names (both ways).
_TRAD_SIMP = dict(
    pair
    for t, s in zip(
        "國華長際運團湯務鮮聯機貿鐵術創產業從視雲圖開發",
        "国华长际运团汤务鲜联机贸铁术创产业从视云图开发",
        strict=True,
    )
    for pair in ((t, s), (s, t))
)
_CJK_LEGAL = ("股份有限公司", "有限公司", "会社", "會社")
# McCune-Reischauer syllables of the UN's Korean names, in Hangul (the lists carry none).
_KO_SURNAMES = {
    "kim": "김", "ri": "리", "pak": "박", "choe": "최", "cho": "조", "jo": "조", "jang": "장",
    "chang": "장", "han": "한", "hwang": "황", "hyon": "현", "jon": "전", "kang": "강",
    "ko": "고", "ku": "구", "min": "민", "mun": "문", "pae": "배", "paek": "백", "ra": "라",
    "ryu": "류", "son": "손", "yu": "유", "yun": "윤", "yon": "연", "chu": "주",
}  # fmt: skip
_KO_SYLLABLES = {
    "bom": "범", "bong": "봉", "byong": "병", "chol": "철", "chul": "철", "chae": "채",
    "chang": "창", "chin": "진", "chong": "정", "chu": "주", "chun": "춘", "gon": "건",
    "guk": "국", "ha": "하", "han": "한", "ho": "호", "hong": "홍", "hun": "훈", "hwa": "화",
    "hwan": "환", "hwi": "휘", "hyok": "혁", "hyon": "현", "hyong": "형", "il": "일",
    "ja": "자", "jae": "재", "je": "제", "jin": "진", "jong": "종", "jung": "중", "kil": "길",
    "kwang": "광", "kyong": "경", "kyu": "규", "man": "만", "min": "민", "mu": "무",
    "mun": "문", "myong": "명", "nam": "남", "ok": "옥", "ro": "로", "ryong": "룡",
    "sam": "삼", "san": "산", "se": "세", "sik": "식", "sok": "석", "son": "선", "song": "성",
    "sop": "섭", "su": "수", "sung": "성", "tae": "태", "to": "도", "tong": "동", "u": "우",
    "uk": "욱", "ung": "웅", "un": "은", "won": "원", "yong": "용", "yon": "연", "yu": "유",
    "cho": "조", "sin": "신", "hui": "희", "chol'": "철",
}  # fmt: skip


def is_cjk(text: str) -> bool:
    return any(unicodedata.name(c, "").startswith(("CJK", "HANGUL", "HIRAGANA", "KATAKANA"))
               for c in text)  # fmt: skip


def hangul(name: str) -> str | None:
    """A romanised Korean name (KIM CHOL SAM, RI JE-SON) in Hangul, as Koreans write it
    (김철삼), or None when a syllable is not in the table."""
    words = [re.sub(r"[’'`]", "", w).lower() for w in re.split(r"[\s-]+", name) if w]
    if len(words) < 2 or words[0] not in _KO_SURNAMES:
        return None
    rest = [_KO_SYLLABLES.get(w) for w in words[1:]]
    if any(r is None for r in rest):
        return None
    return _KO_SURNAMES[words[0]] + "".join(r for r in rest if r)


_CJK_RUN = r"[\u3000-\u9fff\uac00-\ud7af（）]+(?:\([\u3000-\u9fff]+\)[\u3000-\u9fff]+)?"


def cjk_variants(name: str) -> list[str]:
    """A listed CJK name as it is also written: the other character set (Traditional /
    Simplified), spaced out, without its legal form or its bracketed part."""
    converted = "".join(_TRAD_SIMP.get(c, c) for c in name)
    core = name
    for form in _CJK_LEGAL:
        if core.endswith(form) and len(core) > len(form) + 1:
            core = core[: -len(form)]
            break
    out = [name, converted, " ".join(name.replace(" ", "")), core,
           "".join(_TRAD_SIMP.get(c, c) for c in core),
           re.sub(r"[(（][^)）]*[)）]", "", name)]  # fmt: skip
    return list(dict.fromkeys(v for v in out if v.strip()))


def cjk_cases(lists: dict[str, list[Entity]]) -> list[Case]:
    """CJK queries: against listed CJK names (cjk_script) and, in Hangul, against Korean
    people the lists carry only in romanised form (cjk_against_romanised)."""
    cases: list[Case] = []
    for e in sorted((e for es in lists.values() for e in es), key=lambda e: e.id):
        qtype = "person" if e.schema == "person" else "entity"
        for listed in e.names:
            found = re.findall(_CJK_RUN, listed.full)
            for script_name in (f for f in found if is_cjk(f)):
                for v in cjk_variants(script_name):
                    cases.append(Case("cjk_script", v, qtype, e.id, e.source))
        if e.schema == "person" and not any(is_cjk(n.full) for n in e.names):
            ko = hangul(e.primary_name)
            if ko and e.reference.startswith("KP"):
                cases.append(Case("cjk_against_romanised", ko, "person", e.id, e.source))
    return cases


_ZH_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐韩冯邓曹彭"
_ZH_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚华慧兰红建国浩宇欣婷博凯瑞志文鹏飞琳云东"


def cjk_pairs(lists: dict[str, list[Entity]], seed: int) -> tuple[list[Entity], list[Case]]:
    """Names of three CJK characters and, for each, a query that differs in one character:
    another person, who must not raise an alert. The listed side is the Hangul form of the
    UN's three-syllable Korean names and seeded Chinese names; it is screened in an index of
    its own (the lists carry almost no three-character CJK names)."""
    rng = random.Random(f"{seed}:cjk_pairs")
    listed: dict[str, str] = {}
    for e in sorted(lists.get("un", []), key=lambda e: e.id):
        ko = hangul(e.primary_name) if e.reference.startswith("KP") else None
        if ko and len(ko) == 3:
            listed.setdefault(ko, e.id)
    while len(listed) < 120:
        zh = rng.choice(_ZH_SURNAMES) + "".join(rng.sample(_ZH_GIVEN, 2))
        listed.setdefault(zh, f"zh-{len(listed)}")
    entities = [
        Entity(id=f"cjk:{i}", source="cjk", schema="person", reference=str(i),
               names=(Name(full=n, kind="primary"),))
        for i, n in enumerate(sorted(listed))
    ]  # fmt: skip
    ko_chars = sorted(set(_KO_SYLLABLES.values()))
    cases: list[Case] = []
    for name in sorted(listed):
        alphabet = ko_chars if "\uac00" <= name[0] <= "\ud7af" else list(_ZH_GIVEN)
        for _ in range(10):
            k = rng.randrange(3)
            if k == 0 and alphabet is ko_chars:
                other = rng.choice(sorted(set(_KO_SURNAMES.values())))
            elif k == 0:
                other = rng.choice(_ZH_SURNAMES)
            else:
                other = rng.choice(alphabet)
            changed = name[:k] + other + name[k + 1 :]
            if changed not in listed:
                cases.append(Case("cjk_one_character_of_three", changed, "person", None, ""))
                break
    return entities, cases


_KANA_V = "aiueo"  # the order of the rows below
_KANA_ROWS = {
    "": "アイウエオ",
    "k": "カキクケコ",
    "g": "ガギグゲゴ",
    "s": "サシスセソ",
    "z": "ザジズゼゾ",
    "t": ("タ", "ティ", "トゥ", "テ", "ト"),
    "d": ("ダ", "ディ", "ドゥ", "デ", "ド"),
    "n": "ナニヌネノ",
    "h": "ハヒフヘホ",
    "b": "バビブベボ",
    "p": "パピプペポ",
    "m": "マミムメモ",
    "y": ("ヤ", "イ", "ユ", "イェ", "ヨ"),
    "r": "ラリルレロ",
    "w": ("ワ", "ウィ", "ウ", "ウェ", "ウォ"),
    "f": ("ファ", "フィ", "フ", "フェ", "フォ"),
    "v": ("ヴァ", "ヴィ", "ヴ", "ヴェ", "ヴォ"),
    "sh": ("シャ", "シ", "シュ", "シェ", "ショ"),
    "ch": ("チャ", "チ", "チュ", "チェ", "チョ"),
    "j": ("ジャ", "ジ", "ジュ", "ジェ", "ジョ"),
    "ts": ("ツァ", "ツィ", "ツ", "ツェ", "ツォ"),
}
# Latin letters and digraphs as the row Japanese writes them in (Khalid ハーリド, Ghani ガニ,
# Thabit サービト, Dhahabi ザハビ, l as r).
_KANA_AS = {
    "q": "k",
    "c": "k",
    "ck": "k",
    "kh": "h",
    "gh": "g",
    "th": "s",
    "dh": "z",
    "ph": "f",
    "zh": "j",
    "dj": "j",
    "dzh": "j",
    "tch": "ch",
    "sch": "sh",
    "l": "r",
    "x": "ks",
}
# A consonant no vowel follows: the syllable Japanese writes it with.
_KANA_CODA = {
    "n": "ン",
    "m": "ム",
    "t": "ト",
    "d": "ド",
    "k": "ク",
    "g": "グ",
    "s": "ス",
    "z": "ズ",
    "sh": "シュ",
    "ch": "チ",
    "j": "ジ",
    "f": "フ",
    "v": "ヴ",
    "b": "ブ",
    "p": "プ",
    "r": "ル",
    "h": "フ",
    "y": "イ",
    "w": "ウ",
    "ts": "ツ",
}
_KANA_UNITS = (
    "dzh",
    "sch",
    "tch",
    "kh",
    "gh",
    "sh",
    "ch",
    "zh",
    "dj",
    "th",
    "dh",
    "ph",
    "ts",
    "ck",
)


def katakana_word(word: str) -> str:
    """A Latin name word in katakana as Japanese press writes foreign names: a consonant
    no vowel follows with the syllable Japan gives it (Omar オマル, Abd アブド), a doubled one
    with the small tsu (Haqqani ハッカニ), a long vowel with the bar (Saeed サイード)."""
    w = re.sub(r"[^a-z]", "", word.lower())
    w = w.replace("ee", "ii").replace("oo", "uu").replace("ou", "uu")  # English spellings of ī, ū
    out: list[str] = []
    i = 0
    while i < len(w):
        unit = next((u for u in _KANA_UNITS if w.startswith(u, i)), w[i])
        i += len(unit)
        if unit in _KANA_V:
            out.append(_KANA_ROWS[""][_KANA_V.index(unit)])
            if i < len(w) and w[i] == unit:  # aa, ii: a long vowel
                out.append("ー")
                i += 1
            continue
        row = _KANA_AS.get(unit, unit)
        if row == "ks":
            out.append("ク")
            row = "s"
        if i < len(w) and w[i] == unit[-1] and len(unit) == 1 and i + 1 < len(w):
            # A doubled consonant: Sayyid サイイド, Muhammad ムハンマド, Haqqani ハッカニ.
            out.append({"y": "イ", "w": "ウ", "h": "", "n": "ン", "m": "ン"}.get(row, "ッ"))
            i += 1
        if row == "y" and not (i < len(w) and w[i] in _KANA_V):
            out.append("イ")
            continue
        if row == "w" and not (i < len(w) and w[i] in _KANA_V):
            out.append("ウ")
            continue
        if i < len(w) and w[i] in _KANA_V:
            out.append(_KANA_ROWS[row][_KANA_V.index(w[i])])
            i += 1
            if i < len(w) and w[i] == w[i - 1]:
                out.append("ー")
                i += 1
        elif row == "h" and unit == "h" and i == len(w) and out:
            out.append("ー")  # Abdullah, Fatimah: the final h lengthens the vowel
        elif row in ("m", "n") and i < len(w) and w[i] in "bpm":
            out.append("ン")
        else:
            out.append(_KANA_CODA.get(row, "ウ"))
    return "".join(out)


def katakana(name: str) -> str | None:
    """A Latin name in katakana, its parts joined by the middle dot and the article by the
    double hyphen (Aiman al-Zawahiri: アイマン・アル＝ザワヒリ). Written here, by these
    conventions, not taken from Japanese sources: the family measures the reading of
    katakana, not the knowledge of how Japan wrote each listed person."""
    words = [w for w in re.split(r"[\s\-]+", name) if w]
    out: list[str] = []
    article = False
    for word in words:
        low = word.lower().strip("'’`")
        if low in ("al", "el", "ul"):
            article = True
            continue
        kana = katakana_word(low)
        if not kana:
            return None
        out.append(("アル＝" if article else "") + kana)
        article = False
    return "・".join(out) if out else None


def typed_set(lists: dict[str, list[Entity]], seed: int) -> list[Case]:
    """At least 50 cases per kind of `FAMILIES` (120 where the lists allow) from real list
    names, and unlisted people written the same ways (negatives). Each family draws from a
    random stream of its own, so a family's cases do not move when another one changes."""
    cases: list[Case] = []
    everyone = sorted(
        (e for es in lists.values() for e in es if not is_arabic(e.primary_name)),
        key=lambda e: e.id,
    )
    persons = [e for e in everyone if e.schema == "person"]
    firms = [e for e in everyone if e.schema != "person"]
    for kind in FAMILIES:
        rng = random.Random(f"{seed}:{kind}")
        if kind.startswith("cjk_"):
            continue  # below
        if kind == "number_words":  # every name: the lists hold only a few dozen numbers
            for entity in everyone:
                for listing in (n for n in entity.names if len(n.full.split()) <= 6):
                    for name in number_variants(listing.full):
                        cases.append(Case(kind, name, None, entity.id, entity.source))
            continue
        if kind == "katakana":  # Latin names; Korean and Chinese ones Japan writes otherwise
            pool = [
                e for e in persons
                if e.primary_name.isascii() and not e.reference.startswith("KP")
            ]  # fmt: skip
            for entity in rng.sample(pool, min(PER_KIND, len(pool))):
                kana = katakana(entity.primary_name)
                if kana:
                    cases.append(Case(kind, kana, "person", entity.id, entity.source))
            continue
        pool = firms if kind == "legal_form_foreign" else persons
        made = 0
        for entity in rng.sample(pool, len(pool)):
            typed = as_typed(kind, entity, rng)
            if typed is None:
                continue
            if kind == "hyphen_initials":  # few names have one: two styles of each
                again = as_typed(kind, entity, rng)
                if again and again != typed:
                    cases.append(Case(kind, again, "person", entity.id, entity.source))
                    made += 1
            name = typed
            qtype = "person" if entity.schema == "person" else "entity"
            born, nationality = _evidence(entity)
            if kind == "first_and_last_with_evidence":
                case = Case(kind, name, qtype, entity.id, entity.source, False, born, nationality)
            else:
                case = Case(kind, name, qtype, entity.id, entity.source)
            cases.append(case)
            made += 1
            if made == PER_KIND:
                break
    cases += cjk_cases(lists)
    rng = random.Random(seed + 17)
    listed = {frozenset(fold(n.full).split()) for e in everyone for n in e.names}
    made = 0
    while made < 4 * PER_KIND:
        given, surname = rng.choice(GIVEN), rng.choice(SURNAMES)
        if frozenset(fold(f"{given} {surname}").split()) in listed:
            continue
        roll = rng.random()
        if roll < 0.4:
            name, kind = f"{given}{surname}", "not_listed_person_joined"
        elif roll < 0.6:
            name, kind = f"{given}{surname}".upper(), "not_listed_person_joined"
        elif roll < 0.8:
            name = f"{given[0]}{rng.choice(GIVEN)[0]} {surname}".upper()
            kind = "not_listed_person_dotless_initials"
        else:
            name, kind = f"{rng.choice(TITLE_WORDS)} {given} {surname}", "not_listed_person_title"
        cases.append(Case(kind, name, "person", None, ""))
        made += 1
    return cases


def without_original_names(lists: dict[str, list[Entity]]) -> dict[str, list[Entity]]:
    return {
        src: [replace(e, names=tuple(n for n in e.names if not is_arabic(n.full))) for e in ents]
        for src, ents in lists.items()
    }


# --- scoring ---------------------------------------------------------------------------


def same_person(lists: dict[str, list[Entity]]) -> Callable[[str, str], bool]:
    """True when two entity ids share one exact folded name (duplicate listings)."""
    names: dict[str, set[str]] = {}
    for entities in lists.values():
        for e in entities:
            names[e.id] = {" ".join(sorted(fold(n.full).split())) for n in e.names}

    def check(a: str, b: str) -> bool:
        return a == b or bool(names.get(a, set()) & names.get(b, set()))

    return check


Screen = Callable[[Case, float], list[tuple[str, float]]]


def evaluate(
    cases: Sequence[Case], screen: Screen, same: Callable[[str, str], bool], threshold: float
) -> dict[str, Any]:
    """Recall by kind, false-positive rate by kind, precision, score calibration."""
    per_kind: dict[str, Counter[str]] = defaultdict(Counter)
    bins: dict[str, Counter[str]] = defaultdict(Counter)
    sweep: dict[float, Counter[str]] = defaultdict(Counter)
    grid = [round(0.6 + 0.05 * i, 2) for i in range(8)]
    for case in cases:
        hits = screen(case, min(grid))
        counter = per_kind[case.kind]
        counter["queries"] += 1
        for t in grid:
            above = [(eid, s) for eid, s in hits if s >= t]
            good = sum(1 for eid, _ in above if case.target and same(case.target, eid))
            sweep[t]["alerts"] += len(above)
            sweep[t]["correct"] += good
            if case.target:
                sweep[t]["positives"] += 1
                sweep[t]["found"] += bool(good)
            else:
                sweep[t]["negatives"] += 1
                sweep[t]["negatives_alerted"] += bool(above)
        for eid, s in hits:
            b = f"{min(int(s * 20) / 20, 0.95):.2f}"
            bins[b]["matches"] += 1
            bins[b]["correct"] += bool(case.target and same(case.target, eid))
        above = [(eid, s) for eid, s in hits if s >= threshold]
        if case.target:
            found = any(same(case.target, eid) for eid, _ in above)
            counter["found"] += found
            counter["other_alerts"] += sum(1 for eid, _ in above if not same(case.target, eid))
        else:
            counter["alerted"] += bool(above)
    recall = {
        k: round(c["found"] / c["queries"], 4)
        for k, c in sorted(per_kind.items())
        if "found" in c or k in {cs.kind for cs in cases if cs.target}
    }
    fpr = {
        k: round(c["alerted"] / c["queries"], 4)
        for k, c in sorted(per_kind.items())
        if k in {cs.kind for cs in cases if not cs.target}
    }
    at = sweep[min(sweep, key=lambda t: abs(t - threshold))]
    return {
        "threshold": threshold,
        "recall": _ratio(at["found"], at["positives"]),
        "false_positive_rate": _ratio(at["negatives_alerted"], at["negatives"]),
        "precision": _ratio(at["correct"], at["alerts"]),
        "recall_by_kind": recall,
        "false_positive_rate_by_kind": fpr,
        "queries_by_kind": {k: c["queries"] for k, c in sorted(per_kind.items())},
        "other_entity_alerts_on_positive_queries": sum(
            c["other_alerts"] for c in per_kind.values()
        ),
        "threshold_sweep": {
            f"{t:.2f}": {
                "recall": _ratio(c["found"], c["positives"]),
                "false_positive_rate": _ratio(c["negatives_alerted"], c["negatives"]),
                "precision": _ratio(c["correct"], c["alerts"]),
            }
            for t, c in sorted(sweep.items())
        },
        "calibration": {
            b: {"matches": c["matches"], "share_correct": _ratio(c["correct"], c["matches"])}
            for b, c in sorted(bins.items())
        },
    }


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def listd_screen(index: ScreeningIndex, cross: ScreeningIndex) -> Screen:
    def screen(case: Case, threshold: float) -> list[tuple[str, float]]:
        ix = cross if case.cross_script else index
        query = Query(
            case.name,
            type=case.type,
            threshold=threshold,
            limit=20,
            birth_date=case.birth_date,
            nationality=case.nationality,
        )
        found = ix.screen(query)
        return [(m.entity.id, m.score) for m in found]

    return screen


def nomenklatura_screen(
    lists: dict[str, list[Entity]], index: ScreeningIndex, cross: ScreeningIndex
) -> Screen | None:
    """logic-v2 over our loose candidates plus the target; None if not installed."""
    try:
        from followthemoney import model as ftm_model
        from nomenklatura.matching import get_algorithm
        from nomenklatura.matching.types import ScoringConfig
    except ImportError:
        return None
    algorithm = get_algorithm("logic-v2")
    if algorithm is None:
        return None
    config = ScoringConfig.defaults()
    by_id = {e.id: e for ents in lists.values() for e in ents}
    plain = {e.id: e for ents in without_original_names(lists).values() for e in ents}
    proxies: dict[tuple[str, bool], Any] = {}
    serial = itertools.count()

    def proxy(entity: Entity, cross_script: bool) -> Any:
        key = (entity.id, cross_script)
        if key not in proxies:
            schema = "Person" if entity.schema == "person" else "Organization"
            p = ftm_model.make_entity(schema)
            p.id = entity.id.replace(":", "-")
            p.add("name", [n.full for n in entity.names])
            if entity.schema == "person":
                p.add("birthDate", [b.date for b in entity.birth_dates if b.date])
            proxies[key] = p
        return proxies[key]

    def screen(case: Case, threshold: float) -> list[tuple[str, float]]:
        ix = cross if case.cross_script else index
        pool = {m.entity.id for m in ix.screen(Query(case.name, threshold=0.3, limit=30))}
        if case.target:
            pool.add(case.target)
        q = ftm_model.make_entity("Person" if case.type == "person" else "LegalEntity")
        # A fresh id per query: logic-v2 caches what it derives from an entity by its id.
        q.id = f"query-{next(serial)}"
        q.add("name", case.name)
        out: list[tuple[str, float]] = []
        for eid in sorted(pool):
            entity = (plain if case.cross_script else by_id)[eid]
            result = algorithm.compare(q, proxy(entity, case.cross_script), config)
            if result.score >= threshold:
                out.append((eid, float(result.score)))
        return out

    return screen


# --- 50,000 unlisted people of many naming cultures -----------------------------------------

# Name parts per culture: (male given, female given, surnames, how a name is put together).
# Surnames ending in -ov/-ev/-in take -a for women where the culture does.
CULTURES: dict[str, dict[str, str]] = {
    "kazakh": {
        "male": "Aidos Aibek Almas Arman Arsen Askar Azamat Baurzhan Bekzat Dauren Dias Erlan "
        "Galym Kairat Kanat Marat Meiram Nurlan Olzhas Rustem Sanzhar Serik Talgat Yerbol "
        "Zhandos Abylai Dastan Yerkebulan Temirlan Nursultan",
        "female": "Aigerim Aizhan Akbota Aliya Ainur Botagoz Dana Dinara Gaukhar Kamila Madina "
        "Saule Togzhan Zhanar Zarina Nazerke Symbat Aruzhan Moldir Ayaulym",
        "surnames": "Abenov Akhmetov Alimbekov Baimukhanov Bekov Dzhaksybekov Ermekov Ibraev "
        "Kassymov Mukanov Nurpeisov Sadykov Seitkaliyev Suleimenov Tulegenov Zhumabayev "
        "Zhakupov Serikbayev Amanov Yessenov Abdrakhmanov Kenzhebekov Tokhtarov Utepov "
        "Zhunusov Sarsenbayev Iskakov Baibolov Kaliyev Nurmagambetov Tazhibayev Yerzhanov "
        "Kuanyshev Shaimerdenov Tleuov Dosmukhamedov Zhanibekov Beisenov Myrzakhmetov Orazbayev",
    },
    "russian": {
        "male": "Alexei Alexander Andrei Anton Boris Denis Dmitry Evgeny Fyodor Gennady Grigory "
        "Igor Ilya Ivan Kirill Konstantin Leonid Maxim Mikhail Nikita Nikolai Oleg Pavel Roman "
        "Semyon Sergei Stanislav Vadim Valery Viktor Vladimir Vyacheslav Yaroslav Yuri",
        "female": "Alina Anastasia Anna Daria Ekaterina Elena Galina Irina Ksenia Larisa "
        "Lyudmila Marina Natalia Olga Polina Svetlana Tatiana Valentina Vera Yulia",
        "surnames": "Alekseev Belov Bogdanov Bykov Vasiliev Vinogradov Volkov Gavrilov Golubev "
        "Grigoriev Egorov Zaitsev Ivanov Kiselev Kovalev Kozlov Komarov Kuznetsov Lebedev "
        "Makarov Mironov Morozov Nikitin Novikov Orlov Pavlov Petrov Popov Semenov Smirnov "
        "Sokolov Sorokin Stepanov Tarasov Fedorov Frolov Yakovlev Zhukov Belyaev Gusev Titov "
        "Kudryavtsev Baranov Kulikov Nikolaev Osipov Shcherbakov Danilov Zhuravlev Sobolev",
    },
    "uzbek": {
        "male": "Abdulla Akmal Alisher Anvar Azizbek Bahodir Bekzod Botir Dilshod Doniyor Farhod "
        "Jahongir Javlon Jasur Otabek Rustam Sardor Sherzod Ulugbek Xurshid Shuhrat Sanjar "
        "Nodir Oybek Zafar Sarvar Jamshid Ilhom",
        "female": "Dilnoza Feruza Gulnora Malika Nigora Nilufar Shahnoza Mohira Xurshida "
        "Sevara Yulduz Gulchehra Kamola Dildora Zuhra Munisa",
        "surnames": "Abdullayev Azimov Ergashev Ismoilov Jurayev Mirzayev Nazarov Normatov "
        "Qodirov Rahimov Rasulov Saidov Salimov Sharipov Tursunov Usmonov Xolmatov Yoldoshev "
        "Zokirov Toshmatov Ganiyev Qosimov Islomov Hamidov Mahmudov Nurmatov Umarov Xasanov "
        "Boboyev Raximov Sobirov Haydarov Qurbonov Ochilov",
    },
    "arabic": {
        "male": "Abdullah Abdulrahman Adel Ahmed Ali Amir Amr Anas Ayman Bilal Fadi Faisal Hamza "
        "Hassan Hussein Ibrahim Issa Jamal Karim Khaled Mahmoud Majed Mansour Marwan Mohammed "
        "Mostafa Nabil Nasser Omar Osama Qasim Rami Saeed Salem Sami Samir Tareq Waleed Yaser "
        "Yousef Ziad",
        "female": "Aisha Amal Dalia Fatima Hala Hanan Huda Layla Lina Mariam Mona Nadia Noura "
        "Rania Reem Salma Samira Yasmin Zainab Rasha",
        "surnames": "Abbas Abdelaziz Al-Amin Al-Hashimi Al-Khatib Al-Masri Al-Najjar Al-Sayed "
        "Al-Shami Al-Tamimi Aziz Bakr Darwish Farah Ghanem Haddad Hamdan Harb Jaber "
        "Kanaan Khalil Khoury Nassar Qasem Sabbagh Shaheen Suleiman Taha Yassin Zaki "
        "Barakat Daoud Awad Hijazi Kassab Odeh Haddadin Masri Nabulsi Jabari",
    },
    "persian": {
        "male": "Ali Amir Arash Babak Bahram Behnam Dariush Ehsan Farhad Farid Hamid Hossein "
        "Kamran Kaveh Kourosh Mahdi Majid Masoud Mehran Mohsen Morteza Nima Omid Payam Pouya "
        "Reza Saeed Siamak Vahid Shahin",
        "female": "Azadeh Bahar Fariba Golnaz Laleh Leila Mahsa Maryam Mina Nasrin Neda Parisa "
        "Roya Sara Shirin Taraneh Yasaman Zahra Elham Niloufar",
        "surnames": "Ahmadi Akbari Alavi Amini Asadi Bagheri Ebrahimi Esfandiari Farahani "
        "Ghorbani Hashemi Hosseini Jafari Kazemi Karimi Khalili Mahmoudi Moradi Mousavi Najafi "
        "Rahimi Rezaei Sadeghi Salehi Shirazi Sohrabi Tabrizi Tehrani Yazdani Heidari Nouri "
        "Golzari Daneshvar Mirzaei Pourmand Rostami Kermani Esfahani Hamedani Ghaffari",
    },
    "turkish": {
        "male": "Ahmet Ali Burak Can Cem Deniz Emre Emir Eren Furkan Hakan Hasan Hüseyin İbrahim "
        "Kemal Mehmet Murat Mustafa Oğuz Okan Onur Osman Serkan Tolga Uğur Yusuf Barış Volkan",
        "female": "Ayşe Büşra Derya Ebru Elif Emine Esra Fatma Gül Hatice Merve Özlem Selin Sevgi "
        "Zeynep Cansu Damla Tuğba Gizem Pınar",
        "surnames": "Acar Akın Aksoy Altun Arslan Aydın Bulut Çelik Çetin Demir Doğan Erdem Güler "
        "Güneş Kaplan Kara Kaya Keskin Koç Korkmaz Kurt Özdemir Öztürk Polat Sarı Şahin "
        "Şimşek Tekin Turan Uçar Yavuz Yıldırım Yıldız Yılmaz Yücel Aslan Bozkurt Ekinci "
        "Karaca Özkan",
    },
    "chinese": {  # pinyin surname and given syllables; the Hanzi are below
        "male": "Wei Qiang Lei Jun Yang Yong Jie Tao Ming Chao Gang Hua Jian Guo Hao Yu Bo Kai "
        "Rui Zhi Wen Peng Fei Dong",
        "female": "Fang Na Min Jing Li Yan Xiu Xia Ping Hui Lan Hong Xin Ting Lin Yun",
        "surnames": "Wang Li Zhang Liu Chen Yang Huang Zhao Wu Zhou Xu Sun Ma Zhu Hu Guo He Gao "
        "Lin Luo Zheng Liang Xie Song Tang Han Feng Deng Cao Peng",
    },
    "korean": {  # Revised Romanization
        "male": "Min Jun Seo Ji Hyun Woo Young Soo Jin Ho Sung Kyung Jae Dong Hoon Sang Won "
        "Seung Tae Hwan Chan Bin Kyu Sik Chul Yong",
        "female": "Eun Hee Yeon Hye Na Ha Mi Ah Da Ye Rin Seo Ji Yu",
        "surnames": "Kim Lee Park Choi Jung Kang Cho Yoon Jang Lim Han Oh Seo Shin Kwon Hwang "
        "Ahn Song Yoo Hong",
    },
    "european": {
        "male": "John Michael David James Robert William Thomas Peter Paul Mark Daniel George "
        "Richard Andrew Hans Klaus Jürgen Stefan Wolfgang Matthias Pierre Jean Louis François "
        "Philippe Marco Luca Giuseppe Francesco Piotr Tomasz Jan Lars Erik Sven Henrik Joost "
        "Pieter",
        "female": "Mary Sarah Emily Laura Emma Anna Sophie Julia Claire Katrin Sabine Ursula "
        "Camille Isabelle Nathalie Giulia Chiara Francesca Katarzyna Agnieszka Ingrid Astrid "
        "Sanne",
        "surnames": "Smith Johnson Williams Brown Jones Miller Davis Wilson Taylor Anderson "
        "Clark Walker Wright Green Baker Müller Schmidt Schneider Fischer Weber Meyer Wagner "
        "Becker Hoffmann Schulz Martin Bernard Dubois Durand Lefebvre Moreau Laurent Girard "
        "Bonnet Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco "
        "Kowalski Nowak Wiśniewski Wójcik Kamiński Jansen Visser Bakker Johansson Andersson "
        "Nilsson Larsen Hansen Berg",
    },
    "latin_american": {
        "male": "Alejandro Andrés Carlos Diego Eduardo Felipe Fernando Gabriel Jorge José Juan "
        "Luis Manuel Miguel Pablo Rafael Ricardo Santiago Sebastián Javier Emilio Mateo",
        "female": "Ana Camila Carolina Daniela Fernanda Gabriela Isabella Lucía María Mariana "
        "Paula Valentina Victoria Ximena Sofía Natalia Andrea Lorena Beatriz Rosa",
        "surnames": "García Rodríguez Martínez Hernández López González Pérez Sánchez Ramírez "
        "Torres Flores Rivera Gómez Díaz Reyes Morales Cruz Ortiz Gutiérrez Chávez Ramos Ruiz "
        "Mendoza Aguilar Vargas Castillo Jiménez Moreno Romero Herrera Medina Castro Vázquez "
        "Silva Rojas Navarro Guerrero Salazar Delgado Soto Ortega Cabrera Fuentes Carrillo "
        "Espinoza Valencia Campos Vega Ríos Núñez",
    },
}


def _script_table(latin: str, script: str) -> dict[str, str]:
    """Romanised syllables (space-separated) to their characters, one each, in order."""
    syllables = latin.split()
    assert len(syllables) == len(script), (len(syllables), len(script))
    return dict(zip(syllables, script, strict=True))


_HANZI = _script_table(
    "wang li zhang liu chen yang huang zhao wu zhou xu sun ma zhu hu guo he gao lin luo "
    "zheng liang xie song tang han feng deng cao peng",
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐韩冯邓曹彭",
)
_HANZI_GIVEN = _script_table(
    "wei qiang lei jun yang yong jie tao ming chao gang hua jian guo hao yu bo kai rui zhi "
    "wen peng fei dong fang na min jing li yan xiu xia ping hui lan hong xin ting lin yun",
    "伟强磊军洋勇杰涛明超刚华建国浩宇博凯瑞志文鹏飞东芳娜敏静丽艳秀霞平慧兰红欣婷琳云",
)
_HANGUL = _script_table(
    "kim lee park choi jung kang cho yoon jang lim han oh seo shin kwon hwang ahn song yoo "
    "hong min jun ji hyun woo young soo jin ho sung kyung jae dong hoon sang won seung tae "
    "hwan chan bin kyu sik chul yong eun hee yeon hye na ha mi ah da ye rin yu",
    "김이박최정강조윤장임한오서신권황안송유홍민준지현우영수진호성경재동훈상원승태환찬빈규식철용은희연혜나하미아다예린유",
)


def person_name(culture: str, rng: random.Random) -> str:
    """One unlisted person's full name as their culture writes it, seeded."""
    c = CULTURES[culture]
    female = rng.random() < 0.45
    given = rng.choice(c["female" if female else "male"].split())
    surname = rng.choice(c["surnames"].split())
    if (
        female
        and culture in ("kazakh", "russian", "uzbek")
        and surname.endswith(("ov", "ev", "in"))
    ):
        surname += "a"
    if culture in ("kazakh", "russian"):
        father = rng.choice(c["male"].split())
        roll = rng.random()
        if roll < 0.35:
            name = f"{surname} {given} {_patronymic(father, female, culture)}"
        elif roll < 0.7:
            name = f"{given} {surname}"
        else:
            name = f"{given} {_patronymic(father, female, culture)} {surname}"
        return latin_to_cyrillic(name) if rng.random() < 0.3 else name
    if culture == "uzbek":
        if rng.random() < 0.3:
            father = rng.choice(c["male"].split())
            return f"{surname} {given} {father} {'qizi' if female else 'o‘g‘li'}"
        return f"{given} {surname}"
    if culture == "arabic":
        father = rng.choice(c["male"].split())
        roll = rng.random()
        if roll < 0.4:
            return f"{given} {father} {surname}"
        if roll < 0.55:
            return f"{given} {'bint' if female else 'bin'} {father} {surname}"
        return f"{given} {surname}"
    if culture in ("persian", "turkish", "european"):
        if rng.random() < 0.2:
            second = rng.choice(c["female" if female else "male"].split())
            if second != given:
                return f"{given} {second} {surname}"
        return f"{given} {surname}"
    if culture == "latin_american":
        second = rng.choice(c["surnames"].split())
        return f"{given} {surname} {second}" if second != surname else f"{given} {surname}"
    syllables = c["female" if female else "male"].split()
    one, two = rng.choice(syllables), rng.choice(syllables)
    if culture == "chinese":
        if rng.random() < 0.25:
            return _HANZI[surname.lower()] + _HANZI_GIVEN[one.lower()] + _HANZI_GIVEN[two.lower()]
        return f"{surname} {one}{two.lower()}" if rng.random() < 0.6 else f"{surname} {one} {two}"
    if rng.random() < 0.25:  # korean
        return _HANGUL[surname.lower()] + _HANGUL[one.lower()] + _HANGUL[two.lower()]
    return (
        f"{surname} {one}-{two.lower()}" if rng.random() < 0.6 else f"{one}-{two.lower()} {surname}"
    )


def _patronymic(father: str, female: bool, culture: str) -> str:
    """Kazakh -uly/-kyzy after a father's name ending in a consonant, else the Russian form."""
    if culture == "kazakh" and father[-1] not in "aeiouy":
        return father + ("kyzy" if female else "uly")
    stem = father[:-1] if father.endswith(("i", "y", "a")) else father
    return stem + ("ovna" if female else "ovich")


_SKELETON_STEPS = (("dzh", "j"), ("kh", "h"), ("zh", "j"), ("sh", "s"), ("ch", "c"),
                   ("ph", "f"), ("ts", "c"), ("q", "k"), ("g", "k"), ("x", "h"), ("y", "i"),
                   ("j", "i"), ("w", "v"))  # fmt: skip


def skeleton(word: str) -> str:
    """A word with transliteration choices, vowels after the first letter and doubled
    letters taken out (Muhammad, Mohammed, MOKHAMMED → mhmd): names equal on this are
    treated as the same name when negatives are checked against the lists."""
    from anyascii import anyascii

    s = re.sub(r"[^a-z]", "", anyascii(fold(word)).lower())
    for a, b in _SKELETON_STEPS:
        s = s.replace(a, b)
    if not s:
        return ""
    s = s[0] + re.sub(r"[aeiou]", "", s[1:])
    return re.sub(r"(.)\1+", r"\1", s)


def name_skeleton(name: str) -> tuple[str, ...]:
    return tuple(sorted(k for k in (skeleton(w) for w in re.split(r"[\s,\-]+", name)) if k))


def joined_skeletons(name: str) -> tuple[str, str]:
    """The words' skeletons run together in order and in reverse order: Abdulrahman Yassin
    and ABDUL RAHMAN YASIN are one name written with and without a space."""
    words = [k for k in (skeleton(w) for w in re.split(r"[\s,\-]+", name)) if k]
    return "".join(words), "".join(reversed(words))


@dataclass
class ListedNames:
    """What a generated person is checked against before it counts as unlisted."""

    exact: set[frozenset[str]]
    near: set[tuple[str, ...]]
    first_last: set[tuple[str, ...]]
    joined: set[str]


def listed_names(entities: Sequence[Entity]) -> ListedNames:
    out = ListedNames(set(), set(), set(), set())
    for e in entities:
        for n in e.names:
            out.exact.add(frozenset(fold(n.full).split()))
            out.near.add(name_skeleton(n.full))
            out.joined.update(joined_skeletons(n.full))
            words = [w for w in re.split(r"[\s,]+", n.full) if w]
            if e.schema == "person" and 3 <= len(words) <= 4:
                # FIRST LAST and LAST FIRST of a FIRST SECOND THIRD LAST name: a partial
                # name of a listed person, which should alert (issue's partial names).
                out.first_last.add(name_skeleton(f"{words[0]} {words[-1]}"))
                out.first_last.add(name_skeleton(f"{words[0]} {words[1]}"))
    return out


def unlisted_people(
    n: int, seed: int, listed: ListedNames
) -> tuple[list[tuple[str, str]], Counter[str]]:
    """`n` distinct (culture, name) of people who are not listed, in equal shares per culture,
    and how many generated names were left out because the lists hold them (exact: the same
    words; near: the same consonant skeletons, word by word or run together; partial: the
    first and last, or first two, words of a listed name of three or four)."""
    rng = random.Random(f"{seed}:unlisted")
    cultures = sorted(CULTURES)
    seen: set[str] = set()
    people: list[tuple[str, str]] = []
    excluded: Counter[str] = Counter()
    while len(people) < n:
        culture = cultures[len(people) % len(cultures)]
        name = person_name(culture, rng)
        if name in seen:
            excluded["duplicate"] += 1
            continue
        seen.add(name)
        sk = name_skeleton(name)
        if frozenset(fold(name).split()) in listed.exact:
            excluded["exact"] += 1
        elif sk in listed.near or joined_skeletons(name)[0] in listed.joined:
            excluded["near"] += 1
        elif sk in listed.first_last:
            excluded["partial"] += 1
        else:
            people.append((culture, name))
    return people, excluded


def sdn_size_list(entries: int = 19_400) -> list[Entity]:
    """An SDN.XML-size OFAC list, made by bench/sync.py's generator (real entries, uids moved
    on), parsed by the OFAC scraper."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from sync import sdn_list  # bench/sync.py

    from listd.scrapers import ofac

    return list(ofac.parse(sdn_list(entries, "12/01/2026")))


# --- recall per kind and alert rate, listd and logic-v2 side by side -----------------------

GRID = tuple(round(0.6 + 0.05 * i, 2) for i in range(8))  # 0.60 .. 0.95
LOGIC_V2_THRESHOLD = 0.7  # the threshold this bench has always scored logic-v2 at


@dataclass(frozen=True)
class Scored:
    """A case's best score for its own entity (positives) and for any entity."""

    kind: str
    positive: bool
    own: float
    any: float


def _top(case: Case, hits: list[tuple[str, float]], same: Callable[[str, str], bool]) -> Scored:
    own = max((s for eid, s in hits if case.target and same(case.target, eid)), default=0.0)
    return Scored(case.kind, case.target is not None, own, max((s for _, s in hits), default=0.0))


def score_cases(
    cases: Sequence[Case], screen: Screen, same: Callable[[str, str], bool]
) -> list[Scored]:
    return [_top(c, screen(c, min(GRID)), same) for c in cases]


def listd_batch(index: ScreeningIndex, names: Sequence[str], floor: float) -> list[float]:
    """The best score of each unlisted person's name, screened as a person, in batches."""
    out: list[float] = []
    for start in range(0, len(names), 500):
        queries = [
            Query(n, type="person", threshold=floor, limit=1) for n in names[start : start + 500]
        ]
        out += [max((m.score for m in found), default=0.0) for found in index.screen_many(queries)]
    return out


def logic_v2() -> tuple[Any, Any, Any] | str:
    """(algorithm, config, model) of nomenklatura's logic-v2, or why it cannot run here."""
    try:
        from followthemoney import model as ftm_model
        from nomenklatura.matching import get_algorithm
        from nomenklatura.matching.types import ScoringConfig
    except ImportError as exc:
        return f"nomenklatura is not installed ({exc}); pip install -e '.[bench]'"
    algorithm = get_algorithm("logic-v2")
    if algorithm is None:
        return "this nomenklatura has no logic-v2 algorithm"
    return algorithm, ScoringConfig.defaults(), ftm_model


def logic_v2_screen(
    peer: tuple[Any, Any, Any], index: ScreeningIndex, extra: Sequence[Entity] = ()
) -> Screen:
    """logic-v2 over the candidates listd's index returns at a loose 0.3 (30 at most) plus the
    case's own entity: its recall is not limited by a blocking of its own, and it judges the
    same names listd's index would put in front of it."""
    algorithm, config, ftm_model = peer
    by_id = {e.id: e for e in extra}
    proxies: dict[str, Any] = {}
    serial = itertools.count()

    def proxy(entity: Entity) -> Any:
        if entity.id not in proxies:
            schema = "Person" if entity.schema == "person" else "Organization"
            p = ftm_model.make_entity(schema)
            p.id = re.sub(r"[^A-Za-z0-9.-]", "-", entity.id)
            p.add("name", [n.full for n in entity.names])
            if entity.schema == "person":
                p.add("birthDate", [b.date for b in entity.birth_dates if b.date])
                p.add("nationality", list(entity.nationalities))
            proxies[entity.id] = p
        return proxies[entity.id]

    def screen(case: Case, threshold: float) -> list[tuple[str, float]]:
        found = index.screen(Query(case.name, threshold=0.3, limit=30))
        pool = {m.entity.id: m.entity for m in found}
        if case.target and case.target not in pool and case.target in by_id:
            pool[case.target] = by_id[case.target]
        q = ftm_model.make_entity("Person" if case.type == "person" else "LegalEntity")
        q.id = f"query-{next(serial)}"  # logic-v2 caches what it derives by entity id
        q.add("name", case.name)
        if case.birth_date:
            q.add("birthDate", case.birth_date)
        if case.nationality:
            q.add("nationality", case.nationality)
        out: list[tuple[str, float]] = []
        for eid in sorted(pool):
            try:
                score = float(algorithm.compare(q, proxy(pool[eid]), config).score)
            except Exception:  # noqa: BLE001 - a peer's failure on one pair scores 0, counted
                score = 0.0
            if score >= threshold:
                out.append((eid, score))
        return out

    return screen


def _rates(scored: Sequence[Scored], t: float) -> tuple[dict[str, float], dict[str, float]]:
    found: dict[str, list[bool]] = defaultdict(list)
    alerted: dict[str, list[bool]] = defaultdict(list)
    for s in scored:
        (found if s.positive else alerted)[s.kind].append((s.own if s.positive else s.any) >= t)
    return (
        {k: round(sum(v) / len(v), 4) for k, v in found.items()},
        {k: round(sum(v) / len(v), 4) for k, v in alerted.items()},
    )


ALERT_RATE_GOAL = 0.005  # the alert rate on unlisted people the engine must stay under


def best_threshold(scored: Sequence[Scored], negatives: Sequence[float]) -> float:
    """The grid threshold with the highest mean recall over the kinds among those that keep
    the unlisted people's alert rate within `ALERT_RATE_GOAL` (the highest threshold of the
    grid if none does)."""

    def mean_recall(t: float) -> float:
        recall, _ = _rates(scored, t)
        return sum(recall.values()) / max(len(recall), 1)

    within = [t for t in GRID if (_share(negatives, t) or 0.0) <= ALERT_RATE_GOAL]
    return max(within, key=lambda t: (mean_recall(t), -t)) if within else GRID[-1]


def side_by_side(args: argparse.Namespace) -> dict[str, Any]:
    """Families, CJK pairs and the unlisted people, screened by listd and by logic-v2."""
    started = time.perf_counter()
    lists = load_lists()
    index = build_index(lists)
    same = same_person(lists)
    cases = [c for c in typed_set(lists, args.seed) if c.target]
    pair_entities, pair_cases = cjk_pairs(lists, args.seed)
    pair_index = build_index({"cjk": pair_entities})
    controls = [
        Case("cjk_three_characters_exact", n.full, "person", e.id, "cjk")
        for e in pair_entities
        for n in e.names
    ]
    sdn = sdn_size_list()
    neg_lists = {"un": lists["un"], "kz-afm-tf": lists["kz-afm-tf"], "ofac-sdn-size": sdn}
    neg_index = build_index(neg_lists)
    listed = listed_names([e for es in [*lists.values(), sdn] for e in es])
    people, excluded = unlisted_people(args.negatives, args.seed, listed)
    # The unlisted people with Latin names, in katakana: screened against the real lists
    # like the families (katakana loses l against r and the vowels' length).
    kana_people = [
        Case("katakana_unlisted", kana, "person", None, "")
        for _, name in people
        if name.isascii() and (kana := katakana(name))
    ][:KANA_UNLISTED]
    prepared = time.perf_counter()

    # listd, in process
    ours = score_cases(cases + kana_people, listd_screen(index, index), same)
    ours += score_cases(pair_cases + controls, listd_screen(pair_index, pair_index), same)
    t0 = time.perf_counter()
    neg_scores = listd_batch(neg_index, [n for _, n in people], min(GRID))
    neg_seconds = time.perf_counter() - t0

    result: dict[str, Any] = {
        "engine": "listd in process (ScreeningIndex.screen / screen_many); bench/screen.py "
        "measures the HTTP path",
        "seed": args.seed,
        "cases_fingerprint": fingerprint(cases + pair_cases + controls + kana_people),
        "negatives_fingerprint": fingerprint_names([n for _, n in people]),
        "lists": {s: len(e) for s, e in sorted(lists.items())},
        "negatives_lists": {s: len(e) for s, e in sorted(neg_lists.items())},
        # the SDN-size list repeats its template's entries: how many distinct primary names
        "negatives_lists_distinct": {
            s: len({x.primary_name for x in e}) for s, e in sorted(neg_lists.items())
        },
        "negatives": len(people),
        "negatives_excluded_as_listed": dict(sorted(excluded.items())),
        "listd": _summary(ours, neg_scores, people, DEFAULT_THRESHOLD),
        "listd_negatives_seconds": round(neg_seconds, 1),
    }
    result["listd"]["best_threshold"] = best = best_threshold(ours, neg_scores)
    if args.misses:
        listed_as = {e.id: e.primary_name for es in [*lists.values(), pair_entities] for e in es}
        result["listd"]["misses"] = misses(
            cases + kana_people + pair_cases + controls,
            ours,
            set(args.misses),
            DEFAULT_THRESHOLD,
            listed_as,
        )
    result["listd"]["at_best"] = _summary(ours, neg_scores, people, best)

    peer = "left out (--no-logic-v2)" if args.no_logic_v2 else logic_v2()
    if isinstance(peer, str):
        result["logic_v2"] = f"not run: {peer}"
    else:
        t0 = time.perf_counter()
        every = [e for es in lists.values() for e in es]
        theirs = score_cases(cases + kana_people, logic_v2_screen(peer, index, every), same)
        theirs += score_cases(
            pair_cases + controls, logic_v2_screen(peer, pair_index, pair_entities), same
        )
        sample = random.Random(f"{args.seed}:logic-v2").sample(
            people, min(args.logic_v2_negatives, len(people))
        )
        screen = logic_v2_screen(peer, neg_index)
        their_neg = [
            max((s for _, s in screen(Case("unlisted", n, "person", None, ""), 0.0)), default=0.0)
            for _, n in sample
        ]
        result["logic_v2"] = _summary(theirs, their_neg, sample, LOGIC_V2_THRESHOLD)
        result["logic_v2"]["version"] = _version("nomenklatura")
        result["logic_v2"]["best_threshold"] = best = best_threshold(theirs, their_neg)
        result["logic_v2"]["at_best"] = _summary(theirs, their_neg, sample, best)
        result["logic_v2_seconds"] = round(time.perf_counter() - t0, 1)
        # listd on the same sample of unlisted people, for a like-for-like row
        picked = {n for _, n in sample}
        ours_sample = [s for (_, n), s in zip(people, neg_scores, strict=True) if n in picked]
        result["listd"]["negatives_sample_alert_rate"] = _share(ours_sample, DEFAULT_THRESHOLD)
    result["prepare_seconds"] = round(prepared - started, 1)
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def misses(
    cases: Sequence[Case],
    scored: Sequence[Scored],
    kinds: set[str],
    t: float,
    listed_as: dict[str, str],
) -> list[dict[str, Any]]:
    """The cases of the given kinds (or "all") whose own entity scores under t."""
    return [
        {
            "kind": c.kind,
            "query": c.name,
            "target": c.target,
            "listed_as": listed_as.get(c.target or "", ""),
            "own": round(s.own, 3),
        }
        for c, s in zip(cases, scored, strict=True)
        if s.positive and s.own < t and ("all" in kinds or c.kind in kinds)
    ]


def _share(scores: Sequence[float], t: float) -> float | None:
    return round(sum(s >= t for s in scores) / len(scores), 5) if scores else None


def _summary(
    scored: Sequence[Scored],
    negatives: Sequence[float],
    people: Sequence[tuple[str, str]],
    t: float,
) -> dict[str, Any]:
    recall, alerted = _rates(scored, t)
    cultures: dict[str, list[float]] = defaultdict(list)
    for (culture, _), s in zip(people, negatives, strict=True):
        cultures[culture].append(s)
    counts = Counter(s.kind for s in scored)
    return {
        "threshold": t,
        "recall_by_kind": dict(sorted(recall.items())),
        "cases_by_kind": dict(sorted(counts.items())),
        "alert_rate_by_negative_kind": dict(sorted(alerted.items())),
        "negatives_alert_rate": _share(negatives, t),
        "negatives_alerted": sum(s >= t for s in negatives),
        "negatives_screened": len(negatives),
        "negatives_alert_rate_by_culture": {c: _share(v, t) for c, v in sorted(cultures.items())},
        "sweep": {
            f"{g:.2f}": {
                "mean_recall": round(sum(r.values()) / max(len(r), 1), 4),
                "negatives_alert_rate": _share(negatives, g),
            }
            for g in GRID
            for r in [_rates(scored, g)[0]]
        },
    }


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def fingerprint(cases: Sequence[Case]) -> str:
    """Identifies the case set: equal on two trees means the same cases were screened."""
    import hashlib

    text = "\n".join(f"{c.kind}\t{c.name}\t{c.target}\t{c.birth_date}" for c in cases)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fingerprint_names(names: Sequence[str]) -> str:
    import hashlib

    return hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]


def table(result: dict[str, Any]) -> str:
    """The side-by-side figures as a Markdown table."""
    ours = result["listd"]
    theirs = result["logic_v2"] if isinstance(result["logic_v2"], dict) else None
    head = [f"listd @{ours['threshold']:.2f}"]
    if theirs:
        head += [
            f"logic-v2 @{theirs['threshold']:.2f}",
            f"listd @best {ours['best_threshold']:.2f}",
            f"logic-v2 @best {theirs['best_threshold']:.2f}",
        ]
    rows = ["| kind | cases | " + " | ".join(head) + " |", "|---" * (2 + len(head)) + "|"]

    def cells(key: str, kind: str) -> list[str]:
        sides = [ours] + ([theirs, ours["at_best"], theirs["at_best"]] if theirs else [])
        return [_fmt(side[key].get(kind)) for side in sides]

    for kind, n in ours["cases_by_kind"].items():
        if kind in ours["recall_by_kind"]:
            rows.append(
                f"| {kind} (recall) | {n} | " + " | ".join(cells("recall_by_kind", kind)) + " |"
            )
    for kind, n in ours["cases_by_kind"].items():
        if kind in ours["alert_rate_by_negative_kind"]:
            rows.append(
                f"| {kind} (alert rate{', must be 0' if kind in MUST_NOT_ALERT else ''}) | {n} | "
                + " | ".join(cells("alert_rate_by_negative_kind", kind))
                + " |"
            )
    sides = [ours] + ([theirs, ours["at_best"], theirs["at_best"]] if theirs else [])
    neg = [f"{_pct(s['negatives_alert_rate'])} ({s['negatives_alerted']:,})" for s in sides]
    counts = f"{ours['negatives_screened']:,}" + (
        f" ({theirs['negatives_screened']:,} for logic-v2)" if theirs else ""
    )
    rows.append(f"| unlisted people, any alert | {counts} | " + " | ".join(neg) + " |")
    for culture in ours["negatives_alert_rate_by_culture"]:
        cell = [_pct(s["negatives_alert_rate_by_culture"].get(culture)) for s in sides]
        rows.append(f"| - {culture} | | " + " | ".join(cell) + " |")
    return "\n".join(rows)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f} %"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--per-source", type=int, default=250)
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument(
        "--side-by-side",
        action="store_true",
        help="the case families, CJK pairs and unlisted people, listd beside logic-v2, as a "
        "table (the JSON with --json FILE)",
    )
    parser.add_argument("--negatives", type=int, default=50_000, help="unlisted people")
    parser.add_argument(
        "--logic-v2-negatives",
        type=int,
        default=3_000,
        help="how many of the unlisted people logic-v2 screens (a seeded sample: it is slow)",
    )
    parser.add_argument("--json", type=Path, help="with --side-by-side: write the JSON here")
    parser.add_argument(
        "--no-logic-v2", action="store_true", help="listd only (about a minute less)"
    )
    parser.add_argument(
        "--misses",
        metavar="KIND",
        action="append",
        default=[],
        help="with --side-by-side: list listd's cases of this kind under the threshold (the "
        "query, the listed entity, its score; repeatable, 'all' for every kind)",
    )
    args = parser.parse_args(argv)
    if args.side_by_side:
        return side_by_side(args)
    started = time.perf_counter()
    lists = load_lists()
    index = build_index(lists)
    cross = build_index(without_original_names(lists))
    cases, positives = labelled_set(lists, args.seed, args.per_source)
    same = same_person(lists)
    result: dict[str, Any] = {
        "lists": {s: len(e) for s, e in sorted(lists.items())},
        "names_indexed": index.name_count,
        "queries": len(cases),
        "positive_queries": positives,
        "negative_queries": len(cases) - positives,
        "seed": args.seed,
        "listd": evaluate(cases, listd_screen(index, cross), same, args.threshold),
    }
    # The names-as-typed families, apart: the figures above stay comparable with earlier runs.
    typed = typed_set(lists, args.seed)
    result["listd_names_as_typed"] = evaluate(
        typed, listd_screen(index, cross), same, args.threshold
    )
    other = nomenklatura_screen(lists, index, cross)
    if other is None:
        result["nomenklatura_logic_v2"] = "not installed (pip install nomenklatura to compare)"
    else:
        result["nomenklatura_logic_v2"] = evaluate(cases, other, same, 0.7)
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def report(result: dict[str, Any]) -> str:
    """The side-by-side run as text: the table, then what it was measured on."""
    ours, theirs = result["listd"], result["logic_v2"]
    lines = [table(result), ""]
    for miss in ours.get("misses", []):
        lines.append(
            f"miss {miss['kind']}: {miss['query']!r} ~ {miss['listed_as']!r} "
            f"({miss['target']}) {miss['own']}"
        )
    if "misses" in ours:
        lines.append("")
    lines.append(f"engine: {result['engine']}")
    lines.append(
        f"cases {result['cases_fingerprint']}, unlisted people {result['negatives_fingerprint']} "
        f"(seed {result['seed']}; equal fingerprints = the same cases on another tree)"
    )
    lines.append(
        f"unlisted people: {result['negatives']:,} screened against "
        + ", ".join(
            f"{s} {n:,} ({result['negatives_lists_distinct'][s]:,} distinct names)"
            for s, n in result["negatives_lists"].items()
        )
        + " entities; generated names left out as listed: "
        + ", ".join(f"{k} {v:,}" for k, v in result["negatives_excluded_as_listed"].items())
    )
    if isinstance(theirs, dict):
        lines.append(
            f"logic-v2: nomenklatura {theirs['version']}, at {theirs['threshold']}, on listd's "
            f"candidates at 0.3 plus the case's own entity; unlisted people: a seeded sample of "
            f"{theirs['negatives_screened']:,} (listd on the same sample: "
            f"{_pct(ours['negatives_sample_alert_rate'])}); {result['logic_v2_seconds']} s"
        )
    else:
        lines.append(f"logic-v2: {theirs}")
    lines.append(
        f"best threshold = the highest mean recall over the kinds with the unlisted people's "
        f"alert rate at most {100 * ALERT_RATE_GOAL:.1f} %, on the grid "
        f"{GRID[0]:.2f}..{GRID[-1]:.2f}"
    )
    lines.append(
        f"seconds: {result['seconds']} in all ({result['prepare_seconds']} loading and "
        f"generating; listd's {result['negatives']:,} unlisted people "
        f"{result['listd_negatives_seconds']})"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    output = main()
    if "cases_fingerprint" in output:  # --side-by-side
        given = sys.argv[sys.argv.index("--json") + 1] if "--json" in sys.argv else None
        if given:
            Path(given).write_text(json.dumps(output, indent=2, ensure_ascii=False) + "\n")
        sys.stdout.write(report(output) + "\n")
    else:
        json.dump(output, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
