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

import asyncio
import gc
import heapq
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from listd.model import Entity
from listd.normalize import readings
from listd.normalize.aliases import name_forms
from listd.screening import evidence
from listd.screening.explain import PARTIAL_MAX_WORDS, Pair, explain, read_as
from listd.screening.query import Match, Query
from listd.screening.scoring import (
    MISSING_LIST,
    MISSING_PARTIAL,
    MISSING_QUERY,
    WEAK_ALIAS,
    WEAK_QUALITIES,
    Candidate,
    Vocabulary,
    align,
    list_cost,
    required,
)
from listd.screening.scoring import (
    name_score as score_name,
)
from listd.screening.tokens import (
    Token,
    deletions,
    index_keys,
    initials,
    matcher,
    phonetic,
    query_keys,
    similarity,
    spellings,
    tokenize,
)
from listd.screening.variants import Reading, rewrite

_RETRIEVAL_CACHE = 1 << 14
_COMMON_SHARE = 200  # one word in this many of the vocabulary is looked up at load...
_COMMON_MAX = 512  # ...at most this many: the words most names hold
_INITIAL_CACHE = 1 << 20
_SMALL_POSTING = 4
_MASK_BITS = 16  # query tokens a candidate mask can follow
_ARRAY_SOURCE = 20_000  # names from which a source finds its candidates over arrays
_VECTOR_BOUND = 64  # candidates from which the per-name bound runs over arrays
_LOW = (1 << 64) - 1
_SHORT = 3  # longest text an initial can equal (see _initial_bits)


class _Column:
    """A numpy column that grows by doubling. Readers keep the array they took: a larger
    one is filled aside and assigned, and rows are only ever appended."""

    def __init__(self, dtype: type[np.generic]) -> None:
        self.data: npt.NDArray[Any] = np.zeros(1024, dtype=dtype)
        self.size = 0

    def append(self, value: float | int) -> None:
        data = self.data
        if self.size == len(data):
            grown = np.zeros(2 * len(data), dtype=data.dtype)
            grown[: self.size] = data
            data = self.data = grown
        data[self.size] = value
        self.size += 1


def _initial_bits(strings: Iterable[str]) -> int:
    """A 128-bit signature of short strings: two tokens can only match by an initial
    rule if their signatures share a bit (hash collisions only let more through)."""
    bits = 0
    for s in strings:
        bits |= 1 << (hash(s) & 127)
    return bits


def _list_bits(token: Token) -> int:
    """Signature of what a query initial could meet in list token `token`: `similarity`
    of an initial and a word compares the initial's text and phonetic forms with the
    word's text, phonetic forms, compound cores and `initials` (all short strings for
    an initial), so anything longer than `_SHORT` letters can never be met."""
    short = [s for s in (token.text, *token.pfs, *token.cores) if len(s) <= _SHORT]
    return _initial_bits((*short, *initials(token)))


def _query_bits(token: Token) -> int | None:
    """Signature of a query initial; None when it cannot be summed up this way."""
    strings = (token.text, *token.pfs, *token.cores, *initials(token))
    if token.group is not None or any(len(s) > _SHORT for s in strings):
        return None
    return _initial_bits(strings)


_Found = dict[int, tuple[float, str]]  # list token id → (score, rule)
_Retrieved = tuple[int, _Found]  # vocabulary size the lookup covers, what it found


