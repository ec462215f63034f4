"""Kazakhstan AFM lists: the real 2022 export, the hand-written API fixtures, and validation."""

from __future__ import annotations

import hashlib
import re
import time
from collections import Counter
from functools import cache
from pathlib import Path

import pytest
from lxml import etree

from listd.errors import ValidationFailed
from listd.model import BirthDate, Document, Entity, Name
from listd.pipeline.ingest import process
from listd.scrapers import Scraper
from listd.scrapers.kz_afm import pf as kz_afm_pf
from listd.scrapers.kz_afm import pta as kz_afm_pta
from listd.scrapers.kz_afm import tf as kz_afm_tf

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
AFM = DATA / "kz" / "afm-terror-extremism-active-2022-10-03.xml"
FIXTURES = Path(__file__).with_name("fixtures")
TF = (kz_afm_tf.PROGRAM,)

# The same person listed twice under one IIN (SOURCES.md 2.1: "12 IINs occur twice"), and once
# more without an IIN (num 1060: empty, num 1437: a single space; same name and birth date).
DUPLICATES = {
    "iin-880301301998": ["138", "1162"],
    "iin-920319301262": ["195", "1324"],
    "iin-900318301273": ["266", "1161"],
    "iin-811216300412": ["304", "1339"],
    "iin-820324350613": ["318", "1088"],
    "iin-780127301812": ["375", "1439"],
    "iin-751224302181": ["409", "1495"],
    "iin-850101307726": ["574", "1351"],
    "iin-780901302759": ["757", "1321"],
    "iin-910920301951": ["988", "1350"],
    "iin-030120501217": ["1140", "1484"],
    "iin-870326350188": ["1247", "1318"],
}
# IINs whose encoded birth date differs from <birthdate> (num: IIN, listed birthdate).
CONTRADICTIONS = {
    "4": ("870530302880", "1987-05-03"),
    "78": ("761020301324", "1975-10-20"),
    "92": ("640201302587", "1965-02-01"),
    "411": ("750917301742", "1978-09-17"),
    "568": ("840905302239", "1984-11-05"),
    "744": ("910827300303", "1991-08-28"),
    "990": ("740106302244", "1973-01-06"),
    "1020": ("520416350016", "1951-04-16"),
    "1418": ("651117300638", "1965-10-17"),
}


@cache
def raw() -> bytes:
    return AFM.read_bytes()


@cache
def parsed() -> tuple[Entity, ...]:
    return tuple(kz_afm_tf.parse(raw()))


@cache
def by_row() -> dict[tuple[str, str], Entity]:
    """(section, num) -> entity, for every row a (possibly merged) entity came from."""
    out: dict[tuple[str, str], Entity] = {}
    for entity in parsed():
        for num in entity.meta.get("nums", [entity.meta["num"]]):
            out[entity.meta["section"], num] = entity
    return out


def person(num: str) -> Entity:
    return by_row()["persons", num]


@cache
def rows() -> tuple[etree._Element, ...]:
    return tuple(etree.fromstring(raw()).iterfind("persons/person"))


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def sha12(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:12]


# -- the real 2022 export ------------------------------------------------------------------


def test_real_file_validates() -> None:
    kz_afm_tf.validate(raw())


def test_real_file_counts() -> None:
    entities = parsed()
    sections = Counter(e.meta["section"] for e in entities)
    # 1544 person rows: 12 IIN duplicates and 1 name-and-birth-date duplicate merged.
    assert sections == {"persons": 1531, "organisations": 26, "organisationscis": 63}
    assert Counter(e.schema for e in entities) == {"person": 1531, "entity": 89}
    assert sum(len(e.meta.get("nums", [1])) for e in entities if e.schema == "person") == 1544
    assert Counter(e.list_type for e in entities) == {None: 1557, "CIS": 63}
    assert {e.programs for e in entities} == {TF}
    assert {e.source for e in entities} == {"kz-afm-tf"}
    ids = [e.id for e in entities]
    assert len(set(ids)) == len(ids)
    assert all(e.id == f"kz-afm-tf:{e.reference}" for e in entities)


def test_sync_accepts_the_document_and_reports_warnings() -> None:
    """The sync refuses duplicate ids; the merge makes the real file acceptable."""
    scr = Scraper(kz_afm_tf.KIND, kz_afm_tf.validate, kz_afm_tf.parse, kz_afm_tf.published)
    result = process(scr, raw())
    assert len(result.entities) == 1620
    assert result.published is None  # the classic export carries no date
    # 13 merges + 9 IIN/birth-date contradictions + 1 passport found in mname
    assert len(result.warnings) == 23
    assert not any("unknown element" in w for w in result.warnings)


