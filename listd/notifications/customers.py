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
* candidates are then scored from the token scores with `listd.screening.scoring`, the
  module `ScreeningIndex` scores with (the same vocabulary, alignment, name score and
  bounds), and only those near the cut-off are returned.

What this returns is a shortlist: the caller scores it exactly with `ScreeningIndex`,
customer as the query, so the score, the threshold and the explanation in a webhook are
exactly what `POST /v1/screen` would give for that customer.
"""

from __future__ import annotations

import io
import pickle
import threading
import zlib
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from listd.model import Entity
from listd.normalize import readings
from listd.normalize.aliases import name_forms
from listd.notifications.watchlist import Customer
from listd.screening.evidence import MIN_IDENTIFIER, identifier_key
from listd.screening.scoring import (
    SPLIT_SLACK,
    WEAK_ALIAS,
    WEAK_QUALITIES,
    Candidate,
    DeletionIndex,
    Vocabulary,
    abd_head,
    align,
    list_cost,
    name_score,
    required,
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

_FRAME = 20_000  # customers per pickled frame of a snapshot
MARGIN = 0.05  # approximate scores this far below the cut-off still go to exact scoring
# Postings are filed by the total weight of the customer's name, in steps of _STEP: a
# customer's words that match nothing cost MISSING_QUERY each, so the heavier the name,
# the more of the listed name it must match. Customers with initials stay in band 0
# (an initial may pair with any listed word, so no such bound holds for them).
_STEP = 0.25
_BANDS = 32


def record_check(raw: str) -> int:
    """CRC-32 of a customer's stored record (its canonical JSON)."""
    return zlib.crc32(raw.encode()) or 1  # never 0: 0 means "no record known"


def customer_mode(kind: str | None) -> str:
    """The tokenizer mode a screening query of this customer type uses."""
    return {"person": "person", "entity": "entity"}.get(kind or "", "any")


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
    matches: list[dict[int, float]]  # per position: customer vocabulary id -> similarity
    weights: tuple[float, ...] = ()
    initial: tuple[bool, ...] = ()
    total: float = 0.0
    initials: dict[tuple[int, int], float] = field(default_factory=dict)  # pairs with initials

    def __post_init__(self) -> None:
        self.weights = tuple(t.weight for t in self.tokens)
        self.initial = tuple(t.kind == "initial" for t in self.tokens)
        self.total = sum(self.weights)


