"""One query planned against the vocabulary: its candidates, the bounds that prune them,
and the final score of an entity (name score moved by the other evidence).

Split from `index.py` (the screening loop): the candidate and final-scoring stages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from listd.model import Entity
from listd.screening import evidence
from listd.screening.explain import PARTIAL_MAX_WORDS
from listd.screening.postings import LOW_BITS, NameColumns, PostingArrays, SourceIndex
from listd.screening.query import Query
from listd.screening.scoring import (
    MISSING_LIST,
    MISSING_PARTIAL,
    MISSING_QUERY,
    TWO_EDITS,
    TWO_EDITS_KINDS,
    close_to,
)
from listd.screening.tokens import WEIGHTS, Token

_MASK_BITS = 16  # query tokens a candidate mask can follow


@dataclass(slots=True)
class QueryPlan:
    """One query, tokenised and looked up in the vocabulary."""

    query: Query
    tokens: tuple[Token, ...]
    weights: list[float]
    total: float
    sims: dict[int, list[tuple[float, int, str]]]  # token id → (score, query pos, rule)
    # The same, ready for alignment: token id → (-score, pair has an initial, pos, rule),
    # including a list token's matches with the query's initials; made as the tokens of
    # the names being aligned need them (`ScreeningIndex._entry`), not for all of `sims`.
    entries: dict[int, tuple[tuple[float, bool, int, str], ...]]
    initial_entries: dict[int, tuple[tuple[float, bool, int, str], ...]]
    initials: list[int]  # query positions that are initials
    subsets: list[tuple[int, ...]]  # minimal sets of query positions a candidate must hold
    least: int  # the fewest query words (not initials) a name reaching the cutoff matches
    prefix: list[int] | None  # for long queries: a candidate holds one of these
    cutoff: float  # lowest name score that can still reach the threshold
    # best[k]: for a name matching k query words, the largest matched weight (pairs at
    # weight 1 on the list side) and the smallest query weight left unmatched.
    best: tuple[tuple[float, float], ...]
    birth_date: str | None
    identifiers: tuple[str, ...]
    # The query initials' `query_bits` (None: compare every list token), their union,
    # and the vocabulary columns as they were when the query started.
    initial_bits: dict[int, int | None]  # query position → bits
    any_initial: int | None
    weights_col: npt.NDArray[np.float64]
    bits_lo: npt.NDArray[np.uint64]
    bits_hi: npt.NDArray[np.uint64]
    # `scoring.two_edits`: for each query word that may be the one two edits from a listed
    # word, the other positions (a name must hold matches for all of them, one of them
    # by a listed name not a common one: `uncommon`).
    near: list[tuple[int, ...]] = field(default_factory=list)
    near_at: list[int] = field(default_factory=list)  # the word left out of each
    # The vocabulary's tokens as the query started, and for a query of two words, per
    # position, the list tokens found within two edits of its word (`close_words`).
    words: Sequence[Token] = ()
    close: dict[int, dict[int, bool]] = field(default_factory=dict)
    anchor_ids: dict[int, tuple[frozenset[int], npt.NDArray[np.int64]]] = field(
        default_factory=dict
    )
    uncommon_ids: list[int] | None = None  # `uncommon`, once asked for
    strong_bits: dict[int, int] | None = None  # `strong`, once asked for
    hit: npt.NDArray[np.bool_] | None = None  # token id → matches a query word
    position_ids: list[npt.NDArray[np.int64]] | None = None  # the token ids each position matches

    def strong(self) -> dict[int, int]:
        """List token id → the query positions it matches at 0.9+, as bits (once per query:
        `two_edits` pairs the other words at 0.9+)."""
        if self.strong_bits is None:
            self.strong_bits = {}
            for vid, found in self.sims.items():
                bits = 0
                for score, pos, _ in found:
                    if score >= 0.9:
                        bits |= 1 << pos
                if bits:
                    self.strong_bits[vid] = bits
        return self.strong_bits

    def uncommon(self) -> list[int]:
        """The list tokens matching a query word at 0.9+ that weigh as a name not a common
        one (and numbers, which weigh the same: a superset is enough); once per query."""
        if self.uncommon_ids is None:
            weight, name = self.weights_col, WEIGHTS["name"]
            self.uncommon_ids = [vid for vid in self.strong() if weight[vid] == name]
        return self.uncommon_ids

    def anchors(self, at: int) -> tuple[frozenset[int], npt.NDArray[np.int64]]:
        """For a query of two words: the list tokens `two_edits` may pair the word that is
        not `at` with beside a word two edits from `at`'s (matching it at 0.9+, a listed
        name not a common one: `uncommon`), as a set and an array, once per query."""
        found = self.anchor_ids.get(at)
        if found is None:
            other, strong = 1 - at, self.strong()
            picked = frozenset(v for v in self.uncommon() if strong[v] >> other & 1)
            found = picked, np.fromiter(picked, dtype=np.int64, count=len(picked))
            self.anchor_ids[at] = found
        return found

    def may_meet(self, at: int, vid: int) -> bool:
        """False when query initial `at` surely does not match list token `vid`."""
        bits = self.initial_bits[at]
        if bits is None:
            return True
        return bool(int(self.bits_lo[vid]) & bits & LOW_BITS or int(self.bits_hi[vid]) & bits >> 64)


@lru_cache(maxsize=4096)
def best_by_count(weights: tuple[float, ...]) -> tuple[tuple[float, float], ...]:
    heaviest = sorted(weights, reverse=True)
    total = sum(weights)
    return tuple(
        (sum((w + 1.0) / 2 for w in heaviest[:k]), total - sum(heaviest[:k]))
        for k in range(len(weights) + 1)
    )


def bound_holds(
    plan: QueryPlan, columns: NameColumns, nids: npt.NDArray[np.int64]
) -> npt.NDArray[np.bool_]:
    """`not ScreeningIndex.below(...)` for many names at once, over arrays.

    The same bound, except that a list word counts as meeting a query initial when their
    `_initial_bits` share a bit (a superset of the words that do): the bound can only be
    looser, never tighter, so no name that could reach the cutoff is dropped.
    """
    vids, which = _rows(columns.flat, columns.starts, nids)
    hits = _hit(plan)[vids]
    held = hits
    others: npt.NDArray[np.float64] = np.zeros(len(nids))
    if plan.initials:
        bits = plan.any_initial
        if bits is None:
            meets = np.ones(len(vids), dtype=np.bool_)
        else:
            meets = _meets_bits(plan.bits_lo, plan.bits_hi, vids, bits)
        other = meets & ~hits
        held = hits | other
        others = np.bincount(which, weights=other, minlength=len(nids)).astype(np.float64)
    n_hits = np.bincount(which, weights=hits, minlength=len(nids))
    held_weight = np.bincount(
        which, weights=np.where(held, plan.weights_col[vids], 0.0), minlength=len(nids)
    )
    free = np.minimum(others, len(plan.initials))
    best = np.array(plan.best)
    k = np.minimum(n_hits + free, len(best) - 1).astype(np.int64)
    matched, missing_query = best[k, 0], best[k, 1]
    words = columns.starts[nids + 1] - columns.starts[nids]
    cost = np.where((words >= 3) & (words <= PARTIAL_MAX_WORDS), MISSING_PARTIAL, MISSING_LIST)
    missing = MISSING_QUERY * missing_query + cost * (columns.weight[nids] - held_weight)
    # Each query word a name matches takes a list word of its own: a name reaching the
    # cutoff holds `least` of them (this is what drops the names where one common list
    # word, Ahmad, meets two query words, "Ahmad Ali Ahmad" or "Ahmad Ali Atmad").
    keep = n_hits >= max(plan.least, 1)
    # matched > 0 wherever a word is held; a hair of slack for float rounding.
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = matched / (matched + missing) * columns.factor[nids]
    keep &= bound >= plan.cutoff - 1e-9
    return keep


def _hit(plan: QueryPlan) -> npt.NDArray[np.bool_]:
    """Token id → whether it matches a query word (`plan.sims`), once per query."""
    if plan.hit is None:
        hit = np.zeros(len(plan.weights_col), dtype=np.bool_)
        hit[np.fromiter(plan.sims, dtype=np.int64, count=len(plan.sims))] = True
        plan.hit = hit
    return plan.hit


# From this many names on, `initials_unmet` marks their words over arrays at once.
_UNMET_AT = 16


def initials_unmet(plan: QueryPlan, columns: NameColumns | None, nids: Sequence[int]) -> None:
    """Record in `plan.initial_entries` that no query initial matches each word of names
    `nids` that `plan.may_meet` rules out for every initial (what
    `ScreeningIndex._initial_entries` finds for it, one word at a time, the same test):
    one pass over arrays for the words of all the names about to be bounded or scored.
    Names whose words the arrays may not cover yet are left to the word-by-word test."""
    bits = plan.any_initial
    if not plan.initials or bits is None or columns is None or len(nids) < _UNMET_AT:
        return
    rows = np.fromiter(nids, dtype=np.int64, count=len(nids))
    rows = rows[rows < columns.count]
    if not len(rows):
        return
    vids = _rows(columns.flat, columns.starts, rows)[0]
    vids = vids[~_hit(plan)[vids]]
    unmet = vids[~_meets_bits(plan.bits_lo, plan.bits_hi, vids, bits)]
    known = plan.initial_entries
    # (Repeated words are simply set again: np.unique would import numpy.ma on first use.)
    for vid in unmet.tolist():
        known.setdefault(vid, ())


def candidates_over_arrays(plan: QueryPlan, arrays: PostingArrays) -> npt.NDArray[np.int64]:
    """`find_candidates` over arrays."""
    return _over_arrays(plan, arrays)[0]


def _over_arrays(
    plan: QueryPlan, arrays: PostingArrays
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The candidates over arrays, and those for `plan.near`: each name gets a bit per
    query position it holds a match for, then the subsets (or the prefix) are tested on
    those bits. Set unions of a common name's hundreds of spellings cost 5-10 ms at a
    million names; this touches each posting once, in C."""
    if plan.position_ids is None:
        ids: list[list[int]] = [[] for _ in plan.tokens]
        for vid, entries in plan.sims.items():
            for _, pos, _ in entries:
                ids[pos].append(vid)
        plan.position_ids = [np.array(v, dtype=np.int64) for v in ids]
    wanted = (
        plan.prefix if plan.prefix is not None else sorted({p for s in plan.subsets for p in s})
    )
    if plan.near:
        wanted = sorted({*wanted, *(p for need in plan.near for p in need)})
    mask = np.zeros(arrays.count, dtype=np.uint16)  # pages are only touched where written
    known = len(arrays.starts) - 1  # words interned after the source was built hold none of it
    touched = []
    for pos in wanted:
        vids = plan.position_ids[pos]
        names, _ = _rows(arrays.names, arrays.starts, vids[vids < known])
        mask[names] |= np.uint16(1 << pos)
        touched.append(names)
    every = np.concatenate(touched) if touched else np.zeros(0, dtype=np.int32)
    found = every
    if plan.prefix is None:
        found = every[_holds(mask[every], plan.subsets)]
    near = np.zeros(0, dtype=np.int64)
    if plan.near:
        rare_ids = np.array(plan.uncommon(), dtype=np.int64)
        rare, _ = _rows(arrays.names, arrays.starts, rare_ids[rare_ids < known])
        if len(rare):
            near = _distinct(rare[_holds(mask[rare], plan.near)], arrays.count)
    return _distinct(found, arrays.count), near


