"""Screening behaviour on real list entries (UN, Kazakh AFM, OFAC files in ../shared/data)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from listd.model import Entity, Name
from listd.screening import DEFAULT_THRESHOLD, Match, Query, ScreeningIndex
from listd.screening.plan import bound_holds, find_candidates
from tests.conftest import DATA, un_file

KZ_FILE = DATA / "kz" / "afm-terror-extremism-active-2022-10-03.xml"
OFAC_FILE = DATA / "ofac" / "CONS_ENHANCED-2025-01-10.zip"
CHAUDHRY = "un:QDi.312"  # AAMIR ALI CHAUDHRY, born 1986-08-03, Arabic name عامر علی چوہدری
KURALBAY = "kz-afm-tf:iin-920624302175"  # Құралбай Нұрбек Маратұлы, IIN 920624302175
OTHER_IIN = "930807351075"  # Абдибеков Асет Мейржанович, a valid IIN of another listed person


@pytest.fixture(scope="module")
def lists() -> dict[str, list[Entity]]:
    from listd.scrapers import ofac, un
    from listd.scrapers.kz_afm import tf as kz_afm_tf

    return {
        "un": list(un.parse(un_file("2026-05-08").read_bytes())),
        "kz-afm-tf": list(kz_afm_tf.parse(KZ_FILE.read_bytes())),
        "ofac": list(ofac.parse(OFAC_FILE.read_bytes())),
    }


def build(lists: dict[str, list[Entity]]) -> ScreeningIndex:
    index = ScreeningIndex()
    for source, entities in lists.items():
        index.replace_source(source, "v1", entities)
    return index


@pytest.fixture(scope="module")
def index(lists: dict[str, list[Entity]]) -> ScreeningIndex:
    return build(lists)


def top(index: ScreeningIndex, name: str, **kw: object) -> Match:
    matches = index.screen(Query(name, **kw))  # type: ignore[arg-type]
    assert matches, f"no match for {name!r}"
    return matches[0]


def rules(match: Match) -> dict[tuple[str | None, str | None], str]:
    return {(t["query"], t["candidate"]): t["rule"] for t in match.explanation["tokens"]}


def test_exact_name_scores_one_with_rule_exact(index: ScreeningIndex) -> None:
    match = top(index, "Aamir Ali Chaudhry")
    assert match.entity.id == CHAUDHRY and match.score == 1.0
    assert match.explanation["name"]["rule"] == "exact"
    assert match.explanation["summary"].startswith("Name matches listed 'AAMIR ALI CHAUDHRY'")


def test_cyrillic_query_finds_latin_listing(index: ScreeningIndex) -> None:
    match = top(index, "Чаудхри Аамир Али")
    assert match.entity.id == CHAUDHRY
    assert 0.95 <= match.score < 1.0
    assert rules(match)[("chaudkhri", "chaudhry")] == "transliteration"
    assert rules(match)[("aamir", "aamir")] == "exact"


def test_arabic_query_finds_listed_original_name(index: ScreeningIndex) -> None:
    match = top(index, "عامر علی چوہدری")
    assert match.entity.id == CHAUDHRY and match.score == 1.0
    assert match.matched_name == "عامر علی چوہدری"


def test_arabic_query_finds_latin_only_listing(lists: dict[str, list[Entity]]) -> None:
    # Without its Arabic name on the list, the Arabic query must match the Latin spellings.
    latin_only = [
        replace(e, names=tuple(n for n in e.names if n.kind != "original")) for e in lists["un"]
    ]
    index = ScreeningIndex()
    index.replace_source("un", "v1", latin_only)
    match = top(index, "عامر علی چوہدری")
    assert match.entity.id == CHAUDHRY
    assert match.score >= DEFAULT_THRESHOLD
    assert set(rules(match).values()) <= {"exact", "transliteration"}


@pytest.mark.parametrize("name", ["Nurbek Kuralbay", "Kuralbay Nurbek", "NURBEK KURALBAEV"])
def test_kazakh_person_found_by_passport_spelling(index: ScreeningIndex, name: str) -> None:
    match = top(index, name, type="person")
    assert match.entity.id == KURALBAY
    assert match.score >= DEFAULT_THRESHOLD
    missing = [t for t in match.explanation["tokens"] if t["rule"] == "not_in_query"]
    assert [t["candidate"] for t in missing] == ["maratuly"]  # the patronymic


def test_kazakh_person_with_russified_patronymic(index: ScreeningIndex) -> None:
    match = top(index, "Kuralbay Nurbek Maratovich")
    assert match.entity.id == KURALBAY and match.score >= 0.9
    assert rules(match)[("maratovich", "maratuly")] == "patronymic"


def test_mohammed_muhammad_equivalence(index: ScreeningIndex) -> None:
    match = top(index, "Muhammad Yahya Mujahid")  # listed as MOHAMMED YAHYA MUJAHID
    assert match.entity.id == "un:QDi.272"
    assert rules(match)[("muhammad", "mohammed")] == "equivalence"
    assert match.score >= 0.95


def test_initials_match_their_names(index: ScreeningIndex) -> None:
    match = top(index, "A. A. Chaudhry")
    assert match.entity.id == CHAUDHRY and match.score >= DEFAULT_THRESHOLD
    assert rules(match)[("a", "aamir")] == "initial"
    assert rules(match)[("a", "ali")] == "initial"
    assert not index.screen(Query("B. Chaudhry"))  # a wrong initial is not enough


def test_titles_are_ignored(index: ScreeningIndex) -> None:
    assert top(index, "Dr. Aamir Ali Chaudhry").score == 1.0
    assert top(index, "Sheikh Aamir Ali Chaudhry").score == 1.0


@pytest.mark.parametrize(
    "name",
    [
        "ООО ВЭБ Инжиниринг",
        "VEB Engineering Limited Liability Company",
        "Obshchestvo s ogranichennoi otvetstvennostyu VEB Inzhiniring",
    ],
)
def test_legal_forms_are_normalised(index: ScreeningIndex, name: str) -> None:
    match = top(index, name, type="entity")
    assert match.entity.id == "ofac:18287"  # VEB ENGINEERING LLC
    assert match.score >= 0.95
    assert "legal_form" in set(rules(match).values()) | {match.explanation["name"]["rule"]} or (
        "exact" in rules(match).values()
    )
    legal = [t for t in match.explanation["tokens"] if t["candidate"] in ("llc", "ooo")]
    assert legal and legal[0]["rule"] in ("exact", "legal_form")


def test_different_legal_form_costs_little(index: ScreeningIndex) -> None:
    llc = top(index, "VEB Engineering LLC", type="entity")
    jsc = top(index, "VEB Engineering JSC", type="entity")
    assert llc.entity.id == jsc.entity.id == "ofac:18287"
    assert llc.score > jsc.score >= DEFAULT_THRESHOLD


def test_birth_date_moves_the_score(index: ScreeningIndex) -> None:
    name = "Aamir Chaudhary"  # a middle name short of the list: below 1.0 before evidence
    same = top(index, name, birth_date="1986-08-03")
    year = top(index, name, birth_date="1986")
    none = top(index, name)
    far = index.screen(Query(name, birth_date="1950-01-01", threshold=0.5))
    hit = next(m for m in far if m.entity.id == CHAUDHRY)
    assert same.entity.id == year.entity.id == none.entity.id == CHAUDHRY
    assert same.score > year.score > none.score > hit.score
    assert same.explanation["birth_date"]["reason"] == "same date"
    assert hit.explanation["birth_date"]["effect"] == -0.2
    # A fuzzy name with a clearly different birth date drops below the threshold.
    assert not [
        m
        for m in index.screen(Query("Aamir Chaudry", birth_date="1950-01-01"))
        if m.entity.id == CHAUDHRY
    ]


def test_iin_match_is_decisive(index: ScreeningIndex) -> None:
    match = top(index, "Совсем Другое Имя", identifiers=("920624302175",))
    assert match.entity.id == KURALBAY and match.score == 1.0
    assert match.explanation["identifiers"]["effect"] == "decisive"
    # Spaces and dashes as typed by a clerk do not matter.
    assert top(index, "Nurbek", identifiers=("9206 2430-2175",)).entity.id == KURALBAY


def test_passport_match_is_decisive(index: ScreeningIndex) -> None:
    match = top(index, "Somebody Else", identifiers=("BN4196361",))
    assert match.entity.id == CHAUDHRY and match.score == 0.97


def test_different_iin_rules_out_a_namesake(index: ScreeningIndex) -> None:
    plain = top(index, "Құралбай Нұрбек Маратұлы")
    assert plain.entity.id == KURALBAY and plain.score == 1.0
    other = [
        m
        for m in index.screen(Query("Құралбай Нұрбек Маратұлы", identifiers=(OTHER_IIN,)))
        if m.entity.id == KURALBAY
    ]
    assert not other


def test_iin_gives_the_birth_date(index: ScreeningIndex) -> None:
    # 9206243... encodes 1992-06-24, the listed birth date: a bonus even without birth_date.
    match = top(index, "Nurbek Kuralbay", identifiers=("920624302176",))  # bad check digit
    assert "birth_date" not in match.explanation
    valid_other = top(index, "Nurbek Kuralbay", identifiers=("920624350011",))
    assert valid_other.explanation.get("birth_date", {}).get("reason") in (None, "same date")


@pytest.mark.parametrize(
    "name",
    ["Margaret Hilda Thatcher", "Aigerim Nurlanovna Seitkali", "Иван Петров", "John Smith"],
)
def test_unlisted_common_names_give_no_match(index: ScreeningIndex, name: str) -> None:
    assert index.screen(Query(name)) == []


def test_short_names_keep_their_first_letter(index: ScreeningIndex) -> None:
    # Wali is not Ali: one letter in a three-letter name is a different name.
    for match in index.screen(Query("Ali Mohammed", threshold=0.5)):
        assert ("ali", "wali") not in rules(match)


def test_filters(index: ScreeningIndex) -> None:
    assert top(index, "7th of Tir", type="entity").entity.id == "un:IRe.001"
    assert all(
        m.entity.id != "un:IRe.001" for m in index.screen(Query("7th of Tir", type="person"))
    )
    assert not index.screen(Query("Aamir Ali Chaudhry", sources=("ofac",)))
    assert not index.screen(Query("Aamir Ali Chaudhry", programs=("KZ-TF",)))
    assert top(index, "Aamir Ali Chaudhry", programs=("UN-1267",)).entity.id == CHAUDHRY


def test_explanation_is_json(index: ScreeningIndex) -> None:
    match = top(index, "Chaudhri Amir", birth_date="1986", nationality="PK")
    data = json.loads(json.dumps(match.explanation))
    assert {"name", "tokens", "summary", "birth_date", "nationality"} <= data.keys()
    assert {"score", "rule", "query", "candidate"} <= data["name"].keys()
    assert all({"query", "candidate", "rule", "score"} <= t.keys() for t in data["tokens"])
    assert data["nationality"]["reason"] == "same nationality"
    assert "birth date: same year (+0.03)" in data["summary"]


QUERIES = [
    Query("Aamir Ali Chaudhry"),
    Query("Чаудхри Аамир Али"),
    Query("Nurbek Kuralbay", type="person"),
    Query("Muhammad Ali"),
    Query("Abdul Rahman al Baghdadi", threshold=0.6),
    Query("VEB Inzhiniring", type="entity"),
    Query("Kim Chol", threshold=0.6),
    Query("Akhmetov Serik", threshold=0.6),
    Query("A. Q. Khan", threshold=0.6),
]


def summary(matches: list[Match]) -> list[tuple[str, float, str]]:
    return [(m.entity.id, m.score, m.matched_name) for m in matches]


def test_index_loses_nothing_against_exhaustive_scoring(index: ScreeningIndex) -> None:
    for query in QUERIES:
        assert summary(index.screen(query)) == summary(index.screen_exhaustive(query)), query


def test_deterministic(index: ScreeningIndex, lists: dict[str, list[Entity]]) -> None:
    # Same answers and explanations from a second index loaded in another order.
    other = ScreeningIndex()
    for source in reversed(list(lists)):
        other.replace_source(source, "v1", list(reversed(lists[source])))
    for query in QUERIES:
        first = [(m.entity.id, m.score, m.explanation) for m in index.screen(query)]
        again = [(m.entity.id, m.score, m.explanation) for m in index.screen(query)]
        assert (
            first == again == [(m.entity.id, m.score, m.explanation) for m in other.screen(query)]
        )


def test_screen_many_matches_screen(index: ScreeningIndex) -> None:
    assert [summary(ms) for ms in index.screen_many(QUERIES)] == [
        summary(index.screen(q)) for q in QUERIES
    ]


def test_apply_delta_patches_one_source(lists: dict[str, list[Entity]]) -> None:
    index = build(lists)
    chaudhry = index.entities[CHAUDHRY]
    index.apply_delta("un", "v2", [], [CHAUDHRY])
    assert index.versions["un"] == "v2" and CHAUDHRY not in index.entities
    assert all(m.entity.id != CHAUDHRY for m in index.screen(Query("Aamir Ali Chaudhry")))
    renamed = replace(
        chaudhry, names=(*chaudhry.names, replace(chaudhry.names[0], full="Zzyzx Qwerty"))
    )
    index.apply_delta("un", "v3", [renamed], [])
    assert top(index, "Zzyzx Qwerty").entity.id == CHAUDHRY
    # The patched index answers as a fresh build of the same content does.
    fresh = build({**lists, "un": [e for e in lists["un"] if e.id != CHAUDHRY] + [renamed]})
    for query in QUERIES:
        assert summary(index.screen(query)) == summary(fresh.screen(query))
    assert len(index) == len(fresh)


def test_replace_source_keeps_other_sources(
    index: ScreeningIndex, lists: dict[str, list[Entity]]
) -> None:
    other = build(lists)
    other.replace_source("un", "v2", [])
    assert other.versions == {"un": "v2", "kz-afm-tf": "v1", "ofac": "v1"}
    assert top(other, "Nurbek Kuralbay").entity.id == KURALBAY
    assert not other.screen(Query("Aamir Ali Chaudhry"))


def test_candidates_over_arrays_are_the_candidates_over_sets(
    index: ScreeningIndex, lists: dict[str, list[Entity]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large sources find candidates over arrays, small ones over sets: the same names."""
    import listd.screening.postings as module

    monkeypatch.setattr(module, "_ARRAY_SOURCE", 0)
    arrays = build(lists)
    assert all(s.postings_array is not None for s in arrays.sources.values())
    assert all(s.postings_array is None for s in index.sources.values())
    for query in [*QUERIES, Query("Muhammad Ali"), Query("A. Q. Khan")]:
        plan = arrays.plan(query)
        assert plan is not None
        for name, source in arrays.sources.items():
            over_arrays = find_candidates(plan, source)
            assert isinstance(over_arrays, np.ndarray)
            assert set(over_arrays.tolist()) == find_candidates(plan, index.sources[name])
        assert summary(arrays.screen(query)) == summary(index.screen_exhaustive(query))


