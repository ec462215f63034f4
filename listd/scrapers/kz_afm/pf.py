"""Kazakhstan AFM list of persons and organisations linked to proliferation financing (ЖҚЖҚТҚ).

The websfm export `…/v1/sanctions/sanction-weapon-old/xml/?category=dprk&category=iran`:
<person> records with num, information, decision and date, for individuals and entities alike.
`information` is Russian free text in the style of the UN list (the AFM re-publishes the UN
1718 DPRK and 2231 Iran regimes, UNSC 1540 being the legal frame): the name first, then
labelled fields. No sample has been seen (SOURCES.md 2.2); the labels read here are the five
documented ones plus the person fields of the UN list's Russian version.

Person or entity: the UN reference decides when there is one (KPi.001 is an individual,
KPe.001 an entity); otherwise a birth date, birth place, nationality or passport field makes a
person, and anything else is an entity.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from lxml import etree

from listd.model import Address, BirthDate, Document, Entity, Name, Place, Schema
from listd.scrapers.kz_afm.records import Fields, check, merge
from listd.scrapers.kz_afm.records import published as published
from listd.scrapers.safexml import parse_xml
from listd.scrapers.toolkit import clean, digest, parse_date, unique

KIND = "kz-afm-pf"
PROGRAM = "KZ-PF"
SCHEMA = "kz_afm_pf.xsd"

# field -> label pattern (the label is followed by ":")
_FIELDS = {
    "name": r"(?:Имя|Название|Наименование)",
    "aka": r"Вымышленн\w*\s+(?:названи|им)\w*",  # a.k.a.
    "fka": r"Р\.\s*И\.\s*К\.",  # ранее известен(а) как: f.k.a.
    "address": r"Адрес\w*",
    "listed": r"Дата\s+внесения\s+в\s+перечень",
    "other": r"Прочая\s+информация",
    "birth_date": r"Дата\s+рождения",
    "birth_place": r"Место\s+рождения",
    "nationality": r"Гражданство",
    "passport": r"(?:№|Номер)\s+паспорта|Паспорт",
    "national_id": r"Национальный\s+идентификационный\s+(?:номер|№)",
    "position": r"Должность",
    "gender": r"Пол",  # "Пол: мужской", as the UN's "Gender: male"
}
_LABEL = re.compile(
    r"(?<!\w)(?:"
    + "|".join(f"(?P<{key}>{pattern})" for key, pattern in _FIELDS.items())
    + r")\s*:",
    re.IGNORECASE,
)
_PERSON_FIELDS = frozenset({"birth_date", "birth_place", "nationality", "passport", "national_id"})
_UN_REFERENCE = re.compile(r"\b([A-Z]{2}[ie])\.\s?(\d{3})\b")
# Regime by UN reference prefix, and by words in the decision or the text.
_REGIMES = {"KP": ("DPRK", "UN-1718"), "IR": ("Iran", "UN-2231")}
_DPRK = re.compile(r"КНДР|Корейск\w*\s+Народно|\b1718\b", re.IGNORECASE)
_IRAN = re.compile(r"\bИран\w*|\b2231\b|\b1737\b", re.IGNORECASE)
_GENDERS = {"мужской": "male", "муж": "male", "женский": "female", "жен": "female"}
_COUNTRIES = {"кндр": "КНДР", "иран": "Иран", "исламская республика иран": "Иран"}
_ENUM = re.compile(r"(?:^|\s)[a-zа-я]\)\s+")  # "a) … b) …" as in the UN list
_NONE = frozenset({"нет данных", "нет", "отсутствует", "na", "n/a", "-"})
_PAREN = re.compile(r"\(([^()]*)\)")
_NUMBERING = re.compile(r"(?:^|\s)\d:\s*")  # "1: ЙУН 2: ХО" name parts in UN Russian
_DMY = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
_RU_DATE = re.compile(r"(\d{1,2})\s+([а-я]{3})[а-я]*\.?\s+(\d{4})", re.IGNORECASE)
_RU_MONTHS = ("янв", "фев", "мар", "апр", "мая", "июн", "июл", "авг", "сен", "окт", "ноя", "дек")
_YEAR_RANGE = re.compile(r"(\d{4})\s*[-–]\s*(\d{4})")
_YEAR = re.compile(r"(?:около\s+|прибл\w*\s+)?(\d{4})(?:\s*г(?:ода?|\.)?)?", re.IGNORECASE)
_DOC_NUMBER = re.compile(r"[A-ZА-Я]{0,3}\d[\d\s-]{3,}\d", re.IGNORECASE)


def validate(raw: bytes) -> None:
    """Raise ValidationFailed unless every <person> in `raw` fits kz_afm_pf.xsd (one at least)."""
    check(parse_xml(raw), SCHEMA, ("person",))


def parse(raw: bytes) -> Iterator[Entity]:
    """Every <person> record (individual or entity), in document order; shared ids merged."""
    root = parse_xml(raw)
    yield from merge(_record(el) for el in root.iter("person"))


def _record(el: etree._Element) -> Entity:
    f = Fields(el)
    num = f.text("num")
    information = f.text("information") or ""  # required non-empty by kz_afm_pf.xsd
    decision, date = f.text("decision"), f.text("date")
    head, fields = _fields(information)
    warnings: list[str] = []

    reference = None
    if match := _UN_REFERENCE.search(head):
        reference = f"{match.group(1)}.{match.group(2)}"
        head = head[: match.start()] + head[match.end() :]
    name_text = clean(head, strip=".,;:-–") or clean(_NUMBERING.sub(" ", fields.get("name", "")))
    if not name_text:
        name_text = information[:200]
        warnings.append("no name before the first label: the text's start is used as the name")
    elif len(name_text) > 200:
        warnings.append(f"name is {len(name_text)} characters: a label may be missing")
    names = [Name(full=clean(_PAREN.sub(" ", name_text)) or name_text, kind="primary")]
    names += [Name(full=alt, kind="alias") for alt in map(clean, _PAREN.findall(name_text)) if alt]
    names += [Name(full=n, kind="alias", quality="aka") for n in _items(fields.get("aka"))]
    names += [Name(full=n, kind="alias", quality="fka") for n in _items(fields.get("fka"))]

    schema: Schema
    if reference:
        schema = "person" if reference[2] == "i" else "entity"
    else:
        schema = "person" if _PERSON_FIELDS & fields.keys() else "entity"
    list_type, regime = _regime(reference, decision, information)

    listed = _dates(fields.get("listed", ""))
    listed_on = listed[0] if listed else parse_date(date)
    if date and not parse_date(date):
        warnings.append(f"date {date!r} is not DD.MM.YYYY")
    birth_dates = [_birth_date(item) for item in _items(fields.get("birth_date"))]
    passports = [_passport(item) for item in _items(fields.get("passport"))]
    national_ids = [
        Document(type="national_id", number=_number(item), note=item)
        for item in _items(fields.get("national_id"))
    ]
    meta: dict[str, object] = {"num": num, "id_basis": "UN reference" if reference else "name"}
    if reference:
        meta["un_reference"] = reference
        entity_reference = reference
    else:
        first_birth = next((b.date for b in birth_dates if b.date), "")
        entity_reference = ("p-" if schema == "person" else "e-") + digest(
            names[0].full, first_birth or ""
        )
    if date:
        meta["date"] = date
    if decision:
        meta["decision"] = decision
    if warnings:
        meta["warnings"] = warnings
    if unknown := f.leftover():
        meta["unknown"] = unknown
    gender = (fields.get("gender") or "").casefold().rstrip(".")
    remarks = [r for r in (fields.get("other"), decision) if r]
    return Entity(
        id=f"{KIND}:{entity_reference}",
        source=KIND,
        schema=schema,
        reference=entity_reference,
        names=unique(names),
        list_type=list_type,
        programs=(PROGRAM, *regime),
        listed_on=listed_on,
        updated_on=tuple(sorted(set(listed[1:]))),
        positions=_items(fields.get("position")),
        nationalities=tuple(
            _COUNTRIES.get(n.casefold(), n) for n in _items(fields.get("nationality"))
        ),
        birth_dates=unique(birth_dates),
        birth_places=unique(
            Place(note=p, country=_country(p)) for p in _items(fields.get("birth_place"))
        ),
        documents=unique(passports + national_ids),
        addresses=unique(
            Address(note=a, country=_country(a)) for a in _items(fields.get("address"))
        ),
        gender=_GENDERS.get(gender),
        remarks="\n".join(remarks) or None,
        meta=meta,
    )


def _fields(text: str) -> tuple[str, dict[str, str]]:
    """The text before the first label, and each labelled field's text (repeats joined by ";")."""
    matches = list(_LABEL.finditer(text))
    head = text[: matches[0].start()] if matches else text
    fields: dict[str, str] = {}
    for match, following in zip(matches, [*matches[1:], None], strict=True):
        key = match.lastgroup
        assert key is not None
        value = clean(text[match.end() : following.start() if following else len(text)])
        if value:
            fields[key] = f"{fields[key]}; {value}" if key in fields else value
    return head, fields


