"""Two edits in one word of a name (`scoring.two_edits`), on real list entries: counted
when the name's other words match closely, never alone. Each alerting case scored under
the threshold on eb9d667 (no lookup finds a word two edits away)."""

from __future__ import annotations

import pytest

from listd.model import Entity
from listd.notifications.customers import CustomerIndex
from listd.notifications.watchlist import Customer
from listd.screening import DEFAULT_THRESHOLD, Match, Query, ScreeningIndex
from tests.screening.test_screening import build
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
    match = alerts(index, name).get(target)
    assert match is not None and match.score >= DEFAULT_THRESHOLD, name
    assert match.explanation["name"]["rule"] == "two_edits"
    assert [t["rule"] for t in match.explanation["tokens"]].count("two_edits") == 1
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
        ("Колтаков Свмгей", "kz-afm-tf:iin-881015301689"),  # one other word
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
        assert "two_edits" not in {t["rule"] for t in match.explanation["tokens"]}, name
    customers = CustomerIndex()
    customers.put("bank", Customer("C-1", name, type="person"))
    assert customers.score("bank", "C-1", index.entities[target]) < DEFAULT_THRESHOLD
