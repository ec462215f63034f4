"""Evidence beyond the name: birth date, identity documents and nationality.

Each function returns how much it moves the name score and a JSON-ready reason. The
effects are small and bounded except identifiers: a matching valid IIN/BIN or passport
number is decisive, a different IIN (a person has exactly one) all but rules a match out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from listd.model import Document, Entity
from listd.normalize import fold
from listd.normalize.kzid import check_bin, check_iin, iin_birth_date

BIRTH_EXACT = 0.06  # same full date
BIRTH_COMPATIBLE = 0.03  # same year (one side has only the year) or inside a listed range
BIRTH_SAME_YEAR_OTHER_DAY = -0.05
BIRTH_FAR = -0.1  # 2 to 4 years apart
BIRTH_VERY_FAR = -0.2  # 5 years or more apart
NATIONALITY_MATCH = 0.02
NATIONALITY_MISMATCH = -0.05
IDENTIFIER_DECISIVE = 1.0  # score of a match on a valid IIN/BIN
PASSPORT_DECISIVE = 0.97  # score of a match on a passport or national id number
IDENTIFIER_OTHER = 0.15  # tax or registration number: strong, not decisive
IIN_CONFLICT = -0.3
MAX_BONUS_BIRTH = BIRTH_EXACT
MAX_BONUS_NATIONALITY = NATIONALITY_MATCH

_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
# Cyrillic letters that look like Latin ones, as typed into document numbers.
_HOMOGLYPHS = str.maketrans("АВЕКМНОРСТУХавекмнорстух", "ABEKMHOPCTYXABEKMHOPCTYX")
_NOT_ALNUM = re.compile(r"[^0-9A-Z]")
_DECISIVE_TYPES = frozenset({"passport", "national_id"})
_KZ_TYPES = frozenset({"iin", "bin"})
MIN_IDENTIFIER = 6


def identifier_key(value: str) -> str:
    """Comparable form of a document number: Latin capitals and digits only."""
    return _NOT_ALNUM.sub("", value.translate(_HOMOGLYPHS).upper())


def kz_number(value: str) -> str | None:
    """ "iin" or "bin" when `value` is a well-formed Kazakh IIN/BIN, else None."""
    key = identifier_key(value)
    if len(key) != 12 or not key.isdigit():
        return None
    if check_iin(key)[0]:
        return "iin"
    if check_bin(key)[0]:
        return "bin"
    return None


def query_birth_date(birth_date: str | None, identifiers: tuple[str, ...]) -> str | None:
    """The query's birth date, or the one its IIN encodes."""
    if birth_date:
        return birth_date
    for value in identifiers:
        if kz_number(value) == "iin":
            return iin_birth_date(identifier_key(value))
    return None


@dataclass(frozen=True, slots=True)
class Effect:
    delta: float
    reason: dict[str, Any]
    decisive: float | None = None  # the score a decisive identifier match sets


def _parts(value: str) -> tuple[int, int | None, int | None] | None:
    m = _DATE.match(value)
    if m is None:
        return None
    return int(m.group(1)), _int(m.group(2)), _int(m.group(3))


def _int(value: str | None) -> int | None:
    return int(value) if value else None


def birth_effect(query_date: str, entity: Entity) -> Effect | None:
    """How the query's birth date moves the score; None when the list states none."""
    q = _parts(query_date)
    if q is None or not entity.birth_dates:
        return None
    best: tuple[float, str, str] | None = None
    for bd in entity.birth_dates:
        listed, found = _compare(q, bd.date, bd.from_year, bd.to_year, bd.approximate)
        if found is not None and (best is None or found[0] > best[0]):
            best = (found[0], found[1], listed)
    if best is None:
        return None
    delta, why, listed = best
    return Effect(delta, {"effect": delta, "query": query_date, "listed": listed, "reason": why})


def _compare(
    q: tuple[int, int | None, int | None],
    date: str | None,
    from_year: int | None,
    to_year: int | None,
    approximate: bool,
) -> tuple[str, tuple[float, str] | None]:
    year, month, day = q
    if date:
        listed = _parts(date)
        if listed is None:
            return date, None
        l_year, l_month, l_day = listed
        if l_year == year:
            if month is None or l_month is None or month == l_month:
                if day is not None and l_day is not None and day == l_day:
                    return date, (BIRTH_EXACT, "same date")
                if (day is None or l_day is None) and (month is None or l_month is None):
                    return date, (BIRTH_COMPATIBLE, "same year")
                if day is None or l_day is None:
                    return date, (BIRTH_COMPATIBLE, "same year and month")
            if (month, day) == (l_day, l_month):
                return date, (0.0, "same year, day and month swapped")
            return date, (BIRTH_SAME_YEAR_OTHER_DAY, "same year, different day")
        gap = abs(l_year - year)
    elif from_year is not None and to_year is not None:
        date = f"{from_year}-{to_year}"
        if from_year <= year <= to_year:
            return date, (BIRTH_COMPATIBLE, "within the listed range")
        gap = min(abs(from_year - year), abs(to_year - year))
    else:
        return "", None
    slack = 2 if approximate else 1
    if gap <= slack:
        return date, (0.0, f"{gap} year(s) apart: not counted")
    if gap < 5:
        return date, (BIRTH_FAR, f"{gap} years apart")
    return date, (BIRTH_VERY_FAR, f"{gap} years apart")


