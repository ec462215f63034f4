"""Invisible characters between words: a zero-width space, a Mongolian vowel separator, a
Hangul filler or a bidi control must not glue two words of a name into one (no match at all),
in queries, list names and watchlists alike; inside one word (a soft hyphen, a Persian ZWNJ)
they must not split it either. On the real UN list."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from listd import normalize
from listd.access import KeyStore
from listd.api import create_app
from listd.keyspace import Keys
from listd.model import Entity, Name
from listd.notifications.customers import CustomerIndex
from listd.notifications.watchlist import Customer
from listd.pipeline.store import Store
from listd.pipeline.sync import Syncer
from listd.scrapers import un
from listd.screening import Query, ScreeningIndex
from listd.settings import Settings
from tests.conftest import un_file

NEWEST = "2026-05-08"
BADEGE = "un:CDi.001"  # ERIC BADEGE
KUNI = "un:LYi.029"  # Osama Al Kuni Ibrahim, أسامة الكوني ابراهيم
KAKAZADA = "un:TAi.137"  # RAHMATULLAH KAKAZADA, رحمت الله کاکا زاده
BARADAR = "un:TAi.024"  # ABDUL GHANI BARADAR

# Every class the report names: zero-width space, non-joiner and joiner, word joiner, BOM,
# Mongolian vowel separator, Hangul fillers (compatibility, choseong, jungseong, halfwidth),
# soft hyphen, bidi marks, embeddings, overrides and isolates, braille blank, and an
# invisible separator of category Zs / Zl / Zp.
INVISIBLE = [
    "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u180e", "\u3164", "\u115f", "\u1160",
    "\uffa0", "\u00ad", "\u200e", "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",
    "\u2066", "\u2067", "\u2068", "\u2069", "\u2800", "\u061c", "\u034f", "\ufe0f", "\u2063",
    "\U000e0020", "\u2028", "\u2029", "\u205f", "\u3000",
]  # fmt: skip


@pytest.fixture(scope="module")
def entities() -> list[Entity]:
    return list(un.parse(un_file(NEWEST).read_bytes()))


@pytest.fixture(scope="module")
def index(entities: list[Entity]) -> ScreeningIndex:
    idx = ScreeningIndex()
    idx.replace_source("un", "v1", entities)
    return idx


def found(index: ScreeningIndex, name: str, threshold: float = 0.5) -> dict[str, float]:
    return {m.entity.id: m.score for m in index.screen(Query(name, threshold=threshold))}


@pytest.mark.parametrize("mark", INVISIBLE, ids=lambda c: f"U+{ord(c):04X}")
def test_an_invisible_mark_between_words_is_a_word_boundary(
    index: ScreeningIndex, mark: str
) -> None:
    # Today's main: no match at all, even at 0.5, for every Cf mark and Hangul filler.
    assert found(index, f"ERIC{mark}BADEGE").get(BADEGE) == 1.0
    assert found(index, f"ERIC{mark}BADEGE", threshold=0.8).get(BADEGE) == 1.0


def test_the_cyrillic_name_with_zero_width_spaces_matches(index: ScreeningIndex) -> None:
    plain = found(index, "Осама Аль Куни Ибрагим")[KUNI]
    assert plain >= 0.95
    assert found(index, "Осама\u200bАль\u200bКуни\u200bИбрагим").get(KUNI) == plain


def test_persian_zwnj_reads_both_ways(index: ScreeningIndex) -> None:
    """ZWNJ is a boundary (رحمت‌الله is رحمت الله, as the UN writes it) and, in the second
    reading, part of one word (کاکا‌زاده ~ کاکازاده)."""
    zwnj = "\u200c"
    assert found(index, "رحمت الله کاکا زاده")[KAKAZADA] == 1.0  # as listed
    assert found(index, f"رحمت{zwnj}الله کاکا{zwnj}زاده")[KAKAZADA] == 1.0
    assert found(index, "رحمت الله کاکازاده")[KAKAZADA] == pytest.approx(0.925)
    assert found(index, f"رحمت{zwnj}الله کاکازاده")[KAKAZADA] == pytest.approx(0.925)
    assert found(index, f"عبد{zwnj}الغنی برادر")[BARADAR] == found(index, "عبدالغنی برادر")[BARADAR]


def test_a_soft_hyphen_inside_a_word_still_matches(index: ScreeningIndex) -> None:
    # A word typed in two parts ("Bara dar") is read whole too (tests/screening/test_variants).
    assert found(index, "Abdul Ghani Bara dar")[BARADAR] == 1.0
    assert found(index, "Abdul Ghani Bara\u00addar")[BARADAR] == 1.0


def test_list_names_with_invisible_marks_are_read_the_same_way(
    entities: list[Entity],
) -> None:
    badege = next(e for e in entities if e.id == BADEGE)
    glued = replace(badege, names=(Name("ERIC\u200bBADEGE", "primary"),))
    hyphened = replace(
        next(e for e in entities if e.id == BARADAR),
        names=(Name("ABDUL GHANI BARA\u00adDAR", "primary"),),
    )
    idx = ScreeningIndex()
    idx.replace_source("un", "v1", [glued, hyphened])
    assert found(idx, "Eric Badege").get(BADEGE) == 1.0
    assert found(idx, "Abdul Ghani Baradar").get(BARADAR) == 1.0


def test_watchlist_customers_with_invisible_marks_are_candidates(
    entities: list[Entity],
) -> None:
    customers = CustomerIndex()
    customers.put("s", Customer("C-1", "ERIC\u200bBADEGE"))
    customers.put("s", Customer("C-2", "Осама\u2060Аль\u2060Куни\u2060Ибрагим"))
    listed = [e for e in entities if e.id in (BADEGE, KUNI)]
    shortlist = customers.candidates(listed, 0.7).get("s", {})
    assert shortlist == {"C-1": {BADEGE}, "C-2": {KUNI}}  # today's main: {}
    lists = ScreeningIndex()
    lists.replace_source("un", "v1", listed)
    results = lists.screen_many([Query("ERIC\u200bBADEGE"), Query("Осама\u2060Аль\u2060Куни")])
    assert [m.entity.id for m in results[0]] == [BADEGE]
    assert [m.entity.id for m in results[1]] == [KUNI]


def test_one_function_reads_every_name() -> None:
    assert normalize.separate("ERIC\u200bBADEGE") == "ERIC BADEGE"
    assert normalize.readings("ERIC\u00adBADEGE") == ("ERIC\u00adBADEGE", "ERICBADEGE")
    assert normalize.readings("ERIC BADEGE") == ("ERIC BADEGE",)
    assert normalize.readings("Абу\u00a0Мухаммад") == ("Абу\u00a0Мухаммад",)  # a visible space


# -- through the screening API -------------------------------------------------------------

Client = TestClient[Any, Any]


@pytest.fixture
async def screening_api(
    redis: Redis, settings: Settings, aiohttp_client: Callable[..., Awaitable[Client]]
) -> AsyncIterator[tuple[Client, str]]:
    await Syncer(settings, Store(redis, Keys(settings.key_prefix))).sync(
        "un", raw=un_file(NEWEST).read_bytes()
    )
    client = await aiohttp_client(create_app(settings, redis, refresh_seconds=0.05))
    for _ in range(500):
        if (await client.get("/readyz")).status == 200:
            break
        await asyncio.sleep(0.02)
    store = KeyStore(redis, Keys(settings.key_prefix))
    key = await store.create("bank-a screening", "screener", org="bank-a")
    await store.accept_agreement(key)
    yield client, key


async def test_the_screening_api_finds_names_glued_by_invisible_marks(
    screening_api: tuple[Client, str],
) -> None:
    client, key = screening_api
    for name, wanted in (
        ("ERIC\u200bBADEGE", BADEGE),
        ("ERIC\u180eBADEGE", BADEGE),
        ("ERIC\u3164BADEGE", BADEGE),
        ("Осама\u200bАль\u200bКуни\u200bИбрагим", KUNI),
    ):
        resp = await client.post(
            "/v1/screen",
            json={"name": name, "threshold": 0.5, "basis": "onboarding"},
            headers={"Authorization": f"Bearer {key}"},
        )
        body = await resp.json()
        assert resp.status == 200, body
        assert body["matches"] and body["matches"][0]["id"] == wanted, (name, body)


def test_a_watchlist_customer_with_a_soft_hyphen_inside_a_word_is_a_candidate(
    entities: list[Entity],
) -> None:
    customers = CustomerIndex()
    customers.put("s", Customer("C-1", "Abdul Ghani Bara\u00addar"))
    customers.put("s", Customer("C-2", "Abdul Ghani Bara dar"))  # a split word, read whole
    assert len(customers) == 2 and customers.count("s") == 2
    listed = [e for e in entities if e.id == BARADAR]
    assert customers.candidates(listed, 0.7).get("s", {}) == {"C-1": {BARADAR}, "C-2": {BARADAR}}
    customers.remove("s", "C-1")  # both readings go
    assert len(customers) == 1
    assert customers.candidates(listed, 0.7).get("s", {}) == {"C-2": {BARADAR}}
    customers.put("s", Customer("C-1", "Abdul Ghani Bara\u00addar"))
    customers.put("s", Customer("C-1", "Someone Else"))  # replaced: both readings go
    assert customers.candidates(listed, 0.7).get("s", {}) == {"C-2": {BARADAR}}
