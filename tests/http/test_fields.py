"""The field specs check exactly what they state: for every bounded parameter and body
field of every operation, the values just inside the stated bounds pass and those just
outside are refused with a 400 that names the field."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from listd.api.openapi import operations, spec
from listd.errors import BadRequest
from listd.http.fields import Body, Field, Int, Num, Obj, QChoice, QInt, Text
from listd.http.openapi import document
from listd.http.table import Operation, Routes


def _query(name: str, value: object) -> web.Request:
    return make_mocked_request("GET", f"/x?{name}={value}")


def _fields(shape: Obj) -> Iterator[Field]:
    for f in shape.fields:
        yield f
        if isinstance(f, Obj):
            yield from _fields(f)


def _body_fields() -> list[tuple[str, Field]]:
    found = []
    for op in operations():
        if isinstance(op.body, Body):
            found += [(f"{op.method} {op.path}", f) for f in _fields(op.body.shape)]
    return found


QUERY_INTS = [
    (f"{op.method} {op.path}", p) for op in operations() for p in op.params if isinstance(p, QInt)
]


@pytest.mark.parametrize(("op", "param"), QUERY_INTS, ids=[f"{o} {p.name}" for o, p in QUERY_INTS])
def test_query_integers_hold_their_stated_bounds(op: str, param: QInt) -> None:
    schema = param.schema()
    assert (schema["minimum"], schema["maximum"]) == (param.lo, param.hi)
    assert param.read(_query(param.name, param.lo)) == param.lo
    assert param.read(_query(param.name, param.hi)) == param.hi
    assert param.read(make_mocked_request("GET", "/x")) == schema["default"]
    for outside in (param.lo - 1, param.hi + 1, "x"):
        with pytest.raises(BadRequest) as refused:
            param.read(_query(param.name, outside))
        assert refused.value.detail["field"] == param.name


def test_query_choices_take_only_their_options() -> None:
    choices = [p for op in operations() for p in op.params if isinstance(p, QChoice)]
    assert len(choices) >= 5
    for param in choices:
        assert param.schema() == {"enum": list(param.options)}
        for option in param.options:
            assert param.read(_query(param.name, option)) == option
        with pytest.raises(BadRequest) as refused:
            param.read(_query(param.name, "nonsense"))
        assert refused.value.detail["field"] == param.name


BODY = _body_fields()
NUMBERS = [(o, f) for o, f in BODY if isinstance(f, Int | Num)]
TEXTS = [(o, f) for o, f in BODY if isinstance(f, Text)]


@pytest.mark.parametrize(("op", "spec_"), NUMBERS, ids=[f"{o} {f.name}" for o, f in NUMBERS])
def test_body_numbers_hold_their_stated_bounds(op: str, spec_: Int | Num) -> None:
    stated = spec_.schema({})["anyOf"][0]
    assert (stated["minimum"], stated["maximum"]) == (spec_.lo, spec_.hi)

    def read(value: Any) -> Any:
        data = {spec_.name: value}
        return spec_.read(data) if isinstance(spec_, Int) else spec_.read(data, 0.0)

    assert read(spec_.lo) == spec_.lo and read(spec_.hi) == spec_.hi
    assert read(None) == (spec_.default if isinstance(spec_, Int) else 0.0)
    step = 1 if isinstance(spec_, Int) else 0.0001
    for outside in (spec_.lo - step, spec_.hi + step, "1", True):
        with pytest.raises(BadRequest) as refused:
            read(outside)
        assert refused.value.detail["field"] == spec_.name


@pytest.mark.parametrize(("op", "spec_"), TEXTS, ids=[f"{o} {f.name}" for o, f in TEXTS])
def test_body_texts_hold_their_stated_length(op: str, spec_: Text) -> None:
    stated = spec_.schema({})
    stated = stated if spec_.required else stated["anyOf"][0]
    assert stated["maxLength"] == spec_.max_len
    assert spec_.read({spec_.name: "a" * spec_.max_len}) == "a" * spec_.max_len
    with pytest.raises(BadRequest) as refused:
        spec_.read({spec_.name: "a" * (spec_.max_len + 1)})
    assert refused.value.detail["field"] == spec_.name
    if spec_.required:
        with pytest.raises(BadRequest):
            spec_.read({})
        if type(spec_) is Text:  # a subclass may state its own rule (an e-mail pattern)
            assert stated["minLength"] == 1


def test_every_operation_is_declared_once() -> None:
    keys = [op.key for op in operations()]
    assert len(keys) == len(set(keys)) >= 55
    described = {(m.upper(), p) for p, item in spec()["paths"].items() for m in item}
    assert described == set(keys)


async def test_the_document_follows_the_declaration() -> None:
    routes = Routes("tests")

    async def handler(request: web.Request) -> web.Response:
        return web.json_response({})

    limit = QInt("limit", lo=1, hi=5, default=2)
    routes.post(
        "/v1/things/{id}",
        "A thing.",
        roles=("screener",),
        ok={200: {"description": "OK"}},
        params=(limit,),
        body=Body(Obj("thing", fields=(Text("label", required=True, max_len=9),))),
    )(handler)
    routes.get("/ping", "Ping.", roles=None, public=True, ok={200: {"description": "OK"}})(handler)
    (thing, ping) = list(routes)
    assert isinstance(thing, Operation) and not thing.anonymous and ping.public
    doc = document(routes, {"openapi": "3.1.0"}, {})
    post = doc["paths"]["/v1/things/{id}"]["post"]
    assert post["x-listd-roles"] == ["screener"] and "security" not in post
    assert sorted(post["responses"]) == ["200", "400", "401", "403", "413", "429", "503"]
    assert [p["name"] for p in post["parameters"]] == ["id", "limit"]
    body = post["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["label"] and body["additionalProperties"] is False
    assert body["properties"]["label"]["maxLength"] == 9
    get = doc["paths"]["/ping"]["get"]
    assert get["security"] == [] and sorted(get["responses"]) == ["200"]


def test_refusals_read_as_they_always_did() -> None:
    from listd.api import operator, routes
    from listd.notifications import routes as notifications

    cases: list[tuple[Any, str]] = [
        (lambda: routes.THRESHOLD.read({"threshold": 2}, 0.7), "between 0.0 and 1.0"),
        (lambda: routes.LIMIT.read({"limit": 0}), "limit must be between 1 and 100"),
        (lambda: routes.TYPE.read({"type": "ship"}), "type must be one of person, entity or null"),
        (lambda: notifications.THRESHOLD.read({"threshold": 0.4}, 0.9), "between 0.5 and 1.0"),
        (lambda: notifications.OVERLAP.read({"overlap_hours": -1}, 1), "between 0.0 and 720"),
        (lambda: operator.OVERLAP.optional({"overlap_hours": 721}), "between 0 and 720"),
        (lambda: operator.EXPIRES_DAYS.optional({"expires_days": 0}), "between 0.001 and 3650"),
        (lambda: operator.RATE_LIMIT.read({"rate_limit": "9"}), "rate_limit must be an integer"),
        (lambda: routes.HISTORY_LIMIT.read(_query("limit", 501)), "between 1 and 500"),
    ]
    for read, message in cases:
        with pytest.raises(BadRequest) as refused:
            read()
        assert message in refused.value.message
