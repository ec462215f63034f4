"""The dispatcher's in-memory index of every watchlist customer, searched by designation.

Screening asks "which listed names look like this customer?"; a new designation asks
the reverse, "which customers look like this listed name?", over millions of customers
at once. This index answers the reverse question with the screening engine's own
pieces, so both directions agree on what may match:

* customers' names become `listd.screening.tokens` tokens, interned in one vocabulary
  shared by all subscriptions and filed under `query_keys` (a customer is the query side
  of a screening); a listed token looks itself up with `index_keys`, plus an edit-distance
  search over spellings, giving every customer token that `similarity` scores above 0;
* postings map a token to the customers holding it, filed by the weight of the
  customer's whole name; a customer is a candidate for a listed name when it holds
  matches for a set of the name's tokens heavy enough to reach the cut-off (the
  screening score's formula bounds what the missing tokens cost, on both sides: a
  three-word customer who shares one common word with a two-word designation cannot
  reach it, and is never looked at), or when it shares a document number with the
  designation;
* candidates are then scored from the token pairs, each with its score and rule, with
  `listd.screening.scoring`, the module `ScreeningIndex` scores with (the same vocabulary,
  alignment, name score and bounds: a rule that holds only on conditions is dropped
  here as there), and only those near the cut-off are returned. Customers that pair
  alike with a listed name (most share one word with it and differ in words that pair
  with nothing) are scored once for all: a score is a function of the pairs, the
  weights and the customer tokens it reads (`CustomerIndex._reaching`).

What this returns is a shortlist: the caller scores it exactly with `ScreeningIndex`,
customer as the query, so the score, the threshold and the explanation in a webhook are
exactly what `POST /v1/screen` would give for that customer.
"""

from __future__ import annotations

import hashlib
import threading
import zlib
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from listd.model import Entity
from listd.normalize import readings
from listd.normalize.aliases import name_forms
from listd.notifications import snapshot
from listd.notifications.snapshot import SCHEMA
from listd.notifications.watchlist import Customer
from listd.screening.evidence import MIN_IDENTIFIER, identifier_key
from listd.screening.postings import Found
from listd.screening.scoring import (
    MAX_EXACT_SUBSETS,
    SPLIT_SLACK,
    WEAK_ALIAS,
    WEAK_QUALITIES,
    Band,
    Candidate,
    DeletionIndex,
    Vocabulary,
    abd_head,
    align,
    alone_words,
    close_to,
    list_cost,
    name_score,
    near_alone,
    near_needs,
    near_shape,
    required,
    required_bands,
)
from listd.screening.tokens import (
    Token,
    deletions,
    index_keys,
    matcher,
    phonetic,
    query_keys,
    similarity,
    spellings,
    tokenize,
)
from listd.screening.variants import rewrite

MARGIN = 0.05  # approximate scores this far below the cut-off still go to exact scoring
# Postings are filed by the total weight of the customer's name, in steps of _STEP: a
# customer's words that match nothing cost MISSING_QUERY each, so the heavier the name,
# the more of the listed name it must match. Customers with initials stay in band 0
# (an initial may pair with any listed word, so no such bound holds for them).
_STEP = 0.25
_BANDS = 32
_BAND_BITS = 5  # log2(_BANDS): a posting key is vocabulary id << 5 | band
_LOW = (1 << 32) - 1  # a posting is key << 32 | slot
_SHADOW = 1  # flag: another reading of the customer in the slot before
_INITIAL = 2  # flag: an initial in the name
_SEAL = 8192  # slots filed in small containers before they join the arrays (at least)
_SLOT_COLUMNS = ("code", "check", "band", "flags", "shadows", "tstart", "tlen", "rstart", "rlen")
_EMPTY = np.zeros(0, np.int64)
_NO_PAIR = (0.0, "")
_MANY = 512  # customers alike (`CustomerIndex._alike`) grouped with numpy from this many
_TYPECODES = {"i4": "i", "u4": "I", "u2": "H", "u1": "B"}  # numpy -> `array` (on Linux)


def record_check(raw: str) -> int:
    """CRC-32 of a customer's stored record (its canonical JSON)."""
    return zlib.crc32(raw.encode()) or 1  # never 0: 0 means "no record known"


def customer_mode(kind: str | None) -> str:
    """The tokenizer mode a screening query of this customer type uses."""
    return {"person": "person", "entity": "entity"}.get(kind or "", "any")


def stable_hash(text: str) -> int:
    """A 64-bit hash that is the same in every process (str's own is salted per process),
    so that a snapshot's sorted hashes stay sorted where it is loaded."""
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


class _Column:
    """A numpy column (`data`, filled up to `size`) and the values appended since it was
    last flushed (`tail`: an `array`, whose appends cost no numpy call)."""

    __slots__ = ("data", "size", "tail")

    def __init__(self, dtype: str) -> None:
        self.data: npt.NDArray[Any] = np.zeros(256, dtype)
        self.size = 0
        self.tail = array(_TYPECODES[np.dtype(dtype).str[1:]])

    def __len__(self) -> int:
        return self.size + len(self.tail)

    def flush(self) -> None:
        if self.tail:
            tail, self.tail = self.tail, array(self.tail.typecode)
            self.extend(np.frombuffer(tail, self.data.dtype))

    def extend(self, values: npt.NDArray[Any]) -> None:
        self.flush()
        need = self.size + len(values)
        if need > len(self.data):
            grown = np.zeros(max(need, 2 * len(self.data)), self.data.dtype)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        self.data[self.size : need] = values
        self.size = need

    def view(self) -> npt.NDArray[Any]:
        self.flush()
        return self.data[: self.size]


@dataclass(slots=True)
class CustomerVocabulary(Vocabulary):
    """The customers' `Vocabulary`: tokens filed as the query side of a screening. One
    may be shared by the indexes of several partitions (one dispatcher worker's), so that
    a listed name is looked up in it once for all of them; interning is then locked, as
    indexes are built and patched in worker threads."""

    initial: list[bool] = field(default_factory=list)
    # Millions of customers are indexed at each fail-over: filled fast rather than compact.
    edits: DeletionIndex = field(default_factory=lambda: DeletionIndex(compact=False))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def intern(self, token: Token) -> int:
        found = self.ids.get(token)
        if found is not None:
            return found
        with self.lock:
            return Vocabulary.intern(self, token)

    def keys_of(self, token: Token) -> list[str]:
        # A listed initial never finds customers (see `candidates`).
        return [key for key in query_keys(token) if key[0] != "I"]

    def added(self, token: Token) -> None:
        self.initial.append(token.kind == "initial")


@dataclass(slots=True)
class _Name:
    """One listed name being looked up: its tokens and what each can match."""

    tokens: tuple[Token, ...]
    factor: float
    matches: list[Found]  # per position: customer vocabulary id -> (similarity, rule)
    weights: tuple[float, ...] = ()
    initial: tuple[bool, ...] = ()
    total: float = 0.0
    # Customer id -> its pairs with the listed positions, as `align` takes them less the
    # customer position: (-score, an initial on either side, listed position, rule).
    paired: dict[int, list[tuple[float, bool, int, str]]] = field(default_factory=dict)
    unpaired: dict[float, int] = field(default_factory=dict)  # weight -> its number
    # What `_name_candidates` works out of the name alone, by the cut-off asked: the
    # cut-off it searches at, the name's `near_shape` and its `near_alone` positions;
    # and its `alone_words` (for `_beside_one`). Kept with the name (`Prepared`).
    figures: dict[float, tuple[float, Any, list[tuple[int, ...]]]] = field(default_factory=dict)
    alone: list[Token] | None = None

    def __post_init__(self) -> None:
        self.weights = tuple(t.weight for t in self.tokens)
        self.initial = tuple(t.kind == "initial" for t in self.tokens)
        self.total = sum(self.weights)


# One listed position's matches: their vocabulary ids (sorted), posting keys, starts and
# ends by (match, band), and the number of postings by band (`CustomerIndex._ranges`).
_Ranges = tuple[
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    list[int],
]