def _holds(bits: npt.NDArray[np.uint16], subsets: list[tuple[int, ...]]) -> npt.NDArray[np.bool_]:
    keep = np.zeros(len(bits), dtype=np.bool_)
    for subset in subsets:
        need = np.uint16(sum(1 << pos for pos in subset))
        keep |= (bits & need) == need
    return keep


def _distinct(found: npt.NDArray[Any], count: int) -> npt.NDArray[np.int64]:
    """Each name once, without sorting or scanning a mask of every name (a million)."""
    order = np.arange(len(found), dtype=np.int32)
    last = np.empty(count, dtype=np.int32)
    last[found] = order
    distinct: npt.NDArray[np.int64] = found[last[found] == order].astype(np.int64)
    return distinct


def _rows(
    flat: npt.NDArray[Any], starts: npt.NDArray[np.int64], rows: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[Any], npt.NDArray[np.int64]]:
    """The values of `rows` of a ragged table (row r is flat[starts[r]:starts[r + 1]]), one
    after another, and for each value the index in `rows` of the row it came from."""
    begin = starts[rows]
    lengths = starts[rows + 1] - begin
    ends = np.cumsum(lengths)
    total = int(ends[-1]) if len(ends) else 0
    which = np.repeat(np.arange(len(rows)), lengths)
    at = np.arange(total) + np.repeat(begin - (ends - lengths), lengths)
    return flat[at], which


