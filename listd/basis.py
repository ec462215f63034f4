"""The legal basis of a request: every screening and entity read states why it is made.

Request validation, not journal code: routes and the console API check it with
`basis_from`; the journal only records what they found.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from listd.errors import BadRequest

# The legal ground of a screening or an entity read.
BASES = ("onboarding", "transaction", "periodic_review", "authority_request", "other")
BASIS_FIELDS = frozenset({"basis", "case_ref"})
# A competent authority's request always has a reference, and "other" must say what it is.
_CASE_REF_REQUIRED = frozenset({"authority_request", "other"})
# One pattern for the check here (on the stripped value) and the published JSON schema
# (listd.http.params anchors it): 1-200 of these characters, not starting with a space.
CASE_REF_PATTERN = r"[\w\-./:#()][\w\-./:#() ]{0,199}"
_CASE_REF = re.compile(CASE_REF_PATTERN)


@dataclass(frozen=True, slots=True)
class Basis:
    """Why a screening or entity read was made: the legal ground and the case reference."""

    basis: str
    case_ref: str | None = None


def basis_from(values: Mapping[str, Any]) -> Basis:
    """The basis of a request body or query string; 400 names `basis` or `case_ref`."""
    basis = values.get("basis")
    if basis is None or basis == "":
        raise BadRequest(
            f"basis is required: the legal ground of the request ({', '.join(BASES)})",
            field="basis",
        )
    if basis not in BASES:
        raise BadRequest(f"basis must be one of {', '.join(BASES)}", field="basis")
    case_ref = values.get("case_ref")
    if case_ref is not None and not isinstance(case_ref, str):
        raise BadRequest("case_ref must be a string", field="case_ref")
    case_ref = (case_ref or "").strip() or None
    if case_ref is not None and not _CASE_REF.fullmatch(case_ref):
        raise BadRequest(
            "case_ref must be 1-200 letters, digits, spaces or - . / : # ( )", field="case_ref"
        )
    if case_ref is None and basis in _CASE_REF_REQUIRED:
        raise BadRequest(f"case_ref is required when basis is {basis}", field="case_ref")
    return Basis(str(basis), case_ref)


__all__ = ["BASES", "BASIS_FIELDS", "Basis", "basis_from"]
