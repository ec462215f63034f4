"""libxml2 (the fast validator) and xmlschema (the authority) agree on every real file and on
hostile ones; where libxml2 refuses, the rejection is xmlschema's, naming path and line."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from listd.errors import ValidationFailed
from listd.scrapers import ofac, un, xsd
from listd.scrapers.safexml import parse_xml
from tests.conftest import DATA

UN_FILES = sorted((DATA / "un").glob("consolidated-*.xml"))
OFAC_FILES = sorted((DATA / "ofac").glob("*.xml"))
ENHANCED_ZIP = DATA / "ofac" / "CONS_ENHANCED-2025-01-10.zip"
UN_NEWEST = DATA / "un" / "consolidated-2026-05-08.xml"
SDN = DATA / "ofac" / "ofac-consolidated-nonsdn-2025-03-28.xml"
IRGC = DATA / "ofac" / "ofac-enhanced-IRGC-2024-08-28.xml"


def xml_of(path: Path) -> bytes:
    if path.suffix == ".zip":
        with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as archive:
            return archive.read(archive.namelist()[0])
    return path.read_bytes()


def verdicts(raw: bytes, name: str) -> tuple[bool, bool, bool]:
    """(xmlschema, libxml2 on the full tree, libxml2 on the compact tree) on one document,
    in the schema's namespace as the scrapers validate it."""
    schema = un._schema() if name == "un.xsd" else ofac._schema(ofac.FORMATS[_root(raw)])
    verdict = []
    for compact in (False, True):
        root = parse_xml(raw, compact=compact)
        ofac._rename_namespace(root, xsd.target_namespace(name))
        if not compact:
            verdict.append(schema.is_valid(root, use_location_hints=False))
        verdict.append(xsd.libxml2(name).validate(root))
    return verdict[0], verdict[1], verdict[2]


def _root(raw: bytes) -> str:
    return etree.QName(parse_xml(raw)).localname


def schema_name(raw: bytes) -> str:
    local = _root(raw)
    return "un.xsd" if local == "CONSOLIDATED_LIST" else ofac.SCHEMA_FILES[ofac.FORMATS[local]]


@pytest.mark.parametrize("name", ["un.xsd", "ofac_sdn.xsd", "ofac_enhanced.xsd"])
def test_libxml2_compiles_the_packaged_schemas(name: str) -> None:
    assert isinstance(xsd.libxml2(name), etree.XMLSchema)


@pytest.mark.parametrize("name", ["kz_afm.xsd", "kz_afm_pf.xsd"])
def test_libxml2_cannot_compile_the_xsd_1_1_afm_schemas(name: str) -> None:
    # xs:all holding xs:any (XSD 1.1): the AFM lists keep xmlschema alone (they are small).
    with pytest.raises(etree.XMLSchemaParseError, match="all"):
        etree.XMLSchema(etree.parse(str(xsd.SCHEMAS / name)))


@pytest.mark.parametrize("path", [*UN_FILES, *OFAC_FILES, ENHANCED_ZIP], ids=lambda p: p.name)
def test_both_accept_every_real_file(path: Path) -> None:
    raw = xml_of(path)
    assert verdicts(raw, schema_name(raw)) == (True, True, True)
    module = un if path.parent.name == "un" else ofac
    module.validate_fast(path.read_bytes())


def _swap(old: bytes, new: bytes, count: int = 1) -> Callable[[bytes], bytes]:
    def mutate(raw: bytes) -> bytes:
        assert old in raw, old
        return raw.replace(old, new, count)

    return mutate


def _sub(pattern: bytes, new: bytes) -> Callable[[bytes], bytes]:
    def mutate(raw: bytes) -> bytes:
        out, n = re.subn(pattern, new, raw, count=1, flags=re.S)
        assert n == 1, pattern
        return out

    return mutate