def _meets_bits(
    lo: npt.NDArray[np.uint64], hi: npt.NDArray[np.uint64], vids: npt.NDArray[np.int64], bits: int
) -> npt.NDArray[np.bool_]:
    """Which tokens' `_list_bits` share a bit with `bits`."""
    low, high = np.uint64(bits & LOW_BITS), np.uint64(bits >> 64)
    found: npt.NDArray[np.bool_] = ((lo[vids] & low) | (hi[vids] & high)) != 0
    return found


def union_of(parts: list[tuple[int, ...] | set[int]]) -> set[int] | None:
    """The names holding one of the list tokens that match one query position."""
    if not parts:
        return None
    return _as_set(parts[0]) if len(parts) == 1 else set().union(*parts)


def _as_set(names: tuple[int, ...] | set[int]) -> set[int]:
    return names if isinstance(names, set) else set(names)


def query_wants(query: Query, entity: Entity) -> bool:
    if query.type == "person" and entity.schema != "person":
        return False
    if query.type == "entity" and entity.schema == "person":
        return False
    return not query.programs or any(p in entity.programs for p in query.programs)


def find_candidates(plan: QueryPlan, index: SourceIndex) -> set[int] | npt.NDArray[np.int64]:
    """The names of `index` that hold matches for one of `plan.subsets` (or, for long
    queries, for one of `plan.prefix`): over arrays for large sources, else over sets."""
    return candidates_and_near(plan, index)[0]


