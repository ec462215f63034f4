"""OFAC (US Treasury): the classic sdnList XML and the Enhanced XML, plain or zipped.

Formats and quirks: ../shared/data/SOURCES.md section 3. sdn.xml and consolidated.xml are
`sdnList` documents; SDN_ENHANCED.XML, CONS_ENHANCED.XML and the per-programme exports are
`sanctionsData` documents. Both formats carry the same OFAC numbers: an Enhanced `entity/@id` is
the sdnList `uid`, and alias, birth-date and document ids are shared too, so one person gets the
same entity id (and sub-records the same order) whichever format is configured.
"""

from __future__ import annotations

import calendar
import io
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from lxml import etree

if TYPE_CHECKING:
    import xmlschema

from listd.errors import ValidationFailed
from listd.model import (
    Address,
    BirthDate,
    Document,
    Entity,
    Name,
    NameKind,
    Place,
    Quality,
    Schema,
)
from listd.scrapers import xsd
from listd.scrapers.safexml import iter_records, parse_xml, root_tag
from listd.scrapers.toolkit import Fields, Issues, cleaner, unique

KIND = "ofac"

Format = Literal["sdn", "enhanced"]
FORMATS: dict[str, Format] = {"sdnList": "sdn", "sanctionsData": "enhanced"}
SCHEMA_FILES: dict[Format, str] = {"sdn": "ofac_sdn.xsd", "enhanced": "ofac_enhanced.xsd"}

# Zip-bomb guards for the zipped downloads (CONS_ENHANCED.ZIP is 16:1 at 3.4 MB). The header
# checks refuse early; the running count in _unzip is what bounds memory, as headers can lie.
MAX_XML_BYTES = 500 * 1024 * 1024
MAX_RATIO = 100
ZIP_MAGIC = b"PK\x03\x04"
# OFAC ships deflate. bzip2 and lzma are refused before a byte is inflated: zipfile hands them a
# whole read of compressed input at once, and 100 bytes of bzip2 can inflate to 64 MB in one call.
ZIP_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})
_METHOD_NAMES = {
    zipfile.ZIP_STORED: "stored",
    zipfile.ZIP_DEFLATED: "deflate",
    zipfile.ZIP_BZIP2: "bzip2",
    zipfile.ZIP_LZMA: "lzma",
}
_UNZIP_CHUNK = 1 << 20

SCHEMAS: dict[str, Schema] = {
    "individual": "person",
    "entity": "entity",
    "vessel": "vessel",
    "aircraft": "aircraft",
}
QUALITIES: dict[str, Quality] = {"strong": "strong", "weak": "weak"}
# a.k.a. is what an alias is; the other types are kept as the alias note.
ALIAS_TYPES = {"a.k.a.": None, "f.k.a.": "f.k.a.", "n.k.a.": "n.k.a."}

# idList/id idType (sdnList) and identityDocument/type or feature type (Enhanced) labels,
# case-folded. Both formats use the same labels, which is what keeps their output alike.
DOCUMENT_TYPES = {
    "passport": "passport",
    "diplomatic passport": "passport",
    "national id no.": "national_id",
    "tax id no.": "tax_id",
    "v.a.t. number": "tax_id",
    "rfc": "tax_id",
    "nit #": "tax_id",
    "ruc #": "tax_id",
    "cuit": "tax_id",
}
# Other identifiers: worth an exact look-up by number, so they become Documents of type "other".
IDENTIFIERS = frozenset(
    {
        "registration id",
        "registration number",
        "government gazette number",
        "unified social credit code (uscc)",
        "legal entity number",
        "public registration number",
        "business registration number",
        "business registration document #",
        "commercial registry number",
        "company number",
        "uk company number",
        "c.r. no.",
        "trade license no.",
        "license",
        "driver's license no.",
        "birth certificate number",
        "identification number",
        "cedula no.",
        "d-u-n-s number",
        "swift/bic",
        "bik (ru)",
        "isin",
        "mmsi",
        "vessel registration identification",
        "aircraft manufacturer's serial number (msn)",
        "aircraft tail number",
        "aircraft mode s transponder code",
        "aircraft construction number (also called l/n or s/n or f/n)",
    }
)
IDENTIFIER_PREFIXES = ("digital currency address - ",)
# Facts the model has a field for.
FACTS = {
    "birthdate": "birth_date",
    "place of birth": "birth_place",
    "nationality country": "nationality",
    "citizenship country": "nationality",
    "nationality of registration": "nationality",
    "gender": "gender",
    "website": "url",
}
# Designation details and descriptions the model has no field for: appended to remarks (so they
# count in the content hash) and kept structured in meta["properties"]. Not Documents, because
# prose like "Subject to Directive 1" must not enter the document-number index.
PROPERTIES = frozenset(
    {
        "additional sanctions information -",
        "secondary sanctions risk:",
        "for more information, please see:",
        "target type",
        "organization type:",
        "organization established date",
        "caatsa section 235 information:",
        "ifca determination -",
        "peesa information:",
        "transactions prohibited for persons owned or controlled by u.s. financial institutions:",
        "purchase/sales for divestment date (cmic)",
        "issuer name",
        "equity ticker",
        "email address",
        "phone number",
        "fax",
        "aircraft model",
        "aircraft operator",
        "aircraft manufacture date",
        "vessel call sign",
        "vessel type",
        "vessel flag",
        "vessel owner",
        "vessel tonnage",
        "vessel gross registered tonnage",
        "vessel year of build",
        "former vessel flag",
        "other vessel flag",
        "other vessel call sign",
        "other vessel type",
    }
)
PROPERTY_PREFIXES = ("executive order ", "listing date (", "effective date (")

