"""The name score and its bounds: the one scoring module of every screening direction.

`ScreeningIndex` (a query against the lists, `POST /v1/screen`) and the watchlists'
`CustomerIndex` (a new designation against every customer) both intern tokens in a
`Vocabulary`, align a name pair with `align` and weigh it with `name_score`, and find
their candidates with the subsets `required` enumerates from `bound`. What one changes
here, both directions see.

A name score: query and list tokens are aligned greedily by token score (`align`); a
matched pair counts with the mean of its two weights, a query token left out costs
MISSING_QUERY of its weight, a list token MISSING_LIST (MISSING_PARTIAL for the middle
of a name written by its first and last words, `explain.partial_name`).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from itertools import combinations

import numpy as np
from rapidfuzz.distance import OSA
from rapidfuzz.process import cdist

from listd.normalize.translit import hangul_reading
from listd.screening.explain import (
    COMPOUND_SPLIT,
    CONDITIONAL,
    INITIAL_OF_PART,
    PARTIAL_MAX_WORDS,
    SYLLABLE_TYPO,
    Pair,
    partial_name,
)
from listd.screening.names import ARTICLES
from listd.screening.tokens import (
    FIRST_LETTER_KEY,
    INITIAL,
    WEIGHTS,
    Token,
    deletions,
    edit_class,
    initials,
    spellings,
)

# How much a query token the list name lacks costs, and a list token the query lacks,
# relative to the weight of a matched token: a customer's extra name part is stronger
# evidence of another person than a middle name or patronymic the customer left out.
MISSING_QUERY = 0.6
MISSING_LIST = 0.3
# ...but a customer recorded by the first and last of a listed name's 3+ words, with
# nothing else (FIRST LAST for FIRST SECOND THIRD LAST), is how such names are shortened:
# the middle words cost half (`partial_name`).
MISSING_PARTIAL = 0.15
WEAK_ALIAS = 0.9  # UN "low" and OFAC "weak" aliases: nicknames, partial names
WEAK_QUALITIES = frozenset({"low", "weak"})
W_MAX = max(WEIGHTS.values())  # the heaviest a token can weigh
MAX_EXACT_SUBSETS = 8  # positions beyond this use the looser prefix filter
# A query's Abd/Abu compound split over a listed name's first and last words
# (`compound_split`): its last word, matched by the compound's name, and its Abd/Abu.
SPLIT_LAST = 0.95
SPLIT_HEAD = 0.85
# A split scores at most 1/0.839 of what `bound` gives the name from its one matched word
# (2 words, Abd/Abu weighing 1: 0.917 against 0.769): searches that may split prune at
# this share of their cut-off, so that the bound stays a bound.
SPLIT_SLACK = 0.8

# A word two edits from a listed one (Свмгей for Сергей, GUNWAAO for GUNAWAN), which no
# lookup finds: paired within a name whose other words already match (`two_edits`).
TWO_EDITS = 0.7
TWO_EDITS_RULE = "two_edits"
TWO_EDITS_MAX = 2  # edits (OSA: a transposition counts one)
TWO_EDITS_WORDS = (3, 9)  # the shortest and longest spelling compared, in letters
TWO_EDITS_KINDS = frozenset({"name", "common"})
TWO_EDITS_SHORTEST = 5  # letters of the longer spelling: two edits in four make another name
# Beside one other word (a listed name not a common one) the word pairs at two edits only
# when the longer spelling, its article not counted, has this many letters (HOUSHANG
# ONXBARI for HOUSHANG NOBARI; al-Tamimi and al-Raymi are two names, Tamimi and Raymi):
# the same rule, under another name, since its condition is another (TWO_EDITS_LONG_RULE).
TWO_EDITS_ALONE = 7
TWO_EDITS_LONG_RULE = "two_edits_long"
# An article joined to its word, as its spellings show it (al + tamimi, a + rahman once
# arrahman's double letter is one): what `bare_spellings` leaves out.
_ARTICLE_HEADS = frozenset({*ARTICLES, *(a[:1] for a in ARTICLES)})

# One candidate token pair: (-score, an initial on either side, query position, list
# position, rule). Sorted, the strongest pairs come first; equal scores put words before
# initials, then query order, then list order.
Candidate = tuple[float, bool, int, int, str]


def list_cost(words: int) -> float:
    """The least a missing list word can cost in a name of `words` words: names of 3-5
    words may be partial ones (`partial_name`)."""
    return MISSING_PARTIAL if 3 <= words <= PARTIAL_MAX_WORDS else MISSING_LIST


@dataclass(slots=True)
class Alignment:
    """A greedy one-to-one alignment of query and list tokens, and its sums."""

    pairs: list[Pair]
    weights: list[tuple[float, float]]  # per pair: the query token's, the list token's
    num: float  # sum of score * mean weight over the pairs
    den: float  # sum of mean weights over the pairs
    matched_q: float  # weight of the query tokens paired
    matched_c: float  # weight of the list tokens paired
    used_c: int  # bit j: list position j is paired
    solid: bool  # a pair without an initial on either side
    initial: bool = False  # a pair with an initial on either side


def align(
    candidates: list[Candidate], q_weights: Sequence[float], c_weights: Sequence[float]
) -> Alignment | None:
    """Pair tokens by the strongest candidate first, each token once; None when nothing
    pairs or only initials do (A. K. is everybody)."""
    if len(candidates) > 1:
        candidates.sort()
    used_q = used_c = 0
    num = den = matched_q = matched_c = 0.0
    solid = any_initial = False
    pairs: list[Pair] = []
    weights: list[tuple[float, float]] = []
    for neg, initial, pos, j, rule in candidates:
        if used_q >> pos & 1 or used_c >> j & 1:
            continue
        used_q |= 1 << pos
        used_c |= 1 << j
        wq, wc = q_weights[pos], c_weights[j]
        w = (wq + wc) / 2
        num -= neg * w
        den += w
        matched_q += wq
        matched_c += wc
        solid = solid or not initial
        any_initial = any_initial or initial
        pairs.append((pos, j, -neg, rule))
        weights.append((wq, wc))
    if not solid:
        return None
    return Alignment(pairs, weights, num, den, matched_q, matched_c, used_c, solid, any_initial)


def _unsettled(
    found: Alignment,
    q_total: float,
    listed: Sequence[Token],
    query: Callable[[], Sequence[Token]] | None,
) -> tuple[int, str]:
    """The pair of a CONDITIONAL rule (its index) and the rule it counts by, "" when its
    condition fails: every query word paired, every other pair at 0.9+ without an initial,
    and either two or more of them with a listed name that is not a common one among all
    the pairs (Gamir Ali Chaudhry, Mohammad Ali Mafari) or a Korean name mistyped into no
    Korean syllable (`SYLLABLE_TYPO`), or one, itself such a name (Wzim Monzavi)."""
    at = [i for i, p in enumerate(found.pairs) if p[3] in CONDITIONAL]
    pos, j, _, rule = found.pairs[at[0]]
    others = [p for i, p in enumerate(found.pairs) if i != at[0]]
    typo = listed[j]
    # A word of four letters (Zmin for Amin) needs two other words: more names that
    # short differ in their first letter alone.
    short = len(typo.text) < 5
    # A first letter typed with the key beside it, in a listed name that is not a common
    # one, also counts beside one common name (Ahmed EIRIYE for AHMED DIRIYE).
    # (Not in four letters: one in ten listed words that short has a listed twin one key
    # away, Naji and Haji, Song and Dong.)
    key = rule == FIRST_LETTER_KEY and not short and typo.kind == "name"
    if not (
        len(at) == 1
        and found.matched_q >= q_total - 1e-9
        and len(others) >= (2 if short else 1)
        and all(p[2] >= 0.9 and p[3] != "initial" for p in others)
    ):
        return at[0], ""
    if key:
        return at[0], rule
    if len(others) == 1:
        return at[0], rule if listed[others[0][1]].kind == "name" else ""
    if any(listed[p[1]].kind == "name" for p in found.pairs):
        return at[0], rule
    return at[0], SYLLABLE_TYPO if _no_syllable(pos, listed, query) else ""


def _no_syllable(
    pos: int, listed: Sequence[Token], query: Callable[[], Sequence[Token]] | None
) -> bool:
    """Whether a listed name of Korean syllables (KIM CHOL NAM) meets in query word `pos`
    a word no Korean syllable is read as (DHOL): a typo, not another person. Korean names
    are mostly common syllables one first letter from another (Hong and Jong, Song and
    Dong), so a name not a common one cannot be asked for there; a word no syllable is
    read as is no Korean name at all."""
    return (
        query is not None
        and all(t.chars is None and hangul_reading(t.text) for t in listed)
        and not hangul_reading(query()[pos].text)
    )


def _as_rule(found: Alignment, i: int, rule: str) -> Alignment:
    """`found` with pair `i` counted by `rule`."""
    pos, j, score, _ = found.pairs[i]
    pairs = [*found.pairs[:i], (pos, j, score, rule), *found.pairs[i + 1 :]]
    return replace(found, pairs=pairs)


def _drop(found: Alignment, i: int) -> Alignment | None:
    """`found` without pair `i` (None if no pair without an initial is left)."""
    pos, j, score, _ = found.pairs[i]
    wq, wc = found.weights[i]
    w = (wq + wc) / 2
    pairs = found.pairs[:i] + found.pairs[i + 1 :]
    if not any(p[3] != "initial" for p in pairs):
        return None
    return Alignment(
        pairs,
        found.weights[:i] + found.weights[i + 1 :],
        found.num - score * w,
        found.den - w,
        found.matched_q - wq,
        found.matched_c - wc,
        found.used_c & ~(1 << j),
        True,
        found.initial,
    )


def name_score(
    found: Alignment,
    q_total: float,
    n_query: int,
    c_total: float,
    n_list: int,
    listed: Callable[[], Sequence[Token]],
    factor: float = 1.0,
    query: Callable[[], Sequence[Token]] | None = None,
) -> tuple[float, list[Pair]]:
    """The name score of an alignment, and the pairs it counts: what is paired against
    what is left out on each
    side. `listed` gives the list tokens, asked for only when the name may be partial or
    a pair's rule holds only on conditions (CONDITIONAL: then the pair is dropped unless
    they hold); `query` the query tokens, asked for when a query initial is left over
    (`part_initials`)."""
    if any(p[3] in CONDITIONAL for p in found.pairs):
        at, rule = _unsettled(found, q_total, listed(), query)
        if not rule:
            rest = _drop(found, at)
            if rest is None:
                return 0.0, []
            found = rest
        elif rule != found.pairs[at][3]:
            found = _as_rule(found, at, rule)
    if (
        query is not None
        and not found.initial
        and 2 <= n_query <= MAX_EXACT_SUBSETS
        and len(found.pairs) == n_query - 1
        and len(found.pairs) < n_list <= MAX_EXACT_SUBSETS
    ):
        found = two_edits(found, query(), listed())
    if found.initial and query is not None and found.matched_q < q_total - 1e-9:
        found = part_initials(found, query(), listed())
    split = False
    if n_query == 1 and n_list >= 2 and not found.used_c & 1 and query is not None:
        found, split = compound_split(found, n_query, query(), listed())
    missing = MISSING_QUERY * (q_total - found.matched_q)
    cost = MISSING_LIST
    used_c = found.used_c
    if split and n_list <= PARTIAL_MAX_WORDS:
        cost = MISSING_PARTIAL  # the first and the last of the listed words: see below
    elif (
        3 <= n_list <= PARTIAL_MAX_WORDS
        and used_c & 1  # cheap tests first
        and partial_name(found.pairs, n_query, listed())
    ):
        cost = MISSING_PARTIAL
    missing += cost * (c_total - found.matched_c)
    return found.num / (found.den + missing) * factor, found.pairs


def near_word(t: Token) -> bool:
    """Whether `t` may take part in a `two_edits` pair: a name word of letters, not in
    Chinese, Korean or Japanese characters and not in Arabic script (no short vowels), nor
    a Chinese given name a reading joined (`Token.joined`: Wen-ji is no typo of Wenjian)."""
    low, high = TWO_EDITS_WORDS
    return (
        t.kind in TWO_EDITS_KINDS
        and t.chars is None
        and not t.joined
        and not t.arabic
        and low <= len(t.text) <= high
        and t.text.isalpha()
    )


def edits(a: Token, b: Token, alone: bool = False) -> int:
    """The fewest OSA edits between two spellings of `a` and `b` (the folded text, or a
    phonetic form: Latin against Cyrillic), TWO_EDITS_MAX + 1 when farther. `alone`: the
    pair beside one other word, on the spellings without an article and with the longer
    of TWO_EDITS_ALONE letters or more."""
    far = TWO_EDITS_MAX + 1
    if a.group is not None and b.group is not None and a.group != b.group:
        return far  # two different known names: Mahmoud is not Muhammad
    floor = TWO_EDITS_ALONE if alone else TWO_EDITS_SHORTEST
    forms = bare_spellings if alone else _near_spellings
    best = far
    for x, cx in forms(a):
        for y, cy in forms(b):
            if abs(len(x) - len(y)) > TWO_EDITS_MAX or max(len(x), len(y)) < floor:
                continue  # two edits in four letters make another name (Won, Jong)
            if cx != cy and x[1::-1] != y[:2]:
                continue  # the first letter kept, or swapped with the second (уМсилн)
            best = min(best, OSA.distance(x, y, score_cutoff=best))
            if best <= 1:
                return best
    return best


@lru_cache(maxsize=1 << 14)
def _near_spellings(t: Token) -> tuple[tuple[str, str], ...]:
    """`t`'s distinct spellings of TWO_EDITS_WORDS[0]+ letters, each with its edit class."""
    return tuple(
        (w, edit_class(w)) for w in dict.fromkeys((t.text, *t.pfs)) if len(w) >= TWO_EDITS_WORDS[0]
    )


