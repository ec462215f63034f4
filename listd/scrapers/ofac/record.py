"""What both OFAC formats' records share: the field reader, the labelled facts, the entity
they become, and the values (cleaning, dates, ids)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from operator import itemgetter
from typing import TYPE_CHECKING, Any, TypeVar

from lxml import etree

from listd.model import (
    Address,
    BirthDate,
    Document,
    Entity,
    Name,
    NameKind,
    Place,
    Quality,
    Schema,
)
from listd.scrapers import toolkit
from listd.scrapers.ofac.labels import (
    DOCUMENT_TYPES,
    FACTS,
    IDENTIFIER_PREFIXES,
    IDENTIFIERS,
    PROPERTIES,
    PROPERTY_PREFIXES,
    SCHEMAS,
)
from listd.scrapers.toolkit import cleaner, unique

if TYPE_CHECKING:
    from listd.scrapers.ofac.enhanced import References

KIND = "ofac"

_WHITESPACE = re.compile(r"\s+")
# Enhanced XML wraps Arabic names in RLE...PDF; bidi controls are layout, not name.
clean = cleaner(drop="\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff")
MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_OFAC_DATE = re.compile(r"(?:(\d{1,2}) )?(?:([A-Za-z]{3}) )?(\d{4})")
_CIRCA = re.compile(r"(?i)(?:circa|approximately|approx\.?|about|c\.)\s+")

_T = TypeVar("_T")
_first = itemgetter(0)  # the OFAC id of an (id, value) pair, the sort key
_NO_ADDRESS = Address()


def local_name(tag: str) -> str:
    return tag.rpartition("}")[2]


def children_named(el: etree._Element, local: str) -> Iterator[etree._Element]:
    for child in el:
        if isinstance(child.tag, str) and local_name(child.tag) == local:
            yield child


def first_text(el: etree._Element, *path: str) -> str | None:
    node: etree._Element | None = el
    for step in path:
        node = next(children_named(node, step), None) if node is not None else None
    return node.text if node is not None else None


# -- records -------------------------------------------------------------------------------


class Fields(toolkit.Fields):
    """A record's children by local name, with OFAC's list containers and references."""

    clean = staticmethod(clean)
    local_names = True

    def ref(self, tag: str, refs: References) -> str | None:
        """An Enhanced reference value (`<tag refId="...">`), resolved through referenceValues."""
        for el in self.pop(tag):
            if value := refs.value(el.get("refId")) or clean(el.text):
                return value
        return None

    def items(self, container: str, tag: str) -> Iterator[Fields]:
        """Each container/tag grandchild, e.g. akaList/aka."""
        for outer in self.sub(container):
            yield from outer.sub(tag)

    def note_value(self, tag: str, value: str | None, known: Iterable[str]) -> None:
        # A value the model cannot hold (a new alias category, say) is reported, not dropped.
        if value is not None and value not in known:
            self.issues.unknown.add(f"{self.path}/{tag}={value}")


@dataclass
class Facts:
    """What both formats publish as labelled values (sdnList idList and *List, Enhanced
    features and identityDocuments), keyed by the OFAC id of each value for a stable order."""

    unknown: set[str]
    gender: str | None = None
    birth_dates: list[tuple[int, BirthDate]] = field(default_factory=list)
    birth_places: list[tuple[int, Place]] = field(default_factory=list)
    nationalities: list[tuple[int, str]] = field(default_factory=list)
    documents: list[tuple[int, Document]] = field(default_factory=list)
    addresses: list[tuple[int, Address]] = field(default_factory=list)
    urls: list[tuple[int, str]] = field(default_factory=list)
    properties: list[tuple[int, str, str]] = field(default_factory=list)

    def add(
        self,
        key: int,
        label: str,
        value: str | None,
        *,
        country: str | None = None,
        note: str | None = None,
        detail: str | None = None,
    ) -> None:
        """One labelled value: routed to the model field its label belongs to."""
        if value is None:
            return
        folded = fold_label(label)
        kind = FACTS.get(folded)
        if kind == "birth_date":
            self.birth_dates.append((key, birth_date(value, note)))
        elif kind == "birth_place":
            self.birth_places.append((key, Place(note=value)))
        elif kind == "nationality":
            self.nationalities.append((key, value))
        elif kind == "gender":
            self.gender = value.lower()
        elif kind == "url":
            self.urls.append((key, value))
        elif is_property(folded):
            note = f"({note})" if note and not note.startswith("(") else note
            self.properties.append((key, label, f"{value} {note}" if note else value))
        elif folded in DOCUMENT_TYPES or is_identifier(folded):
            self.document(key, label, value, country=country, note=note)
        elif detail not in (None, "TEXT"):
            # An Enhanced feature with a DATE, LOOKUP or COUNTRY value is never an identifier.
            self.unknown.add(f"label={label}")
            self.properties.append((key, label, value))
        else:
            # A new idType is most likely a new kind of identifier: keep it as one, and say so.
            self.unknown.add(f"label={label}")
            self.document(key, label, value, country=country, note=note)

    def document(
        self,
        key: int,
        label: str,
        number: str | None,
        *,
        country: str | None = None,
        issued: str | None = None,
        expires: str | None = None,
        city_of_issue: str | None = None,
        note: str | None = None,
    ) -> None:
        self.documents.append(
            (
                key,
                Document(
                    type=DOCUMENT_TYPES.get(fold_label(label), "other"),
                    number=number or "",
                    type_label=label,
                    country=country,
                    issued=issued,
                    expires=expires,
                    city_of_issue=city_of_issue,
                    note=note,
                ),
            )
        )

    def meta_properties(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        if not self.properties:
            return out
        for _, label, value in sorted(self.properties, key=_first):
            values = out.setdefault(label, [])
            if value not in values:
                values.append(value)
        return out

    def remarks(
        self, published: str | None, properties: dict[str, list[str]] | None = None
    ) -> str | None:
        """The published remarks, then each property as "Label: value" (OFAC's sdn.csv style).

        The model has no field for these, and meta is outside the content hash: of the 74
        records amended between the 2024-05-06 and 2025-03-28 lists, 53 changed only here
        (mostly a new "Secondary sanctions risk:"). In remarks they count as amendments.
        """
        items = [published] if published else []
        if properties is None:
            properties = self.meta_properties()
        for label, values in properties.items():
            items += [f"{label.rstrip(' :-')}: {value}" for value in values]
        return "; ".join(items) or None


def make_entity(
    *,
    uid: str,
    schema: Schema,
    names: list[tuple[int, Name]],
    facts: Facts,
    programs: Iterable[str],
    meta: dict[str, Any],
    list_type: str | None = None,
    listed_on: str | None = None,
    titles: Iterable[str] = (),
    remarks: str | None = None,
) -> Entity:
    properties = facts.meta_properties()
    if properties:
        meta["properties"] = properties  # the same, structured
    if facts.unknown:
        meta["unknown"] = sorted(facts.unknown)
    return Entity(
        id=f"{KIND}:{uid}",
        source=KIND,
        schema=schema,
        reference=uid,
        names=unique(n for _, n in sorted(names, key=_first)),
        list_type=list_type,
        programs=tuple(sorted({f"OFAC-{p}" for p in programs})),
        listed_on=listed_on,
        gender=facts.gender,
        titles=unique(titles),
        nationalities=sorted_unique(facts.nationalities),
        birth_dates=sorted_unique(facts.birth_dates),
        birth_places=sorted_unique(facts.birth_places),
        documents=sorted_unique(facts.documents),
        addresses=sorted_unique(a for a in facts.addresses if a[1] != _NO_ADDRESS),
        remarks=facts.remarks(remarks, properties),
        urls=sorted_unique(facts.urls),
        meta=meta,
    )


def schema_of(f: Fields, tag: str, value: str | None) -> Schema:
    schema = SCHEMAS.get((value or "").lower())
    if schema is None:
        # A new subject type: keep the record as an entity rather than lose it, and report it.
        f.issues.unknown.add(f"{f.path}/{tag}={value}")
        return "entity"
    return schema


# -- values --------------------------------------------------------------------------------


def birth_date(text: str, note: str | None = None) -> BirthDate:
    """OFAC birth dates: 1962, Jan 1962, 12 Jan 1962, circa 1962, 1960 to 1962, 01 Mar 1961 to
    31 Mar 1962. Ranges keep only years in the model, so a range finer than whole years keeps
    the published text as note."""
    approximate = False
    value = text
    if match := _CIRCA.match(value):
        approximate, value = True, value[match.end() :]
    low, sep, high = value.partition(" to ")
    if sep:
        start, end = parse_day(low), parse_day(high)
        if start and end and start[:4].isdigit() and end[:4].isdigit():
            whole = len(start) == 4 or start[4:] in ("-01", "-01-01")
            whole = whole and (len(end) == 4 or end[4:] in ("-12", "-12-31"))
            return BirthDate(
                from_year=int(start[:4]),
                to_year=int(end[:4]),
                approximate=approximate,
                note=note if whole else "; ".join(n for n in (text, note) if n),
            )
    elif (date := parse_day(value)) and date[:4].isdigit():
        return BirthDate(date=date, approximate=approximate, note=note)
    return BirthDate(approximate=approximate, note="; ".join(n for n in (text, note) if n))


def parse_day(value: str | None) -> str | None:
    """OFAC "12 Jan 1962" / "Jan 1962" / "1962" as YYYY-MM-DD / YYYY-MM / YYYY; else unchanged."""
    if value is None:
        return None
    match = _OFAC_DATE.fullmatch(value.strip())
    if match is None:
        return value
    day, month, year = match.groups()
    if month is None:
        return year if day is None else value
    number = MONTHS.get(month.lower())
    if number is None:
        return value
    return f"{year}-{number:02d}" + (f"-{int(day):02d}" if day else "")


@lru_cache(maxsize=4096)  # a few hundred labels, met tens of thousands of times a list
def fold_label(label: str) -> str:
    return _WHITESPACE.sub(" ", label.replace("\u2019", "'")).strip().casefold()


def is_identifier(folded: str) -> bool:
    return folded in IDENTIFIERS or folded.startswith(IDENTIFIER_PREFIXES)


def is_property(folded: str) -> bool:
    return folded in PROPERTIES or folded.startswith(PROPERTY_PREFIXES)


def id_key(value: str | None) -> int:
    """Sort key from an OFAC uid/id; records without one go last, in document order."""
    return int(value) if value and value.isdigit() else 1 << 62


def sorted_unique(items: Iterable[tuple[int, _T]]) -> tuple[_T, ...]:
    """Values ordered by their OFAC id (stable), duplicates removed."""
    ordered = sorted(items, key=_first)
    if len(ordered) < 2:  # most lists of a record hold one value or none
        return (ordered[0][1],) if ordered else ()
    return unique(v for _, v in ordered)


def make_name(
    first: str | None,
    last: str | None,
    kind: NameKind,
    *,
    quality: Quality | None = None,
    note: str | None = None,
) -> Name:
    """firstName lastName (the published order of an individual's name; entities have lastName)."""
    parts = tuple(p for p in (first, last) if p)
    return Name(full=" ".join(parts), kind=kind, quality=quality, parts=parts, note=note)
