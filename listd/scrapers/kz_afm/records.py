"""What the Kazakhstan AFM lists share: loading and validation, the record reader, the
free-text notes (listing dates, amendments, aliases), IIN documents and merging of rows that
describe the same subject.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from itertools import chain
from typing import TYPE_CHECKING, Any

from lxml import etree

from listd.errors import ValidationFailed
from listd.model import BirthDate, Document, Entity, Name, Schema
from listd.normalize.kzid import check_iin
from listd.scrapers import toolkit, xsd
from listd.scrapers.toolkit import clean, fold, iso_day, parse_date, unique

if TYPE_CHECKING:
    import xmlschema

SCHEMA = "kz_afm.xsd"
KZ = "Kazakhstan"  # issuing country of IINs and BINs, spelled as the UN list spells countries

_DATE = r"(\d{1,2})\.(\d{1,2})\.(\d{4})"
# "включен 08.06.2018", "включена …", "включен от 14.03.2018 г.", "включен(а) в перечень …"
_LISTED = re.compile(rf"\bвключен\w*(?:\s*\(\w+\))?[^\d;]{{0,40}}?{_DATE}", re.IGNORECASE)
# "01.02.1964г.р." in a note: another birth date
_BORN = re.compile(rf"{_DATE}\s*г\.?\s*р\.", re.IGNORECASE)
_ANY_DATE = re.compile(_DATE)
_LEFTOVER = re.compile(r"[\W\d_]|\bг\b", re.IGNORECASE)
# "также известна как "…", "…"" in organisation notes: the list's own a.k.a. names.
# "известан" (sic) occurs.
_AKA = re.compile(r"извест\w*\s*(?:так\s*же\s*|также\s*)?(?:как|-)\s*", re.IGNORECASE)
_AKA_END = re.compile(
    r"(?:компетентными\s+органами\s+)?(?:признан|запрещен|утвержден)\w*"
    r"|\bв\s+(?:РК|КР|РФ|РТ|РУ|КНР)\b",
    re.IGNORECASE,
)
_AKA_SPLIT = re.compile(r"\s*[;,]\s*(?=[\"«“])|[\"»”]\s*[;,]?\s*|;\s*")
_COMMA = re.compile(r"\s*[,;]\s*")
_QUOTES = "\"'«»“”„ "
_DATE_ATTR = re.compile(
    rb"""\b[\w.-]*(?:date|generated|created|updated)[\w.-]*\s*=\s*["']([^"'<>]{1,64})["']""",
    re.IGNORECASE,
)
_FIRST_TAG = re.compile(rb"<([A-Za-z_][^>]{0,2000})>")


# -- validation ----------------------------------------------------------------------------


def published(raw: bytes) -> str | None:
    """A date attribute on the root element, if any; the classic export has none."""
    head = raw[:4096]
    tag = _FIRST_TAG.search(head)
    match = _DATE_ATTR.search(tag.group(1)) if tag else None
    if match is None:
        return None
    value = match.group(1).decode("utf-8", "replace").strip()
    return parse_date(value) or value


def check(root: etree._Element, schema_file: str, record_tags: tuple[str, ...]) -> None:
    """Validate a loaded document: the whole tree if its root is declared, else every record."""
    schema = _schema(schema_file)
    records = list(root.iter(*record_tags))
    if not records:
        wanted = " or ".join(f"<{tag}>" for tag in record_tags)
        raise ValidationFailed(f"no {wanted} records under <{root.tag}>: not an AFM list export")
    if root.tag in schema.elements and root.tag not in record_tags:
        errors = schema.iter_errors(root, use_location_hints=False)
    else:
        # Root and wrappers of the websfm exports are unknown (kz_afm.xsd header).
        errors = chain.from_iterable(
            schema.iter_errors(el, use_location_hints=False) for el in records
        )
    first = next(errors, None)
    if first is None:
        return
    count = 1 + sum(1 for _ in errors)
    num = _record_num(first.elem, record_tags)
    where = f"{first.path}" + (f" (num {num})" if num else "")
    raise ValidationFailed(
        f"does not fit {schema_file}: {count} error(s); first at {where}, "
        f"line {first.sourceline}: {first.reason or first.message}",
        path=first.path,
        line=first.sourceline,
        num=num,
        errors=count,
    )


def _schema(name: str) -> xmlschema.XMLSchemaBase:
    return xsd.xmlschema_of(name, v11=True)  # xs:all with xs:any, notQName: XSD 1.1


def _record_num(el: Any, record_tags: tuple[str, ...]) -> str | None:
    if not isinstance(el, etree._Element):
        return None
    for node in (el, *el.iterancestors()):
        if node.tag in record_tags:
            return clean(node.findtext("num"))
    return None


# -- records -------------------------------------------------------------------------------


class Fields(toolkit.Fields):
    """A record's child elements by tag, read as their whole text (itertext)."""

    def __init__(self, el: etree._Element) -> None:
        super().__init__(el, el.tag if isinstance(el.tag, str) else "", toolkit.Issues())
        self.attributes = [f"@{_str(name)}" for name in el.attrib]

    def raw(self, tag: str) -> str | None:
        found = self.pop(tag)
        return "".join(_str(t) for t in found[0].itertext()) if found else None

    def text(self, tag: str) -> str | None:
        return clean(self.raw(tag))

    def leftover(self) -> list[str]:
        return sorted(self.children) + self.attributes


