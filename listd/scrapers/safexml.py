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


def parse_xml(raw: bytes) -> etree._Element:
    """The root element of `raw`, or ValidationFailed naming what is wrong."""
    if not raw or raw.isspace():
        raise ValidationFailed("empty document")
    root_start = _ELEMENT_START.search(raw)
    if root_start and b"<!DOCTYPE" in raw[: root_start.start()].upper():
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