Names = set[int] | npt.NDArray[np.int64]


def candidates_and_near(plan: QueryPlan, index: SourceIndex) -> tuple[Names, Names]:
    """`find_candidates`, and the names that may reach the cutoff only with a word two
    edits away (`scoring.two_edits`): those holding matches for every query word but one
    of `plan.near`, one of them by a listed name not a common one (`plan.uncommon`)."""
    arrays = index.postings_array
    if arrays is not None and len(plan.tokens) <= _MASK_BITS:
        found, near = _over_arrays(plan, arrays)
        return found, _near_kept(plan, index, near)
    postings = index.postings
    parts: list[list[tuple[int, ...] | set[int]]] = [[] for _ in plan.tokens]
    for vid, entries in plan.sims.items():
        names = postings.get(vid)
        if names:
            for _, pos, _ in entries:
                parts[pos].append(names)
    # One union per position; a single set is shared with the index, never changed.
    hits = [union_of(p) for p in parts]
    out: set[int] = set()
    if plan.prefix is not None:
        for pos in plan.prefix:
            held = hits[pos]
            if held:
                out |= held
    else:
        out = _holding_one(hits, plan.subsets)
    close: set[int] = set()
    if plan.near:
        rare = union_of([postings[v] for v in plan.uncommon() if v in postings])
        if rare:  # from the few names holding one, those holding every other word
            for need in plan.near:
                held = rare
                for pos in need:
                    h = hits[pos]
                    held = held & h if h else set()
                    if not held:
                        break
                close |= held
    return out, _near_kept(plan, index, close)