def test_duplicates_merged_into_one_entity() -> None:
    merged = {e.reference: e.meta["nums"] for e in parsed() if "nums" in e.meta}
    hashed = [ref for ref in merged if not ref.startswith("iin-")]
    assert len(hashed) == 1
    assert merged.pop(hashed[0]) == ["1060", "1437"]
    assert merged == DUPLICATES

    kunshugarov = person("138")
    assert person("1162") is kunshugarov
    assert kunshugarov.id == "kz-afm-tf:iin-880301301998"
    assert kunshugarov.names == (
        Name(
            full="Куншугаров Елдос Маратович",
            kind="primary",
            parts=("Куншугаров", "Елдос", "Маратович"),
        ),
    )
    assert kunshugarov.birth_dates == (BirthDate(date="1988-03-01"),)
    assert kunshugarov.documents == (
        Document(type="iin", number="880301301998", country="Kazakhstan", valid=True),
    )
    assert kunshugarov.listed_on == "2019-08-14"  # only num 1162 has a note
    assert kunshugarov.meta["warnings"] == [
        "num 1162 duplicates num 138 (same IIN 880301301998): merged"
    ]
    # Trailing spaces in num 195's lname do not make a second name.
    assert [n.full for n in person("1324").names] == ["Сапаров Алдияр Рашидович"]
    # Both rows dated: the first listing is listed_on, the re-listing an update.
    tilemisov = person("988")
    assert (tilemisov.listed_on, tilemisov.updated_on) == ("2018-06-04", ("2021-05-06",))
    assert tilemisov.remarks == "добавлен ИИН"
    nurmetov = person("1437")
    assert nurmetov.id == "kz-afm-tf:p-" + sha12("нурметов умар кадамбаевич|1985-01-29")
    assert (nurmetov.listed_on, nurmetov.updated_on) == ("2018-11-09", ("2021-11-19",))
    assert nurmetov.documents == ()
    assert nurmetov.meta["warnings"] == [
        "num 1437 duplicates num 1060 (same name and birth date 1985-01-29): merged"
    ]


def test_iin_birth_date_contradictions() -> None:
    found = {
        num: (doc.number, entity.birth_dates[0].date)
        for (section, num), entity in by_row().items()
        for doc in entity.documents
        if doc.type == "iin" and doc.problems
    }
    assert found == CONTRADICTIONS
    abdubaitov = person("4")
    assert abdubaitov.documents == (
        Document(
            type="iin",
            number="870530302880",
            country="Kazakhstan",
            valid=True,
            problems=("birth date 1987-05-30 in IIN contradicts listed 1987-05-03",),
        ),
    )
    assert abdubaitov.id == "kz-afm-tf:iin-870530302880"  # still a well-formed IIN
    assert abdubaitov.meta["warnings"] == [
        "IIN 870530302880: birth date 1987-05-30 in IIN contradicts listed 1987-05-03"
    ]
    # num 92's note gives the birth date its IIN encodes as a second one.
    zholan = person("92")
    assert zholan.birth_dates == (BirthDate(date="1965-02-01"), BirthDate(date="1964-02-01"))
    assert zholan.remarks == "01.02.1964г.р. он же до 2010г."


def test_missing_iins() -> None:
    values = Counter(
        (row.findtext("iin") or "") for row in rows() if not row.findtext("iin", "").strip()
    )
    assert values == {"": 43, " ": 4}  # 47 rows without an IIN
    without = [e for e in parsed() if e.schema == "person" and not e.documents]
    # 47 rows, minus num 1060/1437 merged, minus num 252 whose only document is a passport
    assert len(without) == 45
    assert all(e.reference.startswith("p-") for e in without)
    iins = [d for e in parsed() for d in e.documents if d.type == "iin"]
    assert len(iins) == 1497 - 12
    assert all(d.valid for d in iins)
    century_zero = [d.number for d in iins if d.number[6] == "0"]
    assert len(century_zero) == 12


