"""Parsing official XML safely: no DTD, no entities, no network, bounded size.

Sanctions lists never carry a DOCTYPE, so a document with one can only be an
attack (entity-expansion bombs, external entities) or a broken download; it is
refused before libxml2 reads the DTD, and checked again after parsing.
"""

from __future__ import annotations

import re

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


def parse_xml(raw: bytes) -> etree._Element:
    """The root element of `raw`, or ValidationFailed naming what is wrong."""
    if not raw or raw.isspace():
        raise ValidationFailed("empty document")
    head = _head(raw)
    root_start = _ELEMENT_START.search(head)
    prolog = head[: root_start.start()] if root_start else head
    if b"<!DOCTYPE" in prolog.upper():
        raise ValidationFailed("document has a DOCTYPE declaration, refused")
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False
    )
    try:
        root = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as exc:
        line, column = exc.position
        raise ValidationFailed(
            f"not well-formed XML at line {line}, column {column}: {exc.msg}",
            line=line,
            column=column,
        ) from None
    info = root.getroottree().docinfo
    if info.internalDTD is not None or info.externalDTD is not None:
        raise ValidationFailed("document has a DOCTYPE declaration, refused")
    return root