@lru_cache(maxsize=1 << 14)
def bare_spellings(t: Token) -> tuple[tuple[str, str], ...]:
    """`_near_spellings` without those holding the article another spelling is without
    (altamimi beside tamimi, ulhak beside hak: the article's letters make no name longer)."""
    forms = _near_spellings(t)
    texts = {w for w, _ in (*forms, *((p, "") for p in t.pfs))}
    heads = {
        w[: len(w) - len(v)]
        for w in texts
        for v in texts
        if len(v) < len(w) and w.endswith(v) and w[: len(w) - len(v)] in _ARTICLE_HEADS
    }
    return tuple((w, c) for w, c in forms if not any(w.startswith(h) for h in heads))


def near_length(t: Token) -> int:
    """The longest of `t`'s spellings without an article (`bare_spellings`), 0 if none."""
    return max((len(w) for w, _ in bare_spellings(t)), default=0)


def two_edits(found: Alignment, query: Sequence[Token], listed: Sequence[Token]) -> Alignment:
    """`found` with its one query word left over paired (TWO_EDITS_RULE) with a listed word
    left over at most two edits away, when the rest of the name matches closely: two or
    more other pairs, each at 0.9+ without an initial, one of them a listed name that is
    not a common one (Колтаков Свмгей Викторович for Колтаков Сергей Викторович). Beside
    one other pair, itself such a name, only in words of TWO_EDITS_ALONE letters
    (TWO_EDITS_LONG_RULE: HOUSHANG ONXBARI for HOUSHANG NOBARI). Alone, or beside common
    names only, such a word is another person's name."""
    if not found.pairs or not all(p[2] >= 0.9 and p[3] != "initial" for p in found.pairs):
        return found
    alone = len(found.pairs) == 1
    if alone:
        if listed[found.pairs[0][1]].kind != "name":
            return found
    elif not any(listed[p[1]].kind == "name" for p in found.pairs):
        return found
    paired = {p[0] for p in found.pairs}
    pos = next(p for p in range(len(query)) if p not in paired)
    q = query[pos]
    if not near_word(q):
        return found
    best, at = TWO_EDITS_MAX + 1, -1
    for j, t in enumerate(listed):
        if found.used_c >> j & 1 or not near_word(t):
            continue
        d = edits(q, t, alone)
        if d < best:
            best, at = d, j
    if at < 0:
        return found
    wq, wc = q.weight, listed[at].weight
    w = (wq + wc) / 2
    rule = TWO_EDITS_LONG_RULE if alone else TWO_EDITS_RULE
    return Alignment(
        [*found.pairs, (pos, at, TWO_EDITS, rule)],
        [*found.weights, (wq, wc)],
        found.num + TWO_EDITS * w,
        found.den + w,
        found.matched_q + wq,
        found.matched_c + wc,
        found.used_c | 1 << at,
        True,
        found.initial,
    )