def test_listing_dates_from_notes() -> None:
    """Row by row: SOURCES.md 2.1 counts `включен DD.MM.YYYY` 598 and `включена` 42 times."""
    kinds: Counter[str] = Counter()
    for row in rows():
        note = (row.findtext("note") or "").strip()
        entity = kz_afm_tf.person(row, kz_afm_tf.KIND, TF)
        match = re.fullmatch(r"(включена?|включен от) (\d\d)\.(\d\d)\.(\d{4})( г\.)?", note)
        if match:
            kinds[match.group(1)] += 1
            assert entity.listed_on == f"{match.group(4)}-{match.group(3)}-{match.group(2)}"
        else:
            assert entity.listed_on is None, note
    assert kinds == {"включен": 598, "включена": 42, "включен от": 1}
    # 641 rows, 4 merged pairs dated in both rows
    assert sum(1 for e in parsed() if e.schema == "person" and e.listed_on) == 637
    assert person("904").listed_on == "2018-03-14"  # "включен от 14.03.2018 г."


def test_amendments_to_updated_on_and_remarks() -> None:
    added_iin = [e for e in parsed() if e.remarks and e.remarks.casefold() == "добавлен иин"]
    assert len(added_iin) == 23
    feb_2019 = [e for e in parsed() if e.updated_on == ("2019-02-08",)]
    assert len(feb_2019) == 7
    assert {e.remarks for e in feb_2019} == {"Добавлен ИИН 08.02.2019 г."}  # NBSP collapsed
    ibraev = person("732")
    assert ibraev.updated_on == ("2018-07-24",)
    assert ibraev.remarks == "изменения от 24.07.2018г. (Отчество, ИИН)"
    assert person("260").updated_on == ("2017-12-21",)  # in <note> this time
    assert person("549").remarks == "был добавлен повторно"
    assert person("549").updated_on == ()


def test_num_1_abdibekov() -> None:
    entity = person("1")
    assert entity.id == "kz-afm-tf:iin-930807351075"
    assert entity.reference == "iin-930807351075"
    assert entity.schema == "person"
    assert entity.names == (
        Name(
            full="Абдибеков Асет Мейржанович",
            kind="primary",
            parts=("Абдибеков", "Асет", "Мейржанович"),
        ),
    )
    assert entity.birth_dates == (BirthDate(date="1993-08-07"),)
    assert entity.documents == (
        Document(type="iin", number="930807351075", country="Kazakhstan", valid=True),
    )
    assert (entity.listed_on, entity.updated_on, entity.remarks) == (None, (), None)
    assert entity.meta == {"num": "1", "section": "persons", "id_basis": "IIN 930807351075"}


def test_num_1001_kuralbai() -> None:
    entity = person("1001")
    assert entity.id == "kz-afm-tf:iin-920624302175"
    assert entity.names[0].full == "Құралбай Нұрбек Маратұлы"
    assert entity.birth_dates == (BirthDate(date="1992-06-24"),)
    assert entity.documents[0].number == "920624302175"
    assert entity.documents[0].valid is True
    assert entity.listed_on == "2018-06-08"
    assert entity.remarks is None  # the note is only the listing date


def test_stray_spaces_collapsed() -> None:
    trailing = [
        row for row in rows() if row.findtext("lname") != row.findtext("lname", "").rstrip()
    ]
    assert len(trailing) == 56
    for entity in parsed():
        for name in entity.names:
            assert name.full == " ".join(name.full.split()), name
            assert all(part == part.strip() and part for part in name.parts)
    assert person("4").names[0].parts == ("Абдубайтов", "Асылжан", "Сапарханович")
    assert person("1299").names[0].full == "Бейсембай Амиржан Кусанулы"  # " Амиржан", " Кусанулы  "
    assert person("10").names[0].parts == ("Авдкерим", "Нурбек")  # empty mname


def test_latin_script_names_and_empty_birthdates() -> None:
    latin = [e for e in parsed() if e.schema == "person" and e.names[0].full.isascii()]
    assert sorted(e.meta["num"] for e in latin) == ["250", "251", "252", "253", "254", "255"]
    no_birth = [e for e in parsed() if e.schema == "person" and not e.birth_dates]
    assert sorted(e.meta["num"] for e in no_birth) == ["250", "252", "253", "254", "255"]
    abdurashid = person("250")
    assert abdurashid.names[0].full == "Abdurashid Muhammad"
    # No IIN: sha1 of the casefolded, whitespace-collapsed name and birth date ("" here).
    assert (
        abdurashid.id
        == "kz-afm-tf:p-" + sha12("abdurashid muhammad|")
        == "kz-afm-tf:p-96a767eb0d22"
    )


def test_passport_in_mname_becomes_a_document() -> None:
    entity = person("252")
    assert entity.names[0].full == "Akbaraliev Shukhrat"
    assert entity.documents == (
        Document(
            type="passport",
            # Cyrillic АС as typed, read as the Latin AC of Kyrgyz passports
            number="AC1225988",
            country="KGZ",
            note="паспорт серия KGZ номер АС1225988",
        ),
    )
    assert entity.meta["warnings"] == [
        "passport details in <mname> moved to documents: паспорт серия KGZ номер АС1225988"
    ]


