"""The in-memory candidate index and the screening loop.

Layout: one `TokenVocabulary` of distinct name tokens shared by all sources (append-only, so
a query running while a source is loaded never sees it change under its feet), with a
key → token-ids table for lookups (`tokens.index_keys`). Each source has a
`SourceIndex`: its names as tuples of token ids and, per token id, the set of names
holding it (postings). A sync builds a new `SourceIndex` aside and swaps it in by one
assignment.

A query token is looked up once in the vocabulary (a few dozen dict gets), giving every
list token it can match with the score of that match. A list name can only reach the
threshold if it holds matches for enough of the query's weight; the minimal such sets of
query tokens are enumerated and their postings intersected, so common tokens
(Muhammad, Ali) never make every name containing them a candidate. Candidates are then
scored exactly from the precomputed token scores.

The stages have their own modules: `postings` (the vocabulary, each source's index and
`SourceBuild`), `plan` (a query's plan, its candidates, the bounds that prune them and the
final score); this one holds `ScreeningIndex`, the lookups and the screening loop.
"""

from __future__ import annotations

import asyncio
import heapq
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from listd.model import Entity
from listd.normalize import readings
from listd.screening import evidence
from listd.screening.explain import Pair, explain, read_as, whole_name
from listd.screening.plan import (
    QueryPlan,
    best_by_count,
    bound_holds,
    by_identifier,
    candidates_and_near,
    candidates_over_arrays,
    final_score,
    find_candidates,
    initials_unmet,
    query_wants,
)
from listd.screening.postings import (
    Found,
    Retrieved,
    SourceBuild,
    SourceIndex,
    TokenVocabulary,
    freeze_long_lived,
    no_cyclic_gc,
    query_bits,
)
from listd.screening.query import Match, Query
from listd.screening.scoring import (
    MAX_EXACT_SUBSETS,
    MISSING_QUERY,
    SPLIT_SLACK,
    TWO_EDITS_ALONE,
    TWO_EDITS_MAX,
    Candidate,
    abd_head,
    align,
    list_cost,
    near_length,
    near_word,
    required,
)
from listd.screening.scoring import name_score as score_name
from listd.screening.tokens import (
    Token,
    deletions,
    matcher,
    phonetic,
    query_keys,
    similarity,
    spellings,
    tokenize,
)
from listd.screening.variants import JOINED, Reading, rewrite, syllable_cut

# Re-exported: the stages live in `postings` (build, storage) and `plan` (candidates).
__all__ = [
    "Found",
    "QueryPlan",
    "Retrieved",
    "ScreeningIndex",
    "SourceBuild",
    "SourceIndex",
    "TokenVocabulary",
    "bound_holds",
    "candidates_over_arrays",
    "find_candidates",
    "freeze_long_lived",
]

_RETRIEVAL_CACHE = 1 << 14
_COMMON_SHARE = 200  # one word in this many of the vocabulary is looked up at load...
_COMMON_MAX = 512  # ...at most this many: the words most names hold
_INITIAL_CACHE = 1 << 20
_VECTOR_BOUND = 64  # candidates from which the per-name bound runs over arrays


def _initial_pair(tokens: Sequence[Token]) -> bool:
    """Two initials in a row (A.-R., A. A.)."""
    kinds = [t.kind for t in tokens]
    return any(a == b == "initial" for a, b in zip(kinds, kinds[1:], strict=False))