@dataclass(slots=True)
class _Vocabulary(Vocabulary):
    """The list side's `Vocabulary`, with each token's weight and `_list_bits` (as two
    64-bit halves) also as columns, for the array bound."""

    weight_col: _Column = field(default_factory=lambda: _Column(np.float64))
    bits_lo: _Column = field(default_factory=lambda: _Column(np.uint64))
    bits_hi: _Column = field(default_factory=lambda: _Column(np.uint64))

    def keys_of(self, token: Token) -> frozenset[str]:
        return index_keys(token)

    def added(self, token: Token) -> None:
        self.weight_col.append(token.weight)
        bits = _list_bits(token)
        self.bits_lo.append(bits & _LOW)
        self.bits_hi.append(bits >> 64)


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
    n_names: int = 0
    # `names` (and their weights and factors) as arrays for the array bound, covering the
    # first `columns.count` names: names only change by being appended or emptied, and an
    # emptied name holds no postings, so it is never a candidate.
    columns: _NameColumns | None = None
    # The postings as arrays, for sources of `_ARRAY_SOURCE` names or more (made at install).
    postings_array: _PostingArrays | None = None

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
            n_names=self.n_names,
            columns=self.columns,
        )

    def extend_columns(self) -> None:
        """Bring `columns` up to date with the names appended since they were made."""
        old = self.columns
        done = old.count if old is not None else 0
        fresh = self.names[done:]
        if old is not None and not fresh:
            return
        lengths = np.fromiter(map(len, fresh), dtype=np.int64, count=len(fresh))
        flat = np.fromiter(
            (v for ids in fresh for v in ids), dtype=np.int64, count=int(lengths.sum())
        )
        weight = np.array(self.name_weight[done:], dtype=np.float64)
        factor = np.array(self.name_factor[done:], dtype=np.float64)
        if old is None:
            starts = np.concatenate(([0], np.cumsum(lengths)))
            self.columns = _NameColumns(len(self.names), flat, starts, weight, factor)
            return
        starts = np.concatenate((old.starts, old.starts[-1] + np.cumsum(lengths)))
        self.columns = _NameColumns(
            len(self.names),
            np.concatenate((old.flat, flat)),
            starts,
            np.concatenate((old.weight, weight)),
            np.concatenate((old.factor, factor)),
        )


@dataclass(frozen=True, slots=True)
class _PostingArrays:
    """The postings as one ragged table: the names holding token `vid` are
    names[starts[vid]:starts[vid + 1]] (a name holding a token twice is there twice)."""

    names: npt.NDArray[np.int32]
    starts: npt.NDArray[np.int64]
    count: int  # names covered: the length of a mask over them

    @classmethod
    def of(cls, index: _SourceIndex, vocabulary: int) -> _PostingArrays:
        columns = index.columns
        assert columns is not None
        lengths = np.diff(columns.starts)
        # A removed name keeps its row in `columns` but holds no postings.
        live = np.fromiter(map(bool, index.names), dtype=np.bool_, count=len(index.names))
        owners = np.repeat(np.arange(columns.count, dtype=np.int32), lengths)
        held = np.repeat(live, lengths)
        vids, owners = columns.flat[held], owners[held]
        order = np.argsort(vids, kind="stable")
        counts = np.bincount(vids, minlength=vocabulary)
        return cls(owners[order], np.concatenate(([0], np.cumsum(counts))), columns.count)


@dataclass(frozen=True, slots=True)
class _NameColumns:
    count: int
    flat: npt.NDArray[np.int64]  # token ids of all names, one after another
    starts: npt.NDArray[np.int64]  # name nid's ids are flat[starts[nid]:starts[nid + 1]]
    weight: npt.NDArray[np.float64]
    factor: npt.NDArray[np.float64]


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
        forms = ((n, r) for n in entity.names for f in name_forms(n.full) for r in readings(f))
        for name, form in forms:
            ids = tuple(self.vocab.intern(t) for t in tokenize(form, mode))
            if not ids or ids in seen:
                continue
            seen.add(ids)
            nid = len(idx.names)
            idx.names.append(ids)
            idx.name_entity.append(slot)
            idx.name_text.append(form)
            idx.name_factor.append(WEAK_ALIAS if name.quality in WEAK_QUALITIES else 1.0)
            idx.name_weight.append(sum(self.vocab.weights[v] for v in ids))
            mine.append(nid)
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
    # The query initials' `_query_bits` (None: compare every list token), their union,
    # and the vocabulary columns as they were when the query started.
    initial_bits: dict[int, int | None]  # query position → bits
    any_initial: int | None
    weights_col: npt.NDArray[np.float64]
    bits_lo: npt.NDArray[np.uint64]
    bits_hi: npt.NDArray[np.uint64]
    hit: npt.NDArray[np.bool_] | None = None  # token id → matches a query word
    position_ids: list[npt.NDArray[np.int64]] | None = None  # the token ids each position matches

    def may_meet(self, at: int, vid: int) -> bool:
        """False when query initial `at` surely does not match list token `vid`."""
        bits = self.initial_bits[at]
        if bits is None:
            return True
        return bool(int(self.bits_lo[vid]) & bits & _LOW or int(self.bits_hi[vid]) & bits >> 64)