def _near_kept(plan: QueryPlan, index: SourceIndex, nids: Names) -> Names:
    """Of the names holding the other words of `plan.near`, those `two_edits` may pair."""
    if len(plan.tokens) == 2:
        return _beside_one(plan, index, nids)
    return _strongly_held(plan, index, nids)


def _beside_one(plan: QueryPlan, index: SourceIndex, nids: Names) -> Names:
    """For a query of two words: of `nids`, the names holding, for one of `plan.near_at`,
    a listed name not a common one matching the other word at 0.9+ (`QueryPlan.anchors`),
    a word within two edits of it (`close_words`), and few enough other words to reach
    the cutoff so (`_alone_bound`). Every name holding the other word's match is a
    candidate of the rule, which no bound of the lookups prunes (thousands at a million
    names): the distinct words of those names are compared with the query word once, not
    name by name."""
    if not len(nids):
        return set()
    columns = index.columns
    if isinstance(nids, np.ndarray) and columns is not None and int(nids.max()) < columns.count:
        kept: list[npt.NDArray[np.int64]] = []
        for at in plan.near_at:
            anchors = plan.anchors(at)[1]
            if not len(anchors):
                continue
            reach = nids[_alone_bound(plan, at, columns.weight[nids], columns.factor[nids])]
            vids, which = _rows(columns.flat, columns.starts, reach)
            held = np.zeros(len(reach), dtype=np.bool_)
            held[which[np.isin(vids, anchors)]] = True
            inside = held[which]
            if not inside.any():
                continue
            near = close_words(plan, at, np.unique(vids[inside]).tolist())
            if near:
                found = inside & np.isin(vids, np.fromiter(near, dtype=np.int64, count=len(near)))
                has = np.zeros(len(reach), dtype=np.bool_)
                has[which[found]] = True
                kept.append(reach[has])
        if not kept:
            return set()
        return np.unique(np.concatenate(kept))
    out: set[int] = set()
    rows = nids.tolist() if isinstance(nids, np.ndarray) else list(nids)
    for at in plan.near_at:
        rare = plan.anchors(at)[0]
        if not rare:
            continue
        terms = _alone_terms(plan, at)
        holding = [
            nid
            for nid in rows
            if not rare.isdisjoint(index.names[nid])
            and any(
                num
                / (den + MISSING_LIST * max(index.name_weight[nid] - held, 0.0))
                * index.name_factor[nid]
                >= plan.cutoff - 1e-9
                for num, den, held in terms
            )
        ]
        if holding:
            near = close_words(plan, at, list({v for nid in holding for v in index.names[nid]}))
            out.update(nid for nid in holding if not near.isdisjoint(index.names[nid]))
    return out


def _alone_terms(plan: QueryPlan, at: int) -> list[tuple[float, float, float]]:
    """The best score of a name with query word `at` paired at TWO_EDITS and the other
    word at best at 1 with a listed name (weight 1) is num / (den + MISSING_LIST * (its
    weight - held)) * its factor, for one of these (num, den, held), one per weight the
    listed word two edits away may have: every query word is then paired, and the listed
    words left over cost MISSING_LIST each (no partial name: a pair is under 0.9)."""
    w_other = (plan.weights[1 - at] + WEIGHTS["name"]) / 2
    out = []
    for listed in sorted({WEIGHTS[k] for k in TWO_EDITS_KINDS}):
        w_at = (plan.weights[at] + listed) / 2
        out.append((w_other + TWO_EDITS * w_at, w_other + w_at, WEIGHTS["name"] + listed))
    return out


def _alone_bound(
    plan: QueryPlan,
    at: int,
    name_weight: npt.NDArray[np.float64],
    factor: npt.NDArray[np.float64],
) -> npt.NDArray[np.bool_]:
    """Whether names of these weights may reach the cutoff so (`_alone_terms`)."""
    reach = np.zeros(len(name_weight), dtype=np.bool_)
    for num, den, held in _alone_terms(plan, at):
        left = np.maximum(name_weight - held, 0.0)
        reach |= num / (den + MISSING_LIST * left) * factor >= plan.cutoff - 1e-9
    return reach


