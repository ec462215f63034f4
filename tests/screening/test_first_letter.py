"""A first letter mistyped: the pair is the same in every process."""

from __future__ import annotations

import os
import subprocess
import sys

_PAIRS = "\n".join(
    (
        "from listd.screening.tokens import similarity, tokenize",
        "for a, b in (('Wzim', 'Azim'), ('Wahid', 'Vahid'), ('Yusra', 'Usra')):",
        "    print(a, b, *similarity(tokenize(a, 'person')[0], tokenize(b, 'person')[0]))",
    )
)


def test_a_first_letter_typo_does_not_depend_on_the_hash_seed() -> None:
    # Wzim is spelled wzim, uzim and vzim: which of them stood for the tail "zim" hung on
    # a set's order, so Wzim ~ Azim paired in some processes (API workers) and not in
    # others (uzim ~ azim: a short word keeps its first vowel).
    seen = set()
    for seed in range(8):
        env = {**os.environ, "PYTHONHASHSEED": str(seed)}
        out = subprocess.run([sys.executable, "-c", _PAIRS], env=env, check=True,
                             capture_output=True, text=True).stdout  # fmt: skip
        seen.add(out)
    assert len(seen) == 1, seen
    assert "Wzim Azim 0.75" in seen.pop()