def identifier_effect(keys: tuple[str, ...], entity: Entity) -> Effect | None:
    """Matching or conflicting document numbers; `keys` are `identifier_key` forms."""
    if not keys or not entity.documents:
        return None
    query_iins = {k for k in keys if kz_number(k) == "iin"}
    listed_iins: set[str] = set()
    best: Effect | None = None
    for doc in entity.documents:
        number = identifier_key(doc.number)
        if doc.type == "iin" and doc.valid is not False:
            listed_iins.add(number)
        if len(number) < MIN_IDENTIFIER or number not in keys:
            continue
        effect = _document_match(doc, number)
        if best is None or _rank(effect) > _rank(best):
            best = effect
    if best is not None:
        return best
    if query_iins and listed_iins and not query_iins & listed_iins:
        return Effect(
            IIN_CONFLICT,
            {"effect": IIN_CONFLICT, "reason": "different IIN", "listed": sorted(listed_iins)},
        )
    return None


def _rank(effect: Effect) -> float:
    return effect.decisive if effect.decisive is not None else effect.delta


def _document_match(doc: Document, number: str) -> Effect:
    reason: dict[str, Any] = {"type": doc.type, "number": doc.number}
    if doc.type in _KZ_TYPES and doc.valid is not False and kz_number(number) == doc.type:
        reason |= {"effect": "decisive", "reason": f"same valid {doc.type.upper()}"}
        return Effect(0.0, reason, decisive=IDENTIFIER_DECISIVE)
    if doc.type in _DECISIVE_TYPES:
        label = doc.type_label or doc.type.replace("_", " ")
        reason |= {"effect": "decisive", "reason": f"same {label} number"}
        return Effect(0.0, reason, decisive=PASSPORT_DECISIVE)
    reason |= {"effect": IDENTIFIER_OTHER, "reason": f"same {doc.type_label or doc.type}"}
    return Effect(IDENTIFIER_OTHER, reason)


# A few spellings and ISO codes per country seen on the lists and in customer files.
_COUNTRIES: dict[str, tuple[str, ...]] = {
    "kazakhstan": ("kz", "kaz", "казахстан", "қазақстан", "republic of kazakhstan"),
    "russia": ("ru", "rus", "russian federation", "россия", "российская федерация", "ресей"),
    "kyrgyzstan": ("kg", "kgz", "kyrgyz republic", "киргизия", "кыргызстан", "қырғызстан"),
    "uzbekistan": ("uz", "uzb", "узбекистан", "өзбекстан"),
    "tajikistan": ("tj", "tjk", "таджикистан", "тәжікстан"),
    "turkmenistan": ("tm", "tkm", "туркменистан"),
    "azerbaijan": ("az", "aze", "азербайджан"),
    "georgia": ("ge", "geo", "грузия"),
    "armenia": ("am", "arm", "армения"),
    "ukraine": ("ua", "ukr", "украина", "україна"),
    "belarus": ("by", "blr", "беларусь", "белоруссия"),
    "china": ("cn", "chn", "китай", "қытай", "people's republic of china"),
    "afghanistan": ("af", "afg", "афганистан", "ауғанстан"),
    "pakistan": ("pk", "pak", "пакистан"),
    "iran": ("ir", "irn", "iran (islamic republic of)", "иран"),
    "iraq": ("iq", "irq", "ирак"),
    "syria": ("sy", "syr", "syrian arab republic", "сирия"),
    "turkey": ("tr", "tur", "turkiye", "türkiye", "турция"),
    "saudi arabia": ("sa", "sau", "саудовская аравия"),
    "yemen": ("ye", "yem", "йемен"),
    "egypt": ("eg", "egy", "египет"),
    "libya": ("ly", "lby", "ливия"),
    "tunisia": ("tn", "tun", "тунис"),
    "algeria": ("dz", "dza", "алжир"),
    "morocco": ("ma", "mar", "марокко"),
    "jordan": ("jo", "jor", "иордания"),
    "lebanon": ("lb", "lbn", "ливан"),
    "kuwait": ("kw", "kwt", "кувейт"),
    "qatar": ("qa", "qat", "катар"),
    "somalia": ("so", "som", "сомали"),
    "sudan": ("sd", "sdn", "судан"),
    "indonesia": ("id", "idn", "индонезия"),
    "philippines": ("ph", "phl", "филиппины"),
    "north korea": ("kp", "prk", "democratic people's republic of korea", "кндр"),
    "united kingdom": ("gb", "gbr", "uk", "united kingdom of great britain and northern ireland"),
    "united states": ("us", "usa", "united states of america", "сша"),
    "germany": ("de", "deu", "германия"),
    "france": ("fr", "fra", "франция"),
    "palestine": ("ps", "pse", "state of palestine"),
}
_COUNTRY: dict[str, str] = {}
for _name, _aliases in _COUNTRIES.items():
    for _alias in (_name, *_aliases):
        _COUNTRY[fold(_alias)] = _name


def country(value: str) -> str:
    """Canonical form of a country name or ISO code (folded name when unknown)."""
    folded = fold(value)
    return _COUNTRY.get(folded, folded)


def nationality_effect(query_country: str, entity: Entity) -> Effect | None:
    """Same or different nationality; None when the list states none."""
    if not entity.nationalities:
        return None
    wanted = country(query_country)
    listed = sorted({country(n) for n in entity.nationalities})
    if wanted in listed:
        delta, why = NATIONALITY_MATCH, "same nationality"
    else:
        delta, why = NATIONALITY_MISMATCH, "different nationality"
    return Effect(delta, {"effect": delta, "query": query_country, "listed": listed, "reason": why})
