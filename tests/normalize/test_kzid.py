"""Kazakh IIN/BIN checks: hand-computed numbers and every IIN in the real AFM file."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from listd.normalize.kzid import check_bin, check_digit, check_iin, iin_birth_date

AFM = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "data"
    / "kz"
    / "afm-terror-extremism-active-2022-10-03.xml"
)

# Check digit = sum(weight_i * digit_i for the first 11 digits) mod 11 with weights 1..11; when
# that is 10, again with weights 3,4,5,6,7,8,9,10,11,1,2; when still 10 no number is issued.
VALID_IINS = {
    # AFM num 1: 1*9+2*3+3*0+4*8+5*0+6*7+7*3+8*5+9*1+10*0+11*7 = 236 = 21*11+5 -> 5
    "930807351075": "1993-08-07",
    # AFM num 6: pass 1 = 263 = 23*11+10 -> second pass
    # 3*9+4*1+5*1+6*2+7*2+8*9+9*3+10*5+11*0+1*5+2*6 = 228 = 20*11+8 -> 8
    "911229350568": "1991-12-29",
    # AFM num 1001 (century digit 3, 1900s male)
    "920624302175": "1992-06-24",
    # century 5 (2000s male): 2*0+4*2+5*2+6*9+7*5+9*1+10*2+11*3 = 169 = 15*11+4 -> 4;
    # 29 February exists in 2000
    "000229501234": "2000-02-29",
    # century 4 (1900s female), AFM num 950: 8+18+3+8+0+12+28+40+0+50+77 = 244 = 22*11+2 -> 2
    "891202450572": "1989-12-02",
}


@pytest.mark.parametrize(("iin", "born"), VALID_IINS.items())
def test_hand_checked_valid_iins(iin: str, born: str) -> None:
    assert check_iin(iin) == (True, ())
    assert check_iin(iin, born) == (True, ())
    assert iin_birth_date(iin) == born
    assert check_digit(iin) == int(iin[-1])


@pytest.mark.parametrize(
    ("iin", "problems"),
    [
        # 930807351075 with the last digit changed
        ("930807351076", ("bad check digit",)),
        # 8*1+9*2+0*3+4*4+0*5+2*6+3*7+1*8+5*9+8*10+4*11 = 252 = 22*11+10, and the second pass
        # 3*8+4*9+5*0+6*4+7*0+8*2+9*3+10*1+11*5+1*8+2*4 = 208 = 18*11+10: never issued
        ("890402315840", ("no check digit possible (both passes give 10)",)),
        # check digit right (264 = 24*11+0 -> 0) but 7 is no century digit
        ("930807751070", ("century digit 7",)),
        # month 13; check digit right (204 = 18*11+6 -> 6)
        ("931332351076", ("no such birth date 931332 (YYMMDD)",)),
        # 29 February 1900 (century digit 3) does not exist; 155 = 14*11+1 -> 1
        ("000229301231", ("no such birth date 000229 (YYMMDD)",)),
        ("93080735107", ("not 12 digits",)),
        ("9308073510755", ("not 12 digits",)),
        ("93080735107A", ("not 12 digits",)),
        ("", ("not 12 digits",)),
        # 030120501217 (AFM num 1140, born 2003) with its leading zero lost, as spreadsheets do
        ("30120501217", ("not 12 digits (zero-padded 030120501217 would be well formed)",)),
    ],
)
def test_hand_checked_invalid_iins(iin: str, problems: tuple[str, ...]) -> None:
    assert check_iin(iin) == (False, problems)


def test_century_digit_zero_is_accepted_without_century() -> None:
    # AFM num 397, a foreign national: 1*9+2*5+4*8+6*2+11*8 = 151 = 13*11+8 -> 8
    assert check_iin("950802000088") == (True, ())
    assert check_iin("950802000088", "1995-08-02") == (True, ())
    assert iin_birth_date("950802000088") is None  # the century is not encoded
    assert check_iin("950802000088", "1995-08-03") == (
        True,
        ("birth date 95-08-02 in IIN contradicts listed 1995-08-03",),
    )


def test_birth_date_contradiction_keeps_number_valid() -> None:
    # AFM num 4: IIN says 30 May, the list says 3 May; either may be the typo.
    assert check_iin("870530302880", "1987-05-03") == (
        True,
        ("birth date 1987-05-30 in IIN contradicts listed 1987-05-03",),
    )
    # A year-only birth date is not compared.
    assert check_iin("870530302880", "1987") == (True, ())


def test_surrounding_whitespace_ignored() -> None:
    assert check_iin(" 930807351075 ") == (True, ())
    assert check_iin(" ") == (False, ("not 12 digits",))


@pytest.mark.parametrize(
    ("bin_", "result"),
    [
        # 2008-05, resident (4), head office (0): 2*8+4*5+5*4+9*1+10*2+11*3 = 118 = 10*11+8 -> 8
        ("080540001238", (True, ())),
        # 1999-03, resident head office: 9+18+12+20+10+66 = 135 = 12*11+3 -> 3
        ("990340000163", (True, ())),
        ("080540001239", (False, ("bad check digit",))),
        # type 7 does not exist; check digit right (133 = 12*11+1 -> 1)
        ("080570001231", (False, ("entity type digit 7",))),
        # division 9 does not exist; check digit right (172 = 15*11+7 -> 7)
        ("080549001237", (False, ("division digit 9",))),
        # month 13; check digit right (93 = 8*11+5 -> 5)
        ("081300001235", (False, ("no such registration month 13", "entity type digit 0"))),
        ("08054000123", (False, ("not 12 digits",))),
    ],
)
def test_hand_checked_bins(bin_: str, result: tuple[bool, tuple[str, ...]]) -> None:
    assert check_bin(bin_) == result


def test_every_iin_in_the_real_afm_file() -> None:
    """SOURCES.md 2.1: 1497 IINs, all well formed; 9 contradict the listed birth date."""
    root = etree.parse(str(AFM)).getroot()
    checked = 0
    contradictions: dict[str, str] = {}
    century: dict[str, int] = {}
    for person in root.iter("person"):
        iin = (person.findtext("iin") or "").strip()
        if not iin:
            continue
        day, month, year = (person.findtext("birthdate") or "").split(".")
        valid, problems = check_iin(iin, f"{year}-{month}-{day}")
        assert valid, (person.findtext("num"), iin, problems)
        checked += 1
        century[iin[6]] = century.get(iin[6], 0) + 1
        if problems:
            contradictions[iin] = problems[0]
        elif iin[6] != "0":
            assert iin_birth_date(iin) == f"{year}-{month}-{day}"
    assert checked == 1497
    assert century == {"3": 1380, "4": 85, "5": 20, "0": 12}
    assert sorted(contradictions) == sorted(
        [
            "870530302880",  # num 4, listed 03.05.1987
            "761020301324",  # num 78, listed 20.10.1975
            "640201302587",  # num 92, listed 01.02.1965 (note: "01.02.1964г.р.")
            "750917301742",  # num 411, listed 17.09.1978
            "840905302239",  # num 568, listed 05.11.1984
            "910827300303",  # num 744, listed 28.08.1991
            "740106302244",  # num 990, listed 06.01.1973
            "520416350016",  # num 1020, listed 16.04.1951
            "651117300638",  # num 1418, listed 17.10.1965
        ]
    )
    assert contradictions["870530302880"] == (
        "birth date 1987-05-30 in IIN contradicts listed 1987-05-03"
    )