# sdnList vesselInfo children, under the labels the Enhanced XML uses for the same facts.
VESSEL_FIELDS = {
    "callSign": "Vessel Call Sign",
    "vesselType": "Vessel Type",
    "vesselFlag": "Vessel Flag",
    "vesselOwner": "Vessel Owner",
    "tonnage": "Vessel Tonnage",
    "grossRegisteredTonnage": "Vessel Gross Registered Tonnage",
}
ADDRESS_PARTS = {
    "ADDRESS1": "street",
    "ADDRESS2": "street",
    "ADDRESS3": "street",
    "CITY": "city",
    "STATE/PROVINCE": "region",
    "REGION": "region",
    "POSTAL CODE": "postal_code",
}
# sdnList numbers an idList entry that the Enhanced XML has as a feature 100000 + feature id
# (identity documents keep their id): the same offset gives both formats the same order.
_FEATURE_KEY = 100000
_REGION = "Region: "
# Lists every record of a consolidated export is on; says nothing about the record itself.
UMBRELLA_LISTS = frozenset({"Consolidated List"})

_WHITESPACE = re.compile(r"\s+")
# Enhanced XML wraps Arabic names in RLE...PDF; bidi controls are layout, not name.
_clean = cleaner(drop="\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff")
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_OFAC_DATE = re.compile(r"(?:(\d{1,2}) )?(?:([A-Za-z]{3}) )?(\d{4})")
_CIRCA = re.compile(r"(?i)(?:circa|approximately|approx\.?|about|c\.)\s+")
_PUBLISH_DATE = re.compile(rb"<(?:[\w.-]+:)?Publish_Date>\s*(\d{1,2})/(\d{1,2})/(\d{4})\s*<")
_DATA_AS_OF = re.compile(rb"<(?:[\w.-]+:)?dataAsOf>\s*([^<\s]{1,64})\s*<")

_DATE_TIME = re.compile(rb"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?")

_T = TypeVar("_T")


def validate(raw: bytes) -> None:
    """Raise ValidationFailed unless `raw` is an sdnList or Enhanced XML file fitting its schema."""
    fmt, root = _load(raw)
    schema = _schema(fmt)
    # Namespace-agnostic: the sdnList namespace changed between 2018 and 2024, and the content
    # model did not. Renaming the document's own namespace to the schema's (on this private tree)
    # keeps the XSDs byte-close to OFAC's; elements in any other namespace still fail.
    _rename_namespace(root, schema.target_namespace)
    errors = schema.iter_errors(root, use_location_hints=False)
    first = next(errors, None)
    if first is not None:
        count = 1 + sum(1 for _ in errors)
        reason = first.reason or first.message
        line = first.sourceline
        record = _record_reference(first.elem)
        where = f"{first.path}" + (f" (record {record})" if record else "")
        raise ValidationFailed(
            f"does not fit the OFAC {fmt} schema: {count} error(s); "
            f"first at {where}, line {line}: {reason}",
            path=first.path,
            line=line,
            reference=record,
            errors=count,
        )
    if fmt == "sdn":
        _check_record_count(root)


def validate_fast(raw: bytes) -> None:
    """`validate`, with libxml2 doing the bulk work and xmlschema explaining a rejection."""
    xml = _unzip(raw) if raw.startswith(ZIP_MAGIC) else raw
    _refuse_html(xml)
    root = parse_xml(xml, compact=True)
    fmt = _format(root)
    name = SCHEMA_FILES[fmt]
    _rename_namespace(root, xsd.target_namespace(name))
    xsd.check(root, name, lambda: validate(raw), f"OFAC {fmt}")
    if fmt == "sdn":
        _check_record_count(root)


def published(raw: bytes) -> str | None:
    """sdnList Publish_Date as YYYY-MM-DD, or Enhanced dataAsOf as published; from the head only."""
    try:
        head = _head(raw, 16384)
    except ValidationFailed:
        return None
    if match := _PUBLISH_DATE.search(head):
        month, day, year = (int(g) for g in match.groups())
        return f"{year:04d}-{month:02d}-{day:02d}"
    if match := _DATA_AS_OF.search(head):
        return match.group(1).decode("ascii", "replace")
    return None


def parse(raw: bytes) -> Iterator[Entity]:
    """Every sdnEntry or Enhanced entity, in document order."""
    fmt, root = _load(raw)
    if fmt == "sdn":
        for el in _children(root, "sdnEntry"):
            yield _sdn_entry(el)
    else:
        refs = _References(root)
        for entities in _children(root, "entities"):
            for el in _children(entities, "entity"):
                yield _enhanced_entity(el, refs)


