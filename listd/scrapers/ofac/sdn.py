"""OFAC's classic sdnList XML (sdn.xml, consolidated.xml): one sdnEntry per subject."""

from __future__ import annotations

from lxml import etree

from listd.errors import ValidationFailed
from listd.model import (
    Address,
    Entity,
    Schema,
)
from listd.scrapers.ofac.labels import (
    ALIAS_TYPES,
    DOCUMENT_TYPES,
    QUALITIES,
    REGION_PREFIX,
    VESSEL_FIELDS,
)
from listd.scrapers.ofac.record import (
    Facts,
    Fields,
    fold_label,
    id_key,
    is_identifier,
    make_entity,
    make_name,
    parse_day,
    schema_of,
)
from listd.scrapers.toolkit import Issues

# -- sdnList -------------------------------------------------------------------------------


def entry(el: etree._Element) -> Entity:
    issues = Issues()
    f = Fields(el, "sdnEntry", issues)
    uid = f.text("uid")
    if uid is None:
        raise ValidationFailed("sdnEntry without uid")
    schema = schema_of(f, "sdnType", f.text("sdnType"))
    facts = Facts(issues.unknown)
    names = [(-1, make_name(*_sdn_name(f, schema), "primary"))]
    for aka in f.items("akaList", "aka"):
        category = aka.text("category")
        alias_type = (aka.text("type") or "").lower()
        aka.note_value("category", category, QUALITIES)
        aka.note_value("type", alias_type, ALIAS_TYPES)
        name = make_name(
            *_sdn_name(aka, schema),
            "alias",
            quality=QUALITIES.get(category or ""),
            note=ALIAS_TYPES.get(alias_type),
        )
        names.append((id_key(aka.text("uid")), name))
    for item in f.items("dateOfBirthList", "dateOfBirthItem"):
        item.pop("mainEntry")  # "true" throughout; the model keeps no preference
        facts.add(id_key(item.text("uid")), "Birthdate", item.text("dateOfBirth"))
    for item in f.items("placeOfBirthList", "placeOfBirthItem"):
        item.pop("mainEntry")
        facts.add(id_key(item.text("uid")), "Place of Birth", item.text("placeOfBirth"))
    for label, (container, tag) in (
        ("Nationality Country", ("nationalityList", "nationality")),
        ("Citizenship Country", ("citizenshipList", "citizenship")),
    ):
        for item in f.items(container, tag):
            item.pop("mainEntry")
            facts.add(id_key(item.text("uid")), label, item.text("country"))
    for item in f.items("idList", "id"):
        key, label = id_key(item.text("uid")), item.text("idType") or "unknown"
        number, country = item.text("idNumber"), item.text("idCountry")
        issued, expires = parse_day(item.text("issueDate")), parse_day(item.text("expirationDate"))
        folded = fold_label(label)
        if folded in DOCUMENT_TYPES or is_identifier(folded):
            facts.document(key, label, number, country=country, issued=issued, expires=expires)
        else:
            facts.add(key, label, number, country=country)
    for adr in f.items("addressList", "address"):
        street = ", ".join(adr.texts("address1") + adr.texts("address2") + adr.texts("address3"))
        country, region = adr.text("country"), adr.text("stateOrProvince")
        if country and country.startswith(REGION_PREFIX):
            # Gaza and the West Bank: sdnList says "Region: Gaza" in the country field, where
            # the Enhanced XML has a REGION part and no country.
            region = ", ".join(p for p in (region, country[len(REGION_PREFIX) :]) if p)
            country = None
        address = Address(
            street=street or None,
            city=adr.text("city"),
            region=region,
            postal_code=adr.text("postalCode"),
            country=country,
        )
        facts.addresses.append((id_key(adr.text("uid")), address))
    for vessel in f.sub("vesselInfo"):
        for tag, label in VESSEL_FIELDS.items():
            facts.add(0, label, vessel.text(tag))
    programs = [p for lst in f.sub("programList") for p in lst.texts("program")]
    titles = f.texts("title")
    remarks = f.text("remarks")
    f.close()
    return make_entity(
        uid=uid,
        schema=schema,
        names=names,
        facts=facts,
        programs=programs,
        meta={},
        titles=titles,
        remarks=remarks,
    )


def _sdn_name(f: Fields, schema: Schema) -> tuple[str | None, str | None]:
    """firstName and lastName of an sdnEntry or aka."""
    first, last = f.text("firstName"), f.text("lastName")
    if schema == "person" and first is None and last and last.count(", ") == 1:
        # Weak akas of individuals come as lastName "ZAHAR, Mahmoud" (the Enhanced XML
        # gives the same alias as first and last name).
        last, first = last.split(", ")
    return first, last
