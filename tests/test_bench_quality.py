"""bench/quality.py's case generators: seeded, big enough, and unlisted people really unlisted.

The figures in docs/matching.md are only comparable from one tree to another if the cases
are the same; these tests keep the generators honest without running the (minutes-long)
benchmark itself.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from listd.model import Entity, Name
from tests.helpers import load_bench

quality = load_bench("quality")


@pytest.fixture(scope="module")
def lists() -> dict[str, list[Entity]]:
    if not quality.UN_FILE.exists():
        pytest.skip(f"real lists not found at {quality.DATA}")
    loaded: dict[str, list[Entity]] = quality.load_lists()
    return loaded


@pytest.fixture(scope="module")
def listed(lists: dict[str, list[Entity]]) -> Any:
    return quality.listed_names([e for es in lists.values() for e in es])


def test_the_case_families_are_the_same_for_the_same_seed(
    lists: dict[str, list[Entity]],
) -> None:
    first = quality.typed_set(lists, 7)
    assert first == quality.typed_set(lists, 7)
    assert quality.fingerprint(first) == quality.fingerprint(quality.typed_set(lists, 7))
    assert first != quality.typed_set(lists, 8)
    assert quality.cjk_pairs(lists, 7) == quality.cjk_pairs(lists, 7)


def test_the_unlisted_people_are_the_same_for_the_same_seed(listed: Any) -> None:
    people, excluded = quality.unlisted_people(3_000, 7, listed)
    assert (people, excluded) == quality.unlisted_people(3_000, 7, listed)
    assert people != quality.unlisted_people(3_000, 8, listed)[0]
    assert len(people) == len({name for _, name in people}) == 3_000
    # equal shares of every naming culture
    assert set(Counter(culture for culture, _ in people).values()) == {300}


def test_every_family_has_at_least_50_cases(lists: dict[str, list[Entity]]) -> None:
    counts = Counter(c.kind for c in quality.typed_set(lists, 7) if c.target)
    assert {kind: counts[kind] for kind in quality.FAMILIES if counts[kind] < 50} == {}
    _, pairs = quality.cjk_pairs(lists, 7)
    assert len(pairs) >= 50


def test_the_cjk_negatives_differ_in_one_character_of_three(
    lists: dict[str, list[Entity]],
) -> None:
    entities, pairs = quality.cjk_pairs(lists, 7)
    names = {n.full for e in entities for n in e.names}
    for case in pairs:
        assert case.target is None and case.name not in names
        assert len(case.name) == 3
        assert any(
            sum(a != b for a, b in zip(case.name, n, strict=True)) == 1
            for n in names
            if len(n) == 3
        ), case.name


def test_unlisted_people_exclude_listed_names(lists: dict[str, list[Entity]], listed: Any) -> None:
    people, _ = quality.unlisted_people(3_000, 7, listed)
    for _, name in people:
        assert quality.name_skeleton(name) not in listed.near
        assert quality.name_skeleton(name) not in listed.first_last
        assert quality.joined_skeletons(name)[0] not in listed.joined
    # List three of them (one as spelled, one with other vowels in capitals, one as the
    # first and last words of a longer name): the generator must leave them out, counted.
    same = people[0][1]
    other = next(n for _, n in people[1:] if n.isascii() and n[0] not in "AEIOU")
    partial = next(n for _, n in people[1:] if n.isascii() and len(n.split()) == 2)
    first, last = partial.split()
    extra = [
        Entity(id=f"t:{i}", source="t", schema="person", reference=str(i), names=(Name(n),))
        for i, n in enumerate(
            [same, other.replace("o", "u").replace("e", "a").upper(), f"{first} Abdulhamid {last}"]
        )
    ]
    widened = quality.listed_names([e for es in lists.values() for e in es] + extra)
    again, excluded = quality.unlisted_people(3_000, 7, widened)
    names = {name for _, name in again}
    assert same not in names and other not in names and partial not in names
    assert min(excluded[k] for k in ("exact", "near", "partial")) >= 1


def test_spellings_of_one_name_share_a_skeleton() -> None:
    same = ("Muhammad", "Mohammed", "MOKHAMMED", "Мухаммед")
    assert len({quality.skeleton(w) for w in same}) == 1
    assert quality.skeleton("Yusupov") == quality.skeleton("Jusupov")
    assert quality.skeleton("Rakhmetov") != quality.skeleton("Akhmetov")
    # one name with and without a space inside it
    listed = quality.listed_names(
        [Entity(id="t:1", source="t", schema="person", reference="1",
                names=(Name("ABDUL RAHMAN YASIN"),))]
    )  # fmt: skip
    assert quality.joined_skeletons("Abdulrahman Yassin")[0] in listed.joined


def test_misses_lists_the_positives_of_a_kind_under_the_threshold() -> None:
    case, scored = quality.Case, quality.Scored
    cases = [
        case("title", "DR X", "person", "t:1", "t"),
        case("title", "DR Y", "person", "t:2", "t"),
        case("split_word", "X Y", "person", "t:1", "t"),
        case("unlisted", "Z", "person", None, ""),
    ]
    scores = [
        scored("title", True, 0.79, 0.9),
        scored("title", True, 0.8, 0.8),
        scored("split_word", True, 0.1, 0.1),
        scored("unlisted", False, 0.0, 0.95),
    ]
    names = {"t:1": "X", "t:2": "Y"}
    found = quality.misses(cases, scores, {"title"}, 0.8, names)
    assert found == [
        {"kind": "title", "query": "DR X", "target": "t:1", "listed_as": "X", "own": 0.79}
    ]
    assert [m["query"] for m in quality.misses(cases, scores, {"all"}, 0.8, names)] == [
        "DR X",
        "X Y",
    ]


@pytest.mark.parametrize(
    ("name", "kana"),
    [
        # the article with the double hyphen, the parts with the middle dot
        ("Aiman Muhammed Rabi al-Zawahiri", "アイマン・ムハンメド・ラビ・アル＝ザワヒリ"),
        ("Sirajuddin Haqqani", "シラジュッディン・ハッカニ"),  # doubled consonants: small tsu
        ("Abdullah", "アブドゥッラー"),  # the final h lengthens the vowel
        ("Hafiz Muhammad Saeed", "ハフィズ・ムハンマド・サイード"),  # mm before a vowel: nm
        ("Khalid Sayyid", "ハリド・サイイド"),  # kh as h, yy as two i
    ],
)
def test_the_katakana_family_writes_names_as_japanese_press_does(name: str, kana: str) -> None:
    assert quality.katakana(name) == kana


def test_the_katakana_family_is_latin_names_of_listed_people(
    lists: dict[str, list[Entity]],
) -> None:
    by_id = {e.id: e for es in lists.values() for e in es}
    family = [c for c in quality.typed_set(lists, 7) if c.kind == "katakana"]
    assert len(family) == quality.PER_KIND
    for case in family:
        listed = by_id[case.target or ""]
        assert listed.schema == "person" and listed.primary_name.isascii()
        assert not listed.reference.startswith("KP")  # Korean names: another convention
        assert case.name == quality.katakana(listed.primary_name)
        assert all("\u30a0" <= ch <= "\u30ff" or ch == "＝" for ch in case.name), case.name