@dataclass
class Notes:
    """What the free-text note and correction fields say."""

    listed: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    born: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)


@dataclass
class Row:
    """One record while it is being read."""

    num: str | None
    section: str | None
    reference: str | None = None
    basis: str = ""
    names: list[Name] = field(default_factory=list)
    birth_dates: list[BirthDate] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)
    listed_on: str | None = None
    notes: Notes = field(default_factory=Notes)
    warnings: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    def entity(self, kind: str, schema: Schema, programs: tuple[str, ...]) -> Entity:
        assert self.reference is not None
        # added_to_list wins; other listing dates (a re-listing) count as updates.
        listed = sorted(set(self.notes.listed))
        first = self.listed_on or (listed[0] if listed else None)
        meta: dict[str, Any] = {"num": self.num, "section": self.section, "id_basis": self.basis}
        if self.warnings:
            meta["warnings"] = list(self.warnings)
        if self.unknown:
            meta["unknown"] = list(self.unknown)
        return Entity(
            id=f"{kind}:{self.reference}",
            source=kind,
            schema=schema,
            reference=self.reference,
            names=unique(self.names),
            programs=programs,
            listed_on=first,
            updated_on=tuple(sorted({*listed, *self.notes.updated} - {first})),
            birth_dates=unique(self.birth_dates),
            documents=unique(self.documents),
            remarks="; ".join(unique(self.notes.remarks)) or None,
            meta=meta,
        )


def read_org_names(row: Row, f: Fields) -> str:
    """An organisation's names: org_name (required non-empty by kz_afm.xsd) as published,
    org_name_en's "; "-separated pieces as aliases; the primary name is returned. One string
    each: which word is the name proper is not documented, so no parts."""
    published_name = f.text("org_name") or ""
    name = clean(published_name, strip=",;") or published_name
    row.names.append(Name(full=name, kind="primary"))
    for piece in (f.text("org_name_en") or "").split(";"):
        if alias := clean(piece, strip=",;"):
            row.names.append(Name(full=alias, kind="alias"))
    return name


def read_notes(row: Row, f: Fields) -> None:
    """Listing date (added_to_list, else the note), amendments, aliases and remarks."""
    added = f.text("added_to_list")
    if added:
        row.listed_on = parse_date(added)
        if row.listed_on is None:
            row.warnings.append(f"added_to_list {added!r} is not DD.MM.YYYY")
    for tag in ("note", "correction"):
        text = f.text(tag)
        if text and not _read_note(text, row.notes):
            row.warnings.append(f"no such day in <{tag}> {text!r}")


def _read_note(text: str, notes: Notes) -> bool:
    """Collect what `text` says into `notes`; False if a date in it is not a real day."""
    used: set[int] = set()
    bad = False
    for pattern, found in ((_LISTED, notes.listed), (_BORN, notes.born), (_ANY_DATE, None)):
        for match in pattern.finditer(text):
            if match.start(1) in used:
                continue
            used.add(match.start(1))
            day = _ymd(match)
            bad = bad or day is None
            if day is not None:
                # Any other date is an amendment: "изменения от 24.07.2018г.", "Добавлен ИИН …"
                (notes.updated if found is None else found).append(day)
    # Kept as remarks unless the text is only a (good) listing date.
    bare = _LISTED.sub(lambda m: "" if _ymd(m) else m.group(0), text)
    if _LEFTOVER.sub("", bare):
        notes.remarks.append(text)
    notes.aliases += _aliases(text)
    return not bad


