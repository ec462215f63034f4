"""The in-memory candidate index and the screening loop.

Layout: one `_Vocabulary` of distinct name tokens shared by all sources (append-only, so
a query running while a source is loaded never sees it change under its feet), with a
key → token-ids table for lookups (`tokens.index_keys`). Each source has a
`_SourceIndex`: its names as tuples of token ids and, per token id, the set of names
holding it (postings). A sync builds a new `_SourceIndex` aside and swaps it in by one
assignment.

A query token is looked up once in the vocabulary (a few dozen dict gets), giving every
list token it can match with the score of that match. A list name can only reach the
threshold if it holds matches for enough of the query's weight; the minimal such sets of
query tokens are enumerated and their postings intersected, so common tokens
(Muhammad, Ali) never make every name containing them a candidate. Candidates are then
scored exactly from the precomputed token scores.
"""

from __future__ import annotations

import gc
import heapq
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import combinations
from typing import Any

from listd.model import Entity
from listd.normalize.aliases import name_forms
from listd.screening import evidence
from listd.screening.explain import Pair, explain
from listd.screening.query import Match, Query
from listd.screening.tokens import (
    Token,
    deletions,
    index_keys,
    query_keys,
    similarity,
    spellings,
    tokenize,
)

# How much a query token the list name lacks costs, and a list token the query lacks,
# relative to the weight of a matched token: a customer's extra name part is stronger
# evidence of another person than a middle name or patronymic the customer left out.
MISSING_QUERY = 0.6
MISSING_LIST = 0.3
WEAK_ALIAS = 0.9  # UN "low" and OFAC "weak" aliases: nicknames, partial names
_WEAK = frozenset({"low", "weak"})
_MAX_EXACT_SUBSETS = 8  # query tokens beyond this use the looser prefix filter
_RETRIEVAL_CACHE = 1 << 14
_INITIAL_CACHE = 1 << 20
_COUNT_FILTER = 2000  # candidates beyond which the count filter pays for itself
_SMALL_POSTING = 4