def freeze_long_lived() -> None:
    """Move every object alive now out of the cyclic collector's reach (after a load).

    Indexes are millions of long-lived tuples, arrays, sets and strings that form no
    reference cycles: reference counting frees a replaced one. Left to the collector,
    each full collection walks all of them, a stop-the-world pause of 100+ ms at a million
    names and of seconds at 10 million customers. The young generations are collected
    first, so that cyclic garbage of the moment is not frozen with them (for good).
    """
    gc.collect(1)
    gc.freeze()


class ScreeningIndex:
    """All listed names, tokenised and indexed for screening; one per API process."""

    def __init__(self) -> None:
        self.entities: dict[str, Entity] = {}
        self.versions: dict[str, str] = {}
        # Held by whoever brings this index to new versions (`follow`), so that two rounds
        # (the announcement and the poll) never build the same version twice.
        self.following = asyncio.Lock()
        self._vocab = _Vocabulary()
        self._sources: dict[str, _SourceIndex] = {}
        # Query token → (vocabulary size covered, list token id → similarity): the
        # lookups of recent query tokens, and those of the most common list words made at
        # load. The vocabulary only grows, so a lookup is extended, never thrown away.
        self._retrieved: dict[Token, _Retrieved] = {}
        self._common: dict[Token, _Retrieved] = {}
        # Query initial → list token id → similarity, filled as candidates are scored.
        self._initial_sims: dict[Token, dict[int, tuple[float, str]]] = {}
        # Query name → (vocabulary size, its `rewrite`): which words are listed words only
        # changes when the vocabulary grows.
        self._rewritten: dict[str, tuple[int, Reading | None]] = {}

    # -- loading ------------------------------------------------------------------------

    def replace_source(self, source: str, version: str, entities: Iterable[Entity]) -> None:
        """Swap in a new version of one source's entities (built aside, then assigned)."""
        self.install(self.build_source(source, version, entities).complete())

    def apply_delta(
        self,
        source: str,
        version: str,
        added_or_amended: Sequence[Entity],
        removed_ids: Sequence[str],
    ) -> None:
        """Patch one source: cost proportional to the change, not to the list."""
        self.install(self.build_delta(source, version, added_or_amended, removed_ids).complete())

    def build_source(self, source: str, version: str, entities: Iterable[Entity]) -> SourceBuild:
        """A build of a whole new version of one source, to run and then `install`."""
        build = SourceBuild(self, _SourceIndex(source, version), self.versions.get(source))
        build.start(build.fresh(entities))
        return build

    def build_delta(
        self,
        source: str,
        version: str,
        added_or_amended: Sequence[Entity],
        removed_ids: Sequence[str],
    ) -> SourceBuild:
        """A build patching one source from the version held (whole when none is)."""
        current = self._sources.get(source)
        if current is None:
            return self.build_source(source, version, added_or_amended)
        index = current.copy()
        index.version = version
        build = SourceBuild(self, index, current.version)
        build.changed = [*removed_ids, *(e.id for e in added_or_amended)]
        build.start(build.patch(added_or_amended, removed_ids))
        return build

    def install(self, build: SourceBuild) -> bool:
        """Put a completed build in place, in one step; False (and nothing changes) when
        the source is no longer at the version the build started from."""
        index = build.index
        if not build.sealed or self.versions.get(index.source) != build.base:
            return False
        sources = {**self._sources, index.source: index}
        changed = build.changed
        if changed is None:
            entities = {
                e.id: e for src in sorted(sources) for e in sources[src].entities if e is not None
            }
        else:  # a delta costs what it changes, not what is loaded
            entities = dict(self.entities)
            for entity_id in changed:
                slot = index.slot.get(entity_id)
                entity = index.entities[slot] if slot is not None else None
                if entity is None:
                    entities.pop(entity_id, None)
                else:
                    entities[entity_id] = entity
        # Assignments last, so a concurrent query sees the old or the new index.
        build.replaced = self._sources.get(index.source)
        self._sources = sources
        self.entities = entities
        self.versions = {**self.versions, index.source: index.version}
        if build.common is not None:  # a delta's new words are looked up as queries meet them
            self._common = build.common
        freeze_long_lived()
        return True

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
            return self._screen(query)

    def screen_many(self, queries: Sequence[Query]) -> list[list[Match]]:
        """`screen` for each query; token lookups are shared across the batch (and with
        other queries, as long as no load adds words to the vocabulary)."""
        out = []
        for query in queries:
            with _no_cyclic_gc():
                out.append(self._screen(query))
        return out

    def clear_caches(self) -> None:
        """Forget what earlier queries computed (token lookups, initials): the next query
        pays for everything, as the first query of a new process does."""
        self._retrieved = {}
        self._initial_sims = {}
        self._rewritten = {}

    def _retrieved_cache(self) -> dict[Token, _Retrieved]:
        if len(self._retrieved) > _RETRIEVAL_CACHE:
            self._retrieved = {}
            self._initial_sims = {}
            self._rewritten = {}
        elif sum(map(len, self._initial_sims.values())) > _INITIAL_CACHE:
            self._initial_sims = {}
        return self._retrieved

    def _retrieve(self, token: Token, cache: dict[Token, _Retrieved]) -> _Found:
        """The list tokens `token` matches, by lookup (cached; see `_retrieved`)."""
        size = len(self._vocab.tokens)
        common = self._common.get(token)
        found = cache.get(token) or common
        if found is not None and found[0] == size:
            return found[1]
        if found is None:
            out = self._lookup(token, 0, size)
        else:  # words were added since: only they are compared
            out = {**found[1], **self._lookup(token, found[0], size)}
        cache[token] = (size, out)
        if common is not None:
            self._common[token] = (size, out)
        return out

    def _lookup(self, token: Token, since: int, size: int) -> _Found:
        """The list tokens with ids in [since, size) that `token` matches."""
        vocab = self._vocab
        tokens = vocab.tokens
        candidates = vocab.lookup(
            query_keys(token), {d for w in spellings(token) for d in deletions(w)}
        )
        out: _Found = {}
        match = matcher(token)
        for vid in sorted(candidates):
            if since <= vid < size:
                score, rule = match(tokens[vid])
                if score > 0:
                    out[vid] = (score, rule)
        return out

    def _common_words(self, sources: dict[str, _SourceIndex]) -> Iterator[Token]:
        """The words most names of `sources` hold (Muhammad and its hundreds of spellings):
        looked up at load, so that a query's first sight of them costs no more than later
        ones."""
        vocab = self._vocab
        wanted = min(_COMMON_MAX, len(vocab.tokens) // _COMMON_SHARE)
        holders: Counter[int] = Counter()
        for index in sources.values():
            holders.update({vid: len(names) for vid, names in index.postings.items()})
        for vid in heapq.nlargest(wanted, holders, key=holders.__getitem__):
            token = vocab.tokens[vid]
            if token.kind != "initial":
                yield token

    def _look_up(self, token: Token) -> _Retrieved:
        """`token`'s lookup over the whole vocabulary, reusing the one held if any."""
        size = len(self._vocab.tokens)
        found = self._common.get(token)
        if found is not None and found[0] == size:
            return found
        if found is None:
            return size, self._lookup(token, 0, size)
        return size, {**found[1], **self._lookup(token, found[0], size)}

    def screen_exhaustive(self, query: Query) -> list[Match]:
        """`screen` without the candidate index: every token and name is compared.

        The reference the index is measured against (tests, bench/screen.py); far slower.
        """
        return self._screen(query, exhaustive=True)

    def screen_unpruned(self, query: Query) -> list[Match]:
        """`screen` scoring every candidate the token subsets give, without the count
        filter and the cheap bound: the reference the pruning is checked against over
        many queries (bench/screen.py, tests), where exhaustive scoring is too slow."""
        return self._screen(query, prune=False)

    def _retrieve_all(self, token: Token) -> _Found:
        out: _Found = {}
        match = matcher(token)
        for vid, listed in enumerate(self._vocab.tokens):
            score, rule = match(listed)
            if score > 0:
                out[vid] = (score, rule)
        return out

    def _plan(
        self,
        query: Query,
        cache: dict[Token, _Retrieved],
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
        subsets, prefix = required(tuple(weights), tuple(initials), round(cutoff, 6), MISSING_QUERY)
        vocab = self._vocab
        initial_bits = {at: _query_bits(tokens[at]) for at in initials}
        any_initial: int | None = 0
        for bits in initial_bits.values():
            any_initial = None if bits is None or any_initial is None else any_initial | bits
        return _Plan(
            query=query,
            tokens=tokens,
            weights=weights,
            total=sum(weights),
            sims=sims,
            entries={},
            initial_entries={},
            initials=initials,
            subsets=subsets,
            least=min(map(len, subsets), default=1),
            prefix=prefix,
            cutoff=cutoff,
            best=_best_by_count(tuple(weights)),
            birth_date=birth_date,
            identifiers=identifiers,
            initial_bits=initial_bits,
            any_initial=any_initial,
            # Taken after the lookups: every token id met so far is inside them.
            weights_col=vocab.weight_col.data,
            bits_lo=vocab.bits_lo.data,
            bits_hi=vocab.bits_hi.data,
        )

    def _entry(self, plan: _Plan, vid: int) -> tuple[tuple[float, bool, int, str], ...]:
        """How list token `vid`, which matches a query word, pairs with the query (cached
        for the query)."""
        found = plan.entries.get(vid)
        if found is None:
            listed_initial = self._vocab.tokens[vid].kind == "initial"
            words = tuple((-sc, listed_initial, at, why) for sc, at, why in plan.sims[vid])
            found = words + self._initial_entries(plan, vid) if plan.initials else words
            plan.entries[vid] = found
        return found

    def _screen(self, query: Query, exhaustive: bool = False, prune: bool = True) -> list[Match]:
        """Each reading of the query's name (`readings`: one, unless it holds invisible
        characters), the best match per entity over them."""
        forms: dict[str, tuple[str, ...]] = dict.fromkeys(readings(query.name), ())
        size = len(self._vocab.tokens)
        for form in list(forms):
            known = self._rewritten.get(form)
            if known is None or known[0] != size:
                known = self._rewritten[form] = (size, rewrite(form, self._known))
            other = known[1]
            if other is not None:
                forms.setdefault(other.text, other.changes)
        if len(forms) == 1:
            return self._screen_one(query, exhaustive, prune)
        best: dict[str, Match] = {}
        for form, changes in forms.items():
            for match in self._screen_one(replace(query, name=form), exhaustive, prune):
                prior = best.get(match.entity.id)
                if prior is None or match.score > prior.score:
                    best[match.entity.id] = read_as(match, form, changes) if changes else match
        ranked = sorted(best.values(), key=lambda m: (-m.score, m.entity.id))
        return ranked[: query.limit]

    def _known(self, word: str) -> bool:
        """Whether folded `word` is spelled like a word of some listed name."""
        return "d" + phonetic(word) in self._vocab.keys

    def _screen_one(
        self, query: Query, exhaustive: bool = False, prune: bool = True
    ) -> list[Match]:
        # The sources first: every token they hold is then in the vocabulary the lookups
        # and the plan's columns see, even if a load lands meanwhile (batches run in a
        # thread).
        sources = self._sources
        cache = {} if exhaustive else self._retrieved_cache()
        plan = self._plan(query, cache, exhaustive)
        if plan is None:
            return []
        scored: list[tuple[float, str, _SourceIndex, int, int, list[Pair]]] = []
        for name in sorted(sources):
            index = sources[name]
            if query.sources and name not in query.sources:
                continue
            best: dict[int, tuple[float, int]] = {}
            candidates: Iterable[int]
            if exhaustive:
                candidates = range(len(index.names))
            elif prune:
                candidates = self._survivors(plan, index, self._candidates(plan, index))
            else:
                found = self._candidates(plan, index)
                candidates = found.tolist() if isinstance(found, np.ndarray) else found
            for nid in candidates:
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

    def _candidates(self, plan: _Plan, index: _SourceIndex) -> set[int] | npt.NDArray[np.int64]:
        arrays = index.postings_array
        if arrays is not None and len(plan.tokens) <= _MASK_BITS:
            return _candidates_over_arrays(plan, arrays)
        postings = index.postings
        parts: list[list[tuple[int, ...] | set[int]]] = [[] for _ in plan.tokens]
        for vid, entries in plan.sims.items():
            names = postings.get(vid)
            if names:
                for _, pos, _ in entries:
                    parts[pos].append(names)
        # One union per position; a single set is shared with the index, never changed.
        hits = [_union(p) for p in parts]
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
        return out

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
        sims = plan.sims
        candidates: list[Candidate] = []
        for j, vid in enumerate(ids):
            if vid in sims:
                found = self._entry(plan, vid)
            elif plan.initials:
                found = self._initial_entries(plan, vid)
            else:
                continue
            if found:
                for neg, initial, pos, rule in found:
                    candidates.append((neg, initial, pos, j, rule))
        if not candidates:
            return 0.0, []
        weights = self._vocab.weights
        aligned = align(candidates, plan.weights, [weights[v] for v in ids])
        if aligned is None:
            return 0.0, []  # initials alone never make a match (A. K. is everybody)
        tokens = self._vocab.tokens
        return score_name(
            aligned,
            plan.total,
            len(plan.weights),
            index.name_weight[nid],
            len(ids),
            lambda: [tokens[v] for v in ids],
            index.name_factor[nid],
        )

    def _survivors(
        self, plan: _Plan, index: _SourceIndex, candidates: set[int] | npt.NDArray[np.int64]
    ) -> list[int]:
        """The candidates `_below` keeps; over arrays when they are many."""
        columns = index.columns
        if len(candidates) < _VECTOR_BOUND or columns is None:
            return [int(nid) for nid in candidates if not self._below(plan, index, int(nid))]
        if isinstance(candidates, set):
            nids = np.fromiter(candidates, dtype=np.int64, count=len(candidates))
        else:
            nids = candidates
        return [int(n) for n in nids[_bound_holds(plan, columns, nids)]]

    def _below(self, plan: _Plan, index: _SourceIndex, nid: int) -> bool:
        """True when name `nid` cannot reach the cutoff, from its words alone (cheap).

        At best every list word that matches some query word is matched, to the heaviest
        query words, with score 1; the list words that match nothing (no query word, no
        query initial) are surely missing.
        """
        sims, weights = plan.sims, self._vocab.weights
        hits = other = 0
        held = 0.0
        initials = plan.initials
        known = plan.initial_entries
        for vid in index.names[nid]:
            if vid in sims:
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
        # A name of 3-5 words may be a partial one (`partial_name`): its words cost least.
        cost = list_cost(len(index.names[nid]))
        missing = MISSING_QUERY * missing_query + cost * (index.name_weight[nid] - held)
        return matched / (matched + missing) * index.name_factor[nid] < plan.cutoff

    def _initial_entries(self, plan: _Plan, vid: int) -> tuple[tuple[float, bool, int, str], ...]:
        """How the query's initials match list token `vid` (cached for the query)."""
        found = plan.initial_entries.get(vid)
        if found is None:
            out = []
            for pos in plan.initials:
                if not plan.may_meet(pos, vid):
                    continue
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


class SourceBuild:
    """A new index of one source built aside, in steps, so that screening goes on from the
    version held meanwhile; `ScreeningIndex.install` then puts it in place in one step.

    The steps (`step`) share only the vocabulary, which is append-only and interns a word
    whole within a step: run them on the thread that screens (the event loop), and a query
    between two steps sees each word complete or not at all. `seal` touches only this
    build's own containers (a delta's are copies), so it may run in a worker thread.
    """

    def __init__(self, owner: ScreeningIndex, index: _SourceIndex, base: str | None) -> None:
        self.owner = owner
        self.index = index
        self.base = base  # the version held when the build started: installed only over it
        self.changed: list[str] | None = None  # entity ids a delta touched; None: whole
        self.common: dict[Token, _Retrieved] | None = None
        self.sealed = False
        self.replaced: _SourceIndex | None = None  # what `install` took out (to release)
        self._builder: _Builder | None = None
        self._work: Iterator[None] = iter(())

    def start(self, work: Iterator[None]) -> None:
        self._work = work

    def step(self, seconds: float, clock: Callable[[], float] = time.perf_counter) -> bool:
        """Work for about `seconds` (at least one entity or word); True when this phase
        is done: before `seal`, the entities; after it, the common words' lookups."""
        end = clock() + seconds
        return all(clock() < end for _ in self._work)

    def seal(self) -> None:
        """Make the arrays and tuples screening reads (numpy over this build's own names)."""
        assert self._builder is not None
        self._builder.finish()
        index = self.index
        index.extend_columns()
        if index.n_names >= _ARRAY_SOURCE:
            index.postings_array = _PostingArrays.of(index, len(self.owner._vocab.tokens))
        self.sealed = True
        if self.changed is None:
            self._work = self._look_up_common()

    def complete(self) -> SourceBuild:
        """Run every phase now (a caller with no event loop to keep responsive)."""
        while not self.step(float("inf")):
            pass
        self.seal()
        while not self.step(float("inf")):
            pass
        return self

    def fresh(self, entities: Iterable[Entity]) -> Iterator[None]:
        builder = self._builder = _Builder(self.index, self.owner._vocab, fresh=True)
        for entity in entities:
            builder.add(entity)
            yield

    def patch(self, added: Sequence[Entity], removed: Sequence[str]) -> Iterator[None]:
        index = self.index
        builder = self._builder = _Builder(index, self.owner._vocab, fresh=False)
        for entity_id in removed:
            builder.remove(entity_id)
            yield
        for entity in added:
            builder.add(entity)
            yield
        if len(index.names) > 2 * max(index.n_names, 1000):  # mostly holes: compact
            live = [e for e in index.entities if e is not None]
            self.index = _SourceIndex(index.source, index.version)
            self.changed = None
            yield from self.fresh(live)

    def _look_up_common(self) -> Iterator[None]:
        owner = self.owner
        common: dict[Token, _Retrieved] = {}
        for token in owner._common_words({**owner._sources, self.index.source: self.index}):
            common[token] = owner._look_up(token)
            yield
        self.common = common


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


@lru_cache(maxsize=4096)
def _best_by_count(weights: tuple[float, ...]) -> tuple[tuple[float, float], ...]:
    heaviest = sorted(weights, reverse=True)
    total = sum(weights)
    return tuple(
        (sum((w + 1.0) / 2 for w in heaviest[:k]), total - sum(heaviest[:k]))
        for k in range(len(weights) + 1)
    )


def _bound_holds(
    plan: _Plan, columns: _NameColumns, nids: npt.NDArray[np.int64]
) -> npt.NDArray[np.bool_]:
    """`not _below(...)` for many names at once, over arrays.

    The same bound, except that a list word counts as meeting a query initial when their
    `_initial_bits` share a bit (a superset of the words that do): the bound can only be
    looser, never tighter, so no name that could reach the cutoff is dropped.
    """
    if plan.hit is None:
        hit = np.zeros(len(plan.weights_col), dtype=np.bool_)
        hit[np.fromiter(plan.sims, dtype=np.int64, count=len(plan.sims))] = True
        plan.hit = hit
    vids, which = _rows(columns.flat, columns.starts, nids)
    hits = plan.hit[vids]
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


def _candidates_over_arrays(plan: _Plan, arrays: _PostingArrays) -> npt.NDArray[np.int64]:
    """`ScreeningIndex._candidates` over arrays: each name gets a bit per query position
    it holds a match for, then the subsets (or the prefix) are tested on those bits. Set
    unions of a common name's hundreds of spellings cost 5-10 ms at a million names; this
    touches each posting once, in C."""
    if plan.position_ids is None:
        ids: list[list[int]] = [[] for _ in plan.tokens]
        for vid, entries in plan.sims.items():
            for _, pos, _ in entries:
                ids[pos].append(vid)
        plan.position_ids = [np.array(v, dtype=np.int64) for v in ids]
    wanted = (
        plan.prefix if plan.prefix is not None else sorted({p for s in plan.subsets for p in s})
    )
    mask = np.zeros(arrays.count, dtype=np.uint16)  # pages are only touched where written
    known = len(arrays.starts) - 1  # words interned after the source was built hold none of it
    touched = []
    for pos in wanted:
        vids = plan.position_ids[pos]
        names, _ = _rows(arrays.names, arrays.starts, vids[vids < known])
        mask[names] |= np.uint16(1 << pos)
        touched.append(names)
    found = np.concatenate(touched) if touched else np.zeros(0, dtype=np.int32)
    if plan.prefix is None:
        bits = mask[found]
        keep = np.zeros(len(found), dtype=np.bool_)
        for subset in plan.subsets:
            need = np.uint16(sum(1 << pos for pos in subset))
            keep |= (bits & need) == need
        found = found[keep]
    # Each name once, without sorting or scanning a mask of every name (a million of them).
    order = np.arange(len(found), dtype=np.int32)
    last = np.empty(arrays.count, dtype=np.int32)
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
    low, high = np.uint64(bits & _LOW), np.uint64(bits >> 64)
    found: npt.NDArray[np.bool_] = ((lo[vids] & low) | (hi[vids] & high)) != 0
    return found


def _union(parts: list[tuple[int, ...] | set[int]]) -> set[int] | None:
    """The names holding one of the list tokens that match one query position."""
    if not parts:
        return None
    return _as_set(parts[0]) if len(parts) == 1 else set().union(*parts)


def _as_set(names: tuple[int, ...] | set[int]) -> set[int]:
    return names if isinstance(names, set) else set(names)


def _wanted(query: Query, entity: Entity) -> bool:
    if query.type == "person" and entity.schema != "person":
        return False
    if query.type == "entity" and entity.schema == "person":
        return False
    return not query.programs or any(p in entity.programs for p in query.programs)
