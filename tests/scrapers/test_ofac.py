"""OFAC sdnList and Enhanced XML: validation and parser, on the real files in shared/data/ofac."""

from __future__ import annotations

import io
import zipfile
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from listd.errors import ValidationFailed
from listd.model import (
    Address,
    BirthDate,
    Document,
    Entity,
    Name,
    Place,
    entity_from_json,
    entity_to_json,
)
from listd.pipeline.ingest import process
from listd.scrapers import Scraper, ofac, safexml

OFAC = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ofac"
NS_2018 = b"http://tempuri.org/sdnList.xsd"
NS_2024 = b"https://sanctionslistservice.ofac.treas.gov/api/PublicationPreview/exports/XML"
CONS = "ofac-consolidated-nonsdn-{}.xml"
ZIP = "CONS_ENHANCED-2025-01-10.zip"
IRGC = "ofac-enhanced-IRGC-2024-08-28.xml"
YEMEN = "ofac-enhanced-YEMEN-2024-05-24.xml"

# SOURCES.md section 3: published, entries, types, akas (aka elements / names with aliasType).
FILES = {
    CONS.format("2018-04-06"): ("2018-04-06", {"entity": 471, "person": 94, "vessel": 74}, 1255),
    CONS.format("2024-05-06"): ("2024-05-06", {"entity": 364, "person": 79}, 1126),
    CONS.format("2025-03-28"): ("2025-03-28", {"entity": 363, "person": 80}, 1136),
    CONS.format("2025-06-30"): ("2025-06-30", {"entity": 363, "person": 80}, 1136),
    IRGC: ("2024-08-28T00:00:00", {"person": 165, "entity": 84, "aircraft": 44}, 541),
    YEMEN: ("2024-05-24T15:59:26.4511801-04:00", {"person": 10}, 43),
    ZIP: ("2025-01-10T00:00:00", {"entity": 363, "person": 80}, 1136),
}
# uid 18769 lists the weak aka "VYSOKOTOCHNYE KOMPLEKSY" twice (aka uids 29493 and 30067);
# the parser keeps one Name.
DUPLICATE_AKAS = {CONS.format("2018-04-06"): 1}


@cache
def raw(name: str) -> bytes:
    return (OFAC / name).read_bytes()


@cache
def entities(name: str) -> dict[str, Entity]:
    return {e.id: e for e in ofac.parse(raw(name))}


def entity(name: str, uid: str) -> Entity:
    return entities(name)[f"ofac:{uid}"]


def aliases(e: Entity) -> list[Name]:
    return [n for n in e.names if n.kind == "alias"]