def test_former_surname_in_parentheses_becomes_an_alias() -> None:
    assert person("63").names == (
        Name(full="Болатұлы Тимур", kind="primary", parts=("Болатұлы", "Тимур")),
        Name(full="Кубашев Тимур", kind="alias", parts=("Кубашев", "Тимур")),
    )


def test_organisations() -> None:
    orgs = [e for e in parsed() if e.meta["section"] == "organisations"]
    assert orgs[0].names == (Name(full='"Аль-Каеда"', kind="primary"),)
    assert orgs[0].id == "kz-afm-tf:org-" + sha12('"аль-каеда"')
    kurds = by_row()["organisations", "3"]
    assert [n.full for n in kurds.names] == [
        '"Курдский народный конгресс"',
        "Конгра- Гел",
        "Рабочая партия Курдистана",
    ]
    assert kurds.remarks == 'также известна как "Конгра- Гел", "Рабочая партия Курдистана"'
    alga = by_row()["organisations", "24"]
    assert alga.listed_on == "2018-04-17"
    assert alga.remarks is None
    # Trailing comma and tabs dropped from the published names.
    assert by_row()["organisations", "23"].names[0].full == (
        "«Общественное движение «Халық майданы» - «Народный фронт»"
    )
    assert sum(1 for e in orgs if e.listed_on) == 4


def test_cis_organisations() -> None:
    taliban = by_row()["organisationscis", "15"]
    assert taliban.id == "kz-afm-tf:cis-" + sha12("движение талибан афганистана (дт)")
    assert taliban.list_type == "CIS"
    assert taliban.schema == "entity"
    assert taliban.names == (
        Name(full="Движение Талибан Афганистана (ДТ)", kind="primary"),
        Name(full="Taliban Movement", kind="alias"),
        Name(full="Taliban Islamic Movement", kind="alias"),
        Name(full="(Taliban Movement of Afganistan)", kind="alias"),
    )
    assert taliban.remarks == "признана запрещенной в РК, КР, РФ, РТ, РУ"
    aum = by_row()["organisationscis", "5"]
    assert [(n.full, n.quality) for n in aum.names] == [
        ('"АУМ Сенрике"', None),
        ("Aum Shinrikyo", None),
        ('"Aleph’s"', None),
        ("Алеф", "aka"),
        ("АУМ Шинсен-Но-Кай", "aka"),
        ("Аум Синрике Культ", "aka"),
    ]
    base = by_row()["organisationscis", "2"]
    assert [n.full for n in base.names] == ['Аль-Каида "БАЗА"', "Al-Qaida", "The Base (Al-Qayda)"]
    # "Асбат-аль-Ансар" is in both sections: two designations, two ids.
    assert by_row()["organisations", "5"].reference == "org-" + sha12('"асбат-аль-ансар"')
    assert by_row()["organisationscis", "3"].reference == "cis-" + sha12('"асбат-аль-ансар"')


def test_ids_stable_and_parse_deterministic() -> None:
    again = tuple(kz_afm_tf.parse(raw()))
    assert [e.id for e in again] == [e.id for e in parsed()]
    assert [e.content_hash() for e in again] == [e.content_hash() for e in parsed()]


def test_ids_survive_row_renumbering_reordering_and_padding() -> None:
    """num is only a row number: renumbering, reordering and padding change no id."""
    root = etree.fromstring(raw())
    persons = root.find("persons")
    assert persons is not None
    records = list(persons)
    for record in records:
        persons.remove(record)
    for index, record in enumerate(reversed(records)):
        record.find("num").text = str(index + 1)  # type: ignore[union-attr]
        lname = record.find("lname")
        assert lname is not None
        lname.text = f"  {lname.text}   "
        persons.append(record)
    changed = {e.id for e in kz_afm_tf.parse(etree.tostring(root, encoding="utf-8"))}
    assert changed == {e.id for e in parsed()}


def test_published_reads_a_root_date_attribute() -> None:
    assert kz_afm_tf.published(raw()) is None
    body = b'<?xml version="1.0"?>\n<xml date="01.09.2022"><persons/></xml>'
    assert kz_afm_tf.published(body) == "2022-09-01"
    assert kz_afm_tf.published(b'<data generated="2024-05-01T10:00:00"/>') == "2024-05-01T10:00:00"