class _DeletionIndex:
    """Word → token ids for the one-deletion neighbourhoods of all spellings, compactly.

    A dict of strings would cost ~100 bytes per entry (30 per token); here each entry is a
    64-bit string hash and a token id in two sorted arrays (16 bytes), searched by bisect.
    Recent additions sit in a small dict until merged in. Hash collisions only add
    candidates, which `similarity` then rejects.
    """

    def __init__(self) -> None:
        self._base: tuple[array[int], array[int]] = (array("q"), array("q"))
        self._recent: dict[int, list[int]] = {}
        self._pending = 0

    def add(self, vid: int, words: Iterable[str]) -> None:
        recent = self._recent
        for word in words:
            h = hash(word)
            found = recent.get(h)
            if found is None:
                recent[h] = [vid]
            else:
                found.append(vid)
            self._pending += 1
        if self._pending > max(50_000, len(self._base[0]) // 4):
            self._merge()

    def _merge(self) -> None:
        keys, ids = self._base
        fresh = sorted((h, v) for h, vs in self._recent.items() for v in vs)
        new_keys, new_ids = array("q"), array("q")
        for h, v in heapq.merge(zip(keys, ids, strict=True), fresh):
            new_keys.append(h)
            new_ids.append(v)
        self._base = (new_keys, new_ids)  # readers see the merged arrays, then...
        self._recent = {}  # ...the recent entries leave (a duplicate at worst, never a miss)
        self._pending = 0

    def get(self, word: str) -> list[int]:
        h = hash(word)
        keys, ids = self._base
        i = bisect_left(keys, h)
        out: list[int] = []
        while i < len(keys) and keys[i] == h:
            out.append(ids[i])
            i += 1
        out.extend(self._recent.get(h, ()))
        return out

    def __len__(self) -> int:
        return len(self._base[0]) + self._pending


@dataclass(slots=True)
class _Vocabulary:
    tokens: list[Token] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    ids: dict[Token, int] = field(default_factory=dict)
    keys: dict[str, list[int]] = field(default_factory=dict)
    edits: _DeletionIndex = field(default_factory=lambda: _DeletionIndex())

    def intern(self, token: Token) -> int:
        found = self.ids.get(token)
        if found is not None:
            return found
        vid = len(self.tokens)
        self.tokens.append(token)
        self.weights.append(token.weight)
        for key in index_keys(token):
            bucket = self.keys.get(key)
            if bucket is None:
                self.keys[key] = [vid]
            else:
                bucket.append(vid)
        self.edits.add(vid, {d for word in spellings(token) for d in deletions(word)})
        self.ids[token] = vid  # last: a reader that finds the id finds the token too
        return vid


@dataclass(slots=True)
class _SourceIndex:
    source: str
    version: str
    entities: list[Entity | None] = field(default_factory=list)
    slot: dict[str, int] = field(default_factory=dict)  # entity id → position
    names: list[tuple[int, ...]] = field(default_factory=list)  # token ids per name
    name_entity: list[int] = field(default_factory=list)
    name_text: list[str] = field(default_factory=list)
    name_factor: list[float] = field(default_factory=list)
    name_weight: list[float] = field(default_factory=list)
    entity_names: dict[int, list[int]] = field(default_factory=dict)
    # Token id → names holding it: a tuple while few (a set costs 216 bytes even for one).
    postings: dict[int, tuple[int, ...] | set[int]] = field(default_factory=dict)
    documents: dict[str, set[int]] = field(default_factory=dict)  # identifier key → slots
    # Names holding one token twice (Ahmad Ahmad): the count filter cannot see them.
    repeats: set[int] = field(default_factory=set)
    n_names: int = 0

    def copy(self) -> _SourceIndex:
        """A copy whose containers can be patched without touching this one's."""
        return _SourceIndex(
            source=self.source,
            version=self.version,
            entities=list(self.entities),
            slot=dict(self.slot),
            names=list(self.names),
            name_entity=list(self.name_entity),
            name_text=list(self.name_text),
            name_factor=list(self.name_factor),
            name_weight=list(self.name_weight),
            entity_names=dict(self.entity_names),
            postings=dict(self.postings),  # sets are copied when patched
            documents=dict(self.documents),
            repeats=set(self.repeats),
            n_names=self.n_names,
        )


def _mode(entity: Entity) -> str:
    return "person" if entity.schema == "person" else "entity"


class _Builder:
    """Adds entities to a `_SourceIndex`, copying each postings set once before changing it."""

    def __init__(self, index: _SourceIndex, vocab: _Vocabulary, *, fresh: bool) -> None:
        self.index = index
        self.vocab = vocab
        self.owned: set[int] = set()
        self.owned_docs: set[str] = set()
        self.fresh = fresh

    def _posting(self, vid: int) -> set[int]:
        """The names of token `vid`, as a set this builder may change."""
        postings = self.index.postings
        found = postings.get(vid)
        if vid in self.owned and isinstance(found, set):
            return found
        self.owned.add(vid)
        copied = postings[vid] = set(found or ())
        return copied

    def finish(self) -> None:
        """Shrink the sets this builder touched back to tuples where they are small."""
        postings = self.index.postings
        for vid in self.owned:
            names = postings.get(vid)
            if isinstance(names, set) and len(names) <= _SMALL_POSTING:
                if names:
                    postings[vid] = tuple(sorted(names))
                else:
                    del postings[vid]
        self.owned = set()

    def _document_slots(self, key: str) -> set[int]:
        documents = self.index.documents
        if self.fresh or key in self.owned_docs:
            return documents.setdefault(key, set())
        self.owned_docs.add(key)
        copied = documents[key] = set(documents.get(key, ()))
        return copied

    def add(self, entity: Entity) -> None:
        idx = self.index
        if entity.id in idx.slot:
            self.remove(entity.id)
        slot = len(idx.entities)
        idx.entities.append(entity)
        idx.slot[entity.id] = slot
        mode = _mode(entity)
        seen: set[tuple[int, ...]] = set()
        mine: list[int] = []
        for name, form in ((n, f) for n in entity.names for f in name_forms(n.full)):
            ids = tuple(self.vocab.intern(t) for t in tokenize(form, mode))
            if not ids or ids in seen:
                continue
            seen.add(ids)
            nid = len(idx.names)
            idx.names.append(ids)
            idx.name_entity.append(slot)
            idx.name_text.append(form)
            idx.name_factor.append(WEAK_ALIAS if name.quality in _WEAK else 1.0)
            idx.name_weight.append(sum(self.vocab.weights[v] for v in ids))
            mine.append(nid)
            if len(set(ids)) < len(ids):
                idx.repeats.add(nid)
            for vid in set(ids):
                self._posting(vid).add(nid)
        idx.entity_names[slot] = mine
        idx.n_names += len(mine)
        for doc in entity.documents:
            key = evidence.identifier_key(doc.number)
            if len(key) >= evidence.MIN_IDENTIFIER:
                self._document_slots(key).add(slot)

    def remove(self, entity_id: str) -> None:
        idx = self.index
        slot = idx.slot.pop(entity_id, None)
        if slot is None:
            return
        entity = idx.entities[slot]
        idx.entities[slot] = None
        for nid in idx.entity_names.pop(slot, []):
            for vid in set(idx.names[nid]):
                self._posting(vid).discard(nid)
            idx.names[nid] = ()
            idx.repeats.discard(nid)
            idx.n_names -= 1
        if entity is not None:
            for doc in entity.documents:
                key = evidence.identifier_key(doc.number)
                if key in idx.documents:
                    self._document_slots(key).discard(slot)


@dataclass(slots=True)
class _Plan:
    """One query, tokenised and looked up in the vocabulary."""

    query: Query
    tokens: tuple[Token, ...]
    weights: list[float]
    total: float
    sims: dict[int, list[tuple[float, int, str]]]  # token id → (score, query pos, rule)
    # The same, ready for alignment: token id → (-score, pair has an initial, pos, rule),
    # including a list token's matches with the query's initials.
    entries: dict[int, tuple[tuple[float, bool, int, str], ...]]
    initial_entries: dict[int, tuple[tuple[float, bool, int, str], ...]]
    initials: list[int]  # query positions that are initials
    subsets: list[tuple[int, ...]]  # minimal sets of query positions a candidate must hold
    prefix: list[int] | None  # for long queries: a candidate holds one of these
    cutoff: float  # lowest name score that can still reach the threshold
    # best[k]: for a name matching k query words, the largest matched weight (pairs at
    # weight 1 on the list side) and the smallest query weight left unmatched.
    best: list[tuple[float, float]]
    birth_date: str | None
    identifiers: tuple[str, ...]


class ScreeningIndex:
    """All listed names, tokenised and indexed for screening; one per API process."""

    def __init__(self) -> None:
        self.entities: dict[str, Entity] = {}
        self.versions: dict[str, str] = {}
        self._vocab = _Vocabulary()
        self._sources: dict[str, _SourceIndex] = {}
        self._retrieved: dict[Token, dict[int, tuple[float, str]]] = {}
        self._retrieved_at = 0  # vocabulary size the cache was filled against
        # Query initial → list token id → similarity, filled as candidates are scored.
        self._initial_sims: dict[Token, dict[int, tuple[float, str]]] = {}

    # -- loading ------------------------------------------------------------------------

    def replace_source(self, source: str, version: str, entities: Iterable[Entity]) -> None:
        """Swap in a new version of one source's entities (built aside, then assigned)."""
        index = _SourceIndex(source, version)
        builder = _Builder(index, self._vocab, fresh=True)
        for entity in entities:
            builder.add(entity)
        builder.finish()
        self._install(index)

    def apply_delta(
        self,
        source: str,
        version: str,
        added_or_amended: Sequence[Entity],
        removed_ids: Sequence[str],
    ) -> None:
        """Patch one source: cost proportional to the change, not to the list."""
        current = self._sources.get(source)
        if current is None:
            self.replace_source(source, version, added_or_amended)
            return
        index = current.copy()
        index.version = version
        builder = _Builder(index, self._vocab, fresh=False)
        for entity_id in removed_ids:
            builder.remove(entity_id)
        for entity in added_or_amended:
            builder.add(entity)
        builder.finish()
        if len(index.names) > 2 * max(index.n_names, 1000):  # mostly holes: compact
            live = [e for e in index.entities if e is not None]
            self.replace_source(source, version, live)
            return
        self._install(index)

    def _install(self, index: _SourceIndex) -> None:
        sources = {**self._sources, index.source: index}
        entities = {
            e.id: e for src in sorted(sources) for e in sources[src].entities if e is not None
        }
        # Assignments last, so a concurrent query sees the old or the new index.
        self._sources = sources
        self.entities = entities
        self.versions = {**self.versions, index.source: index.version}
        # Millions of long-lived index objects would make every full cyclic-GC pass walk
        # them all (100+ ms pauses at a million names). They hold no reference cycles:
        # park them outside the collector; reference counting still frees a replaced index.
        gc.freeze()

    def __len__(self) -> int:
        return len(self.entities)

    @property
    def name_count(self) -> int:
        """Names indexed, over all sources."""
        return sum(s.n_names for s in self._sources.values())

    # -- screening ------------------------------------------------------------------------

    def screen(self, query: Query) -> list[Match]:
        """Listed entities matching `query`, best first, at most `query.limit`."""
        with _no_cyclic_gc():
            return self._screen(query, self._retrieved_cache())

    def screen_many(self, queries: Sequence[Query]) -> list[list[Match]]:
        """`screen` for each query; token lookups are shared across the batch."""
        cache = self._retrieved_cache()
        out = []
        for query in queries:
            with _no_cyclic_gc():
                out.append(self._screen(query, cache))
        return out

    def clear_caches(self) -> None:
        """Forget what earlier queries computed (token lookups, initials): the next query
        pays for everything, as the first query of a new process does."""
        self._retrieved = {}
        self._initial_sims = {}

    def _retrieved_cache(self) -> dict[Token, dict[int, tuple[float, str]]]:
        size = len(self._vocab.tokens)
        if size != self._retrieved_at or len(self._retrieved) > _RETRIEVAL_CACHE:
            self._retrieved = {}
            self._retrieved_at = size
            self._initial_sims = {}
        elif sum(map(len, self._initial_sims.values())) > _INITIAL_CACHE:
            self._initial_sims = {}
        return self._retrieved

    def _retrieve(
        self, token: Token, cache: dict[Token, dict[int, tuple[float, str]]]
    ) -> dict[int, tuple[float, str]]:
        found = cache.get(token)
        if found is not None:
            return found
        vocab = self._vocab
        keys, tokens = vocab.keys, vocab.tokens
        candidates: set[int] = set()
        for key in query_keys(token):
            ids = keys.get(key)
            if ids:
                candidates.update(ids)
        edits = vocab.edits
        for word in {d for w in spellings(token) for d in deletions(w)}:
            candidates.update(edits.get(word))
        out: dict[int, tuple[float, str]] = {}
        for vid in sorted(candidates):
            score, rule = similarity(token, tokens[vid])
            if score > 0:
                out[vid] = (score, rule)
        cache[token] = out
        return out

    def screen_exhaustive(self, query: Query) -> list[Match]:
        """`screen` without the candidate index: every token and name is compared.

        The reference the index is measured against (tests, bench/screen.py); far slower.
        """
        return self._screen(query, {}, exhaustive=True)

    def screen_unpruned(self, query: Query) -> list[Match]:
        """`screen` scoring every candidate the token subsets give, without the count
        filter and the cheap bound: the reference the pruning is checked against over
        many queries (bench/screen.py, tests), where exhaustive scoring is too slow."""
        return self._screen(query, self._retrieved_cache(), prune=False)

    def _retrieve_all(self, token: Token) -> dict[int, tuple[float, str]]:
        out: dict[int, tuple[float, str]] = {}
        for vid, listed in enumerate(self._vocab.tokens):
            score, rule = similarity(token, listed)
            if score > 0:
                out[vid] = (score, rule)
        return out

    def _plan(
        self,
        query: Query,
        cache: dict[Token, dict[int, tuple[float, str]]],
        exhaustive: bool = False,
    ) -> _Plan | None:
        mode = {"person": "person", "entity": "entity"}.get(query.type or "", "any")
        tokens = tokenize(query.name, mode)
        identifiers = tuple(
            k
            for k in map(evidence.identifier_key, query.identifiers)
            if len(k) >= evidence.MIN_IDENTIFIER
        )
        if not tokens and not identifiers:
            return None
        weights = [t.weight for t in tokens]
        sims: dict[int, list[tuple[float, int, str]]] = {}
        initials: list[int] = []
        for pos, token in enumerate(tokens):
            if token.kind == "initial":
                initials.append(pos)
                continue
            found = self._retrieve_all(token) if exhaustive else self._retrieve(token, cache)
            for vid, (score, rule) in found.items():
                sims.setdefault(vid, []).append((score, pos, rule))
        birth_date = evidence.query_birth_date(query.birth_date, query.identifiers)
        bonus = evidence.MAX_BONUS_BIRTH if birth_date else 0.0
        bonus += evidence.MAX_BONUS_NATIONALITY if query.nationality else 0.0
        cutoff = max(query.threshold - bonus, 1e-9)
        subsets, prefix = _required(tuple(weights), tuple(initials), round(cutoff, 6))
        entries: dict[int, tuple[tuple[float, bool, int, str], ...]] = {}
        kinds = self._vocab.tokens
        for vid, matched in sims.items():
            listed_initial = kinds[vid].kind == "initial"
            row = [(-sc, listed_initial, at, why) for sc, at, why in matched]
            for at in initials:
                sc, why = self._initial_similarity(tokens[at], vid)
                if sc:
                    row.append((-sc, True, at, why))
            entries[vid] = tuple(row)
        return _Plan(
            query=query,
            tokens=tokens,
            weights=weights,
            total=sum(weights),
            sims=sims,
            entries=entries,
            initial_entries={},
            initials=initials,
            subsets=subsets,
            prefix=prefix,
            cutoff=cutoff,
            best=_best_by_count(weights),
            birth_date=birth_date,
            identifiers=identifiers,
        )

    def _screen(
        self,
        query: Query,
        cache: dict[Token, dict[int, tuple[float, str]]],
        exhaustive: bool = False,
        prune: bool = True,
    ) -> list[Match]:
        plan = self._plan(query, cache, exhaustive)
        if plan is None:
            return []
        sources = self._sources
        scored: list[tuple[float, str, _SourceIndex, int, int, list[Pair]]] = []
        for name in sorted(sources):
            index = sources[name]
            if query.sources and name not in query.sources:
                continue
            best: dict[int, tuple[float, int]] = {}
            candidates: Iterable[int] = (
                range(len(index.names)) if exhaustive else self._candidates(plan, index, prune)
            )
            for nid in candidates:
                if prune and not exhaustive and self._below(plan, index, nid):
                    continue
                slot = index.name_entity[nid]
                score = self._name_score(plan, index, nid)[0]
                if score >= plan.cutoff:
                    prior = best.get(slot)
                    if prior is None or score > prior[0] or (score == prior[0] and nid < prior[1]):
                        best[slot] = (score, nid)
            for slot in self._by_identifier(plan, index):
                if slot not in best:
                    best[slot] = self._best_name(plan, index, slot)
            for slot, (name_score, nid) in best.items():
                entity = index.entities[slot]
                if entity is None or not _wanted(query, entity):
                    continue
                final, _ = self._final(plan, entity, name_score)
                if final >= query.threshold:
                    scored.append((final, entity.id, index, slot, nid, []))
        scored.sort(key=lambda s: (-s[0], s[1]))
        matches: list[Match] = []
        for final, _, index, slot, nid, _ in scored[: query.limit]:
            entity = index.entities[slot]
            assert entity is not None
            name_score, pairs = self._name_score(plan, index, nid)
            _, effects = self._final(plan, entity, name_score)
            explanation = explain(
                plan.tokens,
                [self._vocab.tokens[v] for v in index.names[nid]],
                pairs,
                name_score,
                index.name_text[nid],
                effects,
            )
            matches.append(Match(entity, final, index.name_text[nid], explanation))
        return matches

    def _candidates(self, plan: _Plan, index: _SourceIndex, prune: bool = True) -> set[int]:
        postings = index.postings
        parts: list[list[tuple[int, ...] | set[int]]] = [[] for _ in plan.tokens]
        for vid, entries in plan.sims.items():
            names = postings.get(vid)
            if names:
                for _, pos, _ in entries:
                    parts[pos].append(names)
        # One union per position; a single set is shared with the index, never changed.
        hits = [self._union(p) for p in parts]
        out: set[int] = set()
        if plan.prefix is not None:
            for pos in plan.prefix:
                held = hits[pos]
                if held:
                    out |= held
            return out
        for subset in plan.subsets:
            sets = [hits[pos] for pos in subset]
            if any(not s for s in sets):
                continue
            ordered = sorted((s for s in sets if s is not None), key=len)
            found = ordered[0].intersection(*ordered[1:]) if len(ordered) > 1 else ordered[0]
            out |= found
        least = min(map(len, plan.subsets), default=1)
        if prune and least > 1 and len(out) > _COUNT_FILTER:
            out = self._count_filter(plan, index, out, least)
        return out

    @staticmethod
    def _union(parts: list[tuple[int, ...] | set[int]]) -> set[int] | None:
        """The names holding one of the list tokens that match one query position."""
        if not parts:
            return None
        return _as_set(parts[0]) if len(parts) == 1 else set().union(*parts)

    def _count_filter(
        self, plan: _Plan, index: _SourceIndex, candidates: set[int], least: int
    ) -> set[int]:
        """Keep the names holding at least `least` distinct tokens that match a query word.

        Every subset of query words a name must match has `least` words or more, and two
        query words cannot share one list token. The subsets alone let a name through when
        one token matches two query words (Ahmad for "Ahmad Ali Ahmad", or for "Atmad",
        one edit away): with common names that is tens of thousands of names, each then
        checked in Python. Counting runs in C (`Counter.update`). A name holding one token
        twice is kept whatever its count.
        """
        postings = index.postings
        found = [names for names in map(postings.get, plan.sims) if names]
        if sum(map(len, found)) > 4 * len(candidates):
            # Fewer candidates than postings: count within each candidate instead.
            sims, names = plan.sims, index.names
            keep = {n for n in candidates if sum(v in sims for v in set(names[n])) >= least}
        else:
            counts: Counter[int] = Counter()
            for names_of in found:
                counts.update(names_of)
            keep = {nid for nid in candidates if counts[nid] >= least}
        if index.repeats:
            keep |= candidates & index.repeats
        return keep

    def _by_identifier(self, plan: _Plan, index: _SourceIndex) -> set[int]:
        slots: set[int] = set()
        for key in plan.identifiers:
            slots |= index.documents.get(key, set())
        return slots

    def _best_name(self, plan: _Plan, index: _SourceIndex, slot: int) -> tuple[float, int]:
        best = (0.0, -1)
        for nid in index.entity_names.get(slot, []):
            score = self._name_score(plan, index, nid)[0]
            if best[1] < 0 or score > best[0]:
                best = (score, nid)
        return best

    def _name_score(self, plan: _Plan, index: _SourceIndex, nid: int) -> tuple[float, list[Pair]]:
        """Align query tokens with the name's tokens greedily by score; weigh what is left.

        Equal scores: words before initials, then query order, then list order.
        """
        ids = index.names[nid]
        entries = plan.entries
        candidates: list[tuple[float, bool, int, int, str]] = []
        for j, vid in enumerate(ids):
            found = entries.get(vid)
            if found is None and plan.initials:
                found = self._initial_entries(plan, vid)
            if found:
                for neg, initial, pos, rule in found:
                    candidates.append((neg, initial, pos, j, rule))
        if not candidates:
            return 0.0, []
        if len(candidates) > 1:
            candidates.sort()
        weights = self._vocab.weights
        q_weights = plan.weights
        used_q = used_c = 0
        num = den = matched_q = matched_c = 0.0
        solid = False  # a pair without an initial on either side
        pairs: list[Pair] = []
        for neg, initial, pos, j, rule in candidates:
            if used_q >> pos & 1 or used_c >> j & 1:
                continue
            used_q |= 1 << pos
            used_c |= 1 << j
            wq, wc = q_weights[pos], weights[ids[j]]
            w = (wq + wc) / 2
            num -= neg * w
            den += w
            matched_q += wq
            matched_c += wc
            solid = solid or not initial
            pairs.append((pos, j, -neg, rule))
        if not solid:
            return 0.0, []  # initials alone never make a match (A. K. is everybody)
        missing = MISSING_QUERY * (plan.total - matched_q)
        missing += MISSING_LIST * (index.name_weight[nid] - matched_c)
        score = num / (den + missing) * index.name_factor[nid]
        return score, pairs

    def _below(self, plan: _Plan, index: _SourceIndex, nid: int) -> bool:
        """True when name `nid` cannot reach the cutoff, from its words alone (cheap).

        At best every list word that matches some query word is matched, to the heaviest
        query words, with score 1; the list words that match nothing (no query word, no
        query initial) are surely missing.
        """
        entries, weights = plan.entries, self._vocab.weights
        hits = other = 0
        held = 0.0
        initials = plan.initials
        known = plan.initial_entries
        for vid in index.names[nid]:
            if vid in entries:
                hits += 1
                held += weights[vid]
            elif initials:
                found = known.get(vid)
                if found is None:
                    found = self._initial_entries(plan, vid)
                if found:
                    other += 1
                    held += weights[vid]
        if not hits:
            return True  # initials alone never make a match
        free = min(len(initials), other)
        matched, missing_query = plan.best[min(hits + free, len(plan.best) - 1)]
        missing = MISSING_QUERY * missing_query + MISSING_LIST * (index.name_weight[nid] - held)
        return matched / (matched + missing) * index.name_factor[nid] < plan.cutoff

    def _initial_entries(self, plan: _Plan, vid: int) -> tuple[tuple[float, bool, int, str], ...]:
        """How the query's initials match list token `vid` (cached for the query)."""
        found = plan.initial_entries.get(vid)
        if found is None:
            out = []
            for pos in plan.initials:
                score, rule = self._initial_similarity(plan.tokens[pos], vid)
                if score:
                    out.append((-score, True, pos, rule))
            found = plan.initial_entries[vid] = tuple(out)
        return found

    def _initial_similarity(self, initial: Token, vid: int) -> tuple[float, str]:
        """`similarity` of a query initial and list token `vid`. Initials are few (a
        letter or two): their comparisons are kept across queries, as token lookups are."""
        known = self._initial_sims.get(initial)
        if known is None:
            known = self._initial_sims[initial] = {}
        found = known.get(vid)
        if found is None:
            found = known[vid] = similarity(initial, self._vocab.tokens[vid])
        return found

    def _final(
        self, plan: _Plan, entity: Entity, name_score: float
    ) -> tuple[float, dict[str, dict[str, Any]]]:
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


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """No cyclic garbage collection while a query runs.

    A query builds sets of tens of thousands of names at a million names; a collection
    that starts meanwhile walks every element of them (and of the caches still young),
    which measured 20-50 ms pauses on single queries: most of the p99. The query makes no
    reference cycles, so nothing is lost: its temporaries are freed by reference
    counting before the collector runs again, once the query is over. (Process-wide: a
    query in another thread may run a little longer without collections.)
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _best_by_count(weights: Sequence[float]) -> list[tuple[float, float]]:
    heaviest = sorted(weights, reverse=True)
    total = sum(weights)
    return [
        (sum((w + 1.0) / 2 for w in heaviest[:k]), total - sum(heaviest[:k]))
        for k in range(len(weights) + 1)
    ]


def _as_set(names: tuple[int, ...] | set[int]) -> set[int]:
    return names if isinstance(names, set) else set(names)


def _wanted(query: Query, entity: Entity) -> bool:
    if query.type == "person" and entity.schema != "person":
        return False
    if query.type == "entity" and entity.schema == "person":
        return False
    return not query.programs or any(p in entity.programs for p in query.programs)


def _bound(weights: Sequence[float], held: Iterable[int]) -> float:
    """Highest name score a name matching exactly the `held` query positions can get."""
    held = set(held)
    matched = sum((weights[p] + 1.0) / 2 for p in held)
    missing = MISSING_QUERY * sum(w for p, w in enumerate(weights) if p not in held)
    return matched / (matched + missing) if matched else 0.0


@lru_cache(maxsize=4096)
def _required(
    weights: tuple[float, ...], initials: tuple[int, ...], cutoff: float
) -> tuple[list[tuple[int, ...]], list[int] | None]:
    """Minimal sets of looked-up query positions a name must match to reach `cutoff`.

    Initials are assumed matched (they are checked inside each candidate). For long
    queries, a prefix of positions of which a candidate must hold at least one.
    """
    positions = [p for p in range(len(weights)) if p not in initials]
    if not positions:
        return [], []
    if len(positions) > _MAX_EXACT_SUBSETS:
        # Drop the heaviest positions while the rest could still reach the cutoff without
        # them; a qualifying name holds at least one of those dropped.
        rest = sorted(positions, key=lambda p: (-weights[p], p))
        prefix: list[int] = []
        while rest and _bound(weights, [*initials, *rest]) >= cutoff:
            prefix.append(rest.pop(0))
        return [], prefix
    minimal: list[tuple[int, ...]] = []
    for size in range(1, len(positions) + 1):
        for subset in combinations(positions, size):
            if any(set(m) <= set(subset) for m in minimal):
                continue
            if _bound(weights, [*initials, *subset]) >= cutoff:
                minimal.append(subset)
    return minimal, None