def zipped(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buf.getvalue()


# -- counts and validation ------------------------------------------------------------------


@pytest.mark.parametrize("name", FILES)
def test_every_file_validates(name: str) -> None:
    ofac.validate(raw(name))


@pytest.mark.parametrize("name", FILES)
def test_counts(name: str) -> None:
    date, types, akas = FILES[name]
    parsed = list(entities(name).values())
    assert len(parsed) == sum(types.values())
    assert Counter(e.schema for e in parsed) == types
    assert sum(len(aliases(e)) for e in parsed) == akas - DUPLICATE_AKAS.get(name, 0)
    assert ofac.published(raw(name)) == date


@pytest.mark.parametrize("name", FILES)
def test_nothing_unknown_and_every_record_complete(name: str) -> None:
    for e in entities(name).values():
        assert "unknown" not in e.meta, (e.id, e.meta["unknown"])
        assert e.id == f"ofac:{e.reference}" and e.reference.isdigit()
        assert e.names[0].kind == "primary" and e.names[0].full
        assert e.programs and all(p.startswith("OFAC-") for p in e.programs)
        for n in e.names:
            assert n.full == n.full.strip() and "  " not in n.full and "\u202b" not in n.full
        assert Address() not in e.addresses


def test_duplicate_aka_is_real() -> None:
    root = etree.fromstring(raw(CONS.format("2018-04-06")))
    ns = f"{{{NS_2018.decode()}}}"
    entry = next(e for e in root.iter(f"{ns}sdnEntry") if e.findtext(f"{ns}uid") == "18769")
    akas = [
        a
        for a in entry.iter(f"{ns}aka")
        if a.findtext(f"{ns}lastName") == "VYSOKOTOCHNYE KOMPLEKSY"
    ]
    assert [a.findtext(f"{ns}uid") for a in akas] == ["29493", "30067"]
    assert sum(1 for _ in root.iter(f"{ns}aka")) == 1255


def test_parse_is_deterministic_and_round_trips() -> None:
    first = [e.to_dict() for e in ofac.parse(raw(ZIP))]
    assert first == [e.to_dict() for e in ofac.parse(raw(ZIP))]
    for e in entities(IRGC).values():
        assert entity_from_json(entity_to_json(e)) == e


def test_sync_pipeline_accepts_the_output() -> None:
    scr = Scraper("ofac", ofac.validate, ofac.parse, ofac.published)
    parsed = process(scr, raw(CONS.format("2025-06-30")), source="ofac_consolidated")
    assert len(parsed.entities) == 443
    assert parsed.warnings == []
    assert parsed.published == "2025-06-30"
    assert parsed.entities[0].id == "ofac_consolidated:9639"


# -- records, checked by hand against the files ----------------------------------------------


def test_haniya_sdn_list() -> None:
    e = entity(CONS.format("2025-03-28"), "9639")
    assert e.schema == "person"
    assert e.names == (
        Name("Ismail Abdul Salah HANIYA", "primary", parts=("Ismail Abdul Salah", "HANIYA")),
        Name("Ismail HANIYA", "alias", quality="strong", parts=("Ismail", "HANIYA")),
        Name("Ismaeel HANIYYA", "alias", quality="strong", parts=("Ismaeel", "HANIYYA")),
    )
    assert e.programs == ("OFAC-NS-PLC",)
    assert e.birth_dates == (BirthDate(date="1962"),)
    assert e.birth_places == (Place(note="Shati"),)
    assert e.list_type is None  # sdnList does not say which list a record is on
    assert e.documents == () and e.addresses == () and e.remarks is None


def test_haniya_enhanced_has_the_same_record_and_more() -> None:
    e = entity(ZIP, "9639")
    assert e.content() | {"list_type": None, "listed_on": None} == (
        entity(CONS.format("2025-03-28"), "9639").content()
    )
    assert (e.list_type, e.listed_on) == ("Non-SDN", "2006-04-12")
    assert e.meta == {
        "identity_id": "1978",
        "lists": ["Consolidated List", "Non-SDN Palestinian Legislative Council List"],
        "sanctions_types": ["Reject"],
        "legal_authorities": ["General License 4 Under EO 13224 (Terrorism)"],
    }


def test_vessel() -> None:
    e = entity(CONS.format("2018-04-06"), "15036")
    assert e.schema == "vessel"
    assert [(n.full, n.kind, n.note) for n in e.names] == [
        ("SHONA", "primary", None),
        ("ABADAN", "alias", "f.k.a."),
        ("ALPHA", "alias", "f.k.a."),
    ]
    assert e.programs == ("OFAC-IRAN",)
    assert e.documents == (
        Document("other", "IMO 9187629", type_label="Vessel Registration Identification"),
        Document("other", "572469210", type_label="MMSI"),
    )
    assert e.meta["properties"]["Vessel Flag"] == ["Tanzania"]
    assert e.meta["properties"]["Former Vessel Flag"] == ["Malta", "Tuvalu", "None Identified"]
    assert e.remarks is not None
    assert e.remarks.startswith(
        "(Linked To: NATIONAL IRANIAN TANKER COMPANY); Vessel Call Sign: T2EU4; "
        "Vessel Type: Crude/Oil Products Tanker; Vessel Flag: Tanzania; Vessel Tonnage: 99144; "
        "Vessel Gross Registered Tonnage: 56068; Former Vessel Flag: Malta;"
    )


def test_irgc_aircraft() -> None:
    e = entity(IRGC, "24475")
    assert e.schema == "aircraft"
    assert e.names == (Name("EP-PUL", "primary", parts=("EP-PUL",)),)
    assert e.programs == ("OFAC-IFSR", "OFAC-IRGC", "OFAC-SDGT")
    assert (e.list_type, e.listed_on) == ("SDN", "2018-05-24")
    assert e.documents == (
        Document(
            "other", "33448393", type_label="Aircraft Manufacturer\u2019s Serial Number (MSN)"
        ),
    )
    assert e.remarks == (
        "Aircraft Manufacture Date: 1983; Aircraft Model: IL-76; Aircraft Operator: Pouya Air; "
        "Additional Sanctions Information: Subject to Secondary Sanctions"
    )
    assert e.meta["relationships"] == [
        {"type": "Owned or Controlled By", "entity": "ofac:13109", "name": "POUYA AIR"}
    ]


def test_entity_with_addresses_ids_and_websites() -> None:
    e = entity(CONS.format("2025-03-28"), "17013")
    assert e.primary_name == "VTB BANK PUBLIC JOINT STOCK COMPANY"
    assert len(e.addresses) == 12
    assert e.addresses[0] == Address(
        street="29, Bolshaya Morskaya str.",
        city="St. Petersburg",
        postal_code="190000",
        country="Russia",
    )
    assert e.addresses[-1].city == "Beijing" and e.addresses[-1].country == "China"
    assert e.urls == ("www.vtb.com", "www.vtb.ru")
    assert Document("tax_id", "7702070139", type_label="Tax ID No.", country="Russia") in (
        e.documents
    )
    assert Document("other", "VTBRRUMM", type_label="SWIFT/BIC") in e.documents
    # Sanctions details are not documents: prose must not enter the document-number index.
    assert not any("Directive" in d.number for d in e.documents)
    assert e.meta["properties"]["Target Type"] == ["Financial Institution"]


def test_region_in_the_country_field() -> None:
    # sdnList: <city>Jabaliya</city><country>Region: Gaza</country>; Enhanced: REGION "Gaza".
    expected = (Address(city="Jabaliya", region="Gaza"),)
    assert entity(CONS.format("2025-03-28"), "9659").addresses == expected
    assert entity(ZIP, "9659").addresses == expected


def test_record_with_passport_and_year_range() -> None:
    e = entity(CONS.format("2018-04-06"), "15960")
    assert e.primary_name == "Ahmad GHALEBANI"
    assert e.documents == (
        Document("passport", "H20676140", type_label="Passport", country="Iran"),
    )
    assert e.birth_dates == (BirthDate(from_year=1953, to_year=1954),)  # 01 Jan 1953 to 31 Dec 1954
    assert e.titles == (
        "Managing Director, National Iranian Oil Company; Director, Hong Kong Intertrade "
        "Company; Director, Petro Suisse Intertrade Company",
    )


def test_passport_marked_not_valid() -> None:
    e = entity(IRGC, "23143")
    assert e.documents[0].note is None  # A37899489, valid
    assert e.documents[1:] == (
        Document(
            "passport",
            "R24530943",
            type_label="Passport",
            country="Iran",
            expires="2017-06-23",
            note="marked not valid by OFAC",
        ),
    )


def test_enhanced_original_script_names() -> None:
    e = entity(YEMEN, "30624")
    assert e.gender == "male" and e.nationalities == ("Yemen",)
    assert e.birth_dates == (BirthDate(date="1986"),)
    assert e.birth_places == (Place(note="Razih District, Sana\u2019a, Yemen"),)
    # The Arabic translation of alias 48153 follows it; its RLE/PDF marks are gone.
    assert e.names[1:3] == (
        Name(
            "Sultan Saleh Aida Aida ZABIN",
            "alias",
            quality="strong",
            parts=("Sultan Saleh Aida Aida", "ZABIN"),
        ),
        Name(
            "سلطان صالح عیضة عیضة زابن",
            "original",
            quality="strong",
            parts=("سلطان صالح عیضة عیضة زابن",),
        ),
    )
    assert Document(
        "national_id", "10010095104", type_label="National ID No.", country="Yemen"
    ) in (e.documents)
    assert (
        Document(
            "other",
            "20322",
            type_label="Identification Number",
            country="Yemen",
            note="issued by Military",
        )
        in e.documents
    )
    cyrillic = [n for n in entity(IRGC, "26120").names if n.kind == "original"]
    assert cyrillic == [
        Name("Мхд Амер АЛЬШВИКИ", "original", quality="strong", parts=("Мхд Амер", "АЛЬШВИКИ"))
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1962", BirthDate(date="1962")),
        ("Jan 1962", BirthDate(date="1962-01")),
        ("12 Jan 1962", BirthDate(date="1962-01-12")),
        ("circa 1962", BirthDate(date="1962", approximate=True)),
        ("1960 to 1962", BirthDate(from_year=1960, to_year=1962)),
        ("01 Jan 1953 to 31 Dec 1954", BirthDate(from_year=1953, to_year=1954)),
        (
            "01 Mar 1961 to 31 Mar 1962",
            BirthDate(from_year=1961, to_year=1962, note="01 Mar 1961 to 31 Mar 1962"),
        ),
        (
            "Mar 1955 to Mar 1956",
            BirthDate(from_year=1955, to_year=1956, note="Mar 1955 to Mar 1956"),
        ),
        ("unknown", BirthDate(note="unknown")),
    ],
)
def test_birth_date_formats(text: str, expected: BirthDate) -> None:
    assert ofac._birth_date(text) == expected


