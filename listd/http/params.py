"""Fields and parameters several rooms declare alike: the legal basis a screening or an
entity read states (checked by `listd.audit.basis_from`, which also writes it to the
journal entry), a delta's class, a source's name."""

from __future__ import annotations

from listd.basis import BASES
from listd.basis import CASE_REF_PATTERN as _CASE_REF
from listd.http.fields import Declared, QChoice, QText, Schema, nullable
from listd.pipeline.delta import CLASSES

CASE_REF_PATTERN = f"^{_CASE_REF}$"

BASIS = Declared(
    "basis",
    required=True,
    shape={"enum": list(BASES)},
    description="The legal ground of the request.",
)
CASE_REF = Declared("case_ref", shape=nullable({"type": "string", "pattern": CASE_REF_PATTERN}))
# case_ref is required for an authority's request or "other".
CASE_REF_RULE: Schema = {
    "if": {"properties": {"basis": {"enum": ["authority_request", "other"]}}},
    "then": {"required": ["case_ref"], "properties": {"case_ref": {"type": "string"}}},
}
IN_QUERY = (
    QText(
        "basis",
        shape={"enum": list(BASES)},
        required=True,
        description="The legal ground of the read.",
    ),
    QText(
        "case_ref",
        shape={"type": "string", "pattern": CASE_REF_PATTERN},
        description="Required for authority_request and other.",
    ),
)

DELTA_CLASS = QChoice(
    "class", options=CLASSES, description="Only identity changes, or only details."
)
SOURCE = QText("source")  # a configured source name (unknown: 404)
