"""Packed aliases on the real UN list: each name they hold is found on its own."""

from __future__ import annotations

import re

import pytest

from listd.normalize.aliases import name_forms
from listd.pipeline.ingest import process
from listd.scrapers import scraper
from listd.screening import ScreeningIndex
from listd.screening.query import Query
from tests.conftest import un_file


@pytest.mark.parametrize(
    ("text", "forms"),
    [
        ("John Smith", ["John Smith"]),
        (
            "Mohammed Sabet; Mohammad Sabet b) M. Javad Kareemi Sabet",
            ["Mohammed Sabet", "Mohammad Sabet", "M. Javad Kareemi Sabet"],
        ),
        (
            "Abu Muhammad (original script: Абу Мухаммад)",
            ["Abu Muhammad (original script: Абу Мухаммад)", "Abu Muhammad", "Абу Мухаммад"],
        ),
        ("Al-Qaida in Yemen (AQY)", ["Al-Qaida in Yemen (AQY)", "Al-Qaida in Yemen", "AQY"]),
        ("(Sheikh) Musa Hilal", ["(Sheikh) Musa Hilal", "Musa Hilal"]),
        ("Hilarion Santos, III (third)", ["Hilarion Santos, III (third)", "Hilarion Santos, III"]),
        ("EL PARA (COMBAT NAME)", ["EL PARA (COMBAT NAME)", "EL PARA"]),
        (
            "Abdel Ilah Sabri (false identity related to fraudulent South African "
            "identification number 6910275240086)",
            [
                "Abdel Ilah Sabri (false identity related to fraudulent South African "
                "identification number 6910275240086)",
                "Abdel Ilah Sabri",
            ],
        ),
        (
            "Hay’at Tahrir al-Sham (HTS) (هيئة تحرير الشام (original script); "
            "Assembly for the Liberation of Syria; Tahrir al-Sham Hay’at)",
            [
                "Hay’at Tahrir al-Sham",
                "HTS",
                "هيئة تحرير الشام",
                "Assembly for the Liberation of Syria",
                "Tahrir al-Sham Hay’at",
            ],
        ),
    ],
)
def test_forms(text: str, forms: list[str]) -> None:
    assert name_forms(text) == forms


@pytest.mark.parametrize(
    ("text", "forms"),
    [
        (
            "BANK SEPAH AND BANK SEPAH INTERNATIONAL",
            ["BANK SEPAH AND BANK SEPAH INTERNATIONAL", "BANK SEPAH", "BANK SEPAH INTERNATIONAL"],
        ),
        ("ALFA TRADING AND INTERNATIONAL", ["ALFA TRADING AND INTERNATIONAL"]),
        ("Ali and Ali Khan", ["Ali and Ali Khan"]),  # too short to be two names
    ],
)
def test_two_firms_listed_as_one(text: str, forms: list[str]) -> None:
    assert name_forms(text) == forms


def test_each_of_two_firms_listed_as_one_is_found_on_its_own() -> None:
    # On main: BANK SEPAH scored 0.69 against its own listing, under the threshold.
    entities = list(process(scraper("un"), un_file("2025-11-15").read_bytes(), "un").entities)
    index = ScreeningIndex()
    index.replace_source("un", "v", entities)
    for query, expected in [
        ("Bank Sepah", "un:IRe.007"),  # BANK SEPAH AND BANK SEPAH INTERNATIONAL
        ("Esfahan Nuclear Technology Centre", "un:IRe.015"),  # ... (NFRPC) AND ESFAHAN ...
    ]:
        scores = {m.entity.id: m.score for m in index.screen(Query(name=query))}
        assert scores.get(expected) == 1.0, query


def test_a_name_with_its_acronym_still_meets_the_whole() -> None:
    entities = list(process(scraper("un"), un_file("2025-11-15").read_bytes(), "un").entities)
    index = ScreeningIndex()
    index.replace_source("un", "v", entities)
    for query, expected in [
        ("Armament Industries Group (AIG)", "un:IRe.005"),
        ("Armament Industries Group", "un:IRe.005"),
    ]:
        scores = {m.entity.id: m.score for m in index.screen(Query(name=query))}
        assert scores[expected] == 1.0


def test_every_name_packed_in_a_un_alias_is_screened_on_its_own() -> None:
    entities = list(process(scraper("un"), un_file("2025-11-15").read_bytes(), "un").entities)
    index = ScreeningIndex()
    index.replace_source("un", "v", entities)
    pieces: list[tuple[str, str]] = []
    for entity in entities:
        for name in entity.names:
            if ";" in name.full:
                # Each `;`-separated piece, as a clerk would type it: no remarks, one script.
                for piece in re.split(r";|\s[a-z]\)\s", name.full):
                    latin = re.sub(r"\([^)]*\)?|\)", " ", piece).strip()
                    if latin and latin.isascii():
                        pieces.append((entity.id, latin))
    assert len(pieces) > 60  # the 2025-11-15 list packs about 27 aliases this way
    missed = [
        (eid, piece)
        for eid, piece in pieces
        if not any(m.entity.id == eid for m in index.screen(Query(name=piece)))
    ]
    assert missed == []