def date_span(raw: bytes) -> tuple[int, int] | None:
    """Where the Publish_Date or dataAsOf value sits in `raw` (never inside a zip)."""
    if raw.startswith(ZIP_MAGIC):
        return None
    head = raw[:16384]
    match = _PUBLISH_DATE.search(head)
    if match is not None:
        return match.start(1), match.end(3)
    match = _DATA_AS_OF.search(head)
    if match is not None and _DATE_TIME.fullmatch(match.group(1)):
        return match.span(1)
    return None


def records(raw: bytes) -> Iterator[Entity]:
    """`parse` in bounded memory (one record at a time), for a document `validate_fast` accepted."""
    return records_part(raw, 0, 1)


def records_part(raw: bytes, part: int, parts: int) -> Iterator[Entity]:
    """`records` of every `parts`-th record from record `part` on (counting from 0), so that
    `parts` processes can share a document's parse; the others are skipped unread."""
    if raw.startswith(ZIP_MAGIC):
        raw = _unzip(raw)
    _refuse_html(raw)
    fmt = FORMATS.get(etree.QName(root_tag(raw)).localname)
    number = -1
    if fmt == "sdn":
        for el in iter_records(raw, ("{*}sdnEntry",)):
            if el.getparent() is el.getroottree().getroot():
                number += 1
                if number % parts == part:
                    yield _sdn_entry(el)
        return
    refs: _References | None = None
    for el in iter_records(raw, ("{*}entity",)):
        parent = el.getparent()
        root = el.getroottree().getroot()
        if parent is None or _local(parent.tag) != "entities" or parent.getparent() is not root:
            continue
        if refs is None:
            refs = _References(root)  # referenceValues and featureTypes precede the entities
        number += 1
        if number % parts == part:
            yield _enhanced_entity(el, refs)


# -- loading -------------------------------------------------------------------------------


