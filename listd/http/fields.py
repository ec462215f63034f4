"""Typed field specs: each one both validates its part of a request (naming the field in
the 400 answer) and emits the JSON Schema the OpenAPI document states for it.

A handler reads a value through its spec (`LIMIT.read(request)`, `THRESHOLD.read(body)`),
so the bounds a request is checked against are the bounds the description shows. Fields
whose rule lives in the domain (an API key name, a BIN checksum, a webhook URL, the legal
basis) are `Declared`: the spec states the schema, the domain function checks it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from listd.http import body as v

Schema = dict[str, Any]
Components = dict[str, Schema]
JSON = "application/json"


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def obj(props: dict[str, Schema], required: tuple[str, ...] = (), *, closed: bool = True) -> Schema:
    """An object schema (an answer's shape; a request's is an `Obj` of field specs)."""
    schema: Schema = {"type": "object", "properties": props}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


OBJECT = ref("Object")  # any JSON object
OBJECTS: Schema = {"type": "array", "items": OBJECT}


def _described(schema: Schema, description: str) -> Schema:
    return schema | {"description": description} if description else schema


# --- body fields ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Field:
    """One member of a JSON object body."""

    name: str
    required: bool = field(default=False, kw_only=True)
    description: str = field(default="", kw_only=True)

    def schema(self, components: Components) -> Schema:
        return _described(self._schema(components), self.description)

    def _schema(self, components: Components) -> Schema:
        raise NotImplementedError


@dataclass(frozen=True)
class Text(Field):
    """A string, stripped (unless `strip` is off); empty counts as absent."""

    max_len: int = 500
    strip: bool = True

    def read(self, data: Mapping[str, Any]) -> str | None:
        return v.string(
            dict(data), self.name, required=self.required, max_len=self.max_len, strip=self.strip
        )

    def _schema(self, components: Components) -> Schema:
        schema: Schema = {"type": "string", "maxLength": self.max_len}
        if self.required:
            return schema | {"minLength": 1, "pattern": r"\S"}
        return nullable(schema)


@dataclass(frozen=True)
class Int(Field):
    """An integer in lo..hi; absent or null means `default`."""

    lo: int = 0
    hi: int = 2**62
    default: int = 0

    def read(self, data: Mapping[str, Any]) -> int:
        return v.integer(dict(data), self.name, self.default, self.lo, self.hi)

    def _schema(self, components: Components) -> Schema:
        return nullable(
            {"type": "integer", "minimum": self.lo, "maximum": self.hi, "default": self.default}
        )


@dataclass(frozen=True)
class Num(Field):
    """A number in lo..hi; absent or null means the caller's default."""

    lo: float = 0
    hi: float = 1

    def read(self, data: Mapping[str, Any], default: float) -> float:
        return v.number(dict(data), self.name, default, self.lo, self.hi)

    def optional(self, data: Mapping[str, Any]) -> float | None:
        """The number, or None when absent or null."""
        return None if data.get(self.name) is None else self.read(data, 0.0)

    def _schema(self, components: Components) -> Schema:
        return nullable({"type": "number", "minimum": self.lo, "maximum": self.hi})


@dataclass(frozen=True)
class Choice(Field):
    """One of `options`, or null."""

    options: tuple[str, ...] = ()
    default: str | None = None
    null_in_enum: bool = False  # state null as an option rather than as an alternative

    def read(self, data: Mapping[str, Any]) -> str | None:
        return v.choice(dict(data), self.name, self.options) or self.default

    def _schema(self, components: Components) -> Schema:
        if self.null_in_enum:
            return {"enum": [*self.options, None]}
        schema = nullable({"enum": list(self.options)})
        return schema if self.default is None else schema | {"default": self.default}


@dataclass(frozen=True)
class Strings(Field):
    """A list of strings (blank ones dropped), or null."""

    def read(self, data: Mapping[str, Any]) -> tuple[str, ...]:
        return v.string_list(dict(data), self.name)

    def _schema(self, components: Components) -> Schema:
        return nullable({"type": "array", "items": {"type": "string", "maxLength": 500}})


@dataclass(frozen=True)
class Array(Field):
    """A non-empty list of at most `max_items` members, each an `item`."""

    item: Field | None = None
    max_items: int = 0

    def _schema(self, components: Components) -> Schema:
        schema: Schema = {"type": "array", "minItems": 1, "maxItems": self.max_items}
        if self.item is not None:
            schema["items"] = self.item.schema(components)
        return schema