# (file, mutation, whether the schema accepts the result)
HOSTILE: dict[str, tuple[Path, Callable[[bytes], bytes], bool]] = {
    "un: unknown element": (UN_NEWEST, _swap(b"<COMMENTS1>", b"<EVIL>x</EVIL><COMMENTS1>"), False),
    "un: required element gone": (UN_NEWEST, _sub(rb"<DATAID>\d+</DATAID>", b""), False),
    "un: elements out of order": (
        UN_NEWEST,
        _sub(rb"(<VERSIONNUM>\d+</VERSIONNUM>)(\s*)(<FIRST_NAME>[^<]*</FIRST_NAME>)", rb"\3\2\1"),
        False,
    ),
    "un: bad date": (UN_NEWEST, _sub(rb"<LISTED_ON>[^<]*<", b"<LISTED_ON>18 Oct. 2012<"), False),
    "un: blank date": (UN_NEWEST, _sub(rb"<LISTED_ON>[^<]*<", b"<LISTED_ON>   <"), False),
    "un: blank name": (UN_NEWEST, _sub(rb"<FIRST_NAME>[^<]*<", b"<FIRST_NAME>  <"), True),
    "un: text between elements": (UN_NEWEST, _swap(b"<COMMENTS1>", b"stray<COMMENTS1>"), False),
    "un: foreign namespace": (
        UN_NEWEST,
        _swap(b"<COMMENTS1>", b'<x:a xmlns:x="urn:x"/><COMMENTS1>'),
        False,
    ),
    "un: bad root attribute": (
        UN_NEWEST,
        _sub(rb'dateGenerated="[^"]*"', b'dateGenerated="x"'),
        False,
    ),
    "un: comment and PI inside a record": (
        UN_NEWEST,
        _swap(b"<COMMENTS1>", b"<!-- c --><?pi x?><COMMENTS1>"),
        True,
    ),
    "sdn: uid not a number": (SDN, _swap(b"<uid>9639</uid>", b"<uid>x9639</uid>"), False),
    "sdn: sdnType gone": (SDN, _swap(b"<sdnType>Individual</sdnType>", b""), False),
    "sdn: unknown sdnType": (
        SDN,
        _swap(b"<sdnType>Individual</sdnType>", b"<sdnType>Martian</sdnType>"),
        True,  # sdnType is xs:string in OFAC's XSD; the parser reports the unknown value
    ),
    "sdn: unknown element": (SDN, _swap(b"<remarks>", b"<evil/><remarks>"), False),
    "sdn: 2018 namespace": (
        SDN,
        _swap(
            b"https://sanctionslistservice.ofac.treas.gov/api/PublicationPreview/exports/XML",
            b"http://tempuri.org/sdnList.xsd",
        ),
        True,
    ),
    "enhanced: entity id not a number": (
        IRGC,
        _sub(rb'<entity id="\d+"', b'<entity id="abc"'),
        False,
    ),
    "enhanced: unknown element": (IRGC, _swap(b"<generalInfo>", b"<evil/><generalInfo>"), False),
    "enhanced: names gone": (IRGC, _sub(rb"<names>.*?</names>", b""), False),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_both_agree_on_hostile_documents(case: str) -> None:
    path, mutate, valid = HOSTILE[case]
    raw = mutate(path.read_bytes())
    assert verdicts(raw, schema_name(raw)) == (valid, valid, valid)
    module = un if path.parent.name == "un" else ofac
    if valid:
        module.validate_fast(raw)
        return
    with pytest.raises(ValidationFailed) as precise:
        module.validate(raw)
    with pytest.raises(ValidationFailed) as fast:
        module.validate_fast(raw)
    # The rejection is xmlschema's own, naming the element path and the line.
    assert fast.value.message == precise.value.message
    assert fast.value.detail.get("path") and fast.value.detail.get("line")


def test_libxml2_refusal_stands_when_xmlschema_would_accept() -> None:
    raw = SDN.read_bytes().replace(b"<uid>9639</uid>", b"<uid>x9639</uid>", 1)
    root = parse_xml(raw, compact=True)
    ofac._rename_namespace(root, xsd.target_namespace("ofac_sdn.xsd"))
    with pytest.raises(ValidationFailed) as info:
        xsd.check(root, "ofac_sdn.xsd", lambda: None, "OFAC sdn")
    message = info.value.message
    assert message.startswith("does not fit the OFAC sdn schema: 1 error(s); first at /")
    assert "uid" in message and info.value.detail["line"] > 0


@pytest.mark.parametrize(
    "body",
    [
        b"<?xml version='1.0'?><!DOCTYPE CONSOLIDATED_LIST [<!ENTITY a 'a'>]>"
        b"<CONSOLIDATED_LIST>&a;</CONSOLIDATED_LIST>",
        b"<CONSOLIDATED_LIST>" + b"<a>" * 5000 + b"</a>" * 5000 + b"</CONSOLIDATED_LIST>",
        b"<CONSOLIDATED_LIST dateGenerated='" + b"x" * 12_000_000 + b"'/>",
    ],
    ids=["doctype", "deep nesting", "huge attribute"],
)
def test_hostile_xml_refused_before_any_schema(body: bytes) -> None:
    with pytest.raises(ValidationFailed, match="DOCTYPE|not well-formed"):
        un.validate_fast(body)
    with pytest.raises(ValidationFailed, match="DOCTYPE|not well-formed"):
        list(un.records(body))
