"""UN Security Council Consolidated List: validation and a pure parser.

Format and quirks: ../shared/data/SOURCES.md sections 1.1-1.3.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from lxml import etree

if TYPE_CHECKING:
    import xmlschema

from listd.errors import ValidationFailed
from listd.model import Address, BirthDate, Document, Entity, Name, Place, Quality, Schema
from listd.scrapers import xsd
from listd.scrapers.safexml import iter_records, parse_xml
from listd.scrapers.toolkit import Fields, Issues, cleaner, unique

KIND = "un"

# Elements that are published but deliberately not mapped, so they never count as unknown.
IGNORED = frozenset(
    {
        "SORT_KEY",  # always empty
        "SORT_KEY_LAST_MOD",  # always empty
        "LIST_TYPE",  # LIST_TYPE/VALUE is "UN List" in every record
        "HAS_INTERPOL_LINK",  # YES/NO, redundant with INTERPOL_LINK itself
    }
)

# Programme tags by UN_LIST_TYPE: the resolution that set up each sanctions regime.
PROGRAMS = {
    "Al-Qaida": "UN-1267",
    "Taliban": "UN-1988",
    "DPRK": "UN-1718",
    "Iran": "UN-2231",
    "Iraq": "UN-1518",
    "DRC": "UN-1533",
    "Libya": "UN-1970",
    # The Somalia regime (751 committee) became the Al-Shabaab regime under resolution 2713
    # (Dec. 2023). The label stayed "Somalia" throughout, so one tag for every file keeps the
    # programme stable across that rename; 2713 is the regime in force.
    "Somalia": "UN-2713",
    "CAR": "UN-2127",
    "Sudan": "UN-1591",
    "Yemen": "UN-2140",
    "Haiti": "UN-2653",
    "Mali": "UN-2374",
    "SouthSudan": "UN-2206",  # spelled without a space in the files
    "South Sudan": "UN-2206",
    "GB": "UN-2048",  # Guinea-Bissau
    "Lebanon": "UN-1636",
}

# Individuals use Good/Low, entities a.k.a./f.k.a.
QUALITIES: dict[str, Quality] = {"good": "good", "low": "low", "a.k.a.": "aka", "f.k.a.": "fka"}

# TYPE_OF_DOCUMENT labels, lower-cased and whitespace-collapsed; anything else is "other".
DOCUMENT_TYPES = {
    "passport": "passport",
    "numéro de passeport": "passport",
    "número de pasaporte": "passport",
    "national identification number": "national_id",
    "national identification no.": "national_id",
}

DATE_TYPES = frozenset({"EXACT", "APPROXIMATELY", "BETWEEN"})

# Values the UN publishes for "not available" (FOURTH_NAME, NATIONALITY/VALUE, alias DOB).
_clean = cleaner(placeholders=("na", "null"))
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_YEAR_MONTH = re.compile(r"\d{4}(-\d{2})?")
_YEAR_RANGE = re.compile(r"(\d{4})\s*-\s*(\d{4})")
_DATE_GENERATED = re.compile(rb"""\bdateGenerated\s*=\s*["']([^"'<>]{1,64})["']""")

_DATE_TIME = re.compile(rb"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})?")


def validate(raw: bytes) -> None:
    """Raise ValidationFailed unless `raw` is a well-formed list that fits schemas/un.xsd."""
    root = parse_xml(raw)
    errors = _schema().iter_errors(root, use_location_hints=False)
    first = next(errors, None)
    if first is None:
        return
    count = 1 + sum(1 for _ in errors)
    reason = first.reason or first.message
    line = first.sourceline
    record = _record_label(first.elem)
    where = f"{first.path}" + (f" (record {record})" if record else "")
    raise ValidationFailed(
        f"does not fit the UN schema: {count} error(s); first at {where}, line {line}: {reason}",
        path=first.path,
        line=line,
        record=record,
        errors=count,
    )


def validate_fast(raw: bytes) -> None:
    """`validate`, with libxml2 doing the bulk work and xmlschema explaining a rejection."""
    xsd.check(parse_xml(raw, compact=True), "un.xsd", lambda: validate(raw), "UN")


def published(raw: bytes) -> str | None:
    """The list's `dateGenerated`, read from the first few KB only."""
    match = _DATE_GENERATED.search(raw, 0, 4096)
    return match.group(1).decode("ascii", "replace").strip() if match else None


def parse(raw: bytes) -> Iterator[Entity]:
    """Every INDIVIDUAL (as a person) and ENTITY (as an entity), in document order."""
    root = parse_xml(raw)
    for el in root.iterfind("INDIVIDUALS/INDIVIDUAL"):
        yield _entity(el, "person")
    for el in root.iterfind("ENTITIES/ENTITY"):
        yield _entity(el, "entity")