NearShape = tuple[tuple[bool, bool, bool], ...]


def near_shape(listed: Sequence[Token]) -> NearShape:
    """All `near_needs` reads of each listed token: a name not a common one, a word (not
    an initial), a word that may pair two edits away (`near_word`). Names of one shape
    need the same sets, so a lookup works them out once for all its names."""
    return tuple((t.kind == "name", t.kind != "initial", near_word(t)) for t in listed)


def near_needs(shape: NearShape, subsets: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
    """The watchlists' side of `two_edits`: sets of listed positions a customer must hold
    matches for to reach the cut-off with one listed word paired two edits away. Of the
    minimal `subsets` holding that word, the rest, with a listed name not a common one
    and at least two positions (what `two_edits` asks of the other pairs). `shape`: the
    listed name's `near_shape`."""
    out = near_sets(shape, subsets)
    # Those no other holds a part of (as bit sets: a proper subset test is an `&` each).
    masks = [sum(1 << p for p in n) for n in out]
    return [
        n
        for n, mask in zip(out, masks, strict=True)
        if not any(m & mask == m and m != mask for m in masks)
    ]


def near_sets(shape: NearShape, subsets: list[tuple[int, ...]]) -> set[tuple[int, ...]]:
    """Every set `near_needs` weighs, minimal or not."""
    uncommon = [p for p, (name, _, _) in enumerate(shape) if name]
    words = [p for p, (_, word, _) in enumerate(shape) if word]
    out: set[tuple[int, ...]] = set()
    for at in (p for p, (_, _, near) in enumerate(shape) if near):
        for subset in subsets:
            if at not in subset:
                continue
            base = set(subset) - {at}
            for u in uncommon:
                if u == at:
                    continue
                need = base | {u}
                if len(need) >= 2:
                    out.add(tuple(sorted(need)))
                else:
                    out.update(tuple(sorted(need | {o})) for o in words if o not in (at, u))
    return out


def alone_words(tokens: Sequence[Token]) -> list[Token]:
    """The words of `tokens` that may be paired two edits away beside one other word: the
    other side's spelling may be two letters longer (TWO_EDITS_ALONE)."""
    shortest = TWO_EDITS_ALONE - TWO_EDITS_MAX
    return [t for t in tokens if near_word(t) and near_length(t) >= shortest]


def close_to(words: Sequence[Token], tokens: Sequence[Token]) -> list[bool]:
    """For each of `tokens`, whether it is within two edits of one of `words` beside one
    other word (`edits`, alone): first the tokens' texts and phonetic forms against the
    words' spellings all at once (rapidfuzz's `cdist`, a bound: it asks nothing of first
    letters, lengths and articles), then each token that passes exactly. Comparing the
    distinct words of many names once is what makes `two_edits` beside one word cheap."""
    out = [False] * len(tokens)
    mine = [w for t in words for w, _ in bare_spellings(t)]
    if not mine or not tokens:
        return out
    texts = [t.text for t in tokens]
    owners = list(range(len(tokens)))
    for i, t in enumerate(tokens):
        texts += t.pfs
        owners += [i] * len(t.pfs)
    far = cdist(mine, texts, scorer=OSA.distance, score_cutoff=TWO_EDITS_MAX, dtype=np.int32)
    for i in {owners[k] for k in np.flatnonzero((far <= TWO_EDITS_MAX).any(axis=0)).tolist()}:
        t = tokens[i]
        out[i] = near_word(t) and any(edits(w, t, True) <= TWO_EDITS_MAX for w in words)
    return out


def near_alone(listed: Sequence[Token], cutoff: float) -> list[tuple[int, ...]]:
    """The watchlists' side of `two_edits` beside one other word: the listed names not
    common ones a customer of two words must hold a match for, to reach `cutoff` with its
    other word two edits from a listed word long enough (TWO_EDITS_ALONE: the customer's
    spelling may be two letters longer). At best the customer's words weigh 1 and its
    match with the name scores 1; the listed words left over cost MISSING_LIST each (no
    partial name: a pair is under 0.9)."""
    total = sum(t.weight for t in listed)
    words = alone_words(listed)
    out: set[tuple[int, ...]] = set()
    for at, t in enumerate(listed):
        if t not in words:
            continue
        for u, name in enumerate(listed):
            if u == at or name.kind != "name":
                continue
            w_u = (1.0 + name.weight) / 2
            left = max(total - name.weight - t.weight, 0.0)
            best = max(
                (w_u + TWO_EDITS * (w + t.weight) / 2)
                / (w_u + (w + t.weight) / 2 + MISSING_LIST * left)
                for w in {WEIGHTS[k] for k in TWO_EDITS_KINDS}
            )
            if best >= cutoff - 1e-6:
                out.add((u,))
    return sorted(out)


def part_initials(found: Alignment, query: Sequence[Token], listed: Sequence[Token]) -> Alignment:
    """`found` with each query initial left over that follows one paired with a listed
    Abd/Abu compound and stands for the compound's second part counted as paired too
    (INITIAL_OF_PART): A.-R. for Abdul-Reza, A. A. for Abu Ali, one initial per part; or
    that, second of two initials, stands for the Abd/Abu of the compound the next word is
    paired with (Q. A. KARIM for Qais ABDUL KARIM)."""
    paired = {p[0] for p in found.pairs}
    extra: list[Pair] = []
    num, den, matched_q = found.num, found.den, found.matched_q
    for pos, j, _, rule in found.pairs:
        after = pos + 1
        if (
            rule != "initial"
            or after in paired
            or after >= len(query)
            or query[pos].kind != "initial"
            or query[after].kind != "initial"
            or not listed[j].cores
        ):
            continue
        if initials(query[after]) & {c[:1] for c in listed[j].cores}:
            w = query[after].weight
            num += INITIAL * w
            den += w
            matched_q += w
            paired.add(after)
            extra.append((after, j, INITIAL, INITIAL_OF_PART))
    # ...and the second of two initials before a word paired with a listed compound's
    # name, standing for its Abd/Abu (QA KARIM for Qais Abdul-Karim: Q. Abdul-Karim).
    for pos, j, _, rule in found.pairs:
        before = pos - 1
        if (
            rule == "initial"
            or before < 1
            or before in paired
            or query[before].kind != "initial"
            or query[before - 1].kind != "initial"
            or query[pos].cores
        ):
            continue
        head = abd_head(listed[j])
        if head is not None and head[:1] in initials(query[before]):
            w = query[before].weight
            num += INITIAL * w
            den += w
            matched_q += w
            paired.add(before)
            extra.append((before, j, INITIAL, INITIAL_OF_PART))
    if not extra:
        return found
    return Alignment(
        found.pairs + extra,
        found.weights + [(query[p[0]].weight, 0.0) for p in extra],
        num,
        den,
        matched_q,
        found.matched_c,
        found.used_c,
        found.solid,
        True,
    )


def compound_split(
    found: Alignment, n_query: int, query: Sequence[Token], listed: Sequence[Token]
) -> tuple[Alignment, bool]:
    """ABDUL YASIN for a listed ABDUL RAHMAN YASIN: the query's one word, an Abd/Abu
    compound (Abdul joins the word after it), is the listed name's first word's Abd/Abu
    and its last word, a name not a common one. Both pairs then count (COMPOUND_SPLIT:
    the last word at SPLIT_LAST, the first at SPLIT_HEAD and half weight, the query word
    being counted once), and the words between cost as those of a partial name. Returns
    the alignment and whether it was split."""
    if n_query != 1 or len(found.pairs) != 1:
        return found, False
    pos, j, _, _ = found.pairs[0]
    q, last = query[pos], len(listed) - 1
    head = abd_head(q)
    if (
        not q.cores
        or not set(q.cores) & set(listed[last].pfs)
        or j != last
        or listed[last].kind != "name"
        or head is None
        or abd_head(listed[0]) != head
    ):
        return found, False
    wq, wc = found.weights[0]
    w0 = listed[0].weight / 2
    w = (wq + wc) / 2
    num = SPLIT_LAST * w + SPLIT_HEAD * w0
    pairs = [(pos, 0, SPLIT_HEAD, COMPOUND_SPLIT), (pos, j, SPLIT_LAST, COMPOUND_SPLIT)]
    return Alignment(
        pairs,
        [(0.0, listed[0].weight), (wq, wc)],
        num,
        w + w0,
        found.matched_q,
        found.matched_c + listed[0].weight,
        found.used_c | 1,
        True,
    ), True


def abd_head(t: Token) -> str | None:
    """abdal or abu when `t` is an Abd/Abu compound (Abdul Rahman, Abu Bakr), abd when its
    Abd is spelled otherwise (Abdi, Abdu, Abdo Rahman), else None."""
    if not t.cores:
        return None
    for head in ("abdal", "abu", "abo"):
        if any(p.startswith(head) for p in t.pfs):
            return "abu" if head == "abo" else head
    if any(p.startswith("abd") for p in t.pfs):
        return "abd"
    return None


def bound(
    weights: Sequence[float],
    held: Iterable[int],
    missing_cost: float,
    *,
    other_weight: float = 0.0,
    loose: bool = False,
    initials: Iterable[int] = (),
) -> float:
    """Highest name score a name can get whose side of weights `weights` has exactly the
    positions `held` paired, each at best with a token of W_MAX on the other side; a
    position left out costs `missing_cost` of its weight.

    `other_weight`: the other side weighs at least this; what the pairs cannot cover of
    it is missing (MISSING_QUERY: the other side is the query). `initials`: held
    positions that meet the other side's words at INITIAL at best. `loose`: the other
    side has initials that may stand for any position left out, counted at their best
    (the numerator and the denominator each bounded on its own)."""
    held = set(held)
    if not loose:
        return _Parts.of(weights, held, missing_cost, initials).bound(other_weight, weak=True)
    num = den = sum((W_MAX + weights[p]) / 2 for p in held)
    if not num:
        return 0.0
    weak = [p for p in initials if p in held]
    if weak:
        num -= sum((1 - INITIAL) * (W_MAX + weights[p]) / 2 for p in weak)
    if other_weight:
        den += MISSING_QUERY * max(0.0, other_weight - len(held) * W_MAX)
    for p, w in enumerate(weights):
        if p not in held:
            pair = (WEIGHTS["initial"] + w) / 2
            num += INITIAL * pair
            den += min(pair, missing_cost * w)
    return num / den


@lru_cache(maxsize=4096)
def required(
    weights: tuple[float, ...],
    initials: tuple[int, ...],
    cutoff: float,
    missing_cost: float,
    other_weight: float = 0.0,
    loose: bool = False,
    weak_initials: bool = False,
    most: int | None = None,
) -> tuple[list[tuple[int, ...]], list[int] | None]:
    """Minimal sets of looked-up positions a name must pair to reach `cutoff` (`bound`,
    positions in `initials` counted as paired and, with `weak_initials`, at INITIAL), with
    at most `most` positions paired. Beyond MAX_EXACT_SUBSETS positions: a prefix of
    positions of which a name must pair at least one."""
    positions = [p for p in range(len(weights)) if p not in initials]
    if not positions:
        return [], []
    most = len(positions) if most is None else most
    weak = initials if weak_initials else ()

    reaches: Callable[[Sequence[int]], bool]
    if loose:
        reaches = lambda held: (  # noqa: E731
            bound(weights, [*initials, *held], missing_cost, other_weight=other_weight,
                  loose=True, initials=weak)
            >= cutoff
        )  # fmt: skip
    else:
        reaches = _Reaches(weights, initials, weak, missing_cost, other_weight, cutoff)

    if len(positions) > MAX_EXACT_SUBSETS:
        # Drop the heaviest positions while the rest could still reach the cutoff without
        # them; a qualifying name holds at least one of those dropped.
        rest = sorted(positions, key=lambda p: (-weights[p], p))
        if not reaches(rest[:most]):
            return [], []  # even its heaviest words, all paired, fall short
        prefix: list[int] = []
        while rest and reaches(rest):
            prefix.append(rest.pop(0))
        return [], prefix
    minimal: list[tuple[int, ...]] = []
    masks: list[int] = []  # `minimal` as bit sets: a superset test is one `&` each
    for size in range(1, min(len(positions), most) + 1):
        for subset in combinations(positions, size):
            mask = sum(1 << p for p in subset)
            if any(m & mask == m for m in masks):
                continue
            if reaches(subset):
                minimal.append(subset)
                masks.append(mask)
    return minimal, None


# One band of `required_bands`: the other side's least weight, whether listed initials
# are weak there, and the most positions it can pair.
Band = tuple[float, bool, int]


@lru_cache(maxsize=4096)
def required_bands(
    weights: tuple[float, ...],
    initials: tuple[int, ...],
    cutoff: float,
    missing_cost: float,
    bands: tuple[Band, ...],
) -> tuple[tuple[list[tuple[int, ...]], list[int] | None], ...]:
    """`required` for each of `bands` (other_weight, weak_initials, most), `loose` False:
    the same answers, with the positions' sets enumerated once for all the bands and
    each set's bound computed once but for the other side's weight (the customer index
    asks for a listed name in every band of customers it holds)."""
    positions = [p for p in range(len(weights)) if p not in initials]
    if not positions or len(positions) > MAX_EXACT_SUBSETS:
        return tuple(
            required(weights, initials, cutoff, missing_cost, other, False, weak, most)
            for other, weak, most in bands
        )
    tops = [min(len(positions), most) for _, _, most in bands]
    # A set's bound falls as the other side's least weight rises (`_Parts.bound`: only the
    # denominator grows with it, and every rounding is monotone), so the bands a set
    # reaches are, among the bands of one `weak`, those of the least weights up to some
    # level. A band's place among its side's distinct least weights is its rank; a set is
    # minimal in a band when the band's rank is below the set's level and at or above the
    # highest level of the set's smaller sets (each set's bound is computed once, up from
    # that level, not once per band, and no band's found sets are searched for its subsets).
    levels = {w: sorted({other for other, weak, _ in bands if weak == w}) for w in (False, True)}
    ranked: dict[bool, list[list[int]]] = {w: [[] for _ in levels[w]] for w in (False, True)}
    for b, (other, weak, _) in enumerate(bands):
        ranked[weak][levels[weak].index(other)].append(b)
    found: list[list[tuple[int, ...]]] = [[] for _ in bands]
    covered: dict[int, tuple[int, int]] = {}  # set -> the highest level of it and its subsets
    for size in range(1, max(tops, default=0) + 1):
        # The highest rank of each side's bands that take sets of this size.
        need = [
            max((r for r, held in enumerate(ranked[w]) if any(size <= tops[b] for b in held)),
                default=-1)
            for w in (False, True)
        ]  # fmt: skip
        for subset in combinations(positions, size):
            mask = sum(1 << p for p in subset)
            below = [0, 0]
            if size > 1:
                for p in subset:
                    lower = covered[mask & ~(1 << p)]
                    below = [max(below[0], lower[0]), max(below[1], lower[1])]
            if below[0] > need[0] and below[1] > need[1]:
                covered[mask] = (below[0], below[1])  # each band has one of its subsets
                continue
            parts = _Parts.of(weights, [*initials, *subset], missing_cost, initials)
            reach = list(below)
            for i, w in enumerate((False, True)):
                if below[i] > need[i]:
                    continue
                # The levels reached from `below` up: a bisection of the weights.
                level, values = below[i], levels[w]
                if level < len(values) and parts.bound(values[level], w) >= cutoff:
                    low, high = level + 1, len(values)
                    while low < high:
                        mid = (low + high) // 2
                        if parts.bound(values[mid], w) >= cutoff:
                            low = mid + 1
                        else:
                            high = mid
                    level = low
                for rank in range(below[i], level):
                    for b in ranked[w][rank]:
                        if size <= tops[b]:
                            found[b].append(subset)
                reach[i] = max(level, below[i])
            covered[mask] = (reach[0], reach[1])
    return tuple((minimal, None) for minimal in found)


class _Reaches:
    """`bound(weights, [*initials, *held], missing_cost, other_weight=other_weight,
    initials=weak) >= cutoff` for many sets `held` of one query (`required`): the same
    sums, in the same order (so the same floats), with what does not depend on `held`
    worked out once. A first sight of a long name tries hundreds of sets."""

    __slots__ = ("cutoff", "initials", "missing_cost", "other_weight", "pair", "weak", "weights")

    def __init__(
        self,
        weights: Sequence[float],
        initials: Sequence[int],
        weak: Sequence[int],
        missing_cost: float,
        other_weight: float,
        cutoff: float,
    ) -> None:
        self.weights = weights
        self.initials = list(initials)
        self.pair = [(W_MAX + w) / 2 for w in weights]
        # Held initials are weak (`_Parts.of`): every set holds all of them.
        self.weak = [(1 - INITIAL) * (W_MAX + weights[p]) / 2 for p in weak]
        self.missing_cost = missing_cost
        self.other_weight = other_weight
        self.cutoff = cutoff

    def __call__(self, subset: Sequence[int]) -> bool:
        held = set(set([*self.initials, *subset]))  # `bound`, then `_Parts.of`: one order
        pair = self.pair
        paired = sum(pair[p] for p in held)
        if not paired:
            return self.cutoff <= 0.0
        num = paired - sum(self.weak) if self.weak else paired
        den = paired
        if self.other_weight:
            den += MISSING_QUERY * max(0.0, self.other_weight - len(held) * W_MAX)
        den += self.missing_cost * sum(w for p, w in enumerate(self.weights) if p not in held)
        return num / den >= self.cutoff


@dataclass(slots=True)
class _Parts:
    """`bound` with `loose` False, in two steps: what it computes of one set of held
    positions before the other side's weight, then `bound(other_weight, weak)` for each
    band (`required_bands` weighs a set once for all of them; `bound` is this, once)."""

    paired: float  # the held positions' pairs at best: numerator and denominator
    strong: float  # the numerator with held initials weak
    held: int
    missing: float  # what the positions left out cost

    @classmethod
    def of(
        cls,
        weights: Sequence[float],
        held: Iterable[int],
        missing_cost: float,
        initials: Iterable[int],
    ) -> _Parts:
        held = set(held)
        num = sum((W_MAX + weights[p]) / 2 for p in held)
        weak = [p for p in initials if p in held]
        strong = num
        if weak:
            strong = num - sum((1 - INITIAL) * (W_MAX + weights[p]) / 2 for p in weak)
        missing = missing_cost * sum(w for p, w in enumerate(weights) if p not in held)
        return cls(num, strong, len(held), missing)

    def bound(self, other_weight: float, weak: bool) -> float:
        """`bound(weights, held, missing_cost, other_weight=other_weight,
        initials=initials if weak else ())`."""
        if not self.paired:
            return 0.0
        num = self.strong if weak else self.paired
        den = self.paired
        if other_weight:
            den += MISSING_QUERY * max(0.0, other_weight - self.held * W_MAX)
        den += self.missing
        return num / den


# --- the token vocabulary ----------------------------------------------------------------


class DeletionIndex:
    """Word → token ids for the one-deletion neighbourhoods of all spellings, compactly.

    A dict of strings would cost ~100 bytes per entry (30 per token); here each entry is a
    64-bit string hash and a token id in two sorted arrays (16 bytes), searched by bisect.
    Recent additions sit in a small dict until merged in. Hash collisions only add
    candidates, which `similarity` then rejects. `compact=False` keeps everything in the
    dict: faster to fill, for an index rebuilt often (the watchlists').
    """

    def __init__(self, *, compact: bool = True) -> None:
        self._base: tuple[array[int], array[int]] = (array("q"), array("q"))
        self._recent: dict[int, list[int]] = {}
        self._pending = 0
        # With `compact`, the recent entries again, in the order added: what `_merge`
        # sorts in (without it nothing is merged, so nothing is kept twice).
        self._added: tuple[array[int], array[int]] = (array("q"), array("q"))
        self._compact = compact

    def add(self, vid: int, words: Iterable[str]) -> None:
        recent = self._recent
        added_keys, added_ids = self._added
        for word in words:
            h = hash(word)
            found = recent.get(h)
            if found is None:
                recent[h] = [vid]
            else:
                found.append(vid)
            self._pending += 1
            if self._compact:
                added_keys.append(h)
                added_ids.append(vid)
        if self._compact and self._pending > max(50_000, len(self._base[0]) // 4):
            self._merge()

    def _merge(self) -> None:
        # All in numpy: this runs inside one `intern`, on the event loop when the API's
        # index takes in a list. Merged in Python (heapq over every entry) it held the
        # loop 40 ms at 50,000 entries, 0.35 s at 300,000 (bench/follow.py).
        keys = np.frombuffer(self._base[0], dtype=np.int64)
        ids = np.frombuffer(self._base[1], dtype=np.int64)
        fresh_keys = np.frombuffer(self._added[0], dtype=np.int64)
        fresh_ids = np.frombuffer(self._added[1], dtype=np.int64)
        order = np.argsort(fresh_keys, kind="stable")
        at = np.searchsorted(keys, fresh_keys[order])
        new_keys, new_ids = array("q"), array("q")
        new_keys.frombytes(np.insert(keys, at, fresh_keys[order]).tobytes())
        new_ids.frombytes(np.insert(ids, at, fresh_ids[order]).tobytes())
        self._base = (new_keys, new_ids)  # readers see the merged arrays, then...
        self._recent = {}  # ...the recent entries leave (a duplicate at worst, never a miss)
        self._added = (array("q"), array("q"))
        self._pending = 0

    def get(self, word: str) -> list[int]:
        h = hash(word)
        # `_recent` before `_base`: `_merge` assigns them in the other order, so a reader in
        # another thread (a batch) that sees the emptied `_recent` sees the merged `_base`.
        recent = self._recent
        keys, ids = self._base
        i = bisect_left(keys, h)
        out: list[int] = []
        while i < len(keys) and keys[i] == h:
            out.append(ids[i])
            i += 1
        out.extend(recent.get(h, ()))
        return out

    def add_to(self, out: set[int], words: Iterable[str]) -> None:
        """`out` with `get(word)` added for each of `words`: a query word's dozen or more
        deletion neighbours, without a list made for each."""
        recent = self._recent  # before `_base`, as in `get`
        keys, ids = self._base
        size = len(keys)
        for word in words:
            h = hash(word)
            i = bisect_left(keys, h)
            while i < size and keys[i] == h:
                out.add(ids[i])
                i += 1
            found = recent.get(h)
            if found:
                out.update(found)

    def __len__(self) -> int:
        return len(self._base[0]) + self._pending


@dataclass(slots=True)
class Vocabulary:
    """Distinct tokens by id, append-only, with their weights, the lookup keys a subclass
    files them under (`keys_of`) and the one-deletion neighbours of their spellings
    (edit distance)."""

    tokens: list[Token] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    ids: dict[Token, int] = field(default_factory=dict)
    keys: dict[str, list[int]] = field(default_factory=dict)
    edits: DeletionIndex = field(default_factory=DeletionIndex)

    def intern(self, token: Token) -> int:
        found = self.ids.get(token)
        if found is not None:
            return found
        vid = len(self.tokens)
        self.weights.append(token.weight)
        self.added(token)
        for key in self.keys_of(token):
            bucket = self.keys.get(key)
            if bucket is None:
                self.keys[key] = [vid]
            else:
                bucket.append(vid)
        self.edits.add(vid, {d for word in spellings(token) for d in deletions(word)})
        # A lookup covers ids below len(tokens) and caches that it did: so the token is
        # appended once its keys and neighbours are in (a batch screens in a thread while
        # a build interns on the loop), and the id last (a reader finding it finds the token).
        self.tokens.append(token)
        self.ids[token] = vid
        return vid

    def keys_of(self, token: Token) -> Iterable[str]:
        """The keys `token` is filed under: the list side's `tokens.index_keys`, or the
        query side's `tokens.query_keys`."""
        raise NotImplementedError

    def added(self, token: Token) -> None:
        """What a subclass keeps per token besides (called before it is filed)."""

    def lookup(self, keys: Iterable[str], words: Iterable[str]) -> set[int]:
        """Ids filed under any of `keys` or with any of `words` as a deletion neighbour."""
        ids: set[int] = set()
        for key in keys:
            bucket = self.keys.get(key)
            if bucket:
                ids.update(bucket)
        self.edits.add_to(ids, words)
        return ids
