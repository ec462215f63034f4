"""libxml2 (lxml.etree.XMLSchema) as the fast validator of the packaged XSDs.

xmlschema stays the authority: it loads and checks the same XSDs and explains a rejection
(element path, record, line). libxml2 does the bulk work, 40-130x faster on full-size lists:
a document it accepts is accepted; one it refuses is handed to xmlschema for the precise
explanation, and refused even if xmlschema would disagree. tests/scrapers/test_xsd.py checks
that both agree on every real file and on hostile ones. The AFM schemas use XSD 1.1
(xs:all with xs:any, notQName), which libxml2 does not implement: those lists keep xmlschema.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lxml import etree

from listd.errors import ValidationFailed

if TYPE_CHECKING:
    import xmlschema

# Package data next to this module (pyproject's package-data "scrapers/schemas/*.xsd"). Not
# importlib.resources.files(): on Python 3.11 it raises NotADirectoryError when listd is
# imported through a setuptools editable finder that maps it as a namespace package.
SCHEMAS = Path(__file__).with_name("schemas")


@cache
def xmlschema_of(name: str, *, v11: bool = False) -> xmlschema.XMLSchemaBase:
    """The packaged XSD `name`, loaded by xmlschema (XSD 1.1 with `v11`), never fetching."""
    import xmlschema  # here: 0.2 s to import, wanted only to explain a refusal (and for AFM)

    kind = xmlschema.XMLSchema11 if v11 else xmlschema.XMLSchema
    return kind(io.BytesIO((SCHEMAS / name).read_bytes()), allow="none")


@cache
def libxml2(name: str) -> etree.XMLSchema:
    """The packaged XSD `name`, compiled by libxml2 (never fetching anything)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.parse(str(SCHEMAS / name), parser))


@cache
def target_namespace(name: str) -> str | None:
    return etree.parse(str(SCHEMAS / name)).getroot().get("targetNamespace")


def check(root: etree._Element, name: str, explain: Callable[[], None], what: str) -> None:
    """Accept `root` if libxml2 finds it valid against XSD `name`; else raise the precise
    ValidationFailed of `explain()` (xmlschema), or libxml2's own if xmlschema accepts."""
    schema = libxml2(name)
    if schema.validate(root):
        return
    log: Any = schema.error_log  # lxml-stubs lack filter_from_errors
    errors = log.filter_from_errors()
    explain()
    first = errors[0] if errors else None
    where = f"first at {first.path}, line {first.line}: {first.message}" if first else "no detail"
    raise ValidationFailed(
        f"does not fit the {what} schema: {len(errors)} error(s); {where}",
        path=first.path if first else None,
        line=first.line if first else None,
        errors=len(errors),
    )