@dataclass(slots=True)
class _Held:
    """The customers of some bands holding one of a listed position's matches (`slots`),
    their words by length (`_words_of`, read when first needed), and which of them
    hold one of other customer tokens, by the tokens' sorted ids as bytes
    (`CustomerIndex._holding`)."""

    slots: npt.NDArray[np.int64]
    words: list[tuple[Any, ...]] | None = None
    holds: dict[bytes, npt.NDArray[np.bool_]] = field(default_factory=dict)


@dataclass(slots=True)
class _Lookup:
    """What one `candidates` call works out once for all the listed names it looks up:
    a designation's names and forms share most of their tokens, and every result here
    depends only on the index (unchanged during the call) and what it is keyed by.

    * `ranges`: a listed token's matches and their posting ranges (`_ranges`);
    * `reads`: the customers holding one of some customer tokens (a listed token's
      matches) in some bands, and which of them hold others (`_search`, `_holding`);
    * `rows`: the token ids of a set of candidate slots, by name length, and their
      distinct ids (`_reaching`: the forms of one name mostly shortlist the same slots);
    * `two`, `close`: `_beside_one`'s customers of two words holding some customer
      tokens, their words, and each listed word's comparison with those;
    * `near`: `near_needs` by the shape of a name and its required sets;
    * `wanted`: the sets a name searches, with their bands, by what they depend on
      (`_wanted`); `near` and `wanted` are the `Prepared`'s, for every index;
    * `positions`: a name's `ranges`, position by position, by the name."""

    ranges: dict[Token, _Ranges] = field(default_factory=dict)
    reads: dict[tuple[bytes, tuple[int, ...]], _Held] = field(default_factory=dict)
    rows: dict[bytes, list[tuple[Any, ...]]] = field(default_factory=dict)
    two: dict[tuple[tuple[bytes, ...], tuple[int, ...]], tuple[Any, ...]] = field(
        default_factory=dict
    )
    close: dict[tuple[Token, tuple[Any, ...]], npt.NDArray[np.bool_]] = field(default_factory=dict)
    near: dict[tuple[Any, ...], list[tuple[int, ...]]] = field(default_factory=dict)
    wanted: dict[tuple[Any, ...], dict[tuple[int, ...], list[int]]] = field(default_factory=dict)
    positions: dict[int, tuple[_Name, list[_Ranges]]] = field(default_factory=dict)


_PREPARED = 4096  # designations whose names a `Prepared` keeps at most


@dataclass(slots=True)
class Prepared:
    """The listed names of designations worked out against one vocabulary
    (`CustomerIndex._names`: each written in the forms customers may have typed it,
    tokenized, each token matched among the customers' tokens, and each customer token's
    pairs with it as scoring finds them), for every index sharing that vocabulary and
    every lookup of the same designations: a worker's partitions' index, its slices'
    index, a partition set aside and read again. Most of a lookup's cost is this, not
    the search of the customers.

    Valid while the vocabulary holds the tokens it had when they were worked out (it only
    grows): a customer indexed since with a new word may hold a match none of these
    knows, so any growth starts them over (`current`). Not locked: its users hold the
    index lock (the dispatcher's), as the indexes they search need."""

    vocab: CustomerVocabulary
    size: int = -1  # len(vocab.tokens) when the names below were begun
    names: dict[tuple[str, tuple[Any, ...]], list[_Name]] = field(default_factory=dict)
    found: dict[Token, Found] = field(default_factory=dict)  # `CustomerIndex._retrieve`
    near: dict[tuple[Any, ...], list[tuple[int, ...]]] = field(default_factory=dict)
    wanted: dict[tuple[Any, ...], dict[tuple[int, ...], list[int]]] = field(default_factory=dict)
    reused: int = 0  # designations whose names were taken from here
    worked: int = 0  # ... and worked out

    def current(self) -> None:
        """Forget everything if the vocabulary has grown since it was worked out."""
        size = len(self.vocab.tokens)
        if size != self.size:
            self.names, self.found, self.near, self.wanted = {}, {}, {}, {}
            self.size = size

    def names_of(self, entity: Entity, index: CustomerIndex) -> list[_Name]:
        key = (entity.schema, entity.names)
        listed = self.names.pop(key, None)  # (put back last: the oldest go first)
        if listed is None:
            listed = list(index._names(entity, self.found))
            self.worked += 1
            while len(self.names) >= _PREPARED:
                del self.names[next(iter(self.names))]
        else:
            self.reused += 1
        self.names[key] = listed
        return listed


class _Read(Sequence[Token]):
    """A customer's tokens as a score reads them, noting the positions it read."""

    __slots__ = ("ids", "read", "tokens")

    def __init__(self, tokens: list[Token], ids: list[int]) -> None:
        self.tokens, self.ids = tokens, ids
        self.read: set[int] = set()

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, at: int) -> Token: ...

    @overload
    def __getitem__(self, at: slice) -> Sequence[Token]: ...

    def __getitem__(self, at: int | slice) -> Token | Sequence[Token]:
        if isinstance(at, slice):
            positions = range(len(self.ids))[at]
            self.read.update(positions)
            return [self.tokens[self.ids[p]] for p in positions]
        p = range(len(self.ids))[at]  # IndexError past the end, as a list
        self.read.add(p)
        return self.tokens[self.ids[p]]


