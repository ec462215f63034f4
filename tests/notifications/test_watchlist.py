"""Customer records as uploaded: fields, formats, and what is refused."""

from __future__ import annotations

import io

import pytest

from listd.errors import BadRequest
from listd.notifications.watchlist import Report, _records, customer_from_json, parse_record, sniff


def test_a_full_record_round_trips_canonically() -> None:
    parsed = parse_record(
        {"ref": " C-1 ", "name": "Ахметов  Ерлан", "type": "individual",
         "birth_date": "12.05.1980", "iin": "800512 300010", "passport": "N1234567",
         "identifiers": "A1;B2", "nationality": "KZ"},
        patch=False,
    )  # fmt: skip
    customer = parsed.customer
    assert customer is not None and parsed.error is None and parsed.warning is None
    assert customer.reference == "C-1" and customer.name == "Ахметов Ерлан"
    assert customer.type == "person" and customer.birth_date == "1980-05-12"
    assert customer.iin == "800512300010" and customer.identifiers == ("A1", "B2")
    assert customer_from_json(customer.to_json()) == customer
    assert customer.document_keys() == ("800512300010", "N1234567")
    query = customer.query(0.85, programs=("UN-1267",))
    assert query.identifiers == ("800512300010", "N1234567", "A1", "B2")
    assert query.threshold == 0.85 and query.type == "person"


@pytest.mark.parametrize(
    ("item", "error"),
    [
        ({"name": "No Reference"}, "reference is required"),
        ({"reference": "R"}, "name is required"),
        ({"reference": "R", "name": "N", "birth_date": "1980-13-01"}, "not a date"),
        ({"reference": "R", "name": "N", "birth_date": "yesterday"}, "birth_date must be"),
        ({"reference": "R", "name": "N", "iin": "12345"}, "iin must be 12 digits"),
        ({"reference": "R", "name": "N", "birth_date": "2999-05"}, "in the future"),
        ({"reference": "R", "name": "-- / --"}, "letter or digit"),
        ({"reference": "R", "name": "N", "birth_date": "1980-05"}, None),
        ({"reference": "R", "name": "N", "type": "robot"}, "type must be"),
        ({"reference": "R", "name": ["N"]}, "name must be a string"),
        ({"reference": "R", "name": "N", "delete": True}, None),
    ],
)
def test_invalid_records_name_the_problem(item: dict[str, object], error: str | None) -> None:
    parsed = parse_record(item, patch=False)
    if error is None:  # "delete" only means something in a patch
        assert parsed.customer is not None
    else:
        assert parsed.error is not None and error in parsed.error


def test_delete_lines_in_a_patch_and_iin_check_digit_warning() -> None:
    assert parse_record({"reference": "R", "delete": "true"}, patch=True).delete == "R"
    warned = parse_record({"reference": "R", "name": "N", "iin": "800512300011"}, patch=False)
    assert warned.customer is not None and warned.warning is not None


def test_formats() -> None:
    assert sniff("text/csv; charset=utf-8", b"{") == "csv"
    assert sniff("application/x-ndjson", b"ref") == "jsonl"
    assert sniff("", b'\xef\xbb\xbf  {"reference"') == "jsonl"
    assert sniff("application/octet-stream", b"reference,name") == "csv"
    report = Report(mode="replace")
    body = b'reference,name\nC1,"Multi\nLine Name"\nC2,Plain\n'
    rows = list(_records(io.BytesIO(body), "csv", report, patch=False))
    assert [(n, p.customer.name if p.customer else None) for n, p in rows] == [
        (3, "Multi Line Name"),
        (4, "Plain"),
    ]
    with pytest.raises(BadRequest, match="header"):
        list(_records(io.BytesIO(b"who,what\n1,2\n"), "csv", report, patch=False))
    lines = list(
        _records(
            io.BytesIO(b'{"reference":"A","name":"B","x":1}\n[1]\nnope\n'),
            "jsonl",
            report,
            patch=False,
        )
    )
    assert [p.error for _, p in lines] == [
        None,
        "each line must be a JSON object",
        lines[2][1].error,
    ]
    assert report.ignored_fields == ["x"]
