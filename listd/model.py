"""The one entity model every source is normalised into.

Plain frozen dataclasses so parsers stay pure and entities hash, compare and
serialise deterministically (the delta engine diffs their canonical JSON).
"""

from __future__ import annotations

import hashlib
import json
from _json import make_encoder
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from functools import cache
from json.encoder import encode_basestring
from operator import attrgetter
from typing import Any, Literal

Schema = Literal["person", "entity", "vessel", "aircraft"]
NameKind = Literal["primary", "alias", "original"]
# Alias quality as published: UN individuals use good/low, UN entities a.k.a./f.k.a.
Quality = Literal["good", "low", "aka", "fka", "weak", "strong"]


@dataclass(frozen=True, slots=True)
class Name:
    """One way of writing the subject's name."""

    full: str
    kind: NameKind = "alias"
    quality: Quality | None = None
    script: str | None = None  # dominant Unicode script: Latin, Cyrillic, Arabic...
    latin: str | None = None  # transliteration when the name is not in Latin script
    parts: tuple[str, ...] = ()  # name parts in published order (UN FIRST..FOURTH_NAME)
    note: str | None = None


@dataclass(frozen=True, slots=True)
class BirthDate:
    """A birth date as precise as the list states it: YYYY, YYYY-MM or YYYY-MM-DD, or a range."""

    date: str | None = None
    from_year: int | None = None
    to_year: int | None = None
    approximate: bool = False
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Place:
    """A place of birth."""

    city: str | None = None
    region: str | None = None
    country: str | None = None
    street: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Address:
    """A postal address, as fragmentary as the list gives it."""

    street: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Document:
    """An identity document: passport, national id, Kazakh IIN/BIN, ..."""

    type: str  # passport | national_id | iin | bin | tax_id | other
    number: str
    type_label: str | None = None  # as published, e.g. "diplomatic passport"
    country: str | None = None
    issued: str | None = None
    expires: str | None = None
    city_of_issue: str | None = None
    note: str | None = None
    valid: bool | None = None  # checksum/structure check where the type has one
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Entity:
    """A designated person or organisation, normalised from any source."""

    id: str  # "<source>:<stable reference>", e.g. "un:QDi.001"
    source: str
    schema: Schema
    reference: str
    names: tuple[Name, ...]
    list_type: str | None = None  # the source's own list/regime label, e.g. UN "Al-Qaida"
    programs: tuple[str, ...] = ()  # normalised programme tags, e.g. "UN-1267"
    listed_on: str | None = None
    updated_on: tuple[str, ...] = ()
    gender: str | None = None
    titles: tuple[str, ...] = ()
    positions: tuple[str, ...] = ()
    nationalities: tuple[str, ...] = ()
    birth_dates: tuple[BirthDate, ...] = ()
    birth_places: tuple[Place, ...] = ()
    documents: tuple[Document, ...] = ()
    addresses: tuple[Address, ...] = ()
    remarks: str | None = None
    urls: tuple[str, ...] = ()
    # Source bookkeeping that is not part of the designation (UN DATAID, row numbers,
    # parse warnings). Excluded from the content hash so re-serialisation is no change.
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def primary_name(self) -> str:
        for name in self.names:
            if name.kind == "primary":
                return name.full
        return self.names[0].full if self.names else self.reference

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)  # type: ignore[no-any-return]

    def content(self) -> dict[str, Any]:
        """The designation itself: everything but `meta`."""
        data = self.to_dict()
        del data["meta"]
        return data

    def content_hash(self) -> str:
        return hashlib.sha256(canonical_json(self.content())).hexdigest()

    def encode(self) -> tuple[bytes, str]:
        """`entity_to_json(self)` and `self.content_hash()`, converting the entity once."""
        # With sorted keys, the entity's JSON is its content's JSON with `"meta":...` spliced
        # in before the first field sorting after "meta". The content is one call of the C
        # encoder, which needs not sort: the fields and each record's (`_record`) come in
        # sorted order, and no content field holds a dict (tests/test_model.py checks).
        values = dict(zip(_FIELDS, _ENTITY_VALUES(self), strict=True))
        content = "".join(_content_encoder(values, 0)).encode()
        meta = _encode_fields(self.meta) if self.meta else b"{}"
        # The first `,"names":` is that key: a quote inside a string is escaped.
        at = content.index(_AFTER_META) + 1
        encoded = b"".join((content[:at], b'"meta":', meta, b",", content[at:]))
        return encoded, hashlib.sha256(content).hexdigest()


