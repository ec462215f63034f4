"""bench/pairs.py: each pair scored alone beside the real lists, and F1 counted right."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import load_bench

pairs = load_bench("pairs")


def test_pairs_are_scored_one_by_one_and_counted(tmp_path: Path) -> None:
    cases = tmp_path / "cases.csv"
    cases.write_text(
        "case_group,schema,name1,name2,is_match\n"
        "a,Company,SiemensAG,Siemens AG,true\n"
        "a,Company,Siemens AG,SiemensAG,true\n"  # each name2 alone: no other pair's in the way
        "a,Person,Iyad Ag Ghali,IYAD AG GHALI,true\n"
        "b,Person,Friedrich Hans,Hans Friedrich,false\n"  # the same words: listd alerts
        "b,Person,Octavian Scholz,Olaf Scholz,false\n",
        encoding="utf-8",
    )
    out = pairs.main([str(cases), "--no-logic-v2"])
    assert out["pairs"] == 5 and out["positives"] == 3
    default = out["listd"]["default"]
    assert (default["tp"], default["fp"], default["fn"]) == (3, 1, 0)
    assert default["precision"] == 0.75 and default["recall"] == 1.0
    assert default["f1"] == round(2 * 0.75 / 1.75, 3)
    assert [w["name1"] for w in out["wrong"]] == ["Friedrich Hans"]
    assert out["groups"] == {"a": 3, "b": 2}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("group,schema,name1,name2,is_match\n", "no column case_group"),
        ("case_group,schema,name1,name2,is_match\na,Person,A B,A B,yes\n", "line 2: is_match"),
    ],
)
def test_a_file_that_is_no_name_bench_is_refused_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, says: str
) -> None:
    cases = tmp_path / "cases.csv"
    cases.write_text(text, encoding="utf-8")
    with pytest.raises(SystemExit) as exit_:
        pairs.main([str(cases), "--no-logic-v2"])
    assert exit_.value.code == 2 and says in capsys.readouterr().err