@dataclass(frozen=True)
class Declared(Field):
    """A field whose rule a domain function checks; the spec states its schema."""

    shape: Schema = field(default_factory=dict)

    def _schema(self, components: Components) -> Schema:
        return self.shape


@dataclass(frozen=True)
class Obj(Field):
    """A JSON object of fields; closed objects refuse unknown members. With `component`,
    the schema is stated once under components/schemas and referenced."""

    fields: tuple[Field, ...] = ()
    closed: bool = True
    component: str = ""
    rule: Schema = field(default_factory=dict)  # e.g. an if/then across members

    def names(self) -> set[str]:
        return {f.name for f in self.fields}

    def reject_unknown(self, data: dict[str, Any]) -> None:
        if self.closed:
            v.reject_unknown(data, self.names())

    def _schema(self, components: Components) -> Schema:
        schema: Schema = {
            "type": "object",
            "properties": {f.name: f.schema(components) for f in self.fields},
        }
        required = [f.name for f in self.fields if f.required]
        if required:
            schema["required"] = required
        if self.closed:
            schema["additionalProperties"] = False
        schema |= self.rule
        if not self.component:
            return schema
        components[self.component] = schema
        return ref(self.component)

    def with_fields(self, *more: Field, component: str = "", rule: Schema | None = None) -> Obj:
        """This object with more members (a request is a query plus its legal basis)."""
        return Obj(
            self.name,
            fields=(*self.fields, *more),
            closed=self.closed,
            component=component,
            rule=self.rule if rule is None else rule,
        )


# --- request bodies -------------------------------------------------------------------------
@dataclass(frozen=True)
class Body:
    """A request body: a JSON object of `shape`'s fields, at most `max_bytes` long."""

    shape: Obj
    required: bool = True
    max_bytes: int = v.DEFAULT_MAX_BODY
    example: Any = None

    async def json(self, request: web.Request) -> dict[str, Any]:
        """The body as a JSON object, members not yet checked (413 over `max_bytes`)."""
        return await v.json_object(request, max_bytes=self.max_bytes)

    async def read(self, request: web.Request) -> dict[str, Any]:
        """The body, unknown members refused; an optional body that is absent reads {}."""
        if not self.required and not request.body_exists:
            return {}
        found = await self.json(request)
        self.shape.reject_unknown(found)
        return found

    def request_body(self, components: Components) -> Schema:
        media: Schema = {"schema": self.shape.schema(components)}
        if self.example is not None:
            media["example"] = self.example
        return {"required": self.required, "content": {JSON: media}}


@dataclass(frozen=True)
class RawBody:
    """A body that is not a JSON object (an uploaded file), read by its handler."""

    description: str
    content: Schema

    def request_body(self, components: Components) -> Schema:
        return {"required": True, "description": self.description, "content": self.content}


# --- parameters -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Param:
    """A query (or header) parameter."""

    name: str
    description: str = field(default="", kw_only=True)
    required: bool = field(default=False, kw_only=True)
    where: str = field(default="query", kw_only=True)

    def parameter(self) -> Schema:
        param: Schema = {
            "name": self.name,
            "in": self.where,
            "required": self.required,
            "schema": self.schema(),
        }
        if self.description:
            param["description"] = self.description
        return param

    def schema(self) -> Schema:
        raise NotImplementedError

    def raw(self, request: web.Request) -> str | None:
        """The value as sent, None when absent or empty."""
        return request.query.get(self.name) or None


@dataclass(frozen=True)
class QInt(Param):
    lo: int = 0
    hi: int = 2**62
    default: int = 0

    def read(self, request: web.Request) -> int:
        return v.query_int(request, self.name, self.default, self.lo, self.hi)

    def schema(self) -> Schema:
        return {"type": "integer", "minimum": self.lo, "maximum": self.hi, "default": self.default}


@dataclass(frozen=True)
class QChoice(Param):
    """Absent, empty, or one of `options`."""

    options: tuple[str, ...] = ()

    def read(self, request: web.Request) -> str | None:
        return v.query_choice(request, self.name, self.options)

    def schema(self) -> Schema:
        return {"enum": list(self.options)}


@dataclass(frozen=True)
class QText(Param):
    """Free text (or a rule a domain function checks, stated in `shape`)."""

    shape: Schema = field(default_factory=lambda: {"type": "string"})

    def read(self, request: web.Request) -> str | None:
        return self.raw(request)

    def schema(self) -> Schema:
        return self.shape


def path_parameter(name: str, description: str = "") -> Schema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string", "minLength": 1},
        "description": description or name,
    }