def _aliases(note: str) -> list[str]:
    """Names after "также известна как" in an organisation note, up to "признана …"."""
    found = _AKA.search(note)
    if found is None:
        return []
    rest = note[found.end() :]
    end = _AKA_END.search(rest)
    rest = rest[: end.start()] if end else rest
    # Without (balanced) quotes only commas separate the names.
    split = _AKA_SPLIT.split if sum(rest.count(q) for q in _QUOTES[:-1]) > 1 else _COMMA.split
    out: list[str] = []
    for piece in split(rest):
        name = clean(piece, strip=_QUOTES + ".,;:")
        if name and name.count("(") < name.count(")"):
            name = name.rstrip(")").strip()
        if name and sum(c.isalpha() for c in name) >= 3:
            out.append(name)
    return out


def iin_document(value: str | None, birth: str | None, warnings: list[str]) -> Document | None:
    """The IIN as a Document, kept even when malformed (a wrong digit is still evidence)."""
    if not value:
        return None
    number = value.replace(" ", "")
    valid, problems = check_iin(number, birth)
    if problems:
        warnings.append(f"IIN {number}: {'; '.join(problems)}")
    return Document(type="iin", number=number, country=KZ, valid=valid, problems=problems)


def merge(rows: Iterable[Entity]) -> Iterator[Entity]:
    """One entity per id: rows describing the same subject are merged, with a warning each."""
    merged: dict[str, Entity] = {}
    for entity in rows:
        first = merged.get(entity.id)
        merged[entity.id] = entity if first is None else _merge(first, entity)
    yield from merged.values()


def _merge(a: Entity, b: Entity) -> Entity:
    nums = [*a.meta.get("nums", [a.meta.get("num")]), b.meta.get("num")]
    basis = a.meta["id_basis"]
    warning = f"num {b.meta.get('num')} duplicates num {a.meta.get('num')} (same {basis})"
    if fold(a.primary_name) != fold(b.primary_name):
        warning += f", names differ: {a.primary_name!r} / {b.primary_name!r}"
    listed = sorted(d for d in (a.listed_on, b.listed_on) if d)
    first_listed = listed[0] if listed else None
    # One primary name (the first row's); the other row's primary becomes an alias if it differs.
    names = [n for n in a.names if n.kind == "primary"][:1]
    seen = {(n.full, n.parts) for n in names}
    for name in (*a.names, *b.names):
        if (name.full, name.parts) not in seen:
            seen.add((name.full, name.parts))
            names.append(replace(name, kind="alias") if name.kind == "primary" else name)
    meta = {
        **a.meta,
        "nums": nums,
        "warnings": [
            *a.meta.get("warnings", []),
            *b.meta.get("warnings", []),
            warning + ": merged",
        ],
    }
    if unknown := sorted({*a.meta.get("unknown", []), *b.meta.get("unknown", [])}):
        meta["unknown"] = unknown
    return replace(
        a,
        names=tuple(names),
        programs=unique(a.programs + b.programs),
        listed_on=first_listed,
        updated_on=tuple(
            sorted({*a.updated_on, *b.updated_on, *(d for d in listed if d != first_listed)})
        ),
        nationalities=unique(a.nationalities + b.nationalities),
        positions=unique(a.positions + b.positions),
        birth_dates=unique(a.birth_dates + b.birth_dates),
        birth_places=unique(a.birth_places + b.birth_places),
        documents=unique(a.documents + b.documents),
        addresses=unique(a.addresses + b.addresses),
        remarks="; ".join(unique(r for r in (a.remarks, b.remarks) if r)) or None,
        meta=meta,
    )


# -- values --------------------------------------------------------------------------------


def _ymd(match: re.Match[str]) -> str | None:
    """YYYY-MM-DD from a match whose groups 1-3 are day, month, year."""
    return iso_day(int(match.group(3)), int(match.group(2)), int(match.group(1)))


def _str(value: str | bytes) -> str:
    return value if isinstance(value, str) else value.decode()
