"""Kazakh identification numbers: IIN (ИИН/ЖСН, individuals) and BIN (БИН, legal entities).

Both are 12 digits with a mod-11 check digit (Government Decree No. 406 of 22 May 2007,
"Правила формирования идентификационного номера"):

* IIN: YYMMDD birth date, one century-and-sex digit, a 4-digit serial, the check digit.
* BIN: YYMM of registration, entity type (4 resident legal entity, 5 non-resident, 6 individual
  entrepreneur in joint enterprise / ИП(С)), division (0 head office, 1 branch,
  2 representative office, 3 farm in joint enterprise), a 5-digit serial, the check digit.

`valid` means the number itself is well formed. Findings that do not make it malformed, such as
an IIN whose birth date contradicts the birth date a list states, are reported in `problems`
with `valid` still True: either the number or the list may be wrong.
"""

from __future__ import annotations

import re
from datetime import date

_DIGITS = re.compile(r"\d{12}")
_WEIGHTS = (
    (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11),
    (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2),
)
# Century of birth by the 7th IIN digit; odd digits are men, even digits women.
_CENTURIES = {"1": 1800, "2": 1800, "3": 1900, "4": 1900, "5": 2000, "6": 2000}
# 0 is not in the decree, yet the AFM list holds 12 IINs with a 0 here, all with a correct
# check digit, low serials (0000-0011) and foreign names (-оглы, -огли, Tajik and Chechen
# names): numbers given to foreign nationals, which encode neither century nor sex. They are
# accepted as well formed; their birth date is known only as YYMMDD.
_NO_CENTURY = "0"
_BIN_TYPES = frozenset("456")
_BIN_DIVISIONS = frozenset("0123")


def check_digit(digits: str) -> int | None:
    """The check digit for the first 11 digits, None when both passes give 10 (never issued)."""
    values = [int(c) for c in digits[:11]]
    for weights in _WEIGHTS:
        remainder = sum(w * v for w, v in zip(weights, values, strict=True)) % 11
        if remainder != 10:
            return remainder
    return None


def check_iin(value: str, birth_date: str | None = None) -> tuple[bool, tuple[str, ...]]:
    """(well formed, problems) for an IIN; `birth_date` (YYYY-MM-DD) is the date a list states."""
    number = value.strip()
    if not _DIGITS.fullmatch(number):
        return False, (_length_problem(number),)
    problems: list[str] = []
    century = number[6]
    if century != _NO_CENTURY and century not in _CENTURIES:
        problems.append(f"century digit {century}")
    encoded = _encoded_date(number)
    if encoded is None:
        problems.append(f"no such birth date {number[:6]} (YYMMDD)")
    problems += _check_digit_problems(number)
    valid = not problems
    if encoded is not None and birth_date:
        listed = birth_date[2:] if century == _NO_CENTURY else birth_date
        if len(birth_date) == 10 and encoded != listed:
            problems.append(f"birth date {encoded} in IIN contradicts listed {birth_date}")
    return valid, tuple(problems)


def iin_birth_date(value: str) -> str | None:
    """The birth date an IIN encodes (YYYY-MM-DD); None if malformed or no century is encoded."""
    number = value.strip()
    if not _DIGITS.fullmatch(number) or number[6] not in _CENTURIES:
        return None
    encoded = _encoded_date(number)
    return encoded if encoded is not None and len(encoded) == 10 else None


def check_bin(value: str) -> tuple[bool, tuple[str, ...]]:
    """(well formed, problems) for a BIN."""
    number = value.strip()
    if not _DIGITS.fullmatch(number):
        return False, (_length_problem(number),)
    problems: list[str] = []
    if not 1 <= int(number[2:4]) <= 12:
        problems.append(f"no such registration month {number[2:4]}")
    if number[4] not in _BIN_TYPES:
        problems.append(f"entity type digit {number[4]}")
    if number[5] not in _BIN_DIVISIONS:
        problems.append(f"division digit {number[5]}")
    problems += _check_digit_problems(number)
    return not problems, tuple(problems)


def _length_problem(number: str) -> str:
    if number.isdigit() and len(number) in (10, 11):
        # Spreadsheets drop leading zeros: 030120501217 (born 2003) becomes 30120501217.
        padded = number.zfill(12)
        if _encoded_date(padded) is not None and not _check_digit_problems(padded):
            return f"not 12 digits (zero-padded {padded} would be well formed)"
    return "not 12 digits"


def _check_digit_problems(number: str) -> list[str]:
    expected = check_digit(number)
    if expected is None:
        return ["no check digit possible (both passes give 10)"]
    if expected != int(number[11]):
        return ["bad check digit"]
    return []


def _encoded_date(number: str) -> str | None:
    """YYYY-MM-DD, or YY-MM-DD when the century is not encoded; None if no such day."""
    yy, month, day = int(number[:2]), int(number[2:4]), int(number[4:6])
    century = _CENTURIES.get(number[6])
    if century is not None:
        return _iso(century + yy, month, day)
    # Century not encoded (0, or a bad digit reported on its own): 29 February counts when
    # the year is leap in either 1900+YY or 2000+YY.
    if _iso(2000 + yy, month, day) is None and _iso(1900 + yy, month, day) is None:
        return None
    return f"{yy:02d}-{month:02d}-{day:02d}"


def _iso(year: int, month: int, day: int) -> str | None:
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None