def test_birth_dates_in_the_files() -> None:
    irgc = entities(IRGC)
    assert irgc["ofac:10860"].birth_dates == (BirthDate(date="1952", approximate=True),)
    found = {b for e in irgc.values() for b in e.birth_dates}
    assert BirthDate(from_year=1960, to_year=1962) in found
    assert BirthDate(date="1961-04") in found  # "Apr 1961"
    assert all(b.date or b.from_year for b in found)


# -- formats, namespaces and deltas --------------------------------------------------------


def test_namespaces_parse_identically() -> None:
    old, new = entities(CONS.format("2018-04-06")), entities(CONS.format("2024-05-06"))
    # Unchanged in six years, e.g. HANIYA and AL-SHANTI (with an address).
    for uid in ("ofac:9639", "ofac:9641"):
        assert old[uid].content_hash() == new[uid].content_hash()
    assert (
        sum(old[k].content_hash() == new[k].content_hash() for k in old.keys() & new.keys()) == 77
    )
    # The same bytes in the 2024 namespace, or in none, validate and parse to the same entities.
    data = raw(CONS.format("2018-04-06"))
    for variant in (
        data.replace(NS_2018, NS_2024),
        data.replace(b' xmlns="' + NS_2018 + b'"', b""),
    ):
        assert variant != data
        ofac.validate(variant)
        assert [e.to_dict() for e in ofac.parse(variant)] == [e.to_dict() for e in old.values()]