def _refuse_html(raw: bytes) -> None:
    start = raw[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if start.startswith((b"<!doctype html", b"<html")):
        raise ValidationFailed("got an HTML page, not an OFAC XML file")


def _format(root: etree._Element) -> Format:
    name = etree.QName(root)
    fmt = FORMATS.get(name.localname)
    if fmt is None:
        where = f" in namespace {name.namespace}" if name.namespace else ""
        raise ValidationFailed(
            f"unexpected root element <{name.localname}>{where}: "
            "expected an OFAC <sdnList> or Enhanced XML <sanctionsData> document",
            root=name.localname,
        )
    return fmt


def _load(raw: bytes) -> tuple[Format, etree._Element]:
    if raw.startswith(ZIP_MAGIC):
        raw = _unzip(raw)
    if not raw or raw.isspace():
        raise ValidationFailed("empty document")
    _refuse_html(raw)
    root = parse_xml(raw)
    return _format(root), root


def _xml_member(archive: zipfile.ZipFile) -> zipfile.ZipInfo:
    """The archive's single .xml member, after the zip-bomb checks."""
    files = [i for i in archive.infolist() if not i.is_dir()]
    xml = [i for i in files if i.filename.lower().endswith(".xml")]
    if len(xml) != 1:
        names = ", ".join(i.filename for i in files) or "nothing"
        raise ValidationFailed(
            f"zip archive must hold exactly one .xml file, found {len(xml)} (members: {names})",
            members=[i.filename for i in files],
        )
    info = xml[0]
    if info.flag_bits & 0x1:
        raise ValidationFailed(f"zip member {info.filename} is encrypted")
    if info.compress_type not in ZIP_METHODS:
        raise ValidationFailed(
            f"zip member {info.filename} uses compression method {info.compress_type} "
            f"({_METHOD_NAMES.get(info.compress_type, 'unknown')}); only stored and deflate "
            "are accepted",
            method=info.compress_type,
        )
    if info.file_size > MAX_XML_BYTES:
        raise ValidationFailed(
            f"zip member {info.filename} unpacks to {info.file_size} bytes (limit {MAX_XML_BYTES})",
            size=info.file_size,
        )
    if info.file_size > MAX_RATIO * max(info.compress_size, 1):
        raise ValidationFailed(
            f"zip member {info.filename} has compression ratio "
            f"{info.file_size / max(info.compress_size, 1):.0f}:1 (limit {MAX_RATIO}:1), "
            "refused as a possible zip bomb",
            size=info.file_size,
            compressed=info.compress_size,
        )
    return info


def _unzip(raw: bytes, limit: int | None = None) -> bytes:
    """The single .xml member (its first `limit` bytes if given), inflated in bounded steps.

    Whatever the headers declare, at most MAX_XML_BYTES (plus one step) is ever inflated:
    deflate is asked for one chunk at a time, and the running total is checked after each."""
    want = MAX_XML_BYTES if limit is None else min(limit, MAX_XML_BYTES)
    chunks: list[bytes] = []
    size = 0
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            info = _xml_member(archive)
            with archive.open(info) as member:
                while chunk := member.read(min(_UNZIP_CHUNK, want + 1 - size)):
                    size += len(chunk)
                    chunks.append(chunk)
                    if size >= want + 1:
                        break
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise ValidationFailed(f"unreadable zip archive: {exc}") from None
    data = b"".join(chunks)
    if limit is not None:
        return data[:limit]
    if size > MAX_XML_BYTES:
        raise ValidationFailed(
            f"zip member {info.filename} inflates past {MAX_XML_BYTES} bytes "
            f"(its header declares {info.file_size}); refused as a possible zip bomb",
            size=info.file_size,
        )
    return data


def _head(raw: bytes, size: int) -> bytes:
    return _unzip(raw, size) if raw.startswith(ZIP_MAGIC) else raw[:size]


def _schema(fmt: Format) -> xmlschema.XMLSchemaBase:
    return xsd.xmlschema_of(SCHEMA_FILES[fmt])


def _rename_namespace(root: etree._Element, namespace: str | None) -> None:
    own = etree.QName(root).namespace
    if own == namespace:
        return
    prefix = f"{{{own}}}" if own else ""
    target = f"{{{namespace}}}" if namespace else ""
    for el in root.iter():
        tag = el.tag
        if isinstance(tag, str) and (tag.startswith(prefix) if own else tag[:1] != "{"):
            el.tag = target + tag[len(prefix) :]


def _check_record_count(root: etree._Element) -> None:
    # A cut-off download can still be well-formed XML; the header says how many to expect.
    declared = _clean(_first_text(root, "publshInformation", "Record_Count"))
    found = sum(1 for _ in _children(root, "sdnEntry"))
    if declared is not None and declared.isdigit() and int(declared) != found:
        raise ValidationFailed(
            f"Record_Count says {declared} entries, the document has {found}",
            declared=int(declared),
            found=found,
        )


def _record_reference(el: Any) -> str | None:
    if not isinstance(el, etree._Element):
        return None
    for node in (el, *el.iterancestors()):
        local = _local(node.tag) if isinstance(node.tag, str) else ""
        if local == "sdnEntry":
            return _clean(_first_text(node, "uid"))
        if local == "entity":
            return node.get("id")
    return None


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _children(el: etree._Element, local: str) -> Iterator[etree._Element]:
    for child in el:
        if isinstance(child.tag, str) and _local(child.tag) == local:
            yield child


def _first_text(el: etree._Element, *path: str) -> str | None:
    node: etree._Element | None = el
    for step in path:
        node = next(_children(node, step), None) if node is not None else None
    return node.text if node is not None else None


# -- records -------------------------------------------------------------------------------


class _Fields(Fields):
    """A record's children by local name, with OFAC's list containers and references."""

    clean = staticmethod(_clean)
    local_names = True

    def ref(self, tag: str, refs: _References) -> str | None:
        """An Enhanced reference value (`<tag refId="...">`), resolved through referenceValues."""
        for el in self.pop(tag):
            if value := refs.value(el.get("refId")) or _clean(el.text):
                return value
        return None

    def items(self, container: str, tag: str) -> Iterator[_Fields]:
        """Each container/tag grandchild, e.g. akaList/aka."""
        for outer in self.sub(container):
            yield from outer.sub(tag)

    def note_value(self, tag: str, value: str | None, known: Iterable[str]) -> None:
        # A value the model cannot hold (a new alias category, say) is reported, not dropped.
        if value is not None and value not in known:
            self.issues.unknown.add(f"{self.path}/{tag}={value}")


@dataclass
class _Facts:
    """What both formats publish as labelled values (sdnList idList and *List, Enhanced
    features and identityDocuments), keyed by the OFAC id of each value for a stable order."""

    unknown: set[str]
    gender: str | None = None
    birth_dates: list[tuple[int, BirthDate]] = field(default_factory=list)
    birth_places: list[tuple[int, Place]] = field(default_factory=list)
    nationalities: list[tuple[int, str]] = field(default_factory=list)
    documents: list[tuple[int, Document]] = field(default_factory=list)
    addresses: list[tuple[int, Address]] = field(default_factory=list)
    urls: list[tuple[int, str]] = field(default_factory=list)
    properties: list[tuple[int, str, str]] = field(default_factory=list)

    def add(
        self,
        key: int,
        label: str,
        value: str | None,
        *,
        country: str | None = None,
        note: str | None = None,
        detail: str | None = None,
    ) -> None:
        """One labelled value: routed to the model field its label belongs to."""
        if value is None:
            return
        folded = _fold(label)
        kind = FACTS.get(folded)
        if kind == "birth_date":
            self.birth_dates.append((key, _birth_date(value, note)))
        elif kind == "birth_place":
            self.birth_places.append((key, Place(note=value)))
        elif kind == "nationality":
            self.nationalities.append((key, value))
        elif kind == "gender":
            self.gender = value.lower()
        elif kind == "url":
            self.urls.append((key, value))
        elif _is_property(folded):
            note = f"({note})" if note and not note.startswith("(") else note
            self.properties.append((key, label, f"{value} {note}" if note else value))
        elif folded in DOCUMENT_TYPES or _is_identifier(folded):
            self.document(key, label, value, country=country, note=note)
        elif detail not in (None, "TEXT"):
            # An Enhanced feature with a DATE, LOOKUP or COUNTRY value is never an identifier.
            self.unknown.add(f"label={label}")
            self.properties.append((key, label, value))
        else:
            # A new idType is most likely a new kind of identifier: keep it as one, and say so.
            self.unknown.add(f"label={label}")
            self.document(key, label, value, country=country, note=note)

    def document(
        self,
        key: int,
        label: str,
        number: str | None,
        *,
        country: str | None = None,
        issued: str | None = None,
        expires: str | None = None,
        city_of_issue: str | None = None,
        note: str | None = None,
    ) -> None:
        self.documents.append(
            (
                key,
                Document(
                    type=DOCUMENT_TYPES.get(_fold(label), "other"),
                    number=number or "",
                    type_label=label,
                    country=country,
                    issued=issued,
                    expires=expires,
                    city_of_issue=city_of_issue,
                    note=note,
                ),
            )
        )

    def meta_properties(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for _, label, value in sorted(self.properties, key=lambda p: p[0]):
            values = out.setdefault(label, [])
            if value not in values:
                values.append(value)
        return out

    def remarks(self, published: str | None) -> str | None:
        """The published remarks, then each property as "Label: value" (OFAC's sdn.csv style).

        The model has no field for these, and meta is outside the content hash: of the 74
        records amended between the 2024-05-06 and 2025-03-28 lists, 53 changed only here
        (mostly a new "Secondary sanctions risk:"). In remarks they count as amendments.
        """
        items = [published] if published else []
        for label, values in self.meta_properties().items():
            items += [f"{label.rstrip(' :-')}: {value}" for value in values]
        return "; ".join(items) or None


def _entity(
    *,
    uid: str,
    schema: Schema,
    names: list[tuple[int, Name]],
    facts: _Facts,
    programs: Iterable[str],
    meta: dict[str, Any],
    list_type: str | None = None,
    listed_on: str | None = None,
    titles: Iterable[str] = (),
    remarks: str | None = None,
) -> Entity:
    properties = facts.meta_properties()
    if properties:
        meta["properties"] = properties  # the same, structured
    if facts.unknown:
        meta["unknown"] = sorted(facts.unknown)
    return Entity(
        id=f"{KIND}:{uid}",
        source=KIND,
        schema=schema,
        reference=uid,
        names=unique(n for _, n in sorted(names, key=lambda n: n[0])),
        list_type=list_type,
        programs=tuple(sorted({f"OFAC-{p}" for p in programs})),
        listed_on=listed_on,
        gender=facts.gender,
        titles=unique(titles),
        nationalities=_sorted_unique(facts.nationalities),
        birth_dates=_sorted_unique(facts.birth_dates),
        birth_places=_sorted_unique(facts.birth_places),
        documents=_sorted_unique(facts.documents),
        addresses=_sorted_unique(a for a in facts.addresses if a[1] != Address()),
        remarks=facts.remarks(remarks),
        urls=_sorted_unique(facts.urls),
        meta=meta,
    )


def _schema_of(f: _Fields, tag: str, value: str | None) -> Schema:
    schema = SCHEMAS.get((value or "").lower())
    if schema is None:
        # A new subject type: keep the record as an entity rather than lose it, and report it.
        f.issues.unknown.add(f"{f.path}/{tag}={value}")
        return "entity"
    return schema


# -- sdnList -------------------------------------------------------------------------------


def _sdn_entry(el: etree._Element) -> Entity:
    issues = Issues()
    f = _Fields(el, "sdnEntry", issues)
    uid = f.text("uid")
    if uid is None:
        raise ValidationFailed("sdnEntry without uid")
    schema = _schema_of(f, "sdnType", f.text("sdnType"))
    facts = _Facts(issues.unknown)
    names = [(-1, _name(*_sdn_name(f, schema), "primary"))]
    for aka in f.items("akaList", "aka"):
        category = aka.text("category")
        alias_type = (aka.text("type") or "").lower()
        aka.note_value("category", category, QUALITIES)
        aka.note_value("type", alias_type, ALIAS_TYPES)
        name = _name(
            *_sdn_name(aka, schema),
            "alias",
            quality=QUALITIES.get(category or ""),
            note=ALIAS_TYPES.get(alias_type),
        )
        names.append((_key(aka.text("uid")), name))
    for item in f.items("dateOfBirthList", "dateOfBirthItem"):
        item.pop("mainEntry")  # "true" throughout; the model keeps no preference
        facts.add(_key(item.text("uid")), "Birthdate", item.text("dateOfBirth"))
    for item in f.items("placeOfBirthList", "placeOfBirthItem"):
        item.pop("mainEntry")
        facts.add(_key(item.text("uid")), "Place of Birth", item.text("placeOfBirth"))
    for label, (container, tag) in (
        ("Nationality Country", ("nationalityList", "nationality")),
        ("Citizenship Country", ("citizenshipList", "citizenship")),
    ):
        for item in f.items(container, tag):
            item.pop("mainEntry")
            facts.add(_key(item.text("uid")), label, item.text("country"))
    for item in f.items("idList", "id"):
        key, label = _key(item.text("uid")), item.text("idType") or "unknown"
        number, country = item.text("idNumber"), item.text("idCountry")
        issued, expires = _date(item.text("issueDate")), _date(item.text("expirationDate"))
        folded = _fold(label)
        if folded in DOCUMENT_TYPES or _is_identifier(folded):
            facts.document(key, label, number, country=country, issued=issued, expires=expires)
        else:
            facts.add(key, label, number, country=country)
    for adr in f.items("addressList", "address"):
        street = ", ".join(adr.texts("address1") + adr.texts("address2") + adr.texts("address3"))
        country, region = adr.text("country"), adr.text("stateOrProvince")
        if country and country.startswith(_REGION):
            # Gaza and the West Bank: sdnList says "Region: Gaza" in the country field, where
            # the Enhanced XML has a REGION part and no country.
            region = ", ".join(p for p in (region, country[len(_REGION) :]) if p)
            country = None
        address = Address(
            street=street or None,
            city=adr.text("city"),
            region=region,
            postal_code=adr.text("postalCode"),
            country=country,
        )
        facts.addresses.append((_key(adr.text("uid")), address))
    for vessel in f.sub("vesselInfo"):
        for tag, label in VESSEL_FIELDS.items():
            facts.add(0, label, vessel.text(tag))
    programs = [p for lst in f.sub("programList") for p in lst.texts("program")]
    titles = f.texts("title")
    remarks = f.text("remarks")
    f.close()
    return _entity(
        uid=uid,
        schema=schema,
        names=names,
        facts=facts,
        programs=programs,
        meta={},
        titles=titles,
        remarks=remarks,
    )


def _sdn_name(f: _Fields, schema: Schema) -> tuple[str | None, str | None]:
    """firstName and lastName of an sdnEntry or aka."""
    first, last = f.text("firstName"), f.text("lastName")
    if schema == "person" and first is None and last and last.count(", ") == 1:
        # Weak akas of individuals come as lastName "ZAHAR, Mahmoud" (the Enhanced XML
        # gives the same alias as first and last name).
        last, first = last.split(", ")
    return first, last


def _name(
    first: str | None,
    last: str | None,
    kind: NameKind,
    *,
    quality: Quality | None = None,
    note: str | None = None,
) -> Name:
    """firstName lastName (the published order of an individual's name; entities have lastName)."""
    parts = tuple(p for p in (first, last) if p)
    return Name(full=" ".join(parts), kind=kind, quality=quality, parts=parts, note=note)


# -- Enhanced XML ----------------------------------------------------------------------------


class _References:
    """referenceValues (refId -> value) and featureTypes (featureTypeId -> label, detail type)."""

    def __init__(self, root: etree._Element) -> None:
        self.values: dict[str, str] = {}
        self.features: dict[str, tuple[str, str | None]] = {}
        for values in _children(root, "referenceValues"):
            for el in _children(values, "referenceValue"):
                ref, value = el.get("refId"), _clean(_first_text(el, "value"))
                if ref and value:
                    self.values[ref] = value
        for types in _children(root, "featureTypes"):
            for el in _children(types, "featureType"):
                ref, label = el.get("featureTypeId"), _clean(_first_text(el, "type"))
                if ref and label:
                    detail = next(_children(el, "detailType"), None)
                    detail_value = self.value(detail.get("refId")) if detail is not None else None
                    self.features[ref] = (label, detail_value)

    def value(self, ref: str | None) -> str | None:
        return self.values.get(ref) if ref else None


def _enhanced_entity(el: etree._Element, refs: _References) -> Entity:
    issues = Issues()
    f = _Fields(el, "entity", issues)
    uid = _clean(el.get("id"))
    if uid is None:
        raise ValidationFailed("Enhanced XML entity without id")
    facts = _Facts(issues.unknown)
    meta: dict[str, Any] = {}
    schema: Schema = "entity"
    titles: tuple[str, ...] = ()
    remarks: str | None = None
    for info in f.sub("generalInfo"):
        meta["identity_id"] = info.text("identityId")
        schema = _schema_of(info, "entityType", info.ref("entityType", refs))
        titles, remarks = info.texts("title"), info.text("remarks")
        for tag in ("livingStatus", "isUsCitizen", "isUsPerson"):
            if value := info.ref(tag, refs):
                meta[tag] = value
    lists: list[tuple[str, str | None]] = []
    for container in f.sub("sanctionsLists"):
        for el_list in container.pop("sanctionsList"):
            name = _ref_text(el_list, refs)
            if name:
                lists.append((name, _clean(el_list.get("datePublished"))))
    list_names = sorted({name for name, _ in lists})
    own = [(name, date) for name, date in lists if name not in UMBRELLA_LISTS]
    list_type = None
    if list_names:
        list_type = "SDN" if "SDN List" in list_names else "Non-SDN"
        meta["lists"] = list_names
    listed_on = min((d for _, d in own if d), default=None)
    programs = [
        _ref_text(p, refs) for c in f.sub("sanctionsPrograms") for p in c.pop("sanctionsProgram")
    ]
    for tag, child, key in (
        ("sanctionsTypes", "sanctionsType", "sanctions_types"),
        ("legalAuthorities", "legalAuthority", "legal_authorities"),
    ):
        values = [_ref_text(e, refs) for c in f.sub(tag) for e in c.pop(child)]
        if found := sorted({v for v in values if v}):
            meta[key] = found
    names = _enhanced_names(f, refs)
    for adr in f.items("addresses", "address"):
        _enhanced_address(adr, refs, facts)
    for feature in f.items("features", "feature"):
        _enhanced_feature(feature, refs, facts)
    for doc in f.items("identityDocuments", "identityDocument"):
        _enhanced_document(doc, refs, facts)
    relationships = []
    for rel in f.items("relationships", "relationship"):
        related = rel.pop("relatedEntity")
        item = {
            "type": rel.ref("type", refs),
            "entity": f"{KIND}:{related[0].get('entityId')}" if related else None,
            "name": _clean(related[0].text) if related else None,
            "quality": rel.ref("quality", refs),
            "comments": rel.text("comments"),
        }
        rel.pop("dateRange")
        relationships.append((_key(rel.el.get("id")), {k: v for k, v in item.items() if v}))
    if relationships:
        meta["relationships"] = [r for _, r in sorted(relationships, key=lambda r: r[0])]
    f.close()
    return _entity(
        uid=uid,
        schema=schema,
        names=names,
        facts=facts,
        programs=[p for p in programs if p],
        meta={k: v for k, v in meta.items() if v},
        list_type=list_type,
        listed_on=listed_on,
        titles=titles,
        remarks=remarks,
    )


def _enhanced_names(f: _Fields, refs: _References) -> list[tuple[int, Name]]:
    names: list[tuple[int, Name]] = []
    for name in f.items("names", "name"):
        primary = name.text("isPrimary") == "true"
        alias_type = (name.ref("aliasType", refs) or "a.k.a.").lower()
        name.note_value("aliasType", alias_type, ALIAS_TYPES)
        low = name.text("isLowQuality") == "true"
        quality: Quality | None = None if primary else ("weak" if low else "strong")
        note = None if primary else ALIAS_TYPES.get(alias_type)
        # The primary name first, as in sdnList (its name id is not the lowest).
        key = -1 if primary else _key(name.el.get("id"))
        for tr in name.items("translations", "translation"):
            tr.pop("nameParts")  # formattedFirst/LastName carry the same parts, cased
            tr.pop("formattedFullName")  # "LAST, First": rebuilt in sdnList order below
            tr_primary = tr.text("isPrimary") == "true"
            kind: NameKind = "primary" if primary and tr_primary else "alias"
            if tr.ref("script", refs) not in (None, "Latin"):
                # Arabic and Chinese translations have the whole name, in natural order, as
                # formattedLastName; Cyrillic ones may have first and last names.
                kind = "original"
            first, last = tr.text("formattedFirstName"), tr.text("formattedLastName")
            if first or last:
                names.append((key, _name(first, last, kind, quality=quality, note=note)))
    return names


def _enhanced_address(adr: _Fields, refs: _References, facts: _Facts) -> None:
    key = _key(adr.el.get("id"))
    country = adr.ref("country", refs)
    for translations in adr.sub("translations"):
        country = translations.ref("country", refs) or country
        for tr in translations.sub("translation"):
            tr.pop("isPrimary")
            tr.pop("script")  # Latin first, then e.g. Cyrillic: each becomes an Address
            parts: dict[str, list[str]] = {}
            for part in tr.items("addressParts", "addressPart"):
                kind = part.ref("type", refs)
                part.note_value("type", kind, ADDRESS_PARTS)
                value = part.text("value")
                if kind in ADDRESS_PARTS and value:
                    parts.setdefault(ADDRESS_PARTS[kind], []).append(value)
            fields = {k: ", ".join(v) for k, v in parts.items()}
            facts.addresses.append((key, Address(country=country, **fields)))
    if not any(k == key for k, _ in facts.addresses):
        facts.addresses.append((key, Address(country=country)))


def _enhanced_feature(feature: _Fields, refs: _References, facts: _Facts) -> None:
    types = feature.pop("type")
    ref = types[0].get("featureTypeId") if types else None
    label, detail = refs.features.get(ref or "", (None, None))
    label = label or (_clean(types[0].text) if types else None) or "unknown"
    value_ref = feature.text("valueRefId")
    value = refs.value(value_ref) or feature.text("value")
    feature.pop("value")
    for tag in ("versionId", "isPrimary", "reliability"):
        feature.pop(tag)  # bookkeeping; every real file has reliability Confirmed or Reported
    period = _periods(feature, "valueDate")
    value = value or period
    facts.add(
        _FEATURE_KEY + _key(feature.el.get("id")),
        label,
        value,
        note=feature.text("comments"),
        detail=detail,
    )


def _enhanced_document(doc: _Fields, refs: _References, facts: _Facts) -> None:
    label = doc.ref("type", refs) or "unknown"
    doc.pop("name")  # which of the subject's names the document is in
    doc.pop("idFeatures")  # e.g. "Gender: Male", repeated from the entity's features
    authority = doc.text("issuingAuthority")
    notes = (
        doc.text("comments"),
        f"issued by {authority}" if authority else None,
        "marked not valid by OFAC" if doc.text("isValid") == "false" else None,
    )
    note = "; ".join(n for n in notes if n)
    issued = _periods(doc, "issueDate")
    expires = _periods(doc, "expirationDate")
    country, location = doc.ref("issuingCountry", refs), doc.text("issuingLocation")
    facts.document(
        _key(doc.el.get("id")),
        label,
        doc.text("documentNumber"),
        country=country,
        issued=issued,
        expires=expires,
        city_of_issue=location if location != country else None,  # mostly the country again
        note=note or None,
    )


def _ref_text(el: etree._Element, refs: _References) -> str | None:
    return refs.value(el.get("refId")) or _clean(el.text)


def _periods(f: _Fields, tag: str) -> str | None:
    """The first `tag` datePeriodType child as one date string."""
    values = [_period(p) for p in f.sub(tag)]
    return next((v for v in values if v), None)


def _period(f: _Fields) -> str | None:
    """A datePeriodType as one date string: YYYY-MM-DD, YYYY-MM, YYYY, or an ISO interval."""
    begin, end = f.text("fromDateBegin"), f.text("toDateEnd")
    for tag in ("fromDateEnd", "toDateBegin", "isApproximate", "isDateRange"):
        f.pop(tag)
    if not begin or not end:
        return begin or end
    if begin == end:
        return begin
    if begin[5:] == "01-01" and end[5:] == "12-31" and begin[:4] == end[:4]:
        return begin[:4]
    if begin[:7] == end[:7] and begin[8:] == "01" and end == _month_end(end[:7]):
        return begin[:7]
    return f"{begin}/{end}"


def _month_end(month: str) -> str:
    year, number = int(month[:4]), int(month[5:7])
    return f"{month}-{calendar.monthrange(year, number)[1]:02d}"


# -- values --------------------------------------------------------------------------------


def _birth_date(text: str, note: str | None = None) -> BirthDate:
    """OFAC birth dates: 1962, Jan 1962, 12 Jan 1962, circa 1962, 1960 to 1962, 01 Mar 1961 to
    31 Mar 1962. Ranges keep only years in the model, so a range finer than whole years keeps
    the published text as note."""
    approximate = False
    value = text
    if match := _CIRCA.match(value):
        approximate, value = True, value[match.end() :]
    low, sep, high = value.partition(" to ")
    if sep:
        start, end = _date(low), _date(high)
        if start and end and start[:4].isdigit() and end[:4].isdigit():
            whole = len(start) == 4 or start[4:] in ("-01", "-01-01")
            whole = whole and (len(end) == 4 or end[4:] in ("-12", "-12-31"))
            return BirthDate(
                from_year=int(start[:4]),
                to_year=int(end[:4]),
                approximate=approximate,
                note=note if whole else "; ".join(n for n in (text, note) if n),
            )
    elif (date := _date(value)) and date[:4].isdigit():
        return BirthDate(date=date, approximate=approximate, note=note)
    return BirthDate(approximate=approximate, note="; ".join(n for n in (text, note) if n))


def _date(value: str | None) -> str | None:
    """OFAC "12 Jan 1962" / "Jan 1962" / "1962" as YYYY-MM-DD / YYYY-MM / YYYY; else unchanged."""
    if value is None:
        return None
    match = _OFAC_DATE.fullmatch(value.strip())
    if match is None:
        return value
    day, month, year = match.groups()
    if month is None:
        return year if day is None else value
    number = _MONTHS.get(month.lower())
    if number is None:
        return value
    return f"{year}-{number:02d}" + (f"-{int(day):02d}" if day else "")


def _fold(label: str) -> str:
    return _WHITESPACE.sub(" ", label.replace("\u2019", "'")).strip().casefold()


def _is_identifier(folded: str) -> bool:
    return folded in IDENTIFIERS or folded.startswith(IDENTIFIER_PREFIXES)


def _is_property(folded: str) -> bool:
    return folded in PROPERTIES or folded.startswith(PROPERTY_PREFIXES)


def _key(value: str | None) -> int:
    """Sort key from an OFAC uid/id; records without one go last, in document order."""
    return int(value) if value and value.isdigit() else 1 << 62


def _sorted_unique(items: Iterable[tuple[int, _T]]) -> tuple[_T, ...]:
    """Values ordered by their OFAC id (stable), duplicates removed."""
    return unique(v for _, v in sorted(items, key=lambda kv: kv[0]))
