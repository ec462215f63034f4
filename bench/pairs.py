"""listd and logic-v2 on labelled name pairs somebody else wrote: F1 at each side's best threshold.

Run: .venv/bin/python bench/pairs.py CASES.csv [--misses N] [--json FILE]

CASES.csv is nomenklatura's name bench (`contrib/name_bench/cases.csv` in a checkout of
https://github.com/opensanctions/nomenklatura; columns case_group, schema, name1, name2,
is_match): about 800 pairs, hand-labelled or proposed and checked, written to show where
name matchers go wrong (legal forms, word order, joined words, initials, namesakes that
are not the same person). Nothing of it is copied here: the file is read where it lies.

listd: each pair's name2 is an entity (a person for the Person schema, else an entity),
alone beside the real lists (UN, Kazakh AFM, OFAC: so that how common a word is counts as
it does in production) in the index, and name1 is screened against it; the pair's score
is that entity's (0 when the engine does not return it at the lowest threshold asked).
logic-v2: nomenklatura's `LogicV2.compare` on two entities carrying only the names, as
the name bench itself runs it (needs the bench extra: pip install -e '.[bench]').
Printed: precision, recall and F1 at each side's default threshold (listd 0.80, logic-v2
0.70) and at the threshold of the grid where its F1 is highest, by case group, and with
--misses the pairs listd gets wrong at its default threshold.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.quality import build_index, load_lists, logic_v2  # noqa: E402
from listd.model import Entity, Name, Schema  # noqa: E402
from listd.screening import DEFAULT_THRESHOLD, Query  # noqa: E402

GRID = tuple(round(0.50 + 0.01 * i, 2) for i in range(50))  # 0.50 .. 0.99
FLOOR = GRID[0]
PEER_THRESHOLD = 0.7  # logic-v2's own default


@dataclass(frozen=True, slots=True)
class Pair:
    group: str
    schema: str
    name1: str
    name2: str
    match: bool


COLUMNS = ("case_group", "schema", "name1", "name2", "is_match")


def load_pairs(path: Path) -> list[Pair]:
    """The pairs of a name bench file (ValueError naming what is missing or wrong)."""
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise ValueError(f"{path}: no column {', '.join(missing)} (a name bench cases.csv?)")
        rows = list(reader)
    for line, r in enumerate(rows, start=2):
        if r["is_match"] not in ("true", "false"):
            raise ValueError(f"{path}, line {line}: is_match is {r['is_match']!r}, not true/false")
    return [
        Pair(r["case_group"], r["schema"], r["name1"], r["name2"], r["is_match"] == "true")
        for r in rows
    ]


def listd_scores(pairs: Sequence[Pair]) -> list[float]:
    index = build_index(load_lists())
    out: list[float] = []
    for i, p in enumerate(pairs):
        # The pair's own name2 alone beside the lists (another pair's name2 would change
        # which words are known, and one spelled as name1 would take the first place).
        kind: Schema = "person" if p.schema == "Person" else "entity"
        target = Entity(id=f"pair:{i}", source="pairs", schema=kind, reference=str(i),
                        names=(Name(full=p.name2, kind="primary"),))  # fmt: skip
        index.replace_source("pairs", str(i), [target])
        found = index.screen(Query(p.name1, type=kind, threshold=FLOOR, limit=1000))
        out.append(max((m.score for m in found if m.entity.id == target.id), default=0.0))
    return out


def peer_scores(pairs: Sequence[Pair]) -> list[float] | str:
    peer = logic_v2()
    if isinstance(peer, str):
        return peer
    algorithm, config, ftm_model = peer
    out: list[float] = []
    for i, p in enumerate(pairs):
        schema = p.schema if ftm_model.get(p.schema) is not None else "LegalEntity"
        q, r = ftm_model.make_entity(schema), ftm_model.make_entity(schema)
        q.id, r.id = f"q{i}", f"r{i}"  # logic-v2 caches what it derives by entity id
        q.add("name", p.name1)
        r.add("name", p.name2)
        try:
            out.append(float(algorithm.compare(q, r, config).score))
        except Exception:  # noqa: BLE001 - a peer's failure on one pair scores 0, counted
            out.append(0.0)
    return out


def rates(pairs: Sequence[Pair], scores: Sequence[float], t: float) -> dict[str, Any]:
    tp = sum(1 for p, s in zip(pairs, scores, strict=True) if p.match and s >= t)
    fp = sum(1 for p, s in zip(pairs, scores, strict=True) if not p.match and s >= t)
    fn = sum(1 for p, s in zip(pairs, scores, strict=True) if p.match and s < t)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"threshold": t, "precision": round(precision, 3), "recall": round(recall, 3),
            "f1": round(f1, 3), "tp": tp, "fp": fp, "fn": fn}  # fmt: skip


def judge(pairs: Sequence[Pair], scores: Sequence[float], default: float) -> dict[str, Any]:
    best = max(GRID, key=lambda t: (rates(pairs, scores, t)["f1"], -abs(t - default)))
    groups: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(pairs):
        groups[p.group].append(i)

    def sub(ix: list[int], t: float) -> dict[str, Any]:
        return rates([pairs[i] for i in ix], [scores[i] for i in ix], t)

    return {
        "default": rates(pairs, scores, default),
        "best": rates(pairs, scores, best),
        "groups": {
            g: {"pairs": len(ix), "default": sub(ix, default), "best": sub(ix, best)}
            for g, ix in sorted(groups.items())
        },
    }


def table(result: dict[str, Any]) -> str:
    sides: list[tuple[str, dict[str, Any]]] = [("listd", result["listd"])]
    if isinstance(result["logic_v2"], dict):
        sides.append(("logic-v2", result["logic_v2"]))
    head = "| pairs | " + " | ".join(
        f"{n} @{s['default']['threshold']:.2f} P / R / F1 | "
        f"{n} @best {s['best']['threshold']:.2f} F1"
        for n, s in sides
    )
    lines = [head + " |", "|---|" + "---|---|" * len(sides)]

    def row(label: str, get: Callable[[dict[str, Any]], dict[str, Any]]) -> str:
        cells = []
        for _, s in sides:
            d, b = get(s)["default"], get(s)["best"]
            cells.append(f"{d['precision']:.3f} / {d['recall']:.3f} / **{d['f1']:.3f}**")
            cells.append(f"{b['f1']:.3f}")
        return f"| {label} | " + " | ".join(cells) + " |"

    lines.append(row(f"all ({result['pairs']})", lambda s: s))
    for g, n in result["groups"].items():
        lines.append(row(f"{g} ({n})", lambda s, g=g: s["groups"][g]))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", type=Path, help="nomenklatura's contrib/name_bench/cases.csv")
    parser.add_argument("--misses", type=int, default=0, help="list this many of listd's errors")
    parser.add_argument("--no-logic-v2", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    try:
        pairs = load_pairs(args.cases)
    except (OSError, ValueError) as exc:
        parser.error(str(exc))
    started = time.perf_counter()
    ours = listd_scores(pairs)
    listd_seconds = round(time.perf_counter() - started, 1)
    theirs = "left out (--no-logic-v2)" if args.no_logic_v2 else peer_scores(pairs)
    groups: dict[str, int] = defaultdict(int)
    for p in pairs:
        groups[p.group] += 1
    result: dict[str, Any] = {
        "pairs": len(pairs),
        "positives": sum(p.match for p in pairs),
        "groups": dict(sorted(groups.items())),
        "listd": judge(pairs, ours, DEFAULT_THRESHOLD),
        "logic_v2": theirs if isinstance(theirs, str) else judge(pairs, theirs, PEER_THRESHOLD),
        "listd_seconds": listd_seconds,
        "wrong": [
            {
                "group": p.group,
                "schema": p.schema,
                "name1": p.name1,
                "name2": p.name2,
                "match": p.match,
                "listd": round(s, 3),
                "logic_v2": None if isinstance(theirs, str) else round(theirs[i], 3),
            }
            for i, (p, s) in enumerate(zip(pairs, ours, strict=True))
            if (s >= DEFAULT_THRESHOLD) != p.match
        ],  # fmt: skip
    }
    return result


if __name__ == "__main__":
    out = main()
    args = sys.argv[1:]
    if "--json" in args:
        Path(args[args.index("--json") + 1]).write_text(json.dumps(out, indent=1) + "\n")
    print(table(out))
    print(
        f"\n{out['pairs']} pairs, {out['positives']} labelled the same; "
        f"listd {out['listd_seconds']} s"
    )
    if isinstance(out["logic_v2"], str):
        print(f"logic-v2: {out['logic_v2']}")
    limit = int(args[args.index("--misses") + 1]) if "--misses" in args else 0
    for w in out["wrong"][:limit]:
        kind = "missed" if w["match"] else "alerted"
        print(f"{kind} {w['group']} {w['schema']}: {w['name1']!r} ~ {w['name2']!r} "
              f"listd {w['listd']} logic-v2 {w['logic_v2']}")  # fmt: skip