def date_span(raw: bytes) -> tuple[int, int] | None:
    """Where the value of `dateGenerated` sits in `raw`, if it is a plain xs:dateTime."""
    match = _DATE_GENERATED.search(raw, 0, 4096)
    if match is None or not _DATE_TIME.fullmatch(match.group(1)):
        return None
    return match.span(1)


def records(raw: bytes) -> Iterator[Entity]:
    """`parse` in bounded memory (one record at a time), for a document `validate_fast` accepted."""
    return records_part(raw, 0, 1)


def records_part(raw: bytes, part: int, parts: int) -> Iterator[Entity]:
    """`records` of every `parts`-th record from record `part` on (ofac.records_part)."""
    containers = {"INDIVIDUAL": ("INDIVIDUALS", "person"), "ENTITY": ("ENTITIES", "entity")}
    number = -1
    for el in iter_records(raw, tuple(containers)):
        container, schema = containers[str(el.tag)]
        parent = el.getparent()
        root = el.getroottree().getroot()
        if parent is not None and parent.tag == container and parent.getparent() is root:
            number += 1
            if number % parts == part:
                yield _entity(el, schema)  # type: ignore[arg-type]


# -- loading -------------------------------------------------------------------------------


def _schema() -> xmlschema.XMLSchemaBase:
    return xsd.xmlschema_of("un.xsd")


def _record_label(el: Any) -> str | None:
    """REFERENCE_NUMBER (or DATAID) of the record holding `el`, to make errors findable."""
    if not isinstance(el, etree._Element):
        return None
    for node in (el, *el.iterancestors()):
        if node.tag in ("INDIVIDUAL", "ENTITY"):
            reference = _clean(node.findtext("REFERENCE_NUMBER"))
            return reference or f"DATAID {_clean(node.findtext('DATAID'))}"
    return None


# -- records -------------------------------------------------------------------------------


class _Fields(Fields):
    """A UN record's children by tag, with TAG/VALUE lists and value checks."""

    clean = staticmethod(_clean)
    ignored = IGNORED

    def values(self, tag: str) -> tuple[str, ...]:
        """Non-empty TAG/VALUE texts, e.g. NATIONALITY/VALUE."""
        out: list[str] = []
        for container in self.pop(tag):
            inner = _Fields(container, f"{self.path}/{tag}", self.issues)
            out += inner.texts("VALUE")
            inner.close()
        return unique(out)

    def check(self, tag: str, value: str | None, known: Iterable[str]) -> None:
        # A value the model cannot hold (a new alias quality, say) is reported, not dropped.
        if value is not None and value not in known:
            self.issues.warnings.append(f"unrecognised {self.path}/{tag} value {value!r}")


def _entity(el: etree._Element, schema: Schema) -> Entity:
    issues = Issues()
    f = _Fields(el, el.tag, issues)
    reference = f.text("REFERENCE_NUMBER")
    meta: dict[str, Any] = {"dataid": f.text("DATAID"), "versionnum": f.text("VERSIONNUM")}
    if reference is None:
        raise ValidationFailed(f"{el.tag} without REFERENCE_NUMBER (DATAID {meta['dataid']})")
    for tag in ("SUBMITTED_BY", "SUBMITTED_ON", "DELISTED_ON"):
        # Bookkeeping, not designation content (SUBMITTED_* vanished in 2024).
        if value := f.text(tag):
            meta[tag.lower()] = value

    prefix = "INDIVIDUAL" if schema == "person" else "ENTITY"
    names, alias_births, alias_places = _names(f, f"{prefix}_ALIAS")
    birth_dates = [_birth_date(dob) for dob in f.sub("INDIVIDUAL_DATE_OF_BIRTH")]
    birth_places = [_place(pob) for pob in f.sub("INDIVIDUAL_PLACE_OF_BIRTH")]
    addresses = [_address(adr) for adr in f.sub(f"{prefix}_ADDRESS")]
    documents = [_document(doc) for doc in f.sub("INDIVIDUAL_DOCUMENT")]
    list_type = f.text("UN_LIST_TYPE")
    gender = (f.text("GENDER") or "").lower()  # Male, MALE, Female, Unknown
    entity = Entity(
        id=f"{KIND}:{reference}",
        source=KIND,
        schema=schema,
        reference=reference,
        names=names,
        list_type=list_type,
        programs=(PROGRAMS.get(list_type, f"UN-{list_type}"),) if list_type else (),
        listed_on=_date(f.text("LISTED_ON")),
        updated_on=unique(d for d in map(_date, f.values("LAST_DAY_UPDATED")) if d),
        gender=gender if gender not in ("", "unknown") else None,
        titles=f.values("TITLE"),
        positions=f.values("DESIGNATION"),
        nationalities=unique(f.values("NATIONALITY") + f.texts("NATIONALITY2")),
        # The record's own DOB/POB first, then those older files attach to aliases.
        birth_dates=unique(d for d in birth_dates + alias_births if d != BirthDate()),
        birth_places=unique(p for p in birth_places + alias_places if p != Place()),
        documents=unique(d for d in documents if d is not None),
        addresses=unique(a for a in addresses if a != Address()),
        remarks=f.text("COMMENTS1"),
        urls=f.texts("INTERPOL_LINK"),
        meta=meta,
    )
    f.close()
    issues.report(entity.meta)
    return entity


