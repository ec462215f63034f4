"""OFAC's Enhanced XML (sanctionsData): entities with features, resolved through the
document's referenceValues and featureTypes."""

from __future__ import annotations

import calendar
from typing import Any

from lxml import etree

from listd.errors import ValidationFailed
from listd.model import (
    Address,
    Entity,
    Name,
    NameKind,
    Quality,
    Schema,
)
from listd.scrapers.ofac.labels import (
    ADDRESS_PARTS,
    ALIAS_TYPES,
    FEATURE_KEY,
    UMBRELLA_LISTS,
)
from listd.scrapers.ofac.record import (
    KIND,
    Facts,
    Fields,
    children_named,
    clean,
    first_text,
    id_key,
    make_entity,
    make_name,
    schema_of,
)
from listd.scrapers.toolkit import Issues

# -- Enhanced XML ----------------------------------------------------------------------------


class References:
    """referenceValues (refId -> value) and featureTypes (featureTypeId -> label, detail type)."""

    def __init__(self, root: etree._Element) -> None:
        self.values: dict[str, str] = {}
        self.features: dict[str, tuple[str, str | None]] = {}
        for values in children_named(root, "referenceValues"):
            for el in children_named(values, "referenceValue"):
                ref, value = el.get("refId"), clean(first_text(el, "value"))
                if ref and value:
                    self.values[ref] = value
        for types in children_named(root, "featureTypes"):
            for el in children_named(types, "featureType"):
                ref, label = el.get("featureTypeId"), clean(first_text(el, "type"))
                if ref and label:
                    detail = next(children_named(el, "detailType"), None)
                    detail_value = self.value(detail.get("refId")) if detail is not None else None
                    self.features[ref] = (label, detail_value)

    def value(self, ref: str | None) -> str | None:
        return self.values.get(ref) if ref else None


def entity(el: etree._Element, refs: References) -> Entity:
    issues = Issues()
    f = Fields(el, "entity", issues)
    uid = clean(el.get("id"))
    if uid is None:
        raise ValidationFailed("Enhanced XML entity without id")
    facts = Facts(issues.unknown)
    meta: dict[str, Any] = {}
    schema: Schema = "entity"
    titles: tuple[str, ...] = ()
    remarks: str | None = None
    for info in f.sub("generalInfo"):
        meta["identity_id"] = info.text("identityId")
        schema = schema_of(info, "entityType", info.ref("entityType", refs))
        titles, remarks = info.texts("title"), info.text("remarks")
        for tag in ("livingStatus", "isUsCitizen", "isUsPerson"):
            if value := info.ref(tag, refs):
                meta[tag] = value
    lists: list[tuple[str, str | None]] = []
    for container in f.sub("sanctionsLists"):
        for el_list in container.pop("sanctionsList"):
            name = _ref_text(el_list, refs)
            if name:
                lists.append((name, clean(el_list.get("datePublished"))))
    list_names = sorted({name for name, _ in lists})
    own = [(name, date) for name, date in lists if name not in UMBRELLA_LISTS]
    list_type = None
    if list_names:
        list_type = "SDN" if "SDN List" in list_names else "Non-SDN"
        meta["lists"] = list_names
    listed_on = min((d for _, d in own if d), default=None)
    programs = [
        _ref_text(p, refs) for c in f.sub("sanctionsPrograms") for p in c.pop("sanctionsProgram")
    ]
    for tag, child, key in (
        ("sanctionsTypes", "sanctionsType", "sanctions_types"),
        ("legalAuthorities", "legalAuthority", "legal_authorities"),
    ):
        values = [_ref_text(e, refs) for c in f.sub(tag) for e in c.pop(child)]
        if found := sorted({v for v in values if v}):
            meta[key] = found
    names = _enhanced_names(f, refs)
    for adr in f.items("addresses", "address"):
        _enhanced_address(adr, refs, facts)
    for feature in f.items("features", "feature"):
        _enhanced_feature(feature, refs, facts)
    for doc in f.items("identityDocuments", "identityDocument"):
        _enhanced_document(doc, refs, facts)
    relationships = []
    for rel in f.items("relationships", "relationship"):
        related = rel.pop("relatedEntity")
        item = {
            "type": rel.ref("type", refs),
            "entity": f"{KIND}:{related[0].get('entityId')}" if related else None,
            "name": clean(related[0].text) if related else None,
            "quality": rel.ref("quality", refs),
            "comments": rel.text("comments"),
        }
        rel.pop("dateRange")
        relationships.append((id_key(rel.el.get("id")), {k: v for k, v in item.items() if v}))
    if relationships:
        meta["relationships"] = [r for _, r in sorted(relationships, key=lambda r: r[0])]
    f.close()
    return make_entity(
        uid=uid,
        schema=schema,
        names=names,
        facts=facts,
        programs=[p for p in programs if p],
        meta={k: v for k, v in meta.items() if v},
        list_type=list_type,
        listed_on=listed_on,
        titles=titles,
        remarks=remarks,
    )