def close_words(plan: QueryPlan, at: int, vids: list[int]) -> set[int]:
    """Of list tokens `vids`, those within two edits of query word `at` beside one other
    word (`scoring.close_to`), kept in the plan for the query's other sources."""
    known = plan.close.setdefault(at, {})
    fresh = [v for v in vids if v not in known]
    if fresh:
        words = plan.words
        close = close_to([plan.tokens[at]], [words[v] for v in fresh])
        known.update(zip(fresh, close, strict=True))
    return {v for v in vids if known[v]}


def _strongly_held(plan: QueryPlan, index: SourceIndex, nids: Names) -> Names:
    """Of `nids`, the names holding a match at 0.9+ for every query word of one of
    `plan.near` (what `two_edits` asks of the pairs beside it)."""
    strong = plan.strong()
    if not len(nids) or not strong:
        return set()
    masks = [sum(1 << p for p in need) for need in plan.near]
    columns = index.columns
    if isinstance(nids, np.ndarray) and columns is not None and int(nids.max()) < columns.count:
        vids, which = _rows(columns.flat, columns.starts, nids)
        keys = np.fromiter(strong, dtype=np.int64, count=len(strong))
        values = np.fromiter(strong.values(), dtype=np.int64, count=len(strong))
        order = np.argsort(keys)
        keys, values = keys[order], values[order]
        at = np.minimum(np.searchsorted(keys, vids), len(keys) - 1)
        bits = np.where(keys[at] == vids, values[at], 0)
        held = np.zeros(len(nids), dtype=np.int64)
        np.bitwise_or.at(held, which, bits)
        keep = np.zeros(len(nids), dtype=np.bool_)
        for mask in masks:
            keep |= (held & mask) == mask
        kept: npt.NDArray[np.int64] = nids[keep]
        return kept
    out: set[int] = set()
    for nid in nids.tolist() if isinstance(nids, np.ndarray) else nids:
        holds = 0
        for vid in index.names[nid]:
            holds |= strong.get(vid, 0)
        if any(holds & mask == mask for mask in masks):
            out.add(nid)
    return out


def _holding_one(hits: list[set[int] | None], subsets: list[tuple[int, ...]]) -> set[int]:
    """The names in every set of `hits` of one of `subsets`' positions."""
    out: set[int] = set()
    for subset in subsets:
        sets = [hits[pos] for pos in subset]
        if any(not s for s in sets):
            continue
        ordered = sorted((s for s in sets if s is not None), key=len)
        found = ordered[0].intersection(*ordered[1:]) if len(ordered) > 1 else ordered[0]
        out |= found
    return out


def by_identifier(plan: QueryPlan, index: SourceIndex) -> set[int]:
    """The entities of `index` holding one of the query's identifiers, whatever their names."""
    slots: set[int] = set()
    for key in plan.identifiers:
        slots |= index.documents.get(key, set())
    return slots


def final_score(
    plan: QueryPlan, entity: Entity, name_score: float
) -> tuple[float, dict[str, dict[str, Any]]]:
    """A name score moved by the query's other evidence (birth date, nationality,
    identifiers), with what moved it, for the explanation."""
    query = plan.query
    effects: dict[str, dict[str, Any]] = {}
    score = name_score
    decisive: float | None = None
    if plan.birth_date:
        effect = evidence.birth_effect(plan.birth_date, entity)
        if effect is not None:
            score += effect.delta
            effects["birth_date"] = effect.reason
    if query.nationality:
        effect = evidence.nationality_effect(query.nationality, entity)
        if effect is not None:
            score += effect.delta
            effects["nationality"] = effect.reason
    if plan.identifiers:
        effect = evidence.identifier_effect(plan.identifiers, entity)
        if effect is not None:
            score += effect.delta
            decisive = effect.decisive
            effects["identifiers"] = effect.reason
    score = max(0.0, min(1.0, score))
    if decisive is not None:
        score = max(score, decisive)
    return round(score, 4), effects
