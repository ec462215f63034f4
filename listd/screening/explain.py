"""Why a match matched: token pairs with their rules, the evidence, a one-line summary."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from listd.screening.query import Match
from listd.screening.tokens import Token, nisba

Pair = tuple[int, int, float, str]  # query position, list position, score, rule

# From strongest to weakest: a name's rule is the weakest any of its token pairs used.
RULES = (
    "exact",
    "legal_form",
    "number",
    "legal_form_kin",
    "transliteration",
    "look_alike_digit",
    "equivalence",
    "first_letter",
    "romanised",
    "wade_giles",
    "baltic_ending",
    "vowel_spelling",
    "patronymic",
    "surname_form",
    "compound_part",
    "compound_split",
    "initial",
    "initial_of_part",
    "phonetic",
    "edit_distance",
    "first_letter_typo",
    "first_letter_key",
    "syllable_typo",
    "two_edits",
    "two_edits_long",
)
# A second initial for the second part of a listed compound: A.-R. for Abdul-Reza (the
# first, A., pairs with the compound as an initial; `scoring.part_initials`).
INITIAL_OF_PART = "initial_of_part"
# ABDUL YASIN for ABDUL RAHMAN YASIN: one query compound over the listed name's first
# and last words (`scoring.compound_split`).
COMPOUND_SPLIT = "compound_split"
# Rules a pair may use only when the rest of the name matches closely (`scoring.name_score`).
CONDITIONAL = frozenset({"first_letter_typo", "first_letter_key"})
# ...and the one such a pair counts by in a Korean name of common syllables, when the typed
# word is no Korean syllable (DHOL in KIM DHOL NAM: `scoring._no_syllable`).
SYLLABLE_TYPO = "syllable_typo"
_RANK = {rule: i for i, rule in enumerate(RULES)}


# The most words a listed name can have and still be matched as a partial one: 3-4, and
# a family or tribal name with the article after them (al-Tikriti), which records drop.
PARTIAL_MAX_WORDS = 5
# Generational suffixes after a family name, which records drop as they drop a nisba
# (FELICIANO REYES for FELICIANO SEMBORIO DELOS REYES JR.).
SUFFIXES = frozenset({"jr", "jnr", "sr", "snr"})


def partial_name(pairs: Sequence[Pair], n_query: int, listed: Sequence[Token]) -> bool:
    """FIRST LAST for a listed FIRST SECOND THIRD LAST (or FIRST SECOND THIRD LAST
    AL-NISBA, or ... LAST JR.): every query word matched, in order and strongly (0.9+, no
    initial), to the first and the last of 3-4 listed words, one of them a name that is not
    a common one (Mohammed Muhammad is everybody)."""
    n = len(listed)
    if not 3 <= n <= PARTIAL_MAX_WORDS or len(pairs) != n_query:
        return False
    last = n - 1
    if (
        n >= 4
        and (nisba(listed[-1]) or listed[-1].text in SUFFIXES)
        and all(j != last for _, j, _, _ in pairs)
    ):
        last -= 1
    if not 3 <= last + 1 <= 4 or n_query >= last + 1:
        return False
    ends = {j: (pos, score, rule) for pos, j, score, rule in pairs if j in (0, last)}
    if len(ends) != 2:
        return False
    (p0, s0, r0), (p1, s1, r1) = ends[0], ends[last]
    return (
        p0 < p1
        and min(s0, s1) >= 0.9
        and "initial" not in (r0, r1)
        and "name" in (listed[0].kind, listed[last].kind)
    )


def explain(
    query: Sequence[Token],
    listed: Sequence[Token],
    pairs: Sequence[Pair],
    name_score: float,
    matched_name: str,
    effects: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """The JSON explanation of one match."""
    used_q = {p[0] for p in pairs}
    used_c = {p[1] for p in pairs}
    tokens: list[dict[str, Any]] = [
        {
            "query": query[pos].text,
            "candidate": listed[j].text,
            "rule": rule,
            "score": round(score, 4),
        }
        for pos, j, score, rule in sorted(pairs)
    ]
    tokens += [
        {"query": t.text, "candidate": None, "rule": "not_in_list_name", "score": 0.0}
        for pos, t in enumerate(query)
        if pos not in used_q
    ]
    tokens += [
        {"query": None, "candidate": t.text, "rule": "not_in_query", "score": 0.0}
        for j, t in enumerate(listed)
        if j not in used_c
    ]
    rule = max((p[3] for p in pairs), key=lambda r: _RANK.get(r, len(RULES)), default="none")
    out: dict[str, Any] = {
        "name": {
            "score": round(name_score, 4),
            "rule": rule,
            "query": " ".join(t.text for t in query),
            "candidate": " ".join(t.text for t in listed),
        },
        "tokens": tokens,
    }
    partial = partial_name(pairs, len(query), listed)
    if partial:  # scored as a shortened name: say so
        out["name"]["partial"] = {"matched": len(used_c), "listed": len(listed)}
    out.update(effects)
    out["summary"] = _summary(query, listed, pairs, rule, matched_name, effects)
    if partial:
        out["summary"] += (
            f"; the first and last of the listed names: {len(used_c)} of the"
            f" {len(listed)} listed names"
        )
    return out


def _summary(
    query: Sequence[Token],
    listed: Sequence[Token],
    pairs: Sequence[Pair],
    rule: str,
    matched_name: str,
    effects: dict[str, dict[str, Any]],
) -> str:
    if pairs:
        rules = sorted({p[3] for p in pairs}, key=lambda r: _RANK.get(r, len(RULES)))
        text = (
            f"name matches listed {matched_name!r}: {len({p[0] for p in pairs})} of"
            f" {len(query)} query"
            f" word(s) and {len({p[1] for p in pairs})} of {len(listed)} listed word(s)"
            f" ({', '.join(rules)})"
        )
    else:
        text = f"name does not match listed {matched_name!r}"
    for key, label in (
        ("birth_date", "birth date"),
        ("identifiers", "identifier"),
        ("nationality", "nationality"),
    ):
        effect = effects.get(key)
        if effect is None:
            continue
        delta = effect.get("effect")
        shown = f"{delta:+.2f}" if isinstance(delta, float) else str(delta)
        text += f"; {label}: {effect.get('reason')} ({shown})"
    return text[:1].upper() + text[1:]


# How the summary names each rewrite of `listd.screening.variants` (the console has its own
# words for them, in three languages: "change.*").
_CHANGES = {
    "joined_words": "words written together were read apart",
    "split_word": "a word written in two parts was read whole",
    "initials": "capital letters were read as initials",
    "repeated_word": "a repeated word was counted once",
    "article": "the article al- typed with another first letter was read as al-",
}


def whole_name(match: Match) -> bool:
    """Whether `match` pairs every word of the listed name, or is a partial name's first
    and last (`partial_name`). A name typed as one word and read apart (KWANGIL as KWANG
    IL) counts only so: one typed word that is part of a listed name is a given name or a
    surname alone (KWANGIL for KIM KWANG-IL), which one word typed alone never reaches."""
    name = match.explanation.get("name", {})
    return "partial" in name or all(
        t["rule"] != "not_in_query" for t in match.explanation.get("tokens", ())
    )


def read_as(match: Match, reading: str, changes: Sequence[str]) -> Match:
    """`match`, made on the query read as `reading`: the explanation says so."""
    explanation = dict(match.explanation)
    explanation["reading"] = {"name": reading, "changes": list(changes)}
    words = "; ".join(_CHANGES.get(c, c) for c in changes)
    explanation["summary"] = f"{explanation.get('summary', '')}; name read as {reading!r} ({words})"
    return replace(match, explanation=explanation)
