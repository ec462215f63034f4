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
