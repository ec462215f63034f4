"""OFAC's vocabulary, as both formats use it: subject types, alias kinds and qualities, and
the labels of identifiers, facts and designation details (case-folded)."""

from __future__ import annotations

from listd.model import Quality, Schema

SCHEMAS: dict[str, Schema] = {
    "individual": "person",
    "entity": "entity",
    "vessel": "vessel",
    "aircraft": "aircraft",
}
QUALITIES: dict[str, Quality] = {"strong": "strong", "weak": "weak"}
# a.k.a. is what an alias is; the other types are kept as the alias note.
ALIAS_TYPES = {"a.k.a.": None, "f.k.a.": "f.k.a.", "n.k.a.": "n.k.a."}

# idList/id idType (sdnList) and identityDocument/type or feature type (Enhanced) labels,
# case-folded. Both formats use the same labels, which is what keeps their output alike.
DOCUMENT_TYPES = {
    "passport": "passport",
    "diplomatic passport": "passport",
    "national id no.": "national_id",
    "tax id no.": "tax_id",
    "v.a.t. number": "tax_id",
    "rfc": "tax_id",
    "nit #": "tax_id",
    "ruc #": "tax_id",
    "cuit": "tax_id",
}
# Other identifiers: worth an exact look-up by number, so they become Documents of type "other".
IDENTIFIERS = frozenset(
    {
        "registration id",
        "registration number",
        "government gazette number",
        "unified social credit code (uscc)",
        "legal entity number",
        "public registration number",
        "business registration number",
        "business registration document #",
        "commercial registry number",
        "company number",
        "uk company number",
        "c.r. no.",
        "trade license no.",
        "license",
        "driver's license no.",
        "birth certificate number",
        "identification number",
        "cedula no.",
        "d-u-n-s number",
        "swift/bic",
        "bik (ru)",
        "isin",
        "mmsi",
        "vessel registration identification",
        "aircraft manufacturer's serial number (msn)",
        "aircraft tail number",
        "aircraft mode s transponder code",
        "aircraft construction number (also called l/n or s/n or f/n)",
    }
)
IDENTIFIER_PREFIXES = ("digital currency address - ",)
# Facts the model has a field for.
FACTS = {
    "birthdate": "birth_date",
    "place of birth": "birth_place",
    "nationality country": "nationality",
    "citizenship country": "nationality",
    "nationality of registration": "nationality",
    "gender": "gender",
    "website": "url",
}
# Designation details and descriptions the model has no field for: appended to remarks (so they
# count in the content hash) and kept structured in meta["properties"]. Not Documents, because
# prose like "Subject to Directive 1" must not enter the document-number index.
PROPERTIES = frozenset(
    {
        "additional sanctions information -",
        "secondary sanctions risk:",
        "for more information, please see:",
        "target type",
        "organization type:",
        "organization established date",
        "caatsa section 235 information:",
        "ifca determination -",
        "peesa information:",
        "transactions prohibited for persons owned or controlled by u.s. financial institutions:",
        "purchase/sales for divestment date (cmic)",
        "issuer name",
        "equity ticker",
        "email address",
        "phone number",
        "fax",
        "aircraft model",
        "aircraft operator",
        "aircraft manufacture date",
        "vessel call sign",
        "vessel type",
        "vessel flag",
        "vessel owner",
        "vessel tonnage",
        "vessel gross registered tonnage",
        "vessel year of build",
        "former vessel flag",
        "other vessel flag",
        "other vessel call sign",
        "other vessel type",
    }
)
PROPERTY_PREFIXES = ("executive order ", "listing date (", "effective date (")

# sdnList vesselInfo children, under the labels the Enhanced XML uses for the same facts.
VESSEL_FIELDS = {
    "callSign": "Vessel Call Sign",
    "vesselType": "Vessel Type",
    "vesselFlag": "Vessel Flag",
    "vesselOwner": "Vessel Owner",
    "tonnage": "Vessel Tonnage",
    "grossRegisteredTonnage": "Vessel Gross Registered Tonnage",
}
ADDRESS_PARTS = {
    "ADDRESS1": "street",
    "ADDRESS2": "street",
    "ADDRESS3": "street",
    "CITY": "city",
    "STATE/PROVINCE": "region",
    "REGION": "region",
    "POSTAL CODE": "postal_code",
}
# sdnList numbers an idList entry that the Enhanced XML has as a feature 100000 + feature id
# (identity documents keep their id): the same offset gives both formats the same order.
FEATURE_KEY = 100000
REGION_PREFIX = "Region: "
# Lists every record of a consolidated export is on; says nothing about the record itself.
UMBRELLA_LISTS = frozenset({"Consolidated List"})