class CustomerIndex:
    """Every customer of every watchlist: name tokens, postings and document numbers.

    Kept in numpy arrays, not a Python object per customer (10 million customers a
    worker): a slot per customer and per other reading of its name (`_SLOT_COLUMNS`),
    the token ids and references those point into, and sorted arrays of postings,
    reference hashes and document key hashes. A slot added is filed in small Python
    containers first and joins the arrays `_SEAL` slots at a time (`_seal`, a merge of
    sorted runs); a slot removed is marked dead (code -1) and skipped, and the arrays are
    compacted once as many slots are dead as live. A snapshot (`dump`, `load`) is these
    arrays (`listd.notifications.snapshot`).
    """

    def __init__(self, vocab: CustomerVocabulary | None = None) -> None:
        self.vocab = vocab if vocab is not None else CustomerVocabulary()
        self.subs: dict[str, int] = {}  # subscription -> its customers indexed
        self._reset()

    def _reset(self) -> None:
        self._codes: dict[str, int] = {}  # subscription -> its code in the slots
        self._sub_ids: list[str] = []  # code -> subscription
        self._count = 0  # customers (not other readings) alive
        self._dead = 0  # dead slots
        self._cols = {name: _Column(SCHEMA[name]) for name in _SLOT_COLUMNS}
        self._tokens = _Column(SCHEMA["tokens"])
        self._refs = bytearray()
        self._pairs = np.zeros(0, np.uint64)
        self._keys = np.zeros(0, np.int64)  # distinct posting keys, sorted...
        self._starts = np.zeros(1, np.int64)  # ...and where each one's postings start
        self._rkeys, self._rslots = np.zeros(0, np.int64), np.zeros(0, np.uint32)
        self._dkeys, self._dslots = np.zeros(0, np.int64), np.zeros(0, np.uint32)
        # Filed since the last `_seal`: postings, {reference hash: slots}, (hash, slot).
        self._new_pairs = array("Q")
        self._new_refs: dict[int, list[int]] = {}
        self._new_docs: list[tuple[int, int]] = []
        self._unsealed = 0
        # band -> {number of words: slots}: how many listed words a customer of the
        # band can match at most (a 24-word "name" with a remark in it matches nobody).
        self._bands: dict[int, dict[int, int]] = {}
        self._initialled = 0  # live slots with an initial in their name (all in band 0)

    def __len__(self) -> int:
        return self._count

    def count(self, sub_id: str) -> int:
        return self.subs.get(sub_id, 0)

    @property
    def _slots(self) -> int:
        return len(self._cols["code"])

    def _code_of(self, sub_id: str) -> int:
        code = self._codes.get(sub_id)
        if code is None:
            code = self._codes[sub_id] = len(self._sub_ids)
            self._sub_ids.append(sub_id)
        return code

    # -- maintenance ----------------------------------------------------------------------

    def put(self, sub_id: str, customer: Customer, check: int = 0) -> None:
        """Add or replace one customer; `check`: `record_check` of its stored record."""
        key = stable_hash(f"{sub_id}\n{customer.reference}")
        found = self._find(sub_id, customer.reference, key)
        if found is not None:
            self._remove(sub_id, found)
        code = self._code_of(sub_id)
        mode = customer_mode(customer.type)
        forms = list(readings(customer.name))
        # The name as typed with its words mended (AamirAli, AA, a word typed twice): no
        # list vocabulary here, so a run of capitals is found from the listed side instead.
        forms += [r.text for f in list(forms) if (r := rewrite(f)) is not None]
        tokens = tuple(self.vocab.intern(t) for t in tokenize(forms[0], mode))
        others: list[tuple[int, ...]] = []
        seen = {tokens}
        for form in forms[1:]:
            # Another reading (invisible marks removed, words mended): a slot of its own
            # right after the first, found like it, removed with it.
            other = tuple(self.vocab.intern(t) for t in tokenize(form, mode))
            if other and other not in seen:
                seen.add(other)
                others.append(other)
        ref = customer.reference.encode()
        start = len(self._refs)
        self._refs += ref
        slot = self._place(code, tokens, check, start, len(ref), 0, len(others))
        for other in others:
            self._place(code, other, 0, start, len(ref), _SHADOW, 0)
        self._new_refs.setdefault(key, []).append(slot)
        for doc in customer.document_keys():
            self._new_docs.append((stable_hash(doc), slot))
        self.subs[sub_id] = self.subs.get(sub_id, 0) + 1
        self._count += 1
        # Sealing merges into arrays of every slot: a share of them at a time, so that the
        # merges cost a few times the arrays in all whatever their size.
        if self._unsealed >= max(_SEAL, self._slots >> 4):
            self._seal()

    def _place(
        self,
        code: int,
        tokens: tuple[int, ...],
        check: int,
        start: int,
        size: int,
        flags: int,
        shadows: int,
    ) -> int:
        """File `tokens` in a new slot; return it."""
        cols = self._cols
        slot = len(cols["code"])
        initialled = any(self.vocab.initial[v] for v in tokens)
        band = self._band(tokens, initialled)
        cols["code"].tail.append(code)
        cols["check"].tail.append(check)
        cols["band"].tail.append(band)
        cols["flags"].tail.append(flags | (_INITIAL if initialled else 0))
        cols["shadows"].tail.append(shadows)
        cols["tstart"].tail.append(len(self._tokens))
        cols["tlen"].tail.append(len(tokens))
        cols["rstart"].tail.append(start)
        cols["rlen"].tail.append(size)
        self._tokens.tail.extend(tokens)
        lengths = self._bands.setdefault(band, {})
        lengths[len(tokens)] = lengths.get(len(tokens), 0) + 1
        self._initialled += initialled
        self._new_pairs.extend(((vid << _BAND_BITS | band) << 32 | slot) for vid in set(tokens))
        self._unsealed += 1
        return slot

    def _band(self, tokens: tuple[int, ...], initialled: bool) -> int:
        if initialled:
            return 0
        total = sum(self.vocab.weights[v] for v in tokens)
        return min(max(int((total - 1e-9) / _STEP), 0), _BANDS - 1)

    def _find(self, sub_id: str, ref: str, key: int | None = None) -> int | None:
        """The live slot of customer `ref` of `sub_id` (sealed), if indexed; `key`: its
        `stable_hash`, when known."""
        code = self._codes.get(sub_id)
        if code is None:
            return None
        if key is None:
            key = stable_hash(f"{sub_id}\n{ref}")
        if key in self._new_refs:  # filed since the last seal: read from the arrays
            self._seal()
        keys, held = self._rkeys, []
        at = int(keys.searchsorted(key)) if len(keys) else 0
        while at < len(keys) and keys[at] == key:
            held.append(int(self._rslots[at]))
            at += 1
        codes, flags = self._cols["code"].data, self._cols["flags"].data
        for slot in held:
            if codes[slot] == code and not flags[slot] & _SHADOW and self._ref(slot) == ref:
                return slot
        return None

    def _ref(self, slot: int) -> str:
        start = int(self._cols["rstart"].data[slot])
        return self._refs[start : start + int(self._cols["rlen"].data[slot])].decode()

    def remove(self, sub_id: str, ref: str) -> None:
        slot = self._find(sub_id, ref)
        if slot is not None:
            self._remove(sub_id, slot)

    def _remove(self, sub_id: str, slot: int) -> None:
        self.subs[sub_id] -= 1
        self._count -= 1
        self._kill(np.arange(slot, slot + 1 + int(self._cols["shadows"].data[slot])))

    def _kill(self, slots: npt.NDArray[Any]) -> None:
        """Mark `slots` dead; compact once as many are dead as alive."""
        # Only the columns need to hold the slots: a dead slot's postings stay where they
        # are (sealed or not) and are skipped by its code. Sealing here merged every
        # posting into the sorted arrays for each customer replaced, which made a run of
        # changes applied to a large index cost the index's size each.
        for column in self._cols.values():
            column.flush()
        cols = self._cols
        cols["code"].data[slots] = -1
        self._tally(cols["band"].data[slots], cols["tlen"].data[slots], -1)
        self._initialled -= int(np.count_nonzero(cols["flags"].data[slots] & _INITIAL))
        self._dead += len(slots)
        if self._dead >= max(_SEAL, self._slots - self._dead):
            self._compact()

    def _tally(self, bands: npt.NDArray[Any], lengths: npt.NDArray[Any], sign: int) -> None:
        pairs, counts = np.unique(bands.astype(np.int64) << 16 | lengths, return_counts=True)
        for pair, count in zip(pairs.tolist(), counts.tolist(), strict=True):
            band, length = pair >> 16, pair & 0xFFFF
            held = self._bands.setdefault(band, {})
            held[length] = held.get(length, 0) + sign * count
            if not held[length]:
                del held[length]
                if not held:
                    del self._bands[band]

    def drop(self, sub_id: str) -> None:
        """Forget a whole subscription's customers."""
        code = self._codes.get(sub_id)
        self._count -= self.subs.pop(sub_id, 0)
        if code is not None:
            self._seal()
            slots = np.flatnonzero(self._cols["code"].view() == code)
            if len(slots):
                self._kill(slots)

    def _seal(self) -> None:
        """Move the slots filed since the last seal into the arrays: columns flushed,
        postings and hashes merged into the sorted ones (linear, not a sort of all)."""
        for column in (*self._cols.values(), self._tokens):
            column.flush()
        if self._new_pairs:
            fresh = np.sort(np.frombuffer(self._new_pairs, np.uint64))
            self._pairs = _merged(self._pairs, fresh)
            self._directory()
            self._new_pairs = array("Q")
        if self._new_refs:
            keys = np.fromiter((k for k, slots in self._new_refs.items() for _ in slots), np.int64)
            slots = np.fromiter(
                (s for held in self._new_refs.values() for s in held), np.uint32, len(keys)
            )
            self._rkeys, self._rslots = _merged_by(self._rkeys, self._rslots, keys, slots)
            self._new_refs = {}
        if self._new_docs:
            docs = np.array(self._new_docs, np.int64).reshape(-1, 2)
            self._dkeys, self._dslots = _merged_by(
                self._dkeys, self._dslots, docs[:, 0], docs[:, 1].astype(np.uint32)
            )
            self._new_docs = []
        self._unsealed = 0

    def _directory(self) -> None:
        # The pairs are sorted: a key's run starts where the key differs from the one
        # before. Linear; np.unique sorted them all again (2.9 s against 0.1 s of CPU at 30
        # million pairs), at every seal and absorb, under the index lock.
        keys = (self._pairs >> np.uint64(32)).astype(np.int64)
        first = np.empty(len(keys), np.bool_)
        first[:1] = True
        np.not_equal(keys[1:], keys[:-1], out=first[1:])
        starts = np.nonzero(first)[0]  # not flatnonzero: tests count a band's reads by it
        self._keys = keys[starts]
        self._starts = np.append(starts, len(self._pairs)).astype(np.int64)

    def _compact(self) -> None:
        """Rebuild the arrays without the dead slots."""
        live = [s for s in self._sub_ids if s in self.subs]
        subs, data = dict(self.subs), self._select(self._cols["code"].view() >= 0, live)
        self._reset()
        self.subs = {}
        self._append(live, data)
        self.subs = subs

    def _select(self, mask: npt.NDArray[np.bool_], subs: list[str]) -> dict[str, Any]:
        """The slots in `mask` (all of subscriptions `subs`, alive) as arrays numbered
        from 0, their codes indexes into `subs`: copies, or views of the arrays here when
        `mask` keeps every slot (to be consumed before this index changes)."""
        self._seal()
        cols = {name: col.view() for name, col in self._cols.items()}
        keep = np.flatnonzero(mask)
        everything = len(keep) == self._slots
        renumber = np.full(self._slots, -1, np.int64)
        renumber[keep] = np.arange(len(keep))
        out: dict[str, Any] = {
            name: cols[name] if everything else cols[name][keep] for name in _SLOT_COLUMNS
        }
        recode = np.zeros(len(self._sub_ids) + 1, np.int32)
        recode[[self._codes[s] for s in subs]] = np.arange(len(subs), dtype=np.int32)
        out["code"] = recode[out["code"]]
        out["tokens"], out["tstart"] = _gather(self._tokens.view(), out["tstart"], out["tlen"])
        primary = (out["flags"] & _SHADOW) == 0
        sizes = np.where(primary, out["rlen"], 0)
        refs = np.frombuffer(bytes(self._refs), np.uint8)
        out["refs"], starts = _gather(refs, out["rstart"], sizes)
        owner = np.maximum.accumulate(np.where(primary, np.arange(len(keep)), 0))
        out["rstart"], out["rlen"] = starts[owner], out["rlen"][owner]
        if everything:  # numbered as they are
            out |= {"pairs": self._pairs, "rkeys": self._rkeys, "rslots": self._rslots}
            return out | {"dkeys": self._dkeys, "dslots": self._dslots}
        pair_slots = (self._pairs & np.uint64(_LOW)).astype(np.int64)
        held = renumber[pair_slots] >= 0
        out["pairs"] = (self._pairs[held] & ~np.uint64(_LOW)) | renumber[pair_slots[held]].astype(
            np.uint64
        )
        for keys, slots, name in (
            (self._rkeys, self._rslots, "r"),
            (self._dkeys, self._dslots, "d"),
        ):
            moved = renumber[slots.astype(np.int64)]
            out[f"{name}keys"], out[f"{name}slots"] = keys[moved >= 0], moved[moved >= 0]
        return out

    def _append(self, subs: list[str], data: dict[str, Any]) -> None:
        """Add the slots `data` holds (`_select`'s arrays: codes index `subs`, token ids
        this vocabulary's) after the ones here."""
        self._seal()
        offset, cols = self._slots, self._cols
        codes = np.array([self._code_of(s) for s in subs] or [0], np.int32)
        count = len(data["code"])
        primary = (data["flags"] & _SHADOW) == 0
        shifted = {
            "code": codes[data["code"]],
            "tstart": data["tstart"] + len(self._tokens),
            "rstart": data["rstart"] + len(self._refs),
        }
        for name in _SLOT_COLUMNS:
            cols[name].extend(shifted.get(name, data[name]))
        self._tokens.extend(data["tokens"])
        self._refs += data["refs"].tobytes()
        moved = data["pairs"] + np.uint64(offset)
        self._pairs = _merged(self._pairs, moved) if len(self._pairs) else moved
        self._directory()
        self._rkeys, self._rslots = _merged_by(
            self._rkeys, self._rslots, data["rkeys"], data["rslots"] + offset
        )
        self._dkeys, self._dslots = _merged_by(
            self._dkeys, self._dslots, data["dkeys"], data["dslots"] + offset
        )
        self._tally(data["band"], data["tlen"], 1)
        self._initialled += int(np.count_nonzero(data["flags"] & _INITIAL))
        per_sub = np.bincount(data["code"][primary], minlength=len(subs)).tolist()
        for sub_id, held in zip(subs, per_sub, strict=False):
            self.subs[sub_id] = self.subs.get(sub_id, 0) + held
        self._count += int(np.count_nonzero(primary))
        assert self._slots == offset + count

    # -- snapshots ------------------------------------------------------------------------

    def checks(self, sub_id: str) -> dict[str, int]:
        """{reference: `record_check` of the record indexed} for one subscription."""
        code = self._codes.get(sub_id)
        if code is None or sub_id not in self.subs:
            return {}
        self._seal()
        cols = {name: col.view() for name, col in self._cols.items()}
        slots = np.flatnonzero((cols["code"] == code) & (cols["flags"] & _SHADOW == 0))
        refs = self._refs
        return {
            refs[start : start + size].decode(): check
            for start, size, check in zip(
                cols["rstart"][slots].tolist(),
                cols["rlen"][slots].tolist(),
                cols["check"][slots].tolist(),
                strict=True,
            )
        }

    def absorb(self, other: CustomerIndex) -> None:
        """Take in every customer of `other` (an index on the same vocabulary, built
        aside), replacing those of its subscriptions held here before."""
        assert other.vocab is self.vocab, "absorb needs the same vocabulary"
        subs = list(other.subs)
        for sub_id in subs:
            self.drop(sub_id)
        self._append(subs, other._select(other._cols["code"].view() >= 0, subs))
        for sub_id in subs:
            self.subs.setdefault(sub_id, 0)

    def count_of(self, subs: Iterable[str]) -> int:
        """Customers of the subscriptions `subs`."""
        return sum(self.subs.get(s, 0) for s in subs)

    def dump(self, subs: Iterable[str] | None = None) -> bytes:
        """The index as a snapshot (`listd.notifications.snapshot`): its arrays, token ids
        renumbered over the tokens they use. `subs`: only these subscriptions' customers
        (one partition's)."""
        return encode(self.export(subs))

    def export(self, subs: Iterable[str] | None = None) -> snapshot.Arrays:
        """`dump`'s arrays, copied (a memcpy: a fraction of `dump`'s time), for `encode`
        outside the index lock: the snapshot is the index as it was here, while lookups
        and changes go on during the encoding, which takes seconds for millions."""
        wanted = list(self.subs) if subs is None else [s for s in subs if s in self.subs]
        codes = [self._codes[s] for s in wanted]
        data = self._select(np.isin(self._cols["code"].view(), codes), wanted)
        # `_select` gives views of the arrays here when it keeps every slot; the index
        # writes into one of them in place (a slot killed) and replaces the others. The
        # token ids are the vocabulary's: its list of tokens, append-only, numbers them.
        copied = {name: np.array(values) for name, values in data.items()}
        return snapshot.Arrays(wanted, copied, self.vocab.tokens)

    @classmethod
    def load(cls, blob: bytes, vocab: CustomerVocabulary | None = None) -> CustomerIndex:
        """An index from `dump`'s snapshot (ValueError if it is not one, or not whole), on
        `vocab` (shared with other indexes) or a vocabulary of its own."""
        data = snapshot.read(blob)
        a = data.arrays
        _check_arrays(a, len(data.subs), len(data.tokens))
        index = cls(vocab)
        mapped = np.array([index.vocab.intern(t) for t in data.tokens], np.int64)
        if len(mapped) and int(mapped.max()) >= 1 << (32 - _BAND_BITS):
            raise ValueError("too many words for a customer index")
        a["tokens"] = mapped[a["tokens"]].astype(np.uint32)
        vids = (a["pairs"] >> np.uint64(32 + _BAND_BITS)).astype(np.int64)
        rest = a["pairs"] & np.uint64((1 << (32 + _BAND_BITS)) - 1)
        a["pairs"] = rest | (mapped[vids].astype(np.uint64) << np.uint64(32 + _BAND_BITS))
        if len(mapped) > 1 and not bool(np.all(mapped[1:] > mapped[:-1])):
            a["pairs"].sort()  # a shared vocabulary numbers the words in another order
        index._append(data.subs, a)
        for sub_id in data.subs:
            index.subs.setdefault(sub_id, 0)
        return index

    # -- search ---------------------------------------------------------------------------

    def candidates(
        self,
        entities: Iterable[Entity],
        cutoff: float,
        subs: set[str] | None = None,
        prepared: Prepared | None = None,
    ) -> dict[str, dict[str, set[str]]]:
        """{subscription: {customer reference: ids of the entities it may match}}.

        `cutoff` is the lowest name score that can still make an alert (the threshold
        minus the most birth date and nationality can add). `subs` limits the answer.
        `prepared`: the entities' names as worked out on this index's vocabulary, kept
        across lookups and indexes sharing it (the same answer as without).
        """
        self._seal()
        if prepared is None or prepared.vocab is not self.vocab:
            prepared = Prepared(self.vocab)
        prepared.current()  # before the search: the index holds no word added after
        # What the names share, for this lookup (and what it shares with other indexes).
        look = _Lookup(near=prepared.near, wanted=prepared.wanted)
        out: dict[str, dict[str, set[str]]] = {}
        codes = self._cols["code"].data
        for entity in entities:
            slots = self._by_documents(entity)
            for name in prepared.names_of(entity, self):
                slots |= self._name_candidates(name, cutoff, look)
            for slot in slots:
                code = int(codes[slot])
                if code < 0:
                    continue
                sub_id = self._sub_ids[code]
                if subs is not None and sub_id not in subs:
                    continue
                out.setdefault(sub_id, {}).setdefault(self._ref(slot), set()).add(entity.id)
        return out

    def _names(self, entity: Entity, cache: dict[Token, Found]) -> Iterator[_Name]:
        """`entity`'s listed names, each in every form customers may have typed it, with
        what each of their tokens matches among the customers' tokens."""
        keys = self.vocab.keys

        def known(word: str) -> bool:
            return "d" + phonetic(word) in keys

        mode = "person" if entity.schema == "person" else "entity"
        seen: set[tuple[Token, ...]] = set()
        forms = [(n, r) for n in entity.names for f in name_forms(n.full) for r in readings(f)]
        # The listed name with its words split or joined as customers may have typed
        # them (ERICBADEGE, Chau dhry): the customers' own words say where.
        forms += [
            (n, r.text)
            for n, f in list(forms)
            for split in (True, False)
            if (r := rewrite(f, known, eager=True, split=split, join=not split))
        ]
        for listed, form in forms:
            tokens = tokenize(form, mode)
            if not tokens or tokens in seen:
                continue
            seen.add(tokens)
            factor = WEAK_ALIAS if listed.quality in WEAK_QUALITIES else 1.0
            yield _Name(tokens, factor, [self._retrieve(t, cache) for t in tokens])

    def score(self, sub_id: str, ref: str, entity: Entity) -> float:
        """The best name score of one customer against `entity`'s names, by the scoring
        module `ScreeningIndex` uses (customer as the query): what the shortlist weighs
        before the exact scoring."""
        slot = self._find(sub_id, ref)
        if slot is None:
            return 0.0
        slots = range(slot, slot + 1 + int(self._cols["shadows"].data[slot]))
        names = list(self._names(entity, {}))
        return max((self._score(s, n) for s in slots for n in names), default=0.0)

    def _by_documents(self, entity: Entity) -> set[int]:
        slots: set[int] = set()
        for doc in entity.documents:
            key = identifier_key(doc.number)
            if len(key) < MIN_IDENTIFIER:
                continue
            h = stable_hash(key)
            lo = int(np.searchsorted(self._dkeys, h, side="left"))
            hi = int(np.searchsorted(self._dkeys, h, side="right"))
            slots.update(self._dslots[lo:hi].tolist())
        return slots

    def _retrieve(self, token: Token, cache: dict[Token, Found]) -> Found:
        """Customer vocabulary ids whose token `token` (a listed one) can stand for, with
        the score and rule of each pair (a rule may hold only on conditions, which
        `name_score` checks: `scoring.CONDITIONAL`)."""
        if token.kind == "initial":
            return {}
        found = cache.get(token)
        if found is not None:
            return found
        vocab = self.vocab
        # A partition built aside interns into this vocabulary in a thread without the
        # index lock: an id at or past `known` is a word filed under its keys but not yet
        # appended, which no customer of an index searched under the lock holds (a
        # customer is installed under it, after its words are in).
        known = len(vocab.tokens)
        ids = vocab.lookup(index_keys(token), {d for w in spellings(token) for d in deletions(w)})
        out: Found = {}
        # The customer token is the query side, the listed token the list side; the
        # comparison is symmetric (tests/screening), so the listed token's matcher serves.
        match = matcher(token)
        for vid in ids:
            if vid >= known:
                continue
            pair = match(vocab.tokens[vid])
            if pair[0] > 0:
                out[vid] = pair
        cache[token] = out
        return out

    def _name_candidates(self, name: _Name, cutoff: float, look: _Lookup) -> set[int]:
        if not any(name.matches):
            # No customer word pairs with a word of the name (most forms of a new
            # designation, at scale): every set of positions searched below holds a
            # position no customer holds a match for, and a customer is found only
            # through those. Nothing to weigh, search or score.
            return set()
        weights = name.weights
        initials = tuple(p for p, initial in enumerate(name.initial) if initial)
        final = cutoff
        figures = name.figures.get(cutoff)
        if figures is None:
            if len(name.tokens) >= 2 and any(abd_head(t) is not None for t in name.tokens):
                # A customer's ABDUL YASIN may be split over it (`compound_split`), or A. R.
                # be the initials of its Abdul-Reza (`part_initials`): above the bound.
                cutoff *= SPLIT_SLACK
            cutoff = round(cutoff, 6)
            shaped = near_shape(name.tokens)
            figures = name.figures[final] = (cutoff, shaped, near_alone(name.tokens, cutoff))
        cutoff, shape, alone = figures
        found: list[npt.NDArray[np.int64]] = []
        bands = list(self._bands.items())
        # The sets of listed positions to search, and the bands each is searched in: a
        # function of the name's weights, initials and shape and of the index's bands,
        # which the forms of a designation's names mostly share, so worked out once.
        # Kept in `Prepared` for every index of the same bands, their most words alike up
        # to the name's (a band's sets are those of at most its most words).
        size = len(weights)
        held = tuple(sorted((b, min(max(n), size)) for b, n in bands))
        key = (weights, initials, cutoff, shape, held)
        wanted = look.wanted.get(key)
        if wanted is None:
            wanted = look.wanted[key] = self._wanted(weights, initials, cutoff, shape, held, look)
        found.append(self._search(name, wanted, look))
        pairs = [band for band, lengths in bands if 2 in lengths]
        alone = [(pos,) for (pos,) in alone if name.matches[pos]]  # (as `_search` would)
        if alone and pairs:  # customers of two words, `two_edits` beside one listed name
            found.append(self._beside_one(name, alone, pairs, look))
        if self._initialled:  # all in band 0
            most = max(self._bands[0])
            subsets, prefix = _required(weights, initials, cutoff, True, 0, most)
            sets = [*subsets, *((pos,) for pos in prefix or ())]
            loose = self._search(name, dict.fromkeys(sets, [0]), look)
            found.append(loose[(self._cols["flags"].data[loose] & _INITIAL) != 0])
        slots = np.unique(np.concatenate(found)) if found else _EMPTY
        slots = slots[self._cols["code"].data[slots] >= 0]
        return set(self._reaching(slots, name, final - MARGIN, look.rows).tolist())

    def _wanted(
        self,
        weights: tuple[float, ...],
        initials: tuple[int, ...],
        cutoff: float,
        shape: Any,
        bands: tuple[tuple[int, int], ...],
        look: _Lookup,
    ) -> dict[tuple[int, ...], list[int]]:
        """The sets of positions of a listed name of these `weights`, `initials` and
        `near_shape` a customer must hold matches for to reach `cutoff`, each with the
        bands that need it: each set is searched once in all those bands (bands mostly
        need the same sets), not once per band. `bands`: the index's (band, most words)."""
        every = _every_band(weights, initials, cutoff, list(bands))
        wanted: dict[tuple[int, ...], list[int]] = {}
        near = look.near
        for (band, _), (subsets, prefix) in zip(bands, every, strict=True):
            sets = list(subsets)
            if prefix is not None:  # a customer holding any of these positions
                sets += [(pos,) for pos in prefix]
            else:
                # A customer word two edits from a listed one is no lookup's
                # (`two_edits`); each distinct list of sets is extended once a lookup
                # for the names of one shape (`near_shape`: all `near_needs` reads).
                key = (shape, tuple(subsets))
                extra = near.get(key)
                if extra is None:
                    extra = near[key] = near_needs(shape, subsets)
                sets += extra
            for subset in sets:
                wanted.setdefault(subset, []).append(band)
        return wanted

    def _beside_one(
        self, name: _Name, alone: list[tuple[int, ...]], bands: list[int], look: _Lookup
    ) -> npt.NDArray[np.int64]:
        """The customers of two words in `bands` holding a match for one of the positions
        `alone` (`near_alone`) and a word within two edits of a listed word that may pair
        so (`scoring.close_to`): their distinct words are compared with the listed ones
        once, not customer by customer. Those customers, their words, and each listed
        word's comparison with these are kept for the lookup: the forms of a name mostly
        hold the same words and match the same customer tokens."""
        if name.alone is None:
            name.alone = alone_words(name.tokens)
        words = name.alone
        if not words:
            return _EMPTY
        key = (
            tuple(self._positions(name, look)[pos][0].tobytes() for (pos,) in alone),
            tuple(bands),
        )
        two = look.two.get(key)
        if two is None:
            slots = self._search(name, dict.fromkeys(alone, bands), look)
            slots = slots[self._cols["tlen"].data[slots] == 2]
            starts = self._cols["tstart"].data[slots].astype(np.int64)
            ids = self._tokens.data[starts[:, None] + np.arange(2)]
            two = look.two[key] = (slots, ids, np.unique(ids))
        slots, ids, vids = two
        if not len(slots):
            return _EMPTY
        # Within two edits of one of the words is within two edits of the one or of the
        # other (`close_to` bounds each word's spellings apart, then compares exactly).
        close = np.zeros(len(vids), np.bool_)
        tokens: list[Token] | None = None
        for word in words:
            near = look.close.get((word, key))
            if near is None:
                if tokens is None:
                    tokens = [self.vocab.tokens[v] for v in vids.tolist()]
                near = look.close[(word, key)] = np.array(close_to([word], tokens), np.bool_)
            close |= near
        found: npt.NDArray[np.int64] = slots[np.isin(ids, vids[close]).any(axis=1)]
        return found

    def _reaching(
        self,
        slots: npt.NDArray[np.int64],
        name: _Name,
        floor: float,
        memo: dict[bytes, list[tuple[Any, ...]]] | None = None,
    ) -> npt.NDArray[np.int64]:
        """The `slots` whose score against `name` reaches `floor`.

        `align` and `name_score` are functions of their arguments: the token pairs (with
        positions), the customer's token weights, and whichever of the customer's tokens
        they read. So customers whose words, position by position, pair alike with the
        listed name and weigh alike (a signature) score alike when they also hold the
        same tokens where the score of one of them read any: most candidates pair one
        word (Karimov for Karimi) and differ in words that pair with nothing. One
        customer of each such group is scored, not every customer or every name.
        `memo`: the slots' token ids by length (`_rows`), kept for one lookup."""
        keep = np.zeros(len(slots), np.bool_)
        for length, rows, ids, vids, at in self._rows(slots, memo):
            _, kind = np.unique(self._kinds(vids.tolist(), name), return_inverse=True)
            signature = kind.reshape(-1)[at.reshape(-1)].reshape(ids.shape)
            kinds = int(kind.max()) + 1
            if kinds**length < 1 << 62:  # each signature as one number
                signature = signature @ (kinds ** np.arange(length, dtype=np.int64))
            _, first, inverse = np.unique(signature, axis=0, return_index=True, return_inverse=True)
            inverse = inverse.reshape(-1)
            counts = np.bincount(inverse, minlength=len(first))
            passed: list[bool] = []
            order, ends = _EMPTY, np.cumsum(counts)
            for d, (row, count) in enumerate(
                zip(ids[first].tolist(), counts.tolist(), strict=True)
            ):
                score, read = self._scored(row, name)
                passed.append(score >= floor and (count == 1 or not read))
                if read and count > 1:  # customers alike but for the tokens it read
                    if not len(order):
                        order = np.argsort(inverse, kind="stable")
                    span = order[ends[d] - count : ends[d]]
                    keep[rows[span]] = self._alike(ids[span], read, name, floor)
            chosen = np.array(passed, np.bool_)[inverse]
            keep[rows[chosen]] = True
        return slots[keep]

    def _rows(
        self, slots: npt.NDArray[np.int64], memo: dict[bytes, list[tuple[Any, ...]]] | None
    ) -> list[tuple[Any, ...]]:
        """`slots` grouped by the length of their names: for each length, the rows of
        `slots` of that length, their token ids (a row each), the distinct ids and where
        each token id is among them. The same slots give the same arrays: `memo` keeps
        them by the slots (the forms of a name mostly shortlist the same customers)."""
        key = slots.astype(np.int64, copy=False).tobytes() if memo is not None else b""
        found = memo.get(key) if memo is not None else None
        if found is not None:
            return found
        out: list[tuple[Any, ...]] = []
        for rows, ids in self._words_of(slots):
            vids, at = np.unique(ids, return_inverse=True)
            out.append((ids.shape[1], rows, ids, vids, at))
        if memo is not None:
            memo[key] = out
        return out

    def _alike(
        self, ids: npt.NDArray[Any], read: set[int], name: _Name, floor: float
    ) -> npt.NDArray[np.bool_]:
        """Which customers of token `ids` (rows of one signature, `_reaching`) reach
        `floor`, the score of the first having read its tokens at positions `read`:
        grouped by their tokens there, one of each group scored, and so on while a
        score reads positions where a group's tokens may differ."""
        out = np.zeros(len(ids), np.bool_)
        rows = ids.tolist()
        todo: list[tuple[list[int], set[int]]] = [(list(range(len(rows))), read)]
        while todo:
            members, known = todo.pop()
            at = sorted(known)
            groups: dict[tuple[int, ...], list[int]] = {}
            if len(members) < _MANY:
                for m in members:
                    groups.setdefault(tuple(rows[m][p] for p in at), []).append(m)
            else:  # the same groups, in the same order, found with numpy
                held = np.array(members)
                _, first, inverse = np.unique(
                    ids[held][:, at], axis=0, return_index=True, return_inverse=True
                )
                order = np.argsort(inverse.reshape(-1), kind="stable")
                split = np.split(held[order], np.cumsum(np.bincount(inverse.reshape(-1)))[:-1])
                for g in np.argsort(first, kind="stable").tolist():
                    groups[tuple(ids[held[first[g]], at].tolist())] = split[g].tolist()
            for alike in groups.values():
                score, more = self._scored(rows[alike[0]], name)
                if more <= known or len(alike) == 1:
                    out[alike] = score >= floor
                else:
                    todo.append((alike, known | more))
        return out

    def _kinds(self, vids: list[int], name: _Name) -> list[int]:
        """What of each customer token of `vids` a score against `name` reads: its pairs
        (the token itself, when it has any) or else its weight alone (a negative number)."""
        paired, weights, unpaired = name.paired, self.vocab.weights, name.unpaired
        out: list[int] = []
        for vid in vids:
            pairs = paired.get(vid)
            if pairs is None:
                pairs = paired[vid] = self._pairs_of(vid, name)
            out.append(vid if pairs else -1 - unpaired.setdefault(weights[vid], len(unpaired)))
        return out

    def _positions(self, name: _Name, look: _Lookup) -> list[_Ranges]:
        """`_ranges` of each position of `name`, kept for the lookup by the name (a token's
        hash, a dictionary key, reads all its fields: once a name, not once a set)."""
        held = look.positions.get(id(name))
        if held is None:
            ranged = [self._ranges(name, pos, look.ranges) for pos in range(len(name.tokens))]
            held = look.positions[id(name)] = (name, ranged)  # (the name kept: its id too)
        return held[1]

    def _ranges(self, name: _Name, pos: int, ranges: dict[Token, _Ranges]) -> _Ranges:
        """For position `pos` of `name`: its matches (vocabulary ids, sorted), their
        posting keys in every band, where each one's postings start and end (end ==
        start: none), as (matches, bands) arrays, and the number of postings of all its
        matches in each band, as a list. `ranges` holds them by listed token for one
        lookup (a token recurs in a designation's names); a name's tokens not in it yet
        are found at once, in one search of the posting directory."""
        found = ranges.get(name.tokens[pos])
        if found is not None:
            return found
        todo = {t: m for t, m in zip(name.tokens, name.matches, strict=True) if t not in ranges}
        lengths = [len(m) for m in todo.values()]
        vids = np.fromiter((v for m in todo.values() for v in m), np.int64, sum(lengths))
        owner = np.repeat(np.arange(len(todo)), lengths)
        order = np.lexsort((vids, owner))  # each token's matches sorted
        vids = vids[order]
        keys = (vids[:, None] << _BAND_BITS) + np.arange(_BANDS)
        at = np.searchsorted(self._keys, keys)
        hit = at < len(self._keys)
        hit[hit] = self._keys[at[hit]] == keys[hit]
        starts = np.where(hit, self._starts[np.where(hit, at, 0)], 0)
        ends = np.where(hit, self._starts[np.where(hit, at + 1, 0)], 0)
        sizes = np.zeros((len(todo), _BANDS), np.int64)
        np.add.at(sizes, owner, ends - starts)
        first = 0
        for token, length, counts in zip(todo, lengths, sizes.tolist(), strict=True):
            part = slice(first, first + length)
            ranges[token] = (vids[part], keys[part], starts[part], ends[part], counts)
            first += length
        return ranges[name.tokens[pos]]

    def _search(
        self, name: _Name, wanted: dict[tuple[int, ...], list[int]], look: _Lookup
    ) -> npt.NDArray[np.int64]:
        """The slots of the customers holding a match for every position of a set of
        `name`'s positions, in one of the bands `wanted` gives that set."""
        groups: dict[tuple[int, ...], list[tuple[int, ...]]] = {}  # bands -> their sets
        matches = name.matches
        for subset, among in wanted.items():
            # A set with a position no customer word matches finds no one: left out
            # before its positions' postings are counted (most sets of most names).
            if all(matches[pos] for pos in subset):
                groups.setdefault(tuple(among), []).append(subset)
        out: list[npt.NDArray[np.int64]] = []
        reads = look.reads
        ranged = self._positions(name, look) if groups else []
        for bands, subsets in groups.items():
            sizes: dict[int, int] = {}
            for pos in {pos for subset in subsets for pos in subset}:
                counts = ranged[pos][4]
                sizes[pos] = sum(counts[b] for b in bands)
            for subset in subsets:
                # Start from the rarest position's customers and keep those whose own
                # words match each other position: the postings of a common word
                # (millions at scale) are never read for this, nor each spelling searched.
                ordered = sorted(subset, key=sizes.__getitem__)
                if not sizes[ordered[0]]:
                    continue  # a position no customer of these bands matches
                # The rarest position's customers in these bands, their words and which
                # of them hold a match for another position: the same for every listed
                # token matching the same customer tokens (the forms of a name share most
                # of their words), worked out once a lookup.
                rarest = ranged[ordered[0]]
                read = (rarest[0].tobytes(), bands)
                known = reads.get(read)
                if known is None:
                    _, _, starts, ends, _ = rarest
                    at = list(bands)
                    slots = self._posted(starts[:, at].ravel(), ends[:, at].ravel())
                    known = reads[read] = _Held(slots)
                current = known.slots
                if len(ordered) > 1:
                    keep: npt.NDArray[np.bool_] | None = None
                    for pos in ordered[1:]:
                        has = self._holding(known, ranged[pos][0])
                        keep = has if keep is None else keep & has
                        if not keep.any():
                            break
                    current = current[keep]
                out.append(current)
        return np.concatenate(out) if out else _EMPTY

    def _holding(self, read: _Held, vids: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """Which customers of `read` hold one of the customer tokens `vids` (sorted, not
        empty): their own words are searched, not the postings of `vids` (a common word
        has millions). Kept in `read` by `vids`: not to be written into."""
        key = vids.tobytes()
        has = read.holds.get(key)
        if has is None:
            if read.words is None:
                read.words = self._words_of(read.slots)
            has = read.holds[key] = np.zeros(len(read.slots), np.bool_)
            for rows, words in read.words:
                at = np.minimum(np.searchsorted(vids, words), len(vids) - 1)
                has[rows] = (vids[at] == words).any(axis=1)
        return has

    def _posted(self, starts: npt.NDArray[np.int64], ends: npt.NDArray[np.int64]) -> Any:
        """The slots of the postings `self._pairs[start:end]` of each range, end to end."""
        sizes = ends - starts
        rows = np.flatnonzero(sizes)
        if len(rows) == 1:
            r = int(rows[0])
            return (self._pairs[starts[r] : ends[r]] & np.uint64(_LOW)).astype(np.int64)
        chosen, lengths = starts[rows], sizes[rows]
        total = int(lengths.sum())
        at = np.repeat(chosen - (np.cumsum(lengths) - lengths), lengths) + np.arange(total)
        return (self._pairs[at] & np.uint64(_LOW)).astype(np.int64)

    def _words_of(self, slots: npt.NDArray[np.int64]) -> list[tuple[Any, ...]]:
        """The token ids of `slots`' names, by length: for each length, the indexes in
        `slots` of the names of that length and their token ids, a row each. A slot's
        postings are its tokens' (in its band): a slot holds a posting of a word exactly
        when the word is among these."""
        starts = self._cols["tstart"].data[slots].astype(np.int64)
        lengths = self._cols["tlen"].data[slots]
        out: list[tuple[Any, ...]] = []
        for length in np.unique(lengths).tolist():
            rows = (lengths == length).nonzero()[0]
            out.append((rows, self._tokens.data[starts[rows, None] + np.arange(length)]))
        return out

    def _score(self, slot: int, name: _Name) -> float:
        """The screening name score of customer `slot` against `name` (`scoring`)."""
        start = int(self._cols["tstart"].data[slot])
        ids = self._tokens.data[start : start + int(self._cols["tlen"].data[slot])].tolist()
        return self._scored(ids, name)[0]

    def _scored(self, ids: list[int], name: _Name) -> tuple[float, set[int]]:
        """The screening name score of a customer named by token `ids` against `name`,
        and the positions of the customer's tokens computing it read."""
        table = name.paired
        pairs: list[Candidate] = []
        for i, vid in enumerate(ids):
            known = table.get(vid)
            if known is None:
                known = table[vid] = self._pairs_of(vid, name)
            for neg, initial, j, rule in known:
                pairs.append((neg, initial, i, j, rule))
        if not pairs:
            return 0.0, set()
        weights = self.vocab.weights
        q_weights = [weights[v] for v in ids]
        found = align(pairs, q_weights, name.weights)
        if found is None:
            return 0.0, set()  # initials alone never make a match
        query = _Read(self.vocab.tokens, ids)
        listed = name.tokens
        score = name_score(
            found,
            sum(q_weights),
            len(ids),
            name.total,
            len(listed),
            lambda: listed,
            name.factor,
            lambda: query,
        )[0]
        return score, query.read

    def _pairs_of(self, vid: int, name: _Name) -> list[tuple[float, bool, int, str]]:
        """Customer token `vid`'s pairs with `name`'s positions, each with its rule, as
        `ScreeningIndex.name_score` builds them (`name_score` drops a pair whose rule's
        conditions fail); a customer token is paired once per listed name, however many
        customers hold it."""
        token = self.vocab.tokens[vid]
        q_initial = self.vocab.initial[vid]
        out: list[tuple[float, bool, int, str]] = []
        for j, v in enumerate(name.tokens):
            if q_initial or name.initial[j]:
                score, rule = similarity(token, v)
                if score > 0:
                    out.append((-score, True, j, rule))
            else:
                score, rule = name.matches[j].get(vid, _NO_PAIR)
                if score > 0:
                    out.append((-score, False, j, rule))
        return out


def _required(
    weights: tuple[float, ...],
    initials: tuple[int, ...],
    cutoff: float,
    loose: bool,
    band: int,
    most: int,
) -> tuple[list[tuple[int, ...]], list[int] | None]:
    """Minimal sets of listed positions a customer's words must match to reach `cutoff`
    (`_spec`). `loose`: the customer has initials, which may stand for any other listed
    word (and are not in the postings)."""
    other, weak, most = _spec(band, most)
    return required(weights, initials, cutoff, list_cost(len(weights)), other, loose, weak, most)


def _spec(band: int, most: int) -> Band:
    """What bounds a listed name's match with the customers of `band` (weighing at least
    `band` * _STEP in all, `most` words at most): listed initials count as matched, and a
    customer above band 0 has no initials, so its words meet them at INITIAL at best."""
    return band * _STEP, bool(band), most


def _every_band(
    weights: tuple[float, ...],
    initials: tuple[int, ...],
    cutoff: float,
    bands: list[tuple[int, int]],
) -> tuple[tuple[list[tuple[int, ...]], list[int] | None], ...]:
    """`required_bands` for the customers of each of `bands` (band, most words), asked
    of every band with no bound on the words (one answer, kept by `required_bands` for
    every index and lookup, whichever bands it holds) and each band's sets of more than
    its most words left out: a minimal set of at most `most` positions is one whatever
    larger sets may be. Names of more positions than `required` tries every set of ask
    for the bands as they are (the answer there is no list of sets)."""
    cost = list_cost(len(weights))
    if len(weights) - len(initials) > MAX_EXACT_SUBSETS:
        return required_bands(
            weights, initials, cutoff, cost, tuple(_spec(band, most) for band, most in bands)
        )
    everyone = tuple(_spec(band, len(weights)) for band in range(_BANDS))
    every = required_bands(weights, initials, cutoff, cost, everyone)
    out: list[tuple[list[tuple[int, ...]], list[int] | None]] = []
    for band, most in bands:
        subsets, prefix = every[band]
        if any(len(subset) > most for subset in subsets):
            subsets = [subset for subset in subsets if len(subset) <= most]
        out.append((subsets, prefix))
    return tuple(out)


def _merged(into: npt.NDArray[np.uint64], fresh: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """Sorted `into` with sorted `fresh` merged in (linear, not a sort of both)."""
    if not len(into):
        return fresh
    return np.insert(into, np.searchsorted(into, fresh, side="right"), fresh)


def _merged_by(
    keys: npt.NDArray[np.int64],
    slots: npt.NDArray[Any],
    new_keys: npt.NDArray[np.int64],
    new_slots: npt.NDArray[Any],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint32]]:
    """Sorted `keys` and their `slots` with `new_keys` and theirs merged in."""
    order = np.argsort(new_keys, kind="stable")
    new_keys, new_slots = new_keys[order], new_slots[order].astype(np.uint32)
    if not len(keys):
        return new_keys.astype(np.int64), new_slots
    at = np.searchsorted(keys, new_keys, side="right")
    return np.insert(keys, at, new_keys), np.insert(slots.astype(np.uint32), at, new_slots)


def _gather(
    values: npt.NDArray[Any], starts: npt.NDArray[Any], sizes: npt.NDArray[Any]
) -> tuple[npt.NDArray[Any], npt.NDArray[np.int64]]:
    """The runs `values[start : start + size]` end to end, and where each one now starts."""
    starts, sizes = starts.astype(np.int64), sizes.astype(np.int64)
    moved = np.cumsum(sizes) - sizes
    total = int(sizes.sum())
    if np.array_equal(starts, moved):  # nothing removed before or between: as it is
        return values[:total], moved
    out = np.empty(total, values.dtype)
    step = 1 << 18  # runs at a time: the index array is 8 bytes an element
    for first in range(0, len(sizes), step):
        part = slice(first, first + step)
        count = int(sizes[part].sum())
        if count:
            at = int(moved[first])
            index = np.repeat(starts[part] - moved[part], sizes[part]) + np.arange(at, at + count)
            out[at : at + count] = values[index]
    return out, moved


def _check_arrays(a: dict[str, npt.NDArray[Any]], subs: int, words: int) -> None:
    """ValueError unless a snapshot's arrays point only inside one another: whatever a
    snapshot holds, the index built on it never reads outside its arrays."""

    def bad(what: str) -> ValueError:
        return ValueError(f"a customer index snapshot is inconsistent: {what}")

    n = len(a["code"])
    if any(len(a[name]) != n for name in _SLOT_COLUMNS):
        raise bad("slot columns of different lengths")
    refs = a["refs"]
    if n:
        flags, primary = a["flags"], (a["flags"] & _SHADOW) == 0
        if int(a["code"].min()) < 0 or int(a["code"].max()) >= subs:
            raise bad("subscription codes")
        if int(a["band"].max()) >= _BANDS or int(flags.max()) > _SHADOW | _INITIAL:
            raise bad("bands or flags")
        if not primary[0]:
            raise bad("a reading without its customer")
        owner = np.maximum.accumulate(np.where(primary, np.arange(n), 0))
        runs = np.bincount(owner, minlength=n) - 1
        if np.any(a["shadows"][primary] != runs[primary]) or np.any(a["shadows"][~primary]):
            raise bad("readings")
        if np.any(a["tstart"].astype(np.int64) + a["tlen"] > len(a["tokens"])):
            raise bad("token ranges")
        ends = a["rstart"].astype(np.int64) + a["rlen"]
        if np.any(ends > len(refs)):
            raise bad("reference ranges")
        # Every reference starts and ends on a character of the UTF-8 text they make up.
        inner = np.concatenate([a["rstart"][a["rlen"] > 0], ends[ends < len(refs)]])
        if np.any((refs[inner.astype(np.int64)] & 0xC0) == 0x80):
            raise bad("references")
    try:
        refs.tobytes().decode()
    except UnicodeDecodeError:
        raise bad("references") from None
    if len(a["tokens"]) and int(a["tokens"].max()) >= words:
        raise bad("token ids")
    pairs = a["pairs"]
    if len(pairs) and (
        np.any(pairs[1:] < pairs[:-1])
        or int((pairs & np.uint64(_LOW)).max()) >= n
        or int((pairs >> np.uint64(32 + _BAND_BITS)).max()) >= words
    ):
        raise bad("postings")
    for name in ("r", "d"):
        keys, slots = a[f"{name}keys"], a[f"{name}slots"]
        if len(keys) != len(slots) or (
            len(keys) and (np.any(keys[1:] < keys[:-1]) or int(slots.max()) >= n)
        ):
            raise bad(f"{name}keys")


def encode(exported: snapshot.Arrays) -> bytes:
    """The snapshot of `CustomerIndex.export`'s arrays (held by no index: called without
    its lock), the vocabulary's token ids renumbered over the tokens they use."""
    data = exported.arrays
    used = np.unique(data["tokens"])
    data["tokens"] = np.searchsorted(used, data["tokens"]).astype(np.uint32)
    # Renumbered in the same order: the postings stay sorted.
    vids = (data["pairs"] >> np.uint64(32 + _BAND_BITS)).astype(np.int64)
    rest = data["pairs"] & np.uint64((1 << (32 + _BAND_BITS)) - 1)
    data["pairs"] = rest | (
        np.searchsorted(used, vids).astype(np.uint64) << np.uint64(32 + _BAND_BITS)
    )
    tokens = [exported.tokens[v] for v in used.tolist()]
    return snapshot.write(snapshot.Arrays(exported.subs, data, tokens))
