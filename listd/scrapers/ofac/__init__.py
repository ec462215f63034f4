"""OFAC (US Treasury): the classic sdnList XML and the Enhanced XML, plain or zipped.

Formats and quirks: ../shared/data/SOURCES.md section 3. sdn.xml and consolidated.xml are
`sdnList` documents; SDN_ENHANCED.XML, CONS_ENHANCED.XML and the per-programme exports are
`sanctionsData` documents. Both formats carry the same OFAC numbers: an Enhanced `entity/@id` is
the sdnList `uid`, and alias, birth-date and document ids are shared too, so one person gets the
same entity id (and sub-records the same order) whichever format is configured.

This module reads the document (zip, format, validation, dates); `sdn` and `enhanced` read
the records of each format, into what `record` holds for both (field reader, facts, values),
under the vocabulary of `labels`.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

from lxml import etree

if TYPE_CHECKING:
    import xmlschema

from listd.errors import ValidationFailed
from listd.model import Entity
from listd.scrapers import xsd
from listd.scrapers.ofac import enhanced, sdn
from listd.scrapers.ofac.record import KIND, children_named, clean, first_text, local_name
from listd.scrapers.ofac.record import birth_date as _birth_date  # its name before the split
from listd.scrapers.safexml import iter_records, parse_xml, root_tag
from listd.scrapers.safexml import record_cuts as record_cuts_of

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

_PUBLISH_DATE = re.compile(rb"<(?:[\w.-]+:)?Publish_Date>\s*(\d{1,2})/(\d{1,2})/(\d{4})\s*<")
_DATA_AS_OF = re.compile(rb"<(?:[\w.-]+:)?dataAsOf>\s*([^<\s]{1,64})\s*<")

_DATE_TIME = re.compile(rb"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?")


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
        for el in children_named(root, "sdnEntry"):
            yield sdn.entry(el)
    else:
        refs = enhanced.References(root)
        for entities in children_named(root, "entities"):
            for el in children_named(entities, "entity"):
                yield enhanced.entity(el, refs)


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
                    yield sdn.entry(el)
        return
    refs: enhanced.References | None = None
    for el in iter_records(raw, ("{*}entity",)):
        parent = el.getparent()
        root = el.getroottree().getroot()
        if parent is None or local_name(parent.tag) != "entities" or parent.getparent() is not root:
            continue
        if refs is None:
            # referenceValues and featureTypes precede the entities
            refs = enhanced.References(root)
        number += 1
        if number % parts == part:
            yield enhanced.entity(el, refs)


_RECORD_NAMES: dict[Format, bytes] = {"sdn": b"sdnEntry", "enhanced": b"entity"}


def record_cuts(raw: bytes, parts: int) -> list[int] | None:
    """Where to cut the records into `parts` contiguous shares (safexml.record_cuts), so that
    each of `parts` processes parses the head and its share only; None for a zip, or where the
    records cannot be found for certain by a byte scan."""
    if raw.startswith(ZIP_MAGIC):
        return None
    try:
        fmt = FORMATS.get(etree.QName(root_tag(raw)).localname)
    except ValidationFailed:
        return None
    return record_cuts_of(raw, _RECORD_NAMES[fmt], parts) if fmt is not None else None


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
    declared = clean(first_text(root, "publshInformation", "Record_Count"))
    found = sum(1 for _ in children_named(root, "sdnEntry"))
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
        local = local_name(node.tag) if isinstance(node.tag, str) else ""
        if local == "sdnEntry":
            return clean(first_text(node, "uid"))
        if local == "entity":
            return node.get("id")
    return None


__all__ = [
    "KIND",
    "FORMATS",
    "SCHEMA_FILES",
    "date_span",
    "parse",
    "published",
    "records",
    "record_cuts",
    "records_part",
    "validate",
    "validate_fast",
    "_birth_date",
]