def _names(f: _Fields, alias_tag: str) -> tuple[tuple[Name, ...], list[BirthDate], list[Place]]:
    """Primary, original-script and alias names; plus DOB/POB found on aliases."""
    parts = tuple(p for p in (f.text(tag) for tag in _NAME_PARTS) if p)
    names = [Name(full=" ".join(parts), kind="primary", parts=parts)] if parts else []
    names += [Name(full=v, kind="original") for v in f.texts("NAME_ORIGINAL_SCRIPT")]
    births: list[BirthDate] = []
    places: list[Place] = []
    for alias in f.sub(alias_tag):
        quality = alias.text("QUALITY")
        quality = quality.lower() if quality else None
        alias.check("QUALITY", quality, QUALITIES)
        name = alias.text("ALIAS_NAME")
        note = alias.text("NOTE")
        # Up to 2024 DOB/POB also sit on aliases, even on the empty placeholder alias.
        births += [_alias_birth_date(v) for v in alias.texts("DATE_OF_BIRTH")]
        places.append(
            Place(city=alias.text("CITY_OF_BIRTH"), country=alias.text("COUNTRY_OF_BIRTH"))
        )
        if name:  # `<QUALITY/><ALIAS_NAME/>` is a placeholder, not an alias
            quality_tag = QUALITIES.get(quality) if quality else None
            names.append(Name(full=name, quality=quality_tag, note=note))
    # Exact duplicates occur: one alias repeated with different alias-level DOB/POB.
    return unique(names), births, places


_NAME_PARTS = ("FIRST_NAME", "SECOND_NAME", "THIRD_NAME", "FOURTH_NAME")


def _place(f: _Fields) -> Place:
    return Place(
        street=f.text("STREET"),
        city=f.text("CITY"),
        region=f.text("STATE_PROVINCE"),
        country=f.text("COUNTRY"),
        note=f.text("NOTE"),
    )


def _address(f: _Fields) -> Address:
    return Address(
        street=f.text("STREET"),
        city=f.text("CITY"),
        region=f.text("STATE_PROVINCE"),
        postal_code=f.text("ZIP_CODE"),
        country=f.text("COUNTRY"),
        note=f.text("NOTE"),
    )


def _birth_date(f: _Fields) -> BirthDate:
    kind = f.text("TYPE_OF_DATE")
    f.check("TYPE_OF_DATE", kind, DATE_TYPES)
    date, year = _date(f.text("DATE")), f.text("YEAR")
    return BirthDate(
        date=date or year,
        from_year=_year(f.text("FROM_YEAR")),
        to_year=_year(f.text("TO_YEAR")),
        approximate=kind == "APPROXIMATELY",
        note=f.text("NOTE"),
    )


def _alias_birth_date(value: str) -> BirthDate:
    # Seen: "1968-05-25", "1969", "1958 - 1964" ("null" is already dropped as a placeholder).
    if match := _YEAR_RANGE.fullmatch(value):
        return BirthDate(from_year=int(match.group(1)), to_year=int(match.group(2)))
    if _DAY.match(value) or _YEAR_MONTH.fullmatch(value):
        return BirthDate(date=_date(value))
    return BirthDate(note=value)


def _document(f: _Fields) -> Document | None:
    label = f.text("TYPE_OF_DOCUMENT")
    issuing_country, country_of_issue = f.text("ISSUING_COUNTRY"), f.text("COUNTRY_OF_ISSUE")
    doc = Document(
        type=DOCUMENT_TYPES.get((label or "").lower(), "other"),
        # Some documents give no NUMBER (it is in NOTE, if anywhere); number is required.
        number=f.text("NUMBER") or "",
        type_label=f.text("TYPE_OF_DOCUMENT2") or label,
        country=issuing_country or country_of_issue,
        issued=_date(f.text("DATE_OF_ISSUE")),
        expires=_date(f.text("DATE_OF_EXPIRY")),
        city_of_issue=f.text("CITY_OF_ISSUE"),
        note=f.text("NOTE"),
    )
    return None if doc == Document(type="other", number="") else doc  # <INDIVIDUAL_DOCUMENT/>


# -- values --------------------------------------------------------------------------------


def _date(value: str | None) -> str | None:
    """YYYY-MM-DD without any time or timezone part ("2001-01-25-05:00" occurs)."""
    if value is None:
        return None
    match = _DAY.match(value)
    return match.group(0) if match else value


def _year(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None
