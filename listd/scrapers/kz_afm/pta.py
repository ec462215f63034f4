"""Kazakhstan AFM list of participants in terrorist activity (websfm `xml_category_2`).

The records are individuals written with organisation tags (SOURCES.md 2.2): <org> with
org_name (the full name), org_iin, note, correction and added_to_list. No sample has been seen;
tests/scrapers/fixtures/kz-afm-category2.xml is written from the documented field names.
Validation, note reading and ids are those of every AFM list (kz_afm.records).
"""

from __future__ import annotations

from collections.abc import Iterator

from lxml import etree

from listd.errors import ValidationFailed
from listd.model import BirthDate, Entity
from listd.scrapers.kz_afm.records import (
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
from listd.scrapers.toolkit import digest

KIND = "kz-afm-pta"
PROGRAM = "KZ-PTA"


def validate(raw: bytes) -> None:
    """Raise ValidationFailed unless `raw` is a category-2 export: <org> records only."""
    root = parse_xml(raw)
    persons = sum(1 for _ in root.iter("person"))
    if persons:
        # A category-1 URL configured for this source would otherwise lose all its persons.
        raise ValidationFailed(
            f"{persons} <person> record(s): the category-2 export holds only <org> records"
        )
    check(root, SCHEMA, ("org",))


def parse(raw: bytes) -> Iterator[Entity]:
    """Every <org> record as a person, in document order; rows sharing an id merged."""
    root = parse_xml(raw)
    yield from merge(_participant(el) for el in root.iter("org"))


def _participant(el: etree._Element) -> Entity:
    f = Fields(el)
    parent = el.getparent()
    row = Row(num=f.text("num"), section=parent.tag if parent is not None else None)
    name = read_org_names(row, f)
    read_notes(row, f)
    born = row.notes.born
    row.birth_dates += [BirthDate(date=d) for d in born]
    # org_iin is sometimes only 10 digits (OpenSanctions): kept, with valid=False.
    iin = iin_document(f.text("org_iin"), born[0] if len(born) == 1 else None, row.warnings)
    if iin is not None:
        row.documents.append(iin)
    if iin is not None and iin.valid:
        row.reference, row.basis = f"iin-{iin.number}", f"IIN {iin.number}"
    else:
        # The malformed number still tells namesakes apart; the note would not be stable.
        row.reference = "p-" + digest(name, iin.number if iin else "")
        row.basis = "name" + (f" and org_iin {iin.number}" if iin else "")
    row.unknown = f.leftover()
    return row.entity(KIND, "person", (PROGRAM,))
