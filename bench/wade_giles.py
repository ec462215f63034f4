"""Alerts on unlisted people whose names are written in Wade-Giles, against the real lists.

Run: .venv/bin/python bench/wade_giles.py [--names 5000] [--seed 7]

bench/quality.py's unlisted people write Chinese names in pinyin only; this writes them as
Taiwanese and older records do: Wade-Giles family names and given syllables (Chang,
Ch'en, Hsu, Tsai, Chiang; Ming-chih, Ch'iang, Hsiung), the given name hyphenated, apart or
one syllable, and screens each against the lists bench/quality.py loads (UN, Kazakh AFM,
OFAC samples) at the default threshold. None of them is listed (the lists hold no
Wade-Giles name of these syllables); an alert is a name that meets a listed one closely
enough, as short Chinese and Korean names do. Prints the count and each alert with its
pairs' rules, so that a rule for these spellings can be seen not to raise them.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.quality import load_lists  # noqa: E402
from listd.screening import Query, ScreeningIndex  # noqa: E402

_FAMILY = (
    "Chang Wang Li Liu Ch'en Yang Huang Chao Wu Chou Hsu Sun Ma Chu Hu Kuo Ho Kao Lin Lo "
    "Cheng Liang Hsieh Sung T'ang Han Feng Teng Ts'ao P'eng Tsai Chiang Tseng"
)
_GIVEN = (
    "Wei Ch'iang Lei Chun Yang Yung Chieh T'ao Ming Ch'ao Kang Hua Chien Kuo Hao Yu Po "
    "K'ai Jui Chih Wen P'eng Fei Tung Fang Na Min Ching Li Yen Hsiu Hsia P'ing Hui Lan Hung "
    "Hsin T'ing Lin Yun Tse Hsiung"
)
FAMILY, GIVEN = _FAMILY.split(), _GIVEN.split()


def names(count: int, seed: int) -> list[str]:
    """`count` distinct names: the given name hyphenated (half), apart, or one syllable."""
    rng = random.Random(seed)
    out: set[str] = set()
    while len(out) < count:
        family, one, two = rng.choice(FAMILY), rng.choice(GIVEN), rng.choice(GIVEN)
        roll = rng.random()
        if roll < 0.5:
            out.add(f"{family} {one}-{two.lower()}")
        elif roll < 0.8:
            out.add(f"{family} {one} {two}")
        else:
            out.add(f"{family} {one}")
    return sorted(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    index = ScreeningIndex()
    for source, entities in sorted(load_lists().items()):
        index.replace_source(source, "bench", entities)
    written = names(args.names, args.seed)
    alerts = []
    for name in written:
        found = index.screen(Query(name, type="person"))
        if found:
            match = found[0]
            pairs = [(t["query"], t["candidate"], t["rule"]) for t in match.explanation["tokens"]]
            alerts.append(f"{name} ~ {match.entity.id} {match.score:.3f} {pairs}")
    print(f"{len(written)} names in Wade-Giles, {len(alerts)} alert")
    for alert in alerts:
        print(alert)


if __name__ == "__main__":
    main()