def delta(before: str, after: str) -> tuple[set[str], set[str], set[str]]:
    a, b = entities(before), entities(after)
    amended = {k for k in a.keys() & b.keys() if a[k].content_hash() != b[k].content_hash()}
    return b.keys() - a.keys(), a.keys() - b.keys(), amended


def test_crlf_file_differs_by_one_program() -> None:
    before, after = CONS.format("2025-03-28"), CONS.format("2025-06-30")
    assert raw(before) != raw(after) and b"\r\n" in raw(after) and b"\r\n" not in raw(before)
    assert delta(before, after) == (set(), set(), {"ofac:18782"})
    assert set(entity(before, "18782").programs) - set(entity(after, "18782").programs) == {
        "OFAC-SYRIA"
    }


def test_deltas_match_sources_md() -> None:
    added, removed, amended = delta(CONS.format("2024-05-06"), CONS.format("2025-03-28"))
    assert (added, removed, len(amended)) == ({"ofac:50476"}, {"ofac:18293"}, 74)
    assert entity(CONS.format("2025-03-28"), "50476").primary_name == "Michel Joseph MARTELLY"
    added, removed, amended = delta(CONS.format("2018-04-06"), CONS.format("2024-05-06"))
    assert (len(added), len(removed), len(amended)) == (78, 274, 288)


def test_enhanced_ids_are_sdn_list_uids() -> None:
    enhanced, classic = entities(ZIP), entities(CONS.format("2025-03-28"))
    assert enhanced.keys() == classic.keys()
    for key, e in enhanced.items():
        c = classic[key]
        # Both carry the same OFAC numbers, so even alias order agrees.
        assert [n for n in e.names if n.kind != "original"] == list(c.names), key
        assert (e.schema, e.programs, e.birth_dates, e.birth_places, e.nationalities) == (
            c.schema,
            c.programs,
            c.birth_dates,
            c.birth_places,
            c.nationalities,
        ), key
        assert [d.number for d in e.documents] == [d.number for d in c.documents], key


