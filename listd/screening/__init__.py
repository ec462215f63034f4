"""In-memory screening of names against the loaded lists.

Each API process holds one `ScreeningIndex`, built from the Redis snapshots and
replaced (or patched) per source when a sync flips that source's version. Queries never
touch Redis. How names are compared and scored: docs/matching.md.
"""

from listd.screening.index import ScreeningIndex
from listd.screening.query import DEFAULT_THRESHOLD, Match, Query

__all__ = ["DEFAULT_THRESHOLD", "Match", "Query", "ScreeningIndex"]
