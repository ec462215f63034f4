"""bench/wade_giles.py: its unlisted names are seeded, distinct, and read as names in
Chinese syllables, mostly Wade-Giles, so that the alerts it counts are those of names the
rule `wade_giles` reads."""

from __future__ import annotations

from listd.normalize import readings
from listd.normalize.chinese import wade_giles_name
from listd.screening.words import tokenize
from tests.helpers import load_bench

bench = load_bench("wade_giles")


def test_names_are_seeded_distinct_and_wade_giles() -> None:
    names = bench.names(300, 7)
    assert names == bench.names(300, 7) and len(set(names)) == 300
    assert names != bench.names(300, 8)
    for name in names:
        for reading in readings(name):
            tokens = tokenize(reading, "person")
            assert all(t.chinese for t in tokens), reading
    # Most hold a syllable pinyin lacks (Hsu, Ch'iang, Tse), so every word of theirs is
    # read as Wade-Giles; the rest are written as pinyin writes them too (Wang Li).
    read = [wade_giles_name([t.text for t in tokenize(name, "person")]) for name in names]
    assert sum(read) >= 0.6 * len(names)