class ScreeningIndex:
    """All listed names, tokenised and indexed for screening; one per API process."""

    def __init__(self) -> None:
        self.entities: dict[str, Entity] = {}
        self.versions: dict[str, str] = {}
        # Held by whoever brings this index to new versions (`follow`), so that two rounds
        # (the announcement and the poll) never build the same version twice.
        self.following = asyncio.Lock()
        self._vocab = TokenVocabulary()
        self._sources: dict[str, SourceIndex] = {}
        # Query token → (vocabulary size covered, list token id → similarity): the
        # lookups of recent query tokens, and those of the most common list words made at
        # load. The vocabulary only grows, so a lookup is extended, never thrown away.
        self._retrieved: dict[Token, Retrieved] = {}
        self._common: dict[Token, Retrieved] = {}
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
        build = SourceBuild(self, SourceIndex(source, version), self.versions.get(source))
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

    # The stages' seams: read-only views that tests and benchmarks inspect the stages by.

    @property
    def vocabulary(self) -> TokenVocabulary:
        """The token vocabulary shared by all sources (append-only)."""
        return self._vocab

    @property
    def sources(self) -> Mapping[str, SourceIndex]:
        """Each source's index as installed now."""
        return self._sources

    @property
    def retrieved(self) -> Mapping[Token, Retrieved]:
        """The query-word lookups kept across queries and loads."""
        return self._retrieved

    def plan(self, query: Query) -> QueryPlan | None:
        """`query` planned against the vocabulary (None: no name word and no identifier)."""
        return self._plan(query, {})

    # -- screening ------------------------------------------------------------------------

    def screen(self, query: Query) -> list[Match]:
        """Listed entities matching `query`, best first, at most `query.limit`."""
        with no_cyclic_gc():
            return self._screen(query)

    def screen_many(self, queries: Sequence[Query]) -> list[list[Match]]:
        """`screen` for each query; token lookups are shared across the batch (and with
        other queries, as long as no load adds words to the vocabulary)."""
        out = []
        for query in queries:
            with no_cyclic_gc():
                out.append(self._screen(query))
        return out

    def clear_caches(self) -> None:
        """Forget what earlier queries computed (token lookups, initials): the next query
        pays for everything, as the first query of a new process does."""
        self._retrieved = {}
        self._initial_sims = {}
        self._rewritten = {}

    def _retrieved_cache(self) -> dict[Token, Retrieved]:
        if len(self._retrieved) > _RETRIEVAL_CACHE:
            self._retrieved = {}
            self._initial_sims = {}
            self._rewritten = {}
        elif sum(map(len, self._initial_sims.values())) > _INITIAL_CACHE:
            self._initial_sims = {}
        return self._retrieved

    def _retrieve(self, token: Token, cache: dict[Token, Retrieved]) -> Found:
        """The list tokens `token` matches, by lookup (cached; see `_retrieved`)."""
        size = len(self._vocab.tokens)
        common = self._common.get(token)
        found = cache.get(token) or common
        if found is not None and found[0] == size:
            return found[1]
        if found is None:
            out = self.lookup(token, 0, size)
        else:  # words were added since: only they are compared
            out = {**found[1], **self.lookup(token, found[0], size)}
        cache[token] = (size, out)
        if common is not None:
            self._common[token] = (size, out)
        return out

    def lookup(self, token: Token, since: int, size: int) -> Found:
        """The list tokens with ids in [since, size) that `token` matches."""
        vocab = self._vocab
        tokens = vocab.tokens
        candidates = vocab.lookup(
            query_keys(token), {d for w in spellings(token) for d in deletions(w)}
        )
        out: Found = {}
        match = matcher(token)
        for vid in sorted(candidates):
            if since <= vid < size:
                score, rule = match(tokens[vid])
                if score > 0:
                    out[vid] = (score, rule)
        return out

    def _common_words(self, sources: dict[str, SourceIndex]) -> Iterator[Token]:
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

    def _look_up(self, token: Token) -> Retrieved:
        """`token`'s lookup over the whole vocabulary, reusing the one held if any."""
        size = len(self._vocab.tokens)
        found = self._common.get(token)
        if found is not None and found[0] == size:
            return found
        if found is None:
            return size, self.lookup(token, 0, size)
        return size, {**found[1], **self.lookup(token, found[0], size)}

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

    def _retrieve_all(self, token: Token) -> Found:
        out: Found = {}
        match = matcher(token)
        for vid, listed in enumerate(self._vocab.tokens):
            score, rule = match(listed)
            if score > 0:
                out[vid] = (score, rule)
        return out

    def _plan(
        self,
        query: Query,
        cache: dict[Token, Retrieved],
        exhaustive: bool = False,
    ) -> QueryPlan | None:
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
        if (len(tokens) == 1 and abd_head(tokens[0]) is not None) or _initial_pair(tokens):
            # ABDUL YASIN may be split (`compound_split`), A. R. count as one word's
            # initials (`part_initials`): both may score above the bound.
            cutoff *= SPLIT_SLACK
        subsets, prefix = required(tuple(weights), tuple(initials), round(cutoff, 6), MISSING_QUERY)
        vocab = self._vocab
        initial_bits = {at: query_bits(tokens[at]) for at in initials}
        any_initial: int | None = 0
        for bits in initial_bits.values():
            any_initial = None if bits is None or any_initial is None else any_initial | bits
        # `two_edits`: two words or more, no initial; every other word must match. Beside
        # one other word, only a word long enough (TWO_EDITS_ALONE, the listed spelling
        # up to two letters shorter).
        near: list[tuple[int, ...]] = []
        near_at: list[int] = []
        if 2 <= len(tokens) <= MAX_EXACT_SUBSETS and not initials:
            everyone = range(len(tokens))
            near_at = [at for at in everyone if near_word(tokens[at])]
            if len(tokens) == 2:
                shortest = TWO_EDITS_ALONE - TWO_EDITS_MAX
                near_at = [at for at in near_at if near_length(tokens[at]) >= shortest]
            near = [tuple(p for p in everyone if p != at) for at in near_at]
        return QueryPlan(
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
            best=best_by_count(tuple(weights)),
            birth_date=birth_date,
            identifiers=identifiers,
            near=near,
            near_at=near_at,
            words=vocab.tokens,
            initial_bits=initial_bits,
            any_initial=any_initial,
            # Taken after the lookups: every token id met so far is inside them.
            weights_col=vocab.weight_col.data,
            bits_lo=vocab.bits_lo.data,
            bits_hi=vocab.bits_hi.data,
        )

    def _entry(self, plan: QueryPlan, vid: int) -> tuple[tuple[float, bool, int, str], ...]:
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
        # Readings of a name typed as one word, cut at a syllable of two letters.
        one_word: set[str] = set()
        for form in list(forms):
            known = self._rewritten.get(form)
            if known is None or known[0] != size:
                known = self._rewritten[form] = (size, rewrite(form, self.known))
            other = known[1]
            if other is not None:
                forms.setdefault(other.text, other.changes)
                if (
                    JOINED in other.changes
                    and len(form.split()) == 1
                    and syllable_cut(form, other.text)
                ):
                    one_word.add(other.text)
        if len(forms) == 1:
            return self._screen_one(query, exhaustive, prune)
        best: dict[str, Match] = {}
        for form, changes in forms.items():
            for match in self._screen_one(replace(query, name=form), exhaustive, prune):
                if form in one_word and not whole_name(match):
                    continue
                prior = best.get(match.entity.id)
                if prior is None or match.score > prior.score:
                    best[match.entity.id] = read_as(match, form, changes) if changes else match
        ranked = sorted(best.values(), key=lambda m: (-m.score, m.entity.id))
        return ranked[: query.limit]

    def known(self, word: str) -> bool:
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
        # (final score, entity id, source, slot, name, (name score, pairs) when known)
        scored: list[tuple[float, str, SourceIndex, int, int, tuple[float, list[Pair]] | None]]
        scored = []
        for name in sorted(sources):
            index = sources[name]
            if query.sources and name not in query.sources:
                continue
            # Per entity slot: its best name's score and id, and the pairs that scored it
            # (kept for the explanation; None for a name found by identifier alone).
            best: dict[int, tuple[float, int, list[Pair] | None]] = {}
            candidates: Iterable[int]
            if exhaustive:
                candidates = range(len(index.names))
            else:
                found, near = candidates_and_near(plan, index)
                if prune:
                    candidates = self._survivors(plan, index, found)
                else:
                    candidates = found.tolist() if isinstance(found, np.ndarray) else found
                if len(near):
                    # A word two edits away is no lookup's: the bound does not know it.
                    extra = near.tolist() if isinstance(near, np.ndarray) else near
                    candidates = {*candidates, *extra}
                candidates = list(candidates)
                initials_unmet(plan, index.columns, candidates)
            for nid in candidates:
                slot = index.name_entity[nid]
                score, pairs = self.name_score(plan, index, nid)
                if score >= plan.cutoff:
                    prior = best.get(slot)
                    if prior is None or score > prior[0] or (score == prior[0] and nid < prior[1]):
                        best[slot] = (score, nid, pairs)
            for slot in by_identifier(plan, index):
                if slot not in best:
                    best[slot] = (*self._best_name(plan, index, slot), None)
            for slot, (name_score, nid, best_pairs) in best.items():
                entity = index.entities[slot]
                if entity is None or not query_wants(query, entity):
                    continue
                final, _ = final_score(plan, entity, name_score)
                if final >= query.threshold:
                    kept = None if best_pairs is None else (name_score, best_pairs)
                    scored.append((final, entity.id, index, slot, nid, kept))
        scored.sort(key=lambda s: (-s[0], s[1]))
        matches: list[Match] = []
        for final, _, index, slot, nid, as_scored in scored[: query.limit]:
            entity = index.entities[slot]
            assert entity is not None
            # The pairs as the name was scored (`name_score` gives the same again).
            name_score, pairs = as_scored or self.name_score(plan, index, nid)
            _, effects = final_score(plan, entity, name_score)
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

    def _best_name(self, plan: QueryPlan, index: SourceIndex, slot: int) -> tuple[float, int]:
        best = (0.0, -1)
        for nid in index.entity_names.get(slot, []):
            score = self.name_score(plan, index, nid)[0]
            if best[1] < 0 or score > best[0]:
                best = (score, nid)
        return best

    def name_score(self, plan: QueryPlan, index: SourceIndex, nid: int) -> tuple[float, list[Pair]]:
        """Align query tokens with the name's tokens greedily by score; weigh what is left.

        Equal scores: words before initials, then query order, then list order.
        """
        ids = index.names[nid]
        sims = plan.sims
        # The plan's caches read here first: most words were met by an earlier name.
        entries, initial_entries = plan.entries, plan.initial_entries
        candidates: list[Candidate] = []
        for j, vid in enumerate(ids):
            if vid in sims:
                found = entries.get(vid)
                if found is None:
                    found = self._entry(plan, vid)
            elif plan.initials:
                found = initial_entries.get(vid)
                if found is None:
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
            lambda: plan.tokens,
        )

    def _survivors(
        self, plan: QueryPlan, index: SourceIndex, candidates: set[int] | npt.NDArray[np.int64]
    ) -> list[int]:
        """The candidates `below` keeps; over arrays when they are many."""
        columns = index.columns
        if len(candidates) < _VECTOR_BOUND or columns is None:
            rows = [int(nid) for nid in candidates]
            initials_unmet(plan, columns, rows)
            return [nid for nid in rows if not self.below(plan, index, nid)]
        if isinstance(candidates, set):
            nids = np.fromiter(candidates, dtype=np.int64, count=len(candidates))
        else:
            nids = candidates
        return [int(n) for n in nids[bound_holds(plan, columns, nids)]]

    def below(self, plan: QueryPlan, index: SourceIndex, nid: int) -> bool:
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

    def _initial_entries(
        self, plan: QueryPlan, vid: int
    ) -> tuple[tuple[float, bool, int, str], ...]:
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