@pytest.mark.parametrize("array_source", [20_000, 0], ids=["sets", "arrays"])
def test_pruning_loses_nothing_where_common_names_crowd(
    lists: dict[str, list[Entity]], monkeypatch: pytest.MonkeyPatch, array_source: int
) -> None:
    """The bound only acts on crowded candidate sets: crowd the real lists with 6,000
    names made of common given names and real surnames, some holding a name twice, and
    check against the unpruned and the exhaustive answers, with candidates found over
    sets and over arrays."""
    import random

    import listd.screening.postings as module

    monkeypatch.setattr(module, "_ARRAY_SOURCE", array_source)

    rng = random.Random(5)
    common = ["Ahmad", "Akhmad", "Ali", "Muhammad", "Mohammad", "Ibrahim", "Khan", "Hasan"]
    surnames = sorted({n.full.split()[-1] for e in lists["un"] for n in e.names if n.full})
    crowd = []
    for i in range(3000):
        words = rng.sample(common, rng.choice((1, 2, 2, 3))) + [rng.choice(surnames)]
        if i % 10 == 0:
            words.append(words[0])  # Ahmad Karimi Ahmad
        if i % 7 == 0:
            words.insert(1, rng.choice("AHMS") + ".")
        rng.shuffle(words)
        names = (Name(" ".join(words), kind="primary"), Name(" ".join(reversed(words))))
        crowd.append(Entity(id=f"crowd:{i}", source="crowd", schema="person",
                            reference=str(i), names=names))  # fmt: skip
    index = build({**lists, "crowd": crowd})
    queries = [
        Query("Ахмад Али Ахмад"), Query("Ahmad Ali Atmad"), Query("Ahmad Ahmad"),
        Query("MOHAMMAD E. AKHUND"), Query("Muhammad H. Khan"), Query("Ali Hasan Ibrahim"),
        Query("Mohammad Ali", threshold=0.7), Query("A. Muhammad Khan", threshold=0.75),
        Query("Ibrahim Ibrahim Ali"), Query("Khan Khan"),
    ]  # fmt: skip
    crowded = 0
    for query in queries:
        plan = index.plan(query)
        assert plan is not None
        crowded += len(find_candidates(plan, index.sources["crowd"])) > 2000
        assert (index.sources["crowd"].postings_array is None) == (array_source > 0)
        pruned = summary(index.screen(query))
        assert pruned == summary(index.screen_unpruned(query)), query
        assert pruned == summary(index.screen_exhaustive(query)), query
    assert crowded >= 2  # crowded: thousands of candidates went to the array bound

    # The per-name bound, over arrays and in Python, never drops a name whose exact score
    # reaches the cutoff; it does drop most of the others.

    checked = dropped = 0
    for query in [*queries, *QUERIES]:
        plan = index.plan(query)
        assert plan is not None
        for source in index.sources.values():
            names = sorted(find_candidates(plan, source))
            if not names or source.columns is None:
                continue
            kept = bound_holds(plan, source.columns, np.array(names, dtype=np.int64))
            for nid, keep in zip(names, kept, strict=True):
                if index.name_score(plan, source, nid)[0] >= plan.cutoff:
                    assert keep, (query, source.name_text[nid])
                    assert not index.below(plan, source, nid), (query, source.name_text[nid])
                checked += 1
                dropped += not keep
    assert checked > 20_000 and dropped > checked / 2