def _enhanced_names(f: Fields, refs: References) -> list[tuple[int, Name]]:
    names: list[tuple[int, Name]] = []
    for name in f.items("names", "name"):
        primary = name.text("isPrimary") == "true"
        alias_type = (name.ref("aliasType", refs) or "a.k.a.").lower()
        name.note_value("aliasType", alias_type, ALIAS_TYPES)
        low = name.text("isLowQuality") == "true"
        quality: Quality | None = None if primary else ("weak" if low else "strong")
        note = None if primary else ALIAS_TYPES.get(alias_type)
        # The primary name first, as in sdnList (its name id is not the lowest).
        key = -1 if primary else id_key(name.el.get("id"))
        for tr in name.items("translations", "translation"):
            tr.pop("nameParts")  # formattedFirst/LastName carry the same parts, cased
            tr.pop("formattedFullName")  # "LAST, First": rebuilt in sdnList order below
            tr_primary = tr.text("isPrimary") == "true"
            kind: NameKind = "primary" if primary and tr_primary else "alias"
            if tr.ref("script", refs) not in (None, "Latin"):
                # Arabic and Chinese translations have the whole name, in natural order, as
                # formattedLastName; Cyrillic ones may have first and last names.
                kind = "original"
            first, last = tr.text("formattedFirstName"), tr.text("formattedLastName")
            if first or last:
                names.append((key, make_name(first, last, kind, quality=quality, note=note)))
    return names


def _enhanced_address(adr: Fields, refs: References, facts: Facts) -> None:
    key = id_key(adr.el.get("id"))
    country = adr.ref("country", refs)
    for translations in adr.sub("translations"):
        country = translations.ref("country", refs) or country
        for tr in translations.sub("translation"):
            tr.pop("isPrimary")
            tr.pop("script")  # Latin first, then e.g. Cyrillic: each becomes an Address
            parts: dict[str, list[str]] = {}
            for part in tr.items("addressParts", "addressPart"):
                kind = part.ref("type", refs)
                part.note_value("type", kind, ADDRESS_PARTS)
                value = part.text("value")
                if kind in ADDRESS_PARTS and value:
                    parts.setdefault(ADDRESS_PARTS[kind], []).append(value)
            fields = {k: ", ".join(v) for k, v in parts.items()}
            facts.addresses.append((key, Address(country=country, **fields)))
    if not any(k == key for k, _ in facts.addresses):
        facts.addresses.append((key, Address(country=country)))


def _enhanced_feature(feature: Fields, refs: References, facts: Facts) -> None:
    types = feature.pop("type")
    ref = types[0].get("featureTypeId") if types else None
    label, detail = refs.features.get(ref or "", (None, None))
    label = label or (clean(types[0].text) if types else None) or "unknown"
    value_ref = feature.text("valueRefId")
    value = refs.value(value_ref) or feature.text("value")
    feature.pop("value")
    for tag in ("versionId", "isPrimary", "reliability"):
        feature.pop(tag)  # bookkeeping; every real file has reliability Confirmed or Reported
    period = _periods(feature, "valueDate")
    value = value or period
    facts.add(
        FEATURE_KEY + id_key(feature.el.get("id")),
        label,
        value,
        note=feature.text("comments"),
        detail=detail,
    )


def _enhanced_document(doc: Fields, refs: References, facts: Facts) -> None:
    label = doc.ref("type", refs) or "unknown"
    doc.pop("name")  # which of the subject's names the document is in
    doc.pop("idFeatures")  # e.g. "Gender: Male", repeated from the entity's features
    authority = doc.text("issuingAuthority")
    notes = (
        doc.text("comments"),
        f"issued by {authority}" if authority else None,
        "marked not valid by OFAC" if doc.text("isValid") == "false" else None,
    )
    note = "; ".join(n for n in notes if n)
    issued = _periods(doc, "issueDate")
    expires = _periods(doc, "expirationDate")
    country, location = doc.ref("issuingCountry", refs), doc.text("issuingLocation")
    facts.document(
        id_key(doc.el.get("id")),
        label,
        doc.text("documentNumber"),
        country=country,
        issued=issued,
        expires=expires,
        city_of_issue=location if location != country else None,  # mostly the country again
        note=note or None,
    )


def _ref_text(el: etree._Element, refs: References) -> str | None:
    return refs.value(el.get("refId")) or clean(el.text)


def _periods(f: Fields, tag: str) -> str | None:
    """The first `tag` datePeriodType child as one date string."""
    values = [_period(p) for p in f.sub(tag)]
    return next((v for v in values if v), None)


def _period(f: Fields) -> str | None:
    """A datePeriodType as one date string: YYYY-MM-DD, YYYY-MM, YYYY, or an ISO interval."""
    begin, end = f.text("fromDateBegin"), f.text("toDateEnd")
    for tag in ("fromDateEnd", "toDateBegin", "isApproximate", "isDateRange"):
        f.pop(tag)
    if not begin or not end:
        return begin or end
    if begin == end:
        return begin
    if begin[5:] == "01-01" and end[5:] == "12-31" and begin[:4] == end[:4]:
        return begin[:4]
    if begin[:7] == end[:7] and begin[8:] == "01" and end == _month_end(end[:7]):
        return begin[:7]
    return f"{begin}/{end}"


def _month_end(month: str) -> str:
    year, number = int(month[:4]), int(month[5:7])
    return f"{month}-{calendar.monthrange(year, number)[1]:02d}"