def test_validation_is_fast_enough() -> None:
    started = time.perf_counter()
    kz_afm_tf.validate(raw())
    assert time.perf_counter() - started < 10


# -- the hand-written API fixtures ---------------------------------------------------------


def test_category1_fixture() -> None:
    body = fixture("kz-afm-category1.xml")
    kz_afm_tf.validate(body)
    entities = {e.id: e for e in kz_afm_tf.parse(body)}
    assert list(entities) == [
        "kz-afm-tf:iin-930807351075",
        "kz-afm-tf:iin-870530302880",
        "kz-afm-tf:iin-940402351312",
        "kz-afm-tf:iin-880301301998",
        "kz-afm-tf:p-96a767eb0d22",
        "kz-afm-tf:iin-911114350257",
        "kz-afm-tf:iin-941024000067",
        "kz-afm-tf:iin-891202450572",
        "kz-afm-tf:iin-920624302175",
        "kz-afm-tf:p-" + sha12("нурметов умар кадамбаевич|1985-01-29"),
        "kz-afm-tf:org-3f39ab16306a",
        "kz-afm-tf:org-38da02d6eb21",
        "kz-afm-tf:org-ce17ae96cba6",
        "kz-afm-tf:cis-0d02a952e419",
        "kz-afm-tf:cis-7273da16b5fb",
    ]
    real = {e.id: e for e in parsed()}
    for entity_id in ("kz-afm-tf:iin-930807351075", "kz-afm-tf:cis-7273da16b5fb"):
        assert entities[entity_id].content() == real[entity_id].content()  # same records
    listed = {e.meta["num"]: e.listed_on for e in entities.values() if e.schema == "person"}
    assert listed == {
        "1": None,  # <added_to_list/> empty
        "4": None,
        "82": None,
        "138": "2019-08-14",  # added_to_list of num 1162
        "250": None,
        "904": "2018-03-14",  # no added_to_list: "включен от 14.03.2018 г." in correction
        "936": "2018-05-04",
        "950": "2018-05-10",  # no added_to_list: "включена 10.05.2018" in note
        "1001": "2018-06-08",
        "1060": "2018-11-09",
    }
    assert entities["kz-afm-tf:p-" + sha12("нурметов умар кадамбаевич|1985-01-29")].meta[
        "nums"
    ] == ["1060", "1437"]
    assert entities["kz-afm-tf:iin-941024000067"].documents[0].valid is True  # century digit 0
    assert entities["kz-afm-tf:p-96a767eb0d22"].documents == ()
    assert entities["kz-afm-tf:iin-870530302880"].documents[0].problems == (
        "birth date 1987-05-30 in IIN contradicts listed 1987-05-03",
    )


def test_category2_fixture() -> None:
    body = fixture("kz-afm-category2.xml")
    kz_afm_pta.validate(body)
    entities = list(kz_afm_pta.parse(body))
    assert len(entities) == 7  # 8 rows, num 1 and 8 share an IIN
    assert {e.schema for e in entities} == {"person"}
    assert {e.programs for e in entities} == {("KZ-PTA",)}
    assert {e.source for e in entities} == {"kz-afm-pta"}
    by_num = {e.meta["num"]: e for e in entities}

    akhmetov = by_num["1"]
    assert akhmetov.id == "kz-afm-pta:iin-850314301120"
    assert akhmetov.names == (Name(full="Ахметов Ерлан Серикович", kind="primary"),)
    assert (akhmetov.listed_on, akhmetov.updated_on) == ("2023-05-12", ("2024-04-30",))
    assert akhmetov.meta["nums"] == ["1", "8"]

    bekova = by_num["2"]
    assert bekova.names[0].full == "Бекова Динара Маратқызы"
    assert bekova.listed_on == "2023-07-03"  # "включена" in the note, no added_to_list

    ten_digits = by_num["3"]
    assert ten_digits.documents == (
        Document(
            type="iin",
            number="9506013004",
            country="Kazakhstan",
            valid=False,
            problems=("not 12 digits",),
        ),
    )
    assert ten_digits.id == "kz-afm-pta:p-" + sha12("жұмабаев нұрлан қайратұлы|9506013004")
    assert ten_digits.meta["warnings"] == ["IIN 9506013004: not 12 digits"]

    assert by_num["4"].documents == ()  # <org_iin/>
    assert by_num["4"].listed_on == "2023-09-21"  # "включен от 21.09.2023 г." in correction
    assert by_num["4"].id == "kz-afm-pta:p-" + sha12("сейтқали бауыржан|")
    assert by_num["5"].documents[0].problems == (
        "not 12 digits (zero-padded 030210501771 would be well formed)",
    )
    omarov = by_num["6"]
    assert omarov.documents == ()  # a single space
    assert omarov.birth_dates == (BirthDate(date="1987-02-01"),)
    ismailova = by_num["7"]
    assert (ismailova.listed_on, ismailova.updated_on) == ("2023-10-18", ("2024-03-14",))
    assert ismailova.remarks == "изменения от 14.03.2024г. (ИИН)"


