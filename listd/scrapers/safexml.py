"""Parsing official XML safely: no DTD, no entities, no network, bounded size.

Sanctions lists never carry a DOCTYPE, so a document with one can only be an
attack (entity-expansion bombs, external entities) or a broken download; it is
refused before libxml2 reads the DTD, and checked again after parsing.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

from lxml import etree

from listd.errors import ValidationFailed

_ELEMENT_START = re.compile(rb"<[A-Za-z_:]")
# XML 1.0 appendix F: how a document in a wide encoding begins (with or without a BOM).
_WIDE = (
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
    (b"<\x00?\x00", "utf-16-le"),
    (b"\x00<\x00?", "utf-16-be"),
)


def _head(raw: bytes) -> bytes:
    """The document's first 64 KiB as ASCII-compatible bytes, so the DOCTYPE check also
    sees through UTF-16 and UTF-32."""
    head = raw[: 1 << 16]
    for mark, codec in _WIDE:
        if head.startswith(mark):
            return head.decode(codec, errors="ignore").encode("utf-8", errors="ignore")
    return head


def _refuse_doctype(raw: bytes) -> None:
    if not raw or raw.isspace():
        raise ValidationFailed("empty document")
    head = _head(raw)
    root_start = _ELEMENT_START.search(head)
    prolog = head[: root_start.start()] if root_start else head
    if b"<!DOCTYPE" in prolog.upper():
        raise ValidationFailed("document has a DOCTYPE declaration, refused")


def _not_well_formed(exc: etree.XMLSyntaxError) -> ValidationFailed:
    line, column = exc.position
    return ValidationFailed(
        f"not well-formed XML at line {line}, column {column}: {exc.msg}",
        line=line,
        column=column,
    )


def parse_xml(raw: bytes, *, compact: bool = False) -> etree._Element:
    """The root element of `raw`, or ValidationFailed naming what is wrong.

    `compact` drops whitespace-only text between elements (a third less memory for
    indented files); validation against an element-only content model does not see it."""
    _refuse_doctype(raw)
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        remove_blank_text=compact,
    )
    try:
        root = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as exc:
        raise _not_well_formed(exc) from None
    info = root.getroottree().docinfo
    if info.internalDTD is not None or info.externalDTD is not None:
        raise ValidationFailed("document has a DOCTYPE declaration, refused")
    return root


def _iterparse(raw: bytes, **options: Any) -> etree.iterparse:
    """An event parser over `raw` with the same hardening as `parse_xml` (no DOCTYPE, no
    entities, no network, no huge trees)."""
    _refuse_doctype(raw)
    return etree.iterparse(
        io.BytesIO(raw),
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        **options,
    )


def root_tag(raw: bytes) -> str:
    """The root element's tag (`{namespace}name`), read from the head of the document only."""
    events = _iterparse(raw, events=("start",))
    try:
        for _, el in events:
            return str(el.tag)
    except etree.XMLSyntaxError as exc:
        raise _not_well_formed(exc) from None
    raise ValidationFailed("no root element")


def iter_records(raw: bytes, tags: tuple[str, ...]) -> Iterator[etree._Element]:
    """Each element named in `tags` once it is complete, in document order; in bounded memory.

    Each record is emptied once the caller moves on, and removed from its parent, so a
    110 MB list never stands in memory as one tree. Well-formedness (including a
    truncated end) is checked to the last byte; no schema is applied here."""
    events = _iterparse(raw, events=("end",), tag=tags, remove_blank_text=True)
    try:
        for _, el in events:
            yield el
            el.clear(keep_tail=False)
            parent = el.getparent()
            if parent is not None:
                while el.getprevious() is not None:
                    del parent[0]
    except etree.XMLSyntaxError as exc:
        raise _not_well_formed(exc) from None
    info = events.root.getroottree().docinfo if events.root is not None else None
    if info is not None and (info.internalDTD is not None or info.externalDTD is not None):
        raise ValidationFailed("document has a DOCTYPE declaration, refused")


def record_cuts(raw: bytes, name: bytes, parts: int) -> list[int] | None:
    """Where to cut the run of records named `name` into `parts` contiguous shares of about
    equal size: [first record's start, the second share's start, ..., the end of the last
    record], each a record's start; or None where a byte scan cannot tell for certain.

    For a document its schema check accepts (no record within another, all of them siblings:
    OFAC's sdnEntry, entity) and where every `<` opens a tag: no comment, CDATA section or
    processing instruction after the prolog (a DOCTYPE is refused anyway), and no record
    under a namespace prefix before the first or after the last unprefixed one. A share is
    then parsed as `chunk_document` makes it, without reading the rest of the records."""
    first_tag = _ELEMENT_START.search(raw)
    if first_tag is None or parts < 2:
        return None
    body = first_tag.start()
    for mark in (b"!", b"?"):  # a single byte: found at memchr's speed
        at = raw.find(mark, body)
        while at != -1:
            if raw[at - 1 : at] == b"<":
                return None
            at = raw.find(mark, at + 1)
    first = _find_tag(raw, b"<" + name, body)
    last = _rfind_tag(raw, b"</" + name)
    if first == -1 or last < first:
        return None
    end = raw.find(b">", last) + 1
    prefixed = b":" + name
    if prefixed in raw[body:first] or prefixed in raw[end:]:
        return None
    cuts = [first]
    for share in range(1, parts):
        cut = _find_tag(raw, b"<" + name, first + (end - first) * share // parts)
        cuts.append(max(cuts[-1], end if cut == -1 or cut > last else cut))
    cuts.append(end)
    return cuts


def chunk_document(raw: bytes, cuts: list[int], share: int) -> bytes:
    """The document `raw` with only the `share`-th run of records that `record_cuts` found: its
    head and its end as they are, and the records before the run replaced by as many newlines
    (and spaces), so that every element keeps its line and column."""
    skipped = raw[cuts[0] : cuts[share]]
    newlines = skipped.count(b"\n")
    column = len(skipped) - skipped.rfind(b"\n") - 1 if newlines else len(skipped)
    return b"".join(
        (
            raw[: cuts[0]],
            b"\n" * newlines,
            b" " * column,
            raw[cuts[share] : cuts[share + 1]],
            raw[cuts[-1] :],
        )
    )


def _find_tag(raw: bytes, opening: bytes, start: int) -> int:
    """Where the first tag `opening` (`<name` or `</name`) at or after `start` begins, not a
    longer name's (`<entityType` for `<entity`); -1 if there is none."""
    after = len(opening)
    at = raw.find(opening, start)
    while at != -1 and raw[at + after : at + after + 1] not in _NAME_END:
        at = raw.find(opening, at + 1)
    return at


def _rfind_tag(raw: bytes, opening: bytes) -> int:
    """`_find_tag` from the end."""
    after = len(opening)
    at = raw.rfind(opening)
    while at != -1 and raw[at + after : at + after + 1] not in _NAME_END:
        at = raw.rfind(opening, 0, at)
    return at


_NAME_END = frozenset((b" ", b"\t", b"\r", b"\n", b">", b"/"))
