"""Two edits in one word of a name (`scoring.two_edits`), on real list entries: counted
when the name's other words match closely, or beside one listed name not a common one in
a word of seven letters, never alone. Each alerting case scored under
the threshold on eb9d667 (no lookup finds a word two edits away)."""

from __future__ import annotations

import pytest

from listd.model import Entity, Name
from listd.notifications.customers import CustomerIndex
from listd.notifications.watchlist import Customer
from listd.screening import DEFAULT_THRESHOLD, Match, Query, ScreeningIndex
from listd.screening.plan import candidates_and_near
from tests.screening.test_screening import build, summary
from tests.screening.test_screening import lists as lists  # noqa: F401 (fixture)


@pytest.fixture(scope="module")
def index(lists: dict[str, list[Entity]]) -> ScreeningIndex:  # noqa: F811
    return build(lists)


def alerts(index: ScreeningIndex, name: str) -> dict[str, Match]:
    return {m.entity.id: m for m in index.screen(Query(name, type="person", limit=50))}


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("Колтаков Свмгей Викторович", "kz-afm-tf:iin-881015301689"),  # Сергей, 0.617
        ("уМсилн Адилбек Аманкосович", "kz-afm-tf:iin-880909301478"),  # Мусин, 0.617
        ("GUN GUN RUSMAN GUNWAAO", "un:QDi.218"),  # GUNAWAN, 0.769
        ("HASSAN MAHAT MOKAR", "un:SOi.009"),  # OMAR, 0.677
        ("HANNIBAL MAUMMIAR QADHAFI", "un:LYi.010"),  # MUAMMAR, 0.69
        ("MOUSSA BEN OAMSR BEN ALI ESSAADI", "un:QDi.096"),  # OMAR, 0.793
    ],
)
def test_a_word_two_edits_away_beside_close_words(
    index: ScreeningIndex, name: str, target: str
) -> None:
    found_alike(index, name, target, "two_edits")


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("HOUSHANG ONXBARI", "un:IRi.028"),  # NOBARI
        ("WIVSOUN JOSEPH", "un:HTi.004"),  # WILSON
        ("ABUBAKAR WSALEH", "un:QDi.436"),  # SWALLEH
        ("Mahloyd MUSLEH", "ofac:9684"),  # Mahmoud
        ("Morteza REZXNIE", "un:IRi.033"),  # REZAIE
        ("Абай Еарлоай", "kz-afm-tf:iin-811030302389"),  # Ералтай
    ],
)
def test_a_long_word_two_edits_away_beside_one_listed_name(
    index: ScreeningIndex, name: str, target: str
) -> None:
    # No match at all on c3dad33: two_edits asked for two other words.
    found_alike(index, name, target, "two_edits_long")


def found_alike(index: ScreeningIndex, name: str, target: str, rule: str) -> None:
    match = alerts(index, name).get(target)
    assert match is not None and match.score >= DEFAULT_THRESHOLD, name
    assert match.explanation["name"]["rule"] == rule
    assert [t["rule"] for t in match.explanation["tokens"]].count(rule) == 1
    # The candidates it needs come from the other words, not from the bound's lookups:
    # the index answers what scoring every name answers.
    query = Query(name, type="person")
    assert index.screen(query) == index.screen_exhaustive(query)
    # The watchlists weigh the pair alike, and find the customer for the designation.
    customers = CustomerIndex()
    customers.put("bank", Customer("C-1", name, type="person"))
    entity = index.entities[target]
    assert round(customers.score("bank", "C-1", entity), 4) == match.score
    assert customers.candidates([entity], DEFAULT_THRESHOLD) == {"bank": {"C-1": {target}}}


@pytest.mark.parametrize(
    ("name", "target"),
    [
        # one other word: only in words of seven letters (Сергей has six)
        ("Колтаков Свмгей", "kz-afm-tf:iin-881015301689"),
        ("David Miller", "un:QDi.365"),  # David Mayer: another person
        # al-Tamimi and al-Raymi: the article's letters make no word longer
        ("Qasim Al-Tamimi", "un:QDi.282"),
        # beside one common name (Abdullah Darnawi)
        ("Abdullah DARMAWO", "un:QDi.320"),
        ("Свмгей", "kz-afm-tf:iin-881015301689"),  # alone
        # beside common names only (NKALUBO): Mohamed Ali is everybody
        ("MOHAMED ALI NKAMUBE", "un:CDi.042"),
        # two edits in four letters make another name (Уали)
        ("Алиаскаров Уабе Сапарович", "kz-afm-tf:iin-520416350016"),
        # another first letter: Popov is not Mokhov
        ("Попов Геннадий Леонидович", "kz-afm-tf:iin-920626352177"),
    ],
)
def test_a_word_two_edits_away_without_close_words_does_not_alert(
    index: ScreeningIndex, name: str, target: str
) -> None:
    assert target not in alerts(index, name), name
    # ...nor counts below the threshold: the word stays unpaired.
    for match in index.screen(Query(name, type="person", threshold=0.5, limit=50)):
        rules = {t["rule"] for t in match.explanation["tokens"]}
        assert not rules & {"two_edits", "two_edits_long"}, name
    customers = CustomerIndex()
    customers.put("bank", Customer("C-1", name, type="person"))
    assert customers.score("bank", "C-1", index.entities[target]) < DEFAULT_THRESHOLD


@pytest.mark.parametrize("array_source", [20_000, 0], ids=["sets", "arrays"])
def test_a_long_word_beside_one_name_among_thousands_holding_that_name(
    lists: dict[str, list[Entity]],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    array_source: int,
) -> None:
    """Every name holding the other word is a candidate of the rule beside one name: of
    3,000 names holding HOUSHANG, only those holding a word within two edits of ONXBARI
    (and few enough other words) are scored, over sets and over arrays, and the answers
    are the unpruned and the exhaustive scorers'."""
    import random

    import listd.screening.postings as module

    monkeypatch.setattr(module, "_ARRAY_SOURCE", array_source)
    rng = random.Random(3)
    surnames = sorted({n.full.split()[-1] for e in lists["un"] for n in e.names if n.full})
    close = ["ANXBERI", "NOBARI", "UNXBARE"]  # two edits from ONXBARI
    crowd = []
    for i in range(3000):
        words = ["HOUSHANG", close[i % 3] if i % 100 < 2 else rng.choice(surnames)]
        if i % 5 == 0:  # a third word: a name too far to reach 0.8 (HOUSHANG X NOBARI)
            words.insert(1, rng.choice(surnames))
        crowd.append(Entity(id=f"crowd:{i}", source="crowd", schema="person",
                            reference=str(i), names=(Name(" ".join(words)),)))  # fmt: skip
    index = build({**lists, "crowd": crowd})
    assert (index.sources["crowd"].postings_array is None) == (array_source > 0)
    query = Query("HOUSHANG ONXBARI", type="person", limit=100)
    plan = index.plan(query)
    assert plan is not None
    _, near = candidates_and_near(plan, index.sources["crowd"])
    # The 30 names of two words holding a close word, of 3,000 (and a few of three whose
    # third word weighs little):
    assert 30 <= len(near) <= 40
    found = summary(index.screen(query))
    assert {e for e, _, _ in found} >= {f"crowd:{i}" for i in range(1, 3000, 100)}
    assert found == summary(index.screen_unpruned(query))
    assert found == summary(index.screen_exhaustive(query))