def test_pf_fixture() -> None:
    body = fixture("kz-afm-pf.xml")
    kz_afm_pf.validate(body)
    entities = {e.id: e for e in kz_afm_pf.parse(body)}
    ryonbong = "kz-afm-pf:e-" + sha12("корейская генеральная корпорация «рёнбон»|")
    fakhrizadeh = "kz-afm-pf:p-" + sha12("мохсен фахризаде-махабади|")
    assert list(entities) == [
        "kz-afm-pf:KPi.001",
        "kz-afm-pf:KPi.017",
        "kz-afm-pf:KPi.066",
        "kz-afm-pf:KPe.001",
        "kz-afm-pf:KPe.020",
        "kz-afm-pf:KPe.049",
        ryonbong,
        "kz-afm-pf:IRi.001",
        "kz-afm-pf:IRi.039",
        "kz-afm-pf:IRe.001",
        fakhrizadeh,
    ]
    schemas = {e.reference: e.schema for e in entities.values()}
    assert [ref for ref, schema in schemas.items() if schema == "person"] == [
        "KPi.001",
        "KPi.017",
        "KPi.066",
        "IRi.001",
        "IRi.039",
        fakhrizadeh.split(":")[1],  # no reference, but a passport
    ]
    programs = Counter(e.programs for e in entities.values())
    assert programs == {("KZ-PF", "UN-1718"): 7, ("KZ-PF", "UN-2231"): 4}

    yun = entities["kz-afm-pf:KPi.001"]
    assert yun.meta["un_reference"] == "KPi.001"
    assert yun.list_type == "DPRK"
    assert yun.names == (
        Name(full="ЮН ХО ДЖИН", kind="primary"),
        Name(full="YUN HO-JIN", kind="alias"),
        Name(full="Юн Хо Чин", kind="alias", quality="aka"),
        Name(full="Yun Ho-chin", kind="alias", quality="aka"),
    )
    assert yun.birth_dates == (BirthDate(date="1944-10-13"),)
    assert yun.nationalities == ("КНДР",)
    assert yun.addresses[0].country == "КНДР"
    assert (yun.listed_on, yun.updated_on) == ("2009-07-16", ("2022-07-26",))
    assert yun.remarks is not None and yun.remarks.endswith(
        "Резолюция Совета Безопасности ООН 1718 (2006)"
    )

    jang = entities["kz-afm-pf:KPi.017"]
    assert jang.programs == ("KZ-PF", "UN-1718")  # although the text says "в Иране"
    assert [n.full for n in jang.names] == ["ЧАН ЁН СОН", "JANG YONG SON"]  # "нет данных" dropped
    assert jang.documents == (Document(type="passport", number="563110024", note="563110024"),)
    assert (jang.listed_on, jang.updated_on) == ("2016-03-02", ("2017-06-01", "2022-07-26"))

    kim = entities["kz-afm-pf:KPi.066"]
    assert kim.birth_dates == (BirthDate(from_year=1967, to_year=1969),)
    assert kim.gender == "male"

    komid = entities["kz-afm-pf:KPe.001"]
    assert [n.full for n in komid.names if n.quality == "aka"] == [
        "CHANGGWANG SINYONG CORPORATION",
        "EXTERNAL TECHNOLOGY GENERAL CORPORATION",
        "DPRKN MINING DEVELOPMENT TRADING COOPERATION",
        '"KOMID"',
    ]
    assert len(entities["kz-afm-pf:KPe.020"].addresses) == 2

    assert entities[ryonbong].listed_on == "2009-04-24"  # from <date>: no listing label
    assert entities[ryonbong].list_type == "DPRK"  # from the decision
    abbasi = entities["kz-afm-pf:IRi.001"]
    assert abbasi.birth_dates == (BirthDate(date="1958"), BirthDate(date="1959"))
    assert abbasi.birth_places[0].note == "Абадан, Иран"
    soleimani = entities["kz-afm-pf:IRi.039"]
    assert soleimani.documents[0].number == "008827"
    assert soleimani.positions == ("бригадный генерал", "командующий силами «Кудс»")
    assert entities["kz-afm-pf:IRe.001"].addresses == ()  # "нет данных"
    assert entities[fakhrizadeh].list_type == "Iran"  # decision: resolution 1737
    assert [d.number for d in entities[fakhrizadeh].documents] == ["A0009228", "4229533"]