def test_zipped_sdn_list_parses_like_the_plain_file() -> None:
    data = zipped({"consolidated.xml": raw(CONS.format("2025-06-30"))})
    ofac.validate(data)
    assert ofac.published(data) == "2025-06-30"
    assert list(ofac.parse(data)) == list(entities(CONS.format("2025-06-30")).values())


# -- rejections ----------------------------------------------------------------------------


def rejected(data: bytes, *, by_parse: bool = True) -> str:
    """The validate() message; parse() must refuse the document too unless only the schema does."""
    with pytest.raises(ValidationFailed) as info:
        ofac.validate(data)
    if by_parse:
        with pytest.raises(ValidationFailed):
            list(ofac.parse(data))
    return info.value.message


def test_rejects_truncated_file() -> None:
    data = raw(CONS.format("2025-03-28"))
    assert "not well-formed" in rejected(data[: len(data) // 2])
    assert "not well-formed" in rejected(raw(IRGC)[:100_000])


def test_rejects_well_formed_file_missing_records() -> None:
    # A cut at a record boundary, closed again: well-formed, schema-valid, one record short.
    data = raw(CONS.format("2025-03-28"))
    cut = data[: data.rindex(b"<sdnEntry>")] + b"</sdnList>"
    message = rejected(cut, by_parse=False)
    assert message == "Record_Count says 443 entries, the document has 442"


def test_rejects_html() -> None:
    assert "HTML" in rejected(b"<!DOCTYPE html>\n<html><body>Service Unavailable</body></html>")
    assert "HTML" in rejected(b"\n<html><head><title>404</title></head></html>")


def test_rejects_doctype_with_entity_expansion() -> None:
    bomb = (
        b'<?xml version="1.0"?>\n<!DOCTYPE sdnList [\n<!ENTITY a "aaaaaaaaaa">\n'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">\n'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">\n]>\n'
        b'<sdnList xmlns="' + NS_2024 + b'"><publshInformation><Publish_Date>&c;</Publish_Date>'
        b"</publshInformation></sdnList>"
    )
    assert "DOCTYPE" in rejected(bomb)
    xxe = b'<!DOCTYPE sdnList [<!ENTITY x SYSTEM "file:///etc/passwd">]><sdnList>&x;</sdnList>'
    assert "DOCTYPE" in rejected(xxe)


def test_rejects_wrong_root_element() -> None:
    message = rejected(b'<CONSOLIDATED_LIST dateGenerated="2025-01-01"/>')
    assert "unexpected root element <CONSOLIDATED_LIST>" in message
    message = rejected(b'<x:sanctions xmlns:x="urn:x"/>')
    assert "<sanctions> in namespace urn:x" in message


def test_rejects_empty_and_schema_violations() -> None:
    assert rejected(b"") == "empty document"
    assert rejected(b"  \n") == "empty document"
    data = raw(CONS.format("2025-03-28"))
    message = rejected(data.replace(b"<uid>9639</uid>", b"<uid>x9639</uid>", 1), by_parse=False)
    assert message.startswith("does not fit the OFAC sdn schema: 1 error(s)")
    assert "(record x9639)" in message
    message = rejected(data.replace(b"<sdnType>Individual</sdnType>", b"", 1), by_parse=False)
    assert "(record 9639)" in message


def test_new_element_is_rejected_by_validate_and_reported_by_parse() -> None:
    data = raw(CONS.format("2025-03-28")).replace(
        b"<sdnType>Individual</sdnType>", b"<sdnType>Individual</sdnType><newField>1</newField>", 1
    )
    assert "newField" in rejected(data, by_parse=False)
    first = next(ofac.parse(data))
    assert first.meta["unknown"] == ["sdnEntry/newField"]


def test_rejects_zip_with_two_xml_members() -> None:
    data = zipped({"a.xml": raw(YEMEN), "b.xml": raw(YEMEN)})
    assert "exactly one .xml file, found 2 (members: a.xml, b.xml)" in rejected(data)
    assert "found 0" in rejected(zipped({"readme.txt": b"hello"}))


def test_rejects_zip_bomb() -> None:
    # 50 MB of one byte deflates about 1000:1.
    data = zipped({"CONS_ENHANCED.XML": b"<" + b" " * 50_000_000 + b">"})
    assert len(data) < 100_000
    assert "possible zip bomb" in rejected(data)


def test_rejects_oversized_zip_member(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ofac, "MAX_XML_BYTES", 1_000_000)
    assert "unpacks to 3420879 bytes (limit 1000000)" in rejected(raw(ZIP))


def test_rejects_corrupt_zip() -> None:
    data = raw(ZIP)
    assert "zip" in rejected(data[: len(data) // 2])
    assert ofac.published(data[:1000]) is None


@pytest.mark.parametrize("name", [CONS.format("2025-03-28"), IRGC, ZIP])
def test_records_part_shares_out_every_record_once_in_document_order(name: str) -> None:
    document = raw(name)
    whole = [e.id for e in ofac.records(document)]
    parts = [[e.id for e in ofac.records_part(document, part, 3)] for part in range(3)]
    # Record n goes to part n % 3: interleaved back, the parts are the whole, in order.
    assert sum(map(len, parts)) == len(whole) > 3
    assert [parts[n % 3][n // 3] for n in range(len(whole))] == whole


@pytest.mark.parametrize(
    "name", [*(CONS.format(d) for d in ("2018-04-06", "2025-03-28")), IRGC, YEMEN]
)
@pytest.mark.parametrize("parts", [2, 3, 7])
def test_records_cut_into_runs_are_the_whole_in_order_on_their_lines(name: str, parts: int) -> None:
    document = raw(name)
    cuts = ofac.record_cuts(document, parts)
    assert cuts is not None and len(cuts) == parts + 1 and cuts == sorted(cuts)
    pieces = [safexml.chunk_document(document, cuts, part) for part in range(parts)]
    # Each run parsed alone, one after the other: the whole document's records, in order.
    whole = list(ofac.records(document))
    runs = [list(ofac.records(piece)) for piece in pieces]
    assert [entity for run in runs for entity in run] == whole
    assert sum(1 for run in runs if run) >= min(parts, 2)  # shared out, not all in one
    # Every element keeps its line (and column): a reason naming one points at the download.
    tag = "{*}sdnEntry" if b"<sdnList" in document[:1000] else "{*}entity"

    def lines(xml: bytes) -> list[tuple[str | None, int | None]]:
        root = etree.fromstring(xml)
        return [(el.get("id") or el.findtext("{*}uid"), el.sourceline) for el in root.iter(tag)]

    assert [line for piece in pieces for line in lines(piece)] == lines(document)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda d: d.replace(b"</entity>", b"</entity><!-- <entity id='1'> -->", 1), "comment"),
        (lambda d: d.replace(b"<entity id", b"<![CDATA[</entity>]]><entity id", 1), "CDATA"),
        (lambda d: d.replace(b"</entity>", b"</entity><?pi x?>", 1), "instruction"),
        (
            lambda d: d.replace(b"<entities>", b"<entities><o:entity xmlns:o='x'/>", 1),
            "a prefixed record before the first",
        ),
        (lambda d: d.replace(b"<entity id", b"<other id", 10**6), "no records"),
    ],
)
def test_records_are_not_cut_where_a_byte_scan_cannot_be_sure(change: Any, why: str) -> None:
    document = change(raw(IRGC))
    assert ofac.record_cuts(raw(IRGC), 2) is not None
    assert ofac.record_cuts(document, 2) is None, why


def test_a_zipped_document_is_not_cut() -> None:
    assert ofac.record_cuts(raw(ZIP), 2) is None


def test_the_local_name_cache_stays_bounded_on_ever_new_tags() -> None:
    # The field reader caches each namespaced tag's local name; a document (or a series of
    # them, in the daemon) of ever new tags must not grow that cache without end.
    from listd.scrapers import toolkit
    from listd.scrapers.ofac.record import Fields

    count = toolkit._LOCAL_NAMES_MAX + 500
    record = etree.Element("{urn:x}sdnEntry")
    for n in range(count):
        etree.SubElement(record, f"{{urn:x}}t{n}").text = str(n)
    fields = Fields(record, "sdnEntry", toolkit.Issues())
    assert len(toolkit._LOCAL_NAMES) <= toolkit._LOCAL_NAMES_MAX
    assert [fields.text(f"t{n}") for n in (0, count - 1)] == ["0", str(count - 1)]