def test_lookups_made_before_a_delta_see_the_words_it_adds(
    lists: dict[str, list[Entity]],
) -> None:
    """Query-word lookups are kept across loads and only extended with the words a load
    adds: a spelling first seen in a delta is found for a word looked up before it."""
    index = build(lists)
    query = Query("Aamir Ali Chaudhry")
    assert [m.entity.id for m in index.screen(query)] == [CHAUDHRY]
    assert any(t.text == "chaudhry" for t in index.retrieved)  # looked up, kept
    cousin = Entity(id="un:QDi.999", source="un", schema="person", reference="QDi.999",
                    names=(Name("Aamir Ali Chawdhri", kind="primary"),))  # fmt: skip
    assert not any(t.text == "chawdhri" for t in index.vocabulary.tokens)  # a new word
    index.apply_delta("un", "v2", [cousin], [])
    found = summary(index.screen(query))
    assert "un:QDi.999" in [f[0] for f in found]
    assert found == summary(build({**lists, "un": [*lists["un"], cousin]}).screen(query))


def test_similarity_is_symmetric(index: ScreeningIndex) -> None:
    """`similarity(q, v) == similarity(v, q)` on real pairs: the customer index compares
    many customer words with one listed word through the listed word's matcher."""
    import random

    from listd.screening.tokens import similarity

    tokens = index.vocabulary.tokens
    rng = random.Random(3)
    pairs = [
        (tokens[vid], token)
        for token in rng.sample(tokens, 300)
        for vid in index.lookup(token, 0, len(tokens))
    ]
    assert len(pairs) > 1000
    assert sum(similarity(a, b)[0] > 0 for a, b in pairs) > 1000
    assert all(similarity(a, b) == similarity(b, a) for a, b in pairs)


