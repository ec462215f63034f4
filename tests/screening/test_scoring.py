"""The screening score's arithmetic (`listd.screening.scoring`)."""

from __future__ import annotations

import random
from functools import cache
from itertools import combinations, product

import pytest

import listd.pipeline.ingest
from listd.normalize.aliases import name_forms
from listd.scrapers import scraper
from listd.screening.scoring import (
    MAX_EXACT_SUBSETS,
    MISSING_LIST,
    MISSING_PARTIAL,
    MISSING_QUERY,
    bound,
    list_cost,
    near_needs,
    near_sets,
    near_shape,
    required,
    required_bands,
)
from listd.screening.tokens import WEIGHTS, tokenize
from tests.conftest import un_file


@cache
def shapes() -> list[tuple[tuple[float, ...], tuple[int, ...]]]:
    """The weights and initials of every name form of the UN list of 2025-11-15, and every
    name of one to three tokens of any weight (with an initial or none)."""
    parsed = listd.pipeline.ingest.process(scraper("un"), un_file("2025-11-15").read_bytes(), "un")
    found: set[tuple[tuple[float, ...], tuple[int, ...]]] = set()
    for entity in parsed.entities:
        mode = "person" if entity.schema == "person" else "entity"
        for name in entity.names:
            for form in name_forms(name.full):
                tokens = tokenize(form, mode)
                found.add(
                    (
                        tuple(t.weight for t in tokens),
                        tuple(p for p, t in enumerate(tokens) if t.kind == "initial"),
                    )
                )
    values = sorted(set(WEIGHTS.values()))
    for size in range(1, 4):
        for weights in product(values, repeat=size):
            found.add((weights, ()))
            found.add((weights, (0,)))
    return sorted(found)


@pytest.mark.parametrize("cutoff", [0.72, 0.57])
def test_required_bands_answers_what_required_answers_band_by_band(cutoff: float) -> None:
    """Bands of customers as the index files them (weights in steps of 0.25, up to 6
    words) at once, for every listed name shape: the very sets `required` gives for each
    band apart."""
    bands = tuple((band * 0.25, bool(band), most) for band in range(0, 32, 3) for most in (2, 6))
    names = shapes()
    assert len(names) > 800
    assert any(len(w) - len(i) > MAX_EXACT_SUBSETS for w, i in names)  # the prefix branch too
    for weights, initials in names:
        cost = list_cost(len(weights))
        assert required_bands(weights, initials, cutoff, cost, bands) == tuple(
            required(weights, initials, cutoff, cost, other, False, weak, most)
            for other, weak, most in bands
        ), (weights, initials)


def test_required_bands_answers_band_by_band_whatever_the_order_of_the_bands() -> None:
    """The bands of one side ranked by their least weight (a set reaches those up to a
    level): asked in any order, with two bands of one weight and bands of both sides
    mixed, every band's sets are the very sets `required` gives it alone."""
    rng = random.Random(706)
    bands = [(band * 0.25, bool(band), most) for band in range(32) for most in (1, 3, 9)]
    bands += [(0.0, True, 4), (1.0, False, 5)]  # a weak band of no weight, and the converse
    names = [(w, i) for w, i in shapes() if len(w) - len(i) <= MAX_EXACT_SUBSETS]
    for cutoff in (0.72, 0.5):
        for weights, initials in names:
            asked = tuple(rng.sample(bands, 12))
            cost = list_cost(len(weights))
            assert required_bands(weights, initials, cutoff, cost, asked) == tuple(
                required(weights, initials, cutoff, cost, other, False, weak, most)
                for other, weak, most in asked
            ), (weights, initials, asked)


def test_near_needs_gives_the_sets_no_other_holds_a_part_of() -> None:
    """`near_needs` keeps, of the sets a word two edits away needs, those of which no
    other is a part (compared as bits): the same as comparing them as sets, for every
    listed name shape of the UN list and the sets `required` gives it in every band."""
    parsed = listd.pipeline.ingest.process(scraper("un"), un_file("2025-11-15").read_bytes(), "un")
    checked = 0
    seen: set[tuple[object, ...]] = set()
    for entity in parsed.entities:
        mode = "person" if entity.schema == "person" else "entity"
        for name in entity.names:
            for form in name_forms(name.full):
                tokens = tokenize(form, mode)
                weights = tuple(t.weight for t in tokens)
                initials = tuple(p for p, t in enumerate(tokens) if t.kind == "initial")
                if len(weights) - len(initials) > MAX_EXACT_SUBSETS:
                    continue
                shape = near_shape(tokens)
                for band in range(0, 32, 2):
                    subsets = required(
                        weights, initials, 0.64, list_cost(len(weights)), band * 0.25,
                        False, bool(band), 9,
                    )[0]  # fmt: skip
                    if (shape, tuple(subsets)) in seen:
                        continue
                    seen.add((shape, tuple(subsets)))
                    found = near_needs(shape, subsets)
                    assert sorted(found) == sorted(_near_needs_by_definition(shape, subsets))
                    checked += bool(found)
    assert checked > 100


def _near_needs_by_definition(
    shape: tuple[tuple[bool, bool, bool], ...], subsets: list[tuple[int, ...]]
) -> list[tuple[int, ...]]:
    """`near_needs` as first written: its sets compared as Python sets."""
    out = near_sets(shape, subsets)
    return [n for n in out if not any(set(m) < set(n) for m in out)]


def _required_by_definition(
    weights: tuple[float, ...],
    initials: tuple[int, ...],
    cutoff: float,
    cost: float,
    other: float,
    loose: bool,
    weak: bool,
    most: int,
) -> list[tuple[int, ...]]:
    """Every set of positions of at most `most` whose `bound` reaches `cutoff` and none
    of whose smaller sets does, by size, in the order of `combinations`."""
    positions = [p for p in range(len(weights)) if p not in initials]
    reached = [
        subset
        for size in range(1, min(len(positions), most) + 1)
        for subset in combinations(positions, size)
        if bound(weights, [*initials, *subset], cost, other_weight=other, loose=loose,
                 initials=initials if weak else ())
        >= cutoff
    ]  # fmt: skip
    return [s for s in reached if not any(set(r) < set(s) for r in reached)]


@pytest.mark.parametrize("cutoff", [0.8, 0.72, 0.57])
def test_required_gives_the_minimal_sets_bound_defines(cutoff: float) -> None:
    """`required` (its sums worked out once per name shape, supersets skipped by bits)
    answers exactly what `bound` on every set of positions answers, for every listed
    name shape, query side and customer side alike."""
    names = [(w, i) for w, i in shapes() if len(w) - len(i) <= MAX_EXACT_SUBSETS]
    assert any(len(w) - len(i) == MAX_EXACT_SUBSETS for w, i in names)
    cases = [(MISSING_QUERY, 0.0, False, False, 99), (MISSING_LIST, 2.5, False, True, 2)]
    cases += [(MISSING_LIST, 1.75, True, True, 6), (MISSING_PARTIAL, 0.0, False, True, 3)]
    for weights, initials in names:
        for cost, other, loose, weak, most in cases:
            args = (weights, initials, cutoff, cost, other, loose, weak, most)
            assert required(*args)[0] == _required_by_definition(*args), args