class _SnapshotUnpickler(pickle.Unpickler):
    """Unpickles a snapshot's containers and words, and nothing else: a snapshot is read
    from Redis, which must not be able to make this process call anything (pickle's own
    "restricting globals"). Tuples, lists, dicts, strings and numbers need no global; a
    word is a `Token`, rebuilt from its fields without calling any code of its own."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == (Token.__module__, Token.__qualname__):
            return Token
        raise pickle.UnpicklingError(f"a snapshot may not name {module}.{name}")


def _restricted(frame: bytes) -> Any:
    return _SnapshotUnpickler(io.BytesIO(frame)).load()


class CustomerIndex:
    """Every customer of every watchlist: name tokens, postings and document numbers."""

    def __init__(self, vocab: CustomerVocabulary | None = None) -> None:
        self.vocab = vocab if vocab is not None else CustomerVocabulary()
        self.subs: dict[str, dict[str, int]] = {}  # subscription -> reference -> slot
        self._sub: list[str | None] = []
        self._ref: list[str | None] = []
        self._tokens: list[tuple[int, ...]] = []
        self._docs: list[tuple[str, ...]] = []
        self._free: list[int] = []
        self.postings: dict[int, set[int]] = {}  # vid * _BANDS + band -> slots
        # band -> {number of words: customers}: how many listed words a customer of the
        # band can match at most (a 24-word "name" with a remark in it matches nobody).
        self._bands: dict[int, dict[int, int]] = {}
        # Identifier key -> the slot holding it, or a set when several do (a set per key
        # would cost 200 bytes for each of millions of IINs held once).
        self.documents: dict[str, int | set[int]] = {}
        self._initialled: set[int] = set()  # customers with an initial in their name
        # slot -> the slots of the same customer's other readings (`normalize.readings`,
        # `screening.variants.rewrite`)
        self._shadow: dict[int, list[int]] = {}
        self._shadows = 0  # slots in `_shadow`
        # slot -> CRC-32 of the customer's stored record (`record_check`); 0 for a shadow.
        # A snapshot carries it, so that a load can tell which records changed since.
        self._check = array("I")

    def __len__(self) -> int:
        return len(self._ref) - len(self._free) - self._shadows

    def count(self, sub_id: str) -> int:
        return len(self.subs.get(sub_id, {}))

    # -- maintenance ----------------------------------------------------------------------

    def put(self, sub_id: str, customer: Customer, check: int = 0) -> None:
        """Add or replace one customer; `check`: `record_check` of its stored record."""
        refs = self.subs.setdefault(sub_id, {})
        if customer.reference in refs:
            self.remove(sub_id, customer.reference)
        mode = customer_mode(customer.type)
        forms = list(readings(customer.name))
        # The name as typed with its words mended (AamirAli, AA, a word typed twice): no
        # list vocabulary here, so a run of capitals is found from the listed side instead.
        forms += [r.text for f in list(forms) if (r := rewrite(f)) is not None]
        tokens = tuple(self.vocab.intern(t) for t in tokenize(forms[0], mode))
        slot = self._place(sub_id, customer.reference, tokens, customer.document_keys())
        self._check[slot] = check
        refs[customer.reference] = slot
        seen = {tokens}
        for form in forms[1:]:
            # Another reading (invisible marks removed, words mended): a slot of its own
            # for the same customer, found like the first, removed with it.
            other = tuple(self.vocab.intern(t) for t in tokenize(form, mode))
            if other and other not in seen:
                seen.add(other)
                shadow = self._place(sub_id, customer.reference, other, ())
                self._shadow.setdefault(slot, []).append(shadow)
                self._shadows += 1

    def _place(self, sub_id: str, ref: str, tokens: tuple[int, ...], docs: tuple[str, ...]) -> int:
        """File `tokens` and `docs` in a free slot; return it."""
        if self._free:
            slot = self._free.pop()
            self._sub[slot], self._ref[slot] = sub_id, ref
            self._tokens[slot], self._docs[slot] = tokens, docs
        else:
            slot = len(self._ref)
            self._sub.append(sub_id)
            self._ref.append(ref)
            self._tokens.append(tokens)
            self._docs.append(docs)
            self._check.append(0)
        initialled = any(self.vocab.initial[v] for v in tokens)
        band = self._band(tokens, initialled)
        lengths = self._bands.setdefault(band, {})
        lengths[len(tokens)] = lengths.get(len(tokens), 0) + 1
        postings = self.postings
        for vid in set(tokens):
            posting = vid * _BANDS + band
            found = postings.get(posting)
            if found is None:
                postings[posting] = {slot}
            else:
                found.add(slot)
        documents = self.documents
        for key in docs:
            held = documents.get(key)
            if held is None:
                documents[key] = slot
            elif isinstance(held, set):
                held.add(slot)
            elif held != slot:
                documents[key] = {held, slot}
        if initialled:
            self._initialled.add(slot)
        return slot

    def _band(self, tokens: tuple[int, ...], initialled: bool) -> int:
        if initialled:
            return 0
        total = sum(self.vocab.weights[v] for v in tokens)
        return min(max(int((total - 1e-9) / _STEP), 0), _BANDS - 1)

    def remove(self, sub_id: str, ref: str) -> None:
        slot = self.subs.get(sub_id, {}).pop(ref, None)
        if slot is None:
            return
        for shadow in self._shadow.pop(slot, ()):
            self._clear(shadow)
            self._shadows -= 1
        self._clear(slot)

    def _clear(self, slot: int) -> None:
        tokens = self._tokens[slot]
        band = self._band(tokens, slot in self._initialled)
        lengths = self._bands[band]
        lengths[len(tokens)] -= 1
        if not lengths[len(tokens)]:
            del lengths[len(tokens)]
            if not lengths:
                del self._bands[band]
        for vid in set(tokens):
            posting = vid * _BANDS + band
            found = self.postings.get(posting)
            if found is not None:
                found.discard(slot)
                if not found:
                    del self.postings[posting]
        for key in self._docs[slot]:
            held = self.documents.get(key)
            if isinstance(held, set):
                held.discard(slot)
                if len(held) == 1:
                    self.documents[key] = held.pop()
            elif held == slot:
                del self.documents[key]
        self._initialled.discard(slot)
        self._sub[slot] = self._ref[slot] = None
        self._tokens[slot], self._docs[slot] = (), ()
        self._check[slot] = 0
        self._free.append(slot)

    def drop(self, sub_id: str) -> None:
        """Forget a whole subscription's customers."""
        for ref in list(self.subs.get(sub_id, {})):
            self.remove(sub_id, ref)
        self.subs.pop(sub_id, None)

    # -- snapshots ------------------------------------------------------------------------

    def checks(self, sub_id: str) -> dict[str, int]:
        """{reference: `record_check` of the record indexed} for one subscription."""
        return {ref: self._check[slot] for ref, slot in self.subs.get(sub_id, {}).items()}

    def absorb(self, other: CustomerIndex) -> None:
        """Take in every customer of `other` (an index on the same vocabulary, built
        aside), replacing those of its subscriptions held here before."""
        assert other.vocab is self.vocab, "absorb needs the same vocabulary"
        for sub_id, refs in other.subs.items():
            self.drop(sub_id)
            mine = self.subs.setdefault(sub_id, {})
            for ref, old in refs.items():
                slot = self._place(sub_id, ref, other._tokens[old], other._docs[old])
                self._check[slot] = other._check[old]
                mine[ref] = slot
                for shadow in other._shadow.get(old, ()):
                    again = self._place(sub_id, ref, other._tokens[shadow], ())
                    self._shadow.setdefault(slot, []).append(again)
                    self._shadows += 1

    def count_of(self, subs: Iterable[str]) -> int:
        """Customers of the subscriptions `subs`."""
        return sum(len(self.subs.get(s, {})) for s in subs)

    def dump(self, subs: Iterable[str] | None = None) -> bytes:
        """The index as a compact snapshot: the vocabulary's tokens and, per customer, its
        token ids, document keys and record check. `load` rebuilds the postings from it
        without normalising or tokenising a single name again. Pickled in frames of
        `_FRAME` customers: one pickling holds the GIL throughout, and the event loop of
        the worker dumping in a thread must keep renewing its leases meanwhile. `subs`:
        only these subscriptions' customers (one partition's)."""
        used: dict[int, int] = {}  # vocabulary id -> its id in the snapshot

        def ids(tokens: tuple[int, ...]) -> tuple[int, ...]:
            return tuple(used.setdefault(v, len(used)) for v in tokens)

        frames: list[bytes] = []
        rows: list[tuple[Any, ...]] = []
        wanted = list(self.subs) if subs is None else [s for s in subs if s in self.subs]
        for sub_id in wanted:
            for ref, slot in self.subs[sub_id].items():
                shadows = tuple(ids(self._tokens[s]) for s in self._shadow.get(slot, ()))
                rows.append(
                    (sub_id, ref, self._check[slot], ids(self._tokens[slot]), self._docs[slot])
                    + ((shadows,) if shadows else ())
                )
                if len(rows) >= _FRAME:
                    frames.append(pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL))
                    rows = []
        if rows:
            frames.append(pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL))
        tokens = [self.vocab.tokens[v] for v in used]  # in snapshot id order
        head = pickle.dumps(
            {"version": 2, "tokens": tokens, "frames": len(frames), "subs": wanted},
            protocol=pickle.HIGHEST_PROTOCOL,
        )
        body = b"".join(len(f).to_bytes(8, "big") + f for f in [head, *frames])
        return zlib.compress(body, 1)  # zlib lets go of the GIL

    @classmethod
    def load(cls, blob: bytes, vocab: CustomerVocabulary | None = None) -> CustomerIndex:
        """An index from `dump`'s snapshot (ValueError if it is not one), on `vocab`
        (shared with other indexes) or a vocabulary of its own."""
        try:
            body = zlib.decompress(blob)
            frames: list[bytes] = []
            at = 0
            while at < len(body):
                size = int.from_bytes(body[at : at + 8], "big")
                frames.append(body[at + 8 : at + 8 + size])
                at += 8 + size
            head = _restricted(frames[0])
        except (zlib.error, pickle.UnpicklingError, EOFError, IndexError) as exc:
            raise ValueError(f"not a customer index snapshot: {exc}") from None
        if not isinstance(head, dict) or head.get("version") != 2:
            raise ValueError("not a customer index snapshot of this version")
        if head["frames"] != len(frames) - 1:
            raise ValueError("a customer index snapshot cut short")
        index = cls(vocab)
        mapped = [index.vocab.intern(token) for token in head["tokens"]]
        for sub_id in head["subs"]:
            index.subs.setdefault(sub_id, {})
        for frame in frames[1:]:
            for sub_id, ref, check, tokens, docs, *more in _restricted(frame):
                slot = index._place(sub_id, ref, tuple(mapped[v] for v in tokens), docs)
                index._check[slot] = check
                index.subs[sub_id][ref] = slot
                for other in more[0] if more else ():
                    again = tuple(mapped[v] for v in other)
                    index._shadow.setdefault(slot, []).append(index._place(sub_id, ref, again, ()))
                    index._shadows += 1
        return index

    # -- search ---------------------------------------------------------------------------

    def candidates(
        self,
        entities: Iterable[Entity],
        cutoff: float,
        subs: set[str] | None = None,
        names: dict[str, list[_Name]] | None = None,
    ) -> dict[str, dict[str, set[str]]]:
        """{subscription: {customer reference: ids of the entities it may match}}.

        `cutoff` is the lowest name score that can still make an alert (the threshold
        minus the most birth date and nationality can add). `subs` limits the answer.
        `names`: the entities' names as looked up in the vocabulary, kept across calls
        on indexes sharing it (for one set of entities: the vocabulary may only have
        grown meanwhile by tokens none of those indexes' customers holds).
        """
        cache: dict[Token, dict[int, float]] = {}
        out: dict[str, dict[str, set[str]]] = {}
        for entity in entities:
            slots = self._by_documents(entity)
            listed = names.get(entity.id) if names is not None else None
            if listed is None:
                listed = list(self._names(entity, cache))
                if names is not None:
                    names[entity.id] = listed
            for name in listed:
                slots |= self._name_candidates(name, cutoff)
            for slot in slots:
                sub_id, ref = self._sub[slot], self._ref[slot]
                if sub_id is None or ref is None or (subs is not None and sub_id not in subs):
                    continue
                out.setdefault(sub_id, {}).setdefault(ref, set()).add(entity.id)
        return out

    def _names(self, entity: Entity, cache: dict[Token, dict[int, float]]) -> Iterator[_Name]:
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
        slot = self.subs.get(sub_id, {}).get(ref)
        if slot is None:
            return 0.0
        slots = [slot, *self._shadow.get(slot, ())]
        names = list(self._names(entity, {}))
        return max((self._score(s, n) for s in slots for n in names), default=0.0)

    def _by_documents(self, entity: Entity) -> set[int]:
        slots: set[int] = set()
        for doc in entity.documents:
            key = identifier_key(doc.number)
            held = self.documents.get(key) if len(key) >= MIN_IDENTIFIER else None
            if isinstance(held, set):
                slots |= held
            elif held is not None:
                slots.add(held)
        return slots

    def _retrieve(self, token: Token, cache: dict[Token, dict[int, float]]) -> dict[int, float]:
        """Customer vocabulary ids whose token `token` (a listed one) can stand for."""
        if token.kind == "initial":
            return {}
        found = cache.get(token)
        if found is not None:
            return found
        vocab = self.vocab
        ids = vocab.lookup(index_keys(token), {d for w in spellings(token) for d in deletions(w)})
        out: dict[int, float] = {}
        # The customer token is the query side, the listed token the list side; the
        # comparison is symmetric (tests/screening), so the listed token's matcher serves.
        match = matcher(token)
        for vid in ids:
            score, _ = match(vocab.tokens[vid])
            if score > 0:
                out[vid] = score
        cache[token] = out
        return out

    def _name_candidates(self, name: _Name, cutoff: float) -> set[int]:
        weights = name.weights
        initials = tuple(p for p, initial in enumerate(name.initial) if initial)
        final = cutoff
        if len(name.tokens) >= 2 and any(abd_head(t) is not None for t in name.tokens):
            # A customer's ABDUL YASIN may be split over it (`compound_split`), or A. R.
            # be the initials of its Abdul-Reza (`part_initials`): above the bound.
            cutoff *= SPLIT_SLACK
        cutoff = round(cutoff, 6)
        found: set[int] = set()
        for band, lengths in self._bands.items():
            most = max(lengths)
            found |= self._search(
                name, band, *_required(weights, initials, cutoff, False, band, most)
            )
        if self._initialled:  # all in band 0
            most = max(self._bands[0])
            loose = self._search(name, 0, *_required(weights, initials, cutoff, True, 0, most))
            found |= loose & self._initialled
        return {s for s in found if self._score(s, name) >= final - MARGIN}

    def _search(
        self, name: _Name, band: int, subsets: list[tuple[int, ...]], prefix: list[int] | None
    ) -> set[int]:
        postings = self.postings
        lists: dict[int, list[set[int]]] = {}  # position -> posting sets of its matches
        hits: dict[int, set[int]] = {}  # position -> their union, once needed

        def parts(pos: int) -> list[set[int]]:
            found = lists.get(pos)
            if found is None:
                found = lists[pos] = [
                    posting
                    for vid in name.matches[pos]
                    if (posting := postings.get(vid * _BANDS + band))
                ]
            return found

        def held(pos: int) -> set[int]:
            found = hits.get(pos)
            if found is None:
                found = hits[pos] = set().union(*parts(pos))
            return found

        slots: set[int] = set()
        if prefix is not None:
            for pos in prefix:
                slots |= held(pos)
        for subset in subsets:
            # Start from the rarest position's customers and keep those holding a match
            # for each other position: intersections cost the smaller side, so the union
            # of a common word's postings (millions at scale) is never built for this.
            ordered = sorted(subset, key=lambda p: sum(map(len, parts(p))))
            current = held(ordered[0])
            for pos in ordered[1:]:
                if not current:
                    break
                others = parts(pos)
                current = (
                    current & others[0]
                    if len(others) == 1
                    else set().union(*(current & other for other in others))
                )
            slots |= current
        return slots

    def _score(self, slot: int, name: _Name) -> float:
        """The screening name score of customer `slot` against `name` (`scoring`)."""
        ids = self._tokens[slot]
        vocab = self.vocab
        weights = vocab.weights
        listed = name.tokens
        pairs: list[Candidate] = []
        for i, vid in enumerate(ids):
            q_initial = vocab.initial[vid]
            for j, v in enumerate(listed):
                if q_initial or name.initial[j]:
                    key = (vid, j)
                    score = name.initials.get(key, -1.0)
                    if score < 0:
                        score = name.initials[key] = similarity(vocab.tokens[vid], v)[0]
                    if score > 0:
                        pairs.append((-score, True, i, j, "initial"))
                else:
                    score = name.matches[j].get(vid, 0.0)
                    if score > 0:
                        pairs.append((-score, False, i, j, ""))
        if not pairs:
            return 0.0
        found = align(pairs, [weights[v] for v in ids], name.weights)
        if found is None:
            return 0.0  # initials alone never make a match
        total_q = sum(weights[v] for v in ids)
        return name_score(
            found,
            total_q,
            len(ids),
            name.total,
            len(listed),
            lambda: listed,
            name.factor,
            lambda: [vocab.tokens[v] for v in ids],
        )[0]


def _required(
    weights: tuple[float, ...],
    initials: tuple[int, ...],
    cutoff: float,
    loose: bool,
    band: int,
    most: int,
) -> tuple[list[tuple[int, ...]], list[int] | None]:
    """Minimal sets of listed positions a customer's words (weighing at least `band` *
    _STEP in all, `most` words at most) must match to reach `cutoff` (listed initials
    counted as matched; a customer above band 0 has no initials, so its words meet them
    at INITIAL at best). `loose`: the customer has initials, which may stand for any
    other listed word (and are not in the postings)."""
    return required(
        weights,
        initials,
        cutoff,
        list_cost(len(weights)),
        band * _STEP,
        loose,
        bool(band),
        most,
    )
