"""Kazakhstan AFM list of organisations and persons linked to financing of terrorism and extremism.

Reads the classic export (`…/blacklist/export/active/xml`, root <xml> with <persons>,
<organisations>, <organisationscis>) and the websfm API's `xml_category_1`, which uses the same
records plus <added_to_list>. Format and dirty-data facts: ../shared/data/SOURCES.md section 2.

The loading, validation, note reading and duplicate merging are those of every AFM list
(listd.scrapers.kz_afm.records).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from itertools import chain

from lxml import etree

from listd.model import BirthDate, Document, Entity, Name
from listd.normalize.kzid import check_bin, iin_birth_date
from listd.scrapers.kz_afm.records import (
    KZ,
    SCHEMA,
    Fields,
    Row,
    check,
    iin_document,
    merge,
    read_notes,
    read_org_names,
)
from listd.scrapers.kz_afm.records import published as published
from listd.scrapers.safexml import parse_xml
from listd.scrapers.toolkit import clean, digest, parse_date

KIND = "kz-afm-tf"
PROGRAM = "KZ-TF"
# <org> records under this section are organisations banned in other CIS states.
CIS_SECTION = "organisationscis"
CIS_LIST_TYPE = "CIS"

_PASSPORT = re.compile(
    r"паспорт\w*\s*(?:серия\s*(?P<series>[A-ZА-Я]{2,3})\b)?\s*(?:номер|№)?\s*"
    r"(?P<number>[A-ZА-Я]{0,3}\s?\d{5,})",
    re.IGNORECASE,
)
_PAREN = re.compile(r"\(([^()]*)\)")
# Cyrillic letters that look like Latin ones, for document numbers typed on a Russian keyboard.
_HOMOGLYPHS = str.maketrans("АВЕКМНОРСТУХ", "ABEKMHOPCTYX")


# -- validation ----------------------------------------------------------------------------


def validate(raw: bytes) -> None:
    """Raise ValidationFailed unless `raw` is a well-formed AFM export that fits kz_afm.xsd."""
    check(parse_xml(raw), SCHEMA, ("person", "org"))


# -- parsing -------------------------------------------------------------------------------


def parse(raw: bytes) -> Iterator[Entity]:
    """Persons, then organisations, in document order; rows that share an id merged into one."""
    root = parse_xml(raw)
    rows = chain(
        (person(el, KIND, (PROGRAM,)) for el in root.iter("person")),
        (_org(el) for el in root.iter("org")),
    )
    yield from merge(rows)


def person(el: etree._Element, kind: str, programs: tuple[str, ...]) -> Entity:
    """A <person> record: lname, fname, mname, birthdate, iin, note, correction, added_to_list."""
    f = Fields(el)
    row = Row(num=f.text("num"), section=_section(el))
    given = {tag: f.text(tag) for tag in ("lname", "fname", "mname")}
    parts: list[str] = []
    variants: list[tuple[int, str]] = []  # (part index, replacement) from "(…)" in a name part
    for tag, value in given.items():
        if value is None:
            continue
        if _PASSPORT.search(value):
            # Seen once: mname "паспорт серия KGZ номер АС1225988".
            row.documents.append(_passport(value))
            row.warnings.append(f"passport details in <{tag}> moved to documents: {value}")
            continue
        for alt in _PAREN.findall(value):
            if clean(alt):
                variants.append((len(parts), clean(alt) or ""))
        main = clean(_PAREN.sub(" ", value))
        if main:
            parts.append(main)
    if not parts:  # lname is required non-empty, so this is e.g. lname "(Кубашев)" alone
        parts = [" ".join(v for v in given.values() if v)]
        row.warnings.append("no name left after taking out parentheses and passport details")
    row.names.append(Name(full=" ".join(parts), kind="primary", parts=tuple(parts)))
    for index, alt in variants:
        alias = (*parts[:index], alt, *parts[index + 1 :])
        row.names.append(Name(full=" ".join(alias), kind="alias", parts=alias))

    raw_birth = f.text("birthdate")
    birth = parse_date(raw_birth)
    if birth:
        row.birth_dates.append(BirthDate(date=birth))
    elif raw_birth:
        row.birth_dates.append(BirthDate(note=raw_birth))
        row.warnings.append(f"birthdate {raw_birth!r} is not DD.MM.YYYY")
    iin = iin_document(f.text("iin"), birth, row.warnings)
    read_notes(row, f)
    row.birth_dates += [BirthDate(date=d) for d in row.notes.born]
    if not raw_birth and iin is not None and (encoded := iin_birth_date(iin.number)):
        row.birth_dates.append(BirthDate(date=encoded, note="from IIN"))
    basis = f"name and birth date {birth or raw_birth or '(none)'}"
    if iin is not None:
        row.documents.insert(0, iin)
        if iin.valid:
            row.reference, basis = f"iin-{iin.number}", f"IIN {iin.number}"
    if row.reference is None:
        row.reference = "p-" + digest(row.names[0].full, birth or raw_birth or "")
    row.basis = basis
    row.unknown = f.leftover()
    return row.entity(kind, "person", programs)


def _org(el: etree._Element) -> Entity:
    """An <org> record: org_name, org_name_en ("; "-separated), org_iin, note, correction."""
    f = Fields(el)
    section = _section(el)
    cis = section == CIS_SECTION
    row = Row(num=f.text("num"), section=section)
    name = read_org_names(row, f)
    read_notes(row, f)
    for alias in row.notes.aliases:
        row.names.append(Name(full=alias, kind="alias", quality="aka"))
    number = f.text("org_iin")
    basis = "organisation name"
    if number:
        valid, problems = check_bin(number)
        bin_doc = Document(type="bin", number=number, country=KZ, valid=valid, problems=problems)
        row.documents.append(bin_doc)
        if valid:
            row.reference, basis = f"bin-{number}", f"BIN {number}"
        else:
            row.warnings.append(f"BIN {number}: {', '.join(problems)}")
    if row.reference is None:
        row.reference = ("cis-" if cis else "org-") + digest(name)
    row.basis = basis
    row.unknown = f.leftover()
    entity = row.entity(KIND, "entity", (PROGRAM,))
    return replace(entity, list_type=CIS_LIST_TYPE) if cis else entity


def _section(el: etree._Element) -> str | None:
    parent = el.getparent()
    return parent.tag if parent is not None and isinstance(parent.tag, str) else None


def _passport(value: str) -> Document:
    match = _PASSPORT.search(value)
    assert match is not None
    number = match.group("number").replace(" ", "").upper().translate(_HOMOGLYPHS)
    series = match.group("series")
    country = series if series and series.isascii() and len(series) == 3 else None
    return Document(type="passport", number=number, country=country, note=value)