def test_initials_ruled_out_over_arrays_change_no_answer(
    lists: dict[str, list[Entity]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`initials_unmet` records at once, for the words of many candidate names, that no
    query initial matches them (what the word-by-word test finds): the matches and their
    explanations are those of the word-by-word test alone, for queries with initials
    against names crowded with initials and common words."""
    import random

    import listd.screening.index as module
    from listd.screening.plan import QueryPlan, initials_unmet
    from listd.screening.postings import NameColumns

    rng = random.Random(17)
    common = ["Ahmad", "Ali", "Muhammad", "Mohammad", "Hasan", "Khan", "Abdul", "Rahman"]
    surnames = sorted({n.full.split()[-1] for e in lists["un"] for n in e.names if n.full})
    crowd = []
    for i in range(800):
        words = rng.sample(common, rng.choice((1, 2))) + [rng.choice(surnames)]
        if i % 3 == 0:
            words.insert(rng.randrange(len(words)), rng.choice("AHKMRS") + ".")
        name = Name(" ".join(words), kind="primary")
        crowd.append(Entity(id=f"crowd:{i}", source="crowd", schema="person",
                            reference=str(i), names=(name,)))  # fmt: skip
    index = build({**lists, "crowd": crowd})
    queries = [
        Query("A. Muhammad Khan", threshold=0.7), Query("M. A. Rahman", threshold=0.6),
        Query("Ahmad H. Ali", threshold=0.7), Query("MZ Hasan Khan", threshold=0.7),
        Query("A. Q. Khan", threshold=0.6), Query("K. Ali Hasan", threshold=0.7),
    ]  # fmt: skip
    marked = []

    def spy(plan: QueryPlan, columns: NameColumns | None, nids: list[int]) -> None:
        before = len(plan.initial_entries)
        initials_unmet(plan, columns, nids)
        marked.append(len(plan.initial_entries) - before)

    def full(matches: list[Match]) -> list[tuple[str, float, str, str]]:
        return [
            (m.entity.id, m.score, m.matched_name, json.dumps(m.explanation, sort_keys=True))
            for m in matches
        ]

    monkeypatch.setattr(module, "initials_unmet", spy)
    found = [full(index.screen(q)) for q in queries]
    assert sum(marked) > 100  # many words were ruled out at once
    assert sum(map(len, found)) > 10
    monkeypatch.setattr(module, "initials_unmet", lambda *args: None)
    index.clear_caches()
    assert found == [full(index.screen(q)) for q in queries]