# -- validation ----------------------------------------------------------------------------


CATEGORY1 = (
    b"<xml><persons><person><num>1</num><lname>\xd0\x90</lname><fname>B</fname>"
    b"<mname/><birthdate/><iin/><note/><correction/></person></persons></xml>"
)


def test_truncated_file_rejected() -> None:
    with pytest.raises(ValidationFailed, match="not well-formed"):
        kz_afm_tf.validate(raw()[: len(raw()) // 2])


@pytest.mark.parametrize(
    "body",
    [
        b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>",
        b"<html><head><title>websfm</title></head><body><p>Service unavailable</p></body></html>",
        b'{"detail": "Authentication credentials were not provided."}',
        b"<xml/>",
        b"<xml><persons/><organisations/></xml>",
        b"",
        b"  \n",
    ],
)
def test_html_json_and_empty_documents_rejected(body: bytes) -> None:
    for module in (kz_afm_tf, kz_afm_pta, kz_afm_pf):
        with pytest.raises(ValidationFailed):
            module.validate(body)


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (b"<lname>\xd0\x90</lname>", b"", "Tag 'lname' expected"),
        (b"<lname>\xd0\x90</lname>", b"<lname>  </lname>", "pattern"),
        (b"<fname>B</fname>", b"<fname>B</fname><fname>C</fname>", "Unexpected child"),
        (b"<num>1</num>", b"<num>one</num>", "pattern"),
        (b"<iin/>", b"<iin><b>1</b></iin>", "child"),
        (b"<iin/>", b"<iin/><iin/>", "Unexpected child"),
        (b"</person></persons>", b"</person><junk/></persons>", "Unexpected child"),
    ],
)
def test_structurally_wrong_person_rejected(old: bytes, new: bytes, reason: str) -> None:
    body = CATEGORY1.replace(old, new, 1)
    assert body != CATEGORY1
    with pytest.raises(ValidationFailed, match=reason) as info:
        kz_afm_tf.validate(body)
    assert "kz_afm.xsd" in info.value.message


def test_person_without_lname_in_the_real_file_rejected_with_its_num() -> None:
    body = raw().replace(
        b"<lname>\xd0\x90\xd0\xb1\xd0\xb4\xd0\xb8\xd0\xb1\xd0\xb5\xd0\xba\xd0\xbe\xd0\xb2</lname>",
        b"",
        1,
    )
    assert body != raw()
    with pytest.raises(ValidationFailed, match=r"\(num 1\).*Tag 'lname' expected"):
        kz_afm_tf.validate(body)