@cache
def _field_names(kind: Any) -> tuple[str, ...] | None:
    if not hasattr(kind, "__dataclass_fields__"):
        return None
    return tuple(f.name for f in fields(kind))


def _plain(value: Any) -> Any:
    """What `dataclasses.asdict` gives for the model's values (JSON-equal), without its deep
    copies: several times faster, which counts at 20,000 entities a sync."""
    kind: Any = type(value)
    if kind is tuple or kind is list:
        return [_plain(v) for v in value]
    if kind is dict:
        return {k: _plain(v) for k, v in value.items()}
    names = _field_names(kind)
    if names is None:
        return value
    return {name: _plain(getattr(value, name)) for name in names}


def canonical_json(data: Any) -> bytes:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8."""
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def _record(value: Any) -> dict[str, Any]:
    """A model record (Name, Address...) as `_plain` gives it, for the encoder's `default`:
    its fields in sorted order, so that an encoder that does not sort keys writes them
    as one that does."""
    kind: Any = type(value)
    reader = _readers.get(kind)
    if reader is None:
        declared = _field_names(kind)
        if declared is None:
            raise TypeError(f"Object of type {kind.__name__} is not JSON serializable")
        found = tuple(sorted(declared))
        getter: Callable[[Any], tuple[Any, ...]]
        if len(found) > 1:
            getter = attrgetter(*found)
        else:  # attrgetter of one name gives the value, not a 1-tuple
            getter = lambda v: tuple(getattr(v, name) for name in found)  # noqa: E731
        reader = _readers[kind] = (found, getter)
    names, getter = reader
    return dict(zip(names, getter(value), strict=True))


_readers: dict[type, tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]] = {}


# What `canonical_json(_plain(value))` does, as one C call: json.dumps builds a new encoder
# each call, and the C encoder takes tuples as lists and asks `_record` for the records.
_encoder = make_encoder(None, _record, encode_basestring, None, ":", ",", True, False, True)
# The same without sorting the keys, for a dict whose keys and records' keys come sorted.
_content_encoder = make_encoder(
    None, _record, encode_basestring, None, ":", ",", False, False, True
)


def _encode_fields(data: dict[str, Any]) -> bytes:
    """`canonical_json(_plain(data))` for a dict of model values."""
    return "".join(_encoder(data, 0)).encode()


_FIELDS = tuple(sorted(f.name for f in fields(Entity) if f.name != "meta"))
_ENTITY_VALUES = attrgetter(*_FIELDS)
_AFTER_META = b',"' + next(name for name in _FIELDS if name > "meta").encode() + b'":'


def _tuple_of(cls: type[Any], items: Any) -> tuple[Any, ...]:
    return tuple(cls(**_fix(cls, item)) for item in items or ())


def _fix(cls: type[Any], data: dict[str, Any]) -> dict[str, Any]:
    # JSON turns tuples into lists; frozen dataclasses want them back as tuples.
    out = dict(data)
    for f in fields(cls):
        if f.name in out and isinstance(out[f.name], list):
            out[f.name] = tuple(out[f.name])
    return out


def entity_from_dict(data: dict[str, Any]) -> Entity:
    """Rebuild an Entity from `Entity.to_dict()` output (e.g. read back from Redis)."""
    return Entity(
        id=data["id"],
        source=data["source"],
        schema=data["schema"],
        reference=data["reference"],
        names=_tuple_of(Name, data.get("names")),
        list_type=data.get("list_type"),
        programs=tuple(data.get("programs") or ()),
        listed_on=data.get("listed_on"),
        updated_on=tuple(data.get("updated_on") or ()),
        gender=data.get("gender"),
        titles=tuple(data.get("titles") or ()),
        positions=tuple(data.get("positions") or ()),
        nationalities=tuple(data.get("nationalities") or ()),
        birth_dates=_tuple_of(BirthDate, data.get("birth_dates")),
        birth_places=_tuple_of(Place, data.get("birth_places")),
        documents=_tuple_of(Document, data.get("documents")),
        addresses=_tuple_of(Address, data.get("addresses")),
        remarks=data.get("remarks"),
        urls=tuple(data.get("urls") or ()),
        meta=dict(data.get("meta") or {}),
    )


def entity_to_json(entity: Entity) -> bytes:
    return canonical_json(entity.to_dict())


def entity_from_json(raw: bytes | str) -> Entity:
    return entity_from_dict(json.loads(raw))
