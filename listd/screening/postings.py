"""The index of each source and the shared vocabulary, and how they are built.

Split from `index.py` (the screening loop): the storage stage. See `index.py` for the
layout; `SourceBuild` builds one source aside, in steps, for `ScreeningIndex.install`.
`freeze_long_lived` and `no_cyclic_gc` keep the cyclic collector off these objects.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from listd.model import Entity
from listd.normalize import readings
from listd.normalize.aliases import name_forms
from listd.normalize.chinese import SYLLABLE_JOIN
from listd.screening import evidence
from listd.screening.scoring import WEAK_ALIAS, WEAK_QUALITIES, Vocabulary
from listd.screening.tokens import Token, index_keys, initials, tokenize

if TYPE_CHECKING:
    from listd.screening.index import ScreeningIndex


_SMALL_POSTING = 4
_ARRAY_SOURCE = 20_000  # names from which a source finds its candidates over arrays
LOW_BITS = (1 << 64) - 1  # the low 64 of the 128 initial bits
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


def query_bits(token: Token) -> int | None:
    """Signature of a query initial; None when it cannot be summed up this way."""
    strings = (token.text, *token.pfs, *token.cores, *initials(token))
    if token.group is not None or any(len(s) > _SHORT for s in strings):
        return None
    return _initial_bits(strings)


Found = dict[int, tuple[float, str]]  # list token id → (score, rule)
Retrieved = tuple[int, Found]  # vocabulary size the lookup covers, what it found


@dataclass(slots=True)
class TokenVocabulary(Vocabulary):
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
        self.bits_lo.append(bits & LOW_BITS)
        self.bits_hi.append(bits >> 64)


@dataclass(slots=True)
class SourceIndex:
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
    columns: NameColumns | None = None
    # The postings as arrays, for sources of `_ARRAY_SOURCE` names or more (made at install).
    postings_array: PostingArrays | None = None

    def copy(self) -> SourceIndex:
        """A copy whose containers can be patched without touching this one's."""
        return SourceIndex(
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
            self.columns = NameColumns(len(self.names), flat, starts, weight, factor)
            return
        starts = np.concatenate((old.starts, old.starts[-1] + np.cumsum(lengths)))
        self.columns = NameColumns(
            len(self.names),
            np.concatenate((old.flat, flat)),
            starts,
            np.concatenate((old.weight, weight)),
            np.concatenate((old.factor, factor)),
        )


@dataclass(frozen=True, slots=True)
class PostingArrays:
    """The postings as one ragged table: the names holding token `vid` are
    names[starts[vid]:starts[vid + 1]] (a name holding a token twice is there twice)."""

    names: npt.NDArray[np.int32]
    starts: npt.NDArray[np.int64]
    count: int  # names covered: the length of a mask over them

    @classmethod
    def of(cls, index: SourceIndex, vocabulary: int) -> PostingArrays:
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
class NameColumns:
    count: int
    flat: npt.NDArray[np.int64]  # token ids of all names, one after another
    starts: npt.NDArray[np.int64]  # name nid's ids are flat[starts[nid]:starts[nid + 1]]
    weight: npt.NDArray[np.float64]
    factor: npt.NDArray[np.float64]


def _mode(entity: Entity) -> str:
    return "person" if entity.schema == "person" else "entity"


class _Builder:
    """Adds entities to a `SourceIndex`, copying each postings set once before changing it."""

    def __init__(self, index: SourceIndex, vocab: TokenVocabulary, *, fresh: bool) -> None:
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
        # A reading with a given name joined (Kwangil for KWANG-IL) is shown as the name it
        # was joined from, which is how the list writes it: the reading before it.
        forms = (
            (n, r, before if SYLLABLE_JOIN in r else r)
            for n in entity.names
            for f in name_forms(n.full)
            for read in [readings(f)]
            for before, r in zip((read[0], *read), read, strict=False)
        )
        for name, form, shown in forms:
            ids = tuple(self.vocab.intern(t) for t in tokenize(form, mode))
            if not ids or ids in seen:
                continue
            seen.add(ids)
            nid = len(idx.names)
            idx.names.append(ids)
            idx.name_entity.append(slot)
            idx.name_text.append(shown)
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


class SourceBuild:
    """A new index of one source built aside, in steps, so that screening goes on from the
    version held meanwhile; `ScreeningIndex.install` then puts it in place in one step.

    The steps (`step`) share only the vocabulary, which is append-only and interns a word
    whole within a step: run them on the thread that screens (the event loop), and a query
    between two steps sees each word complete or not at all. `seal` touches only this
    build's own containers (a delta's are copies), so it may run in a worker thread.
    """

    def __init__(self, owner: ScreeningIndex, index: SourceIndex, base: str | None) -> None:
        self.owner = owner
        self.index = index
        self.base = base  # the version held when the build started: installed only over it
        self.changed: list[str] | None = None  # entity ids a delta touched; None: whole
        self.common: dict[Token, Retrieved] | None = None
        self.sealed = False
        self.replaced: SourceIndex | None = None  # what `install` took out (to release)
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
            index.postings_array = PostingArrays.of(index, len(self.owner._vocab.tokens))
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
            self.index = SourceIndex(index.source, index.version)
            self.changed = None
            yield from self.fresh(live)

    def _look_up_common(self) -> Iterator[None]:
        owner = self.owner
        common: dict[Token, Retrieved] = {}
        for token in owner._common_words({**owner._sources, self.index.source: self.index}):
            common[token] = owner._look_up(token)
            yield
        self.common = common


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


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
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