def test_org_without_name_rejected() -> None:
    body = b"<xml><organisations><org><num>1</num><note/></org></organisations></xml>"
    with pytest.raises(ValidationFailed, match="org_name"):
        kz_afm_tf.validate(body)


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE xml [
 <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
 <!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
 <!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">
]>
<xml><persons><person><lname>&f;</lname><fname/></person></persons></xml>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<xml><persons><person><lname>&secret;</lname><fname/></person></persons></xml>"""


@pytest.mark.parametrize("body", [BOMB, XXE])
def test_doctype_and_entities_rejected_without_expansion(body: bytes) -> None:
    for module in (kz_afm_tf, kz_afm_pta, kz_afm_pf):
        started = time.perf_counter()
        # libxml2 refuses the bomb's declarations itself; otherwise the DOCTYPE check does.
        with pytest.raises(ValidationFailed, match="DOCTYPE|amplification"):
            module.validate(body)
        with pytest.raises(ValidationFailed, match="DOCTYPE|amplification"):
            list(module.parse(body))
        assert time.perf_counter() - started < 1


def test_unknown_root_checked_record_by_record() -> None:
    """The websfm root and wrapper names are unknown: any root holding valid records passes."""
    body = (
        b'<response status="ok"><items><person><lname>X</lname><fname>Y</fname>'
        b"<added_to_list>02.01.2024</added_to_list></person></items></response>"
    )
    kz_afm_tf.validate(body)
    (entity,) = kz_afm_tf.parse(body)
    assert entity.listed_on == "2024-01-02"
    assert entity.meta["section"] == "items"
    with pytest.raises(ValidationFailed, match="Tag 'lname' expected"):
        kz_afm_tf.validate(body.replace(b"<lname>X</lname>", b""))
    kz_afm_tf.validate(body.replace(b"<fname>Y</fname>", b""))  # a mononym


def test_unknown_elements_and_attributes_reported_not_dropped() -> None:
    body = CATEGORY1.replace(
        b"<person>", b'<person id="77"><category>1</category><extra><b/></extra>'
    ).replace(b"<persons>", b"<persons>")
    body = body.replace(b"</persons>", b"</persons><participants/>")
    kz_afm_tf.validate(body)
    (entity,) = kz_afm_tf.parse(body)
    assert entity.meta["unknown"] == ["category", "extra", "@id"]
    assert entity.names[0].full == "А B"


def test_pta_refuses_a_category1_document() -> None:
    with pytest.raises(ValidationFailed, match=r"<person> record\(s\)"):
        kz_afm_pta.validate(fixture("kz-afm-category1.xml"))


def test_pf_refuses_category_documents() -> None:
    with pytest.raises(ValidationFailed, match="Tag 'information' expected"):
        kz_afm_pf.validate(fixture("kz-afm-category1.xml"))
    with pytest.raises(ValidationFailed, match="no <person> records"):
        kz_afm_pf.validate(fixture("kz-afm-category2.xml"))
    body = (
        b"<xml><persons><person><num>1</num><information> </information></person></persons></xml>"
    )
    with pytest.raises(ValidationFailed, match="pattern"):
        kz_afm_pf.validate(body)


def test_fixtures_are_parsed_by_the_sync_without_duplicate_ids() -> None:
    for module, name in (
        (kz_afm_tf, "kz-afm-category1.xml"),
        (kz_afm_pta, "kz-afm-category2.xml"),
        (kz_afm_pf, "kz-afm-pf.xml"),
    ):
        scr = Scraper(module.KIND, module.validate, module.parse, module.published)
        result = process(scr, fixture(name))
        assert result.entities, name


def test_dirty_names_warn_instead_of_failing_the_list() -> None:
    body = CATEGORY1.replace(
        b"<lname>\xd0\x90</lname><fname>B</fname>", b"<lname>(X)</lname><fname/>"
    )
    (entity,) = kz_afm_tf.parse(body)
    assert entity.names[0].full == "(X)"
    assert entity.meta["warnings"] == [
        "no name left after taking out parentheses and passport details"
    ]
    pf = (
        "<xml><person><information>Адрес: Пхеньян, КНДР Прочая информация: нет</information>"
        "</person></xml>"
    ).encode()
    kz_afm_pf.validate(pf)
    (record,) = kz_afm_pf.parse(pf)
    assert record.names[0].full.startswith("Адрес: Пхеньян")
    assert record.schema == "entity"
    assert record.programs == ("KZ-PF", "UN-1718")
    assert record.meta["warnings"] == [
        "no name before the first label: the text's start is used as the name"
    ]


@pytest.mark.parametrize(
    ("note", "listed_on", "updated_on", "remarks"),
    [
        ("включен 08.06.2018", "2018-06-08", (), None),
        ("включена 10.05.2018\n", "2018-05-10", (), None),
        ("Включен от 14.03.2018 г.", "2018-03-14", (), None),
        ("включен(а) в перечень 01.02.2023 г.", "2023-02-01", (), None),
        ("включен 1.2.2023", "2023-02-01", (), None),
        ("включен 31.02.2023", None, (), "включен 31.02.2023"),  # no such day: kept as text
        (
            "Добавлен ИИН 08.02.2019 г.\u00a0",
            None,
            ("2019-02-08",),
            "Добавлен ИИН 08.02.2019 г.",
        ),
        (
            "включен 04.06.2018; изменения от 24.07.2018г. (Отчество, ИИН)",
            "2018-06-04",
            ("2018-07-24",),
            "включен 04.06.2018; изменения от 24.07.2018г. (Отчество, ИИН)",
        ),
    ],
)
def test_note_dates(
    note: str, listed_on: str | None, updated_on: tuple[str, ...], remarks: str | None
) -> None:
    body = CATEGORY1.replace(b"<note/>", f"<note>{note}</note>".encode())
    (entity,) = kz_afm_tf.parse(body)
    assert (entity.listed_on, entity.updated_on, entity.remarks) == (listed_on, updated_on, remarks)


def test_impossible_note_date_is_a_warning() -> None:
    body = CATEGORY1.replace(b"<note/>", "<note>включен 31.02.2023</note>".encode())
    (entity,) = kz_afm_tf.parse(body)
    assert entity.meta["warnings"] == ["no such day in <note> 'включен 31.02.2023'"]