def _items(text: str | None) -> tuple[str, ...]:
    """A field's values: split on "a) … b) …" enumerations and ";"; "нет данных" dropped."""
    if not text:
        return ()
    out: list[str] = []
    for piece in _ENUM.split(text):
        for item in piece.split(";"):
            value = clean(item, strip=".,;")
            if value and value.casefold() not in _NONE:
                out.append(value)
    return unique(out)


def _regime(
    reference: str | None, decision: str | None, information: str
) -> tuple[str | None, tuple[str, ...]]:
    """(list type, UN programme tags). The reference decides; then the decision; then the text."""
    if reference and reference[:2] in _REGIMES:
        label, program = _REGIMES[reference[:2]]
        return label, (program,)
    for text in (decision, information):
        if not text:
            continue
        found = [(label, tag) for label, tag in _REGIMES.values() if _mentions(label, text)]
        if found:
            return (found[0][0] if len(found) == 1 else None), tuple(tag for _, tag in found)
    return None, ()


def _mentions(label: str, text: str) -> bool:
    return bool((_DPRK if label == "DPRK" else _IRAN).search(text))


def _dates(text: str) -> list[str]:
    """Every DD.MM.YYYY or "22 янв. 2013 года" date in `text`, in order, as YYYY-MM-DD."""
    found: list[tuple[int, str]] = []
    for match in _DMY.finditer(text):
        if day := parse_date(match.group(0)):
            found.append((match.start(), day))
    for match in _RU_DATE.finditer(text):
        if day := _ru_date(match):
            found.append((match.start(), day))
    return [day for _, day in sorted(found)]


def _ru_date(match: re.Match[str]) -> str | None:
    month = match.group(2).casefold()
    month = "мая" if month == "май" else month
    if month not in _RU_MONTHS:
        return None
    number = _RU_MONTHS.index(month) + 1
    return parse_date(f"{int(match.group(1)):02d}.{number:02d}.{match.group(3)}")


def _birth_date(item: str) -> BirthDate:
    if days := _dates(item):
        return BirthDate(date=days[0])
    if match := _YEAR_RANGE.search(item):
        return BirthDate(from_year=int(match.group(1)), to_year=int(match.group(2)))
    if match := _YEAR.fullmatch(item):
        return BirthDate(date=match.group(1), approximate=not item[:1].isdigit())
    return BirthDate(note=item)


def _passport(item: str) -> Document:
    return Document(type="passport", number=_number(item), note=item, country=_country(item))


def _number(item: str) -> str:
    match = _DOC_NUMBER.search(item)
    return re.sub(r"[\s-]", "", match.group(0)) if match else item


def _country(text: str) -> str | None:
    last = text.rsplit(",", 1)[-1].strip(" .()").casefold()
    return _COUNTRIES.get(last)
