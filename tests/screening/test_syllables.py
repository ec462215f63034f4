"""Korean syllables and a title inside a hyphenated name, on real list entries: a Hangul
syllable the lists write as one letter (YU CHOL U), a Korean name typed with a first letter
that makes no Korean syllable (KIM DHOL NAM), and Хаджи- as part of a Chechen patronymic.
Each positive case failed on c3dad33; `/v1/screen`, the exhaustive scorer and the
watchlists give one score."""

from __future__ import annotations

import pytest

from listd.model import Entity, Name
from listd.notifications.customers import CustomerIndex
from listd.notifications.watchlist import Customer
from listd.screening import Match, Query, ScreeningIndex
from listd.screening.tokens import tokenize
from tests.screening.test_screening import build
from tests.screening.test_screening import lists as lists  # noqa: F401 (fixture)

YU_CHOL_U = "un:KPi.028"
KIM_CHOL_NAM = "un:KPi.044"
JANG_SONG_CHOL = "un:KPi.056"
AKBIEV = "kz-afm-tf:iin-800522301965"  # Акбиев Рустам Хаджи-Мустафаевич


@pytest.fixture(scope="module")
def index(lists: dict[str, list[Entity]]) -> ScreeningIndex:  # noqa: F811
    return build(lists)


def match(index: ScreeningIndex, name: str, target: str) -> Match | None:
    """`name`'s match with entity `target` (None under 0.5), checked against the
    exhaustive scorer and the watchlists' score of the customer `name`."""
    query = Query(name, type="person", threshold=0.5, limit=50)
    found = {m.entity.id: m for m in index.screen(query)}.get(target)
    exhaustive = {m.entity.id: m.score for m in index.screen_exhaustive(query)}
    assert exhaustive.get(target) == (found.score if found else None)
    if found is not None:
        customers = CustomerIndex()
        customers.put("bank", Customer("C-1", name, type="person"))
        assert round(customers.score("bank", "C-1", found.entity), 4) == found.score
    return found


def rules(found: Match) -> dict[tuple[str | None, str | None], str]:
    return {(t["query"], t["candidate"]): t["rule"] for t in found.explanation["tokens"]}


def test_a_hangul_syllable_the_list_writes_as_one_letter(index: ScreeningIndex) -> None:
    # 우 is read U, which the UN writes as a word of its own: YU CHOL U. A one-letter word
    # is an initial, and no lookup of 우 found it (0.625 on c3dad33).
    found = match(index, "유철우", YU_CHOL_U)
    assert found is not None and found.score == 0.9
    assert rules(found)[("u", "u")] == "romanised"
    # The watchlists shortlist the customer for the designation.
    customers = CustomerIndex()
    customers.put("bank", Customer("C-1", "유철우", type="person"))
    assert customers.candidates([found.entity], 0.8) == {"bank": {"C-1": {YU_CHOL_U}}}


def test_another_hangul_syllable_does_not_meet_the_letter(index: ScreeningIndex) -> None:
    found = match(index, "유철수", YU_CHOL_U)  # 수 su: another person
    assert found is None or found.score < 0.8
    found = match(index, "유철오", YU_CHOL_U)  # 오 o: a one-letter syllable, not U
    assert found is None or found.score < 0.8


def test_a_latin_letter_meets_a_hangul_syllable_on_the_list() -> None:
    # The other way round: the list in Hangul, the customer typed in Latin letters.
    index = ScreeningIndex()
    person = Entity(id="t:yu", source="t", schema="person", reference="yu",
                    names=(Name("유철우", kind="primary"),))  # fmt: skip
    index.replace_source("t", "v1", [person])
    (found,) = index.screen(Query("YU CHOL U", type="person"))
    assert found.score == 0.9


@pytest.mark.parametrize(
    ("name", "target", "typed", "meant"),
    [
        ("KIM DHOL NAM", KIM_CHOL_NAM, "dhol", "chol"),  # 0.633 on c3dad33
        ("JANG SONG DHOL", JANG_SONG_CHOL, "dhol", "chol"),  # 0.633
        ("KIM BHOL NAM", KIM_CHOL_NAM, "bhol", "chol"),  # B is not beside C: still no syllable
    ],
)
def test_a_korean_name_mistyped_into_no_syllable(
    index: ScreeningIndex, name: str, target: str, typed: str, meant: str
) -> None:
    # Every word of the listed name is a common Korean syllable, which a first-letter
    # typo's condition did not accept; DHOL is no Korean syllable, so no other person.
    found = match(index, name, target)
    assert found is not None and found.score == 0.9056
    assert rules(found)[(typed, meant)] == "syllable_typo"
    assert "syllable_typo" in found.explanation["summary"]
    # The watchlists shortlist the customer typed so for the designation.
    customers = CustomerIndex()
    customers.put("bank", Customer("C-1", name, type="person"))
    assert customers.candidates([found.entity], 0.8) == {"bank": {"C-1": {target}}}


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("KIM HONG NAM", KIM_CHOL_NAM),  # Hong is a syllable: another person
        ("KIM CHOL DAM", KIM_CHOL_NAM),  # Dam is a syllable too
        ("KIM DHOL", KIM_CHOL_NAM),  # one other word
        ("KIM DHOL PAK", KIM_CHOL_NAM),  # not every query word paired
    ],
)
def test_what_a_korean_typo_does_not_reach(index: ScreeningIndex, name: str, target: str) -> None:
    found = match(index, name, target)
    assert found is None or found.score < 0.8


def test_korean_syllable_readings() -> None:
    from listd.normalize.translit import hangul_reading, hangul_readings

    readings = {r for code in range(0xAC00, 0xD7A4) for r in hangul_readings(chr(code))}
    assert all(map(hangul_reading, readings))
    assert [w for w in ("chol", "kim", "kwang", "u", "ri", "song") if not hangul_reading(w)] == []
    assert [w for w in ("dhol", "bhol", "ahmad", "zhang", "xol") if hangul_reading(w)] == []


def test_a_title_hyphenated_to_a_word_is_part_of_the_name(index: ScreeningIndex) -> None:
    # Хаджи-Мустафаевич is the patronymic of Хаджи-Мустафа (Chechen given names, also run
    # together: Хаджимуратович), so Р.Х. are its initials; dropping Хаджи as a title left
    # Х. nothing to pair (0.749 on c3dad33).
    words = [t.text for t in tokenize("Акбиев Рустам Хаджи-Мустафаевич", "person")]
    assert words == ["akbiev", "rustam", "khadzhi", "mustafaevich"]
    for name in ("Акбиев РХ", "Акбиев Р.Х."):
        found = match(index, name, AKBIEV)
        assert found is not None and found.score == 0.8634, name
        assert rules(found)[("kh", "khadzhi")] == "initial"
    # The whole name still scores 1.0, and without the Хаджи part it still alerts.
    found = match(index, "Акбиев Рустам Мустафаевич", AKBIEV)
    assert found is not None and found.score >= 0.9


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("Али-Хаджи Мурадов", ["ali", "khadzhi", "muradov"]),  # after the hyphen too
        ("Haji Ahmad Khan", ["ahmad", "khan"]),  # a title on its own
        ("Хаджи - Мурат", ["murat"]),  # a dash between spaces joins nothing
        ("Haji Ali Haji-Murad", ["ali", "haji", "murad"]),  # only the hyphenated one stays
        ("Haji-Murad Haji", ["haji", "murad"]),
    ],
)
def test_which_titles_are_part_of_a_name(name: str, words: list[str]) -> None:
    assert [t.text for t in tokenize(name, "person")] == words
