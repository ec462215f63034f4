"""GET /openapi.json: served without a credential, and in step with the app's routes."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate
from redis.asyncio import Redis

from listd.api import create_app
from listd.api.openapi import spec
from listd.settings import Settings
from tests.helpers import auth

Client = TestClient[Any, Any]
METHODS = {"get", "post", "put", "patch", "delete"}


def described() -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in spec()["paths"].items()
        for method in item
        if method in METHODS
    }


def registered(settings: Settings, redis: Redis) -> set[tuple[str, str]]:
    app = create_app(settings, redis)
    # HEAD is added by aiohttp for every GET and answers like it.
    return {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }


def test_every_route_is_described_and_nothing_else(settings: Settings, redis: Redis) -> None:
    routes = registered(settings, redis)
    assert len(routes) >= 50
    assert sorted(routes - described()) == [], "routes missing from TABLES"
    assert sorted(described() - routes) == [], "described operations the app does not have"


def test_a_valid_openapi_3_1_document() -> None:
    validate(spec())  # raises, naming the offending part, if it is not


def test_path_parameters_and_references_resolve() -> None:
    doc = spec()
    schemas = doc["components"]["schemas"]
    refs = re.findall(r"'\$ref': '#/components/schemas/(\w+)'", repr(doc))
    assert refs and set(refs) <= set(schemas)
    for path, item in doc["paths"].items():
        in_path = set(re.findall(r"{(\w+)}", path))
        for method, op in item.items():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == in_path, (method, path)
            assert op["responses"], (method, path)
            roles = op.get("x-listd-roles")
            # No credential needed: exactly the public probes and the application form.
            public = op.get("security") == []
            assert public == (roles is None), (method, path)


def test_errors_documented_as_the_middleware_writes_them() -> None:
    error = spec()["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"error", "message"}
    assert {"field", "retry_after"} <= set(error["properties"])
    screen = spec()["paths"]["/v1/screen"]["post"]
    assert {"400", "401", "403", "413", "429", "503"} <= set(screen["responses"])
    request = spec()["components"]["schemas"]["ScreenRequest"]
    assert request["required"] == ["name", "basis"]
    assert request["properties"]["limit"]["anyOf"][0] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "default": 10,
    }


async def test_served_without_a_credential(
    settings: Settings,
    redis: Redis,
    keys: dict[str, str],
    aiohttp_client: Callable[..., Awaitable[Client]],
) -> None:
    client = await aiohttp_client(create_app(settings, redis))
    resp = await client.get("/openapi.json")
    assert resp.status == 200
    doc = await resp.json()
    assert doc["openapi"].startswith("3.1")
    assert doc["paths"]["/v1/screen"]["post"]["x-listd-roles"] == ["screener"]
    assert doc["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    # The real error shape, as the description says.
    resp = await client.post(
        "/v1/screen", json={"basis": "onboarding"}, headers=auth(keys["screener"])
    )
    assert resp.status == 400
    assert await resp.json() == {
        "error": "bad_request",
        "message": "name is required",
        "field": "name",
    }
