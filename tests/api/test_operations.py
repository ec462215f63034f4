"""The operations /openapi.json describes, compared with a snapshot taken before the
routes were declared in one table: who may call what, with which parameters and bodies,
answering which statuses. Wording (descriptions, examples, summaries) may change; the
contract may not. A deliberate change of the contract updates the snapshot with
`LISTD_UPDATE_SNAPSHOT=1 pytest tests/api/test_operations.py`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from listd.api.openapi import spec

SNAPSHOT = Path(__file__).parent / "operations.json"
METHODS = ("get", "post", "put", "patch", "delete")
WORDING = {"description", "example", "summary"}


def _resolve(node: Any, schemas: dict[str, Any]) -> Any:
    """`node` with every $ref replaced by what it names and the wording left out."""
    if isinstance(node, dict):
        if set(node) == {"$ref"}:
            return _resolve(schemas[node["$ref"].rsplit("/", 1)[1]], schemas)
        return {k: _resolve(v, schemas) for k, v in node.items() if k not in WORDING}
    if isinstance(node, list):
        return [_resolve(v, schemas) for v in node]
    return node


def operations(doc: dict[str, Any]) -> dict[str, Any]:
    schemas = doc["components"]["schemas"]
    found: dict[str, Any] = {}
    for path, item in doc["paths"].items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            found[f"{method.upper()} {path}"] = {
                "roles": op.get("x-listd-roles"),
                "security": op.get("security"),
                "parameters": sorted(
                    (_resolve(p, schemas) for p in op.get("parameters", [])),
                    key=lambda p: (p["in"], p["name"]),
                ),
                "body": _resolve(op.get("requestBody"), schemas),
                "responses": sorted(op["responses"]),
            }
    return found


def test_the_described_operations_match_the_snapshot() -> None:
    found = operations(spec())
    if os.environ.get("LISTD_UPDATE_SNAPSHOT"):
        SNAPSHOT.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
    expected = json.loads(SNAPSHOT.read_text())
    assert sorted(found) == sorted(expected)
    for operation, contract in expected.items():
        assert json.loads(json.dumps(found[operation])) == contract, operation
