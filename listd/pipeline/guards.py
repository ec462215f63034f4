"""When a new snapshot is held for an administrator instead of published.

A broken or truncated file must never delist everyone: a list that shrinks below its floor,
or loses too large a share at once or within a window, waits for `listd approve`.
"""

from __future__ import annotations

from typing import Any

from listd.settings import SourceConfig


def guard(cfg: SourceConfig, new_count: int, old_count: int, removed: int) -> str | None:
    """Why a new snapshot must be held for an administrator, or None to publish it."""
    if new_count < cfg.min_entities:
        return f"{new_count} entities, below min_entities={cfg.min_entities}"
    if old_count and removed / old_count > cfg.max_removed_ratio:
        return (
            f"would remove {removed} of {old_count} entities ({removed / old_count:.0%}), "
            f"above max_removed_ratio={cfg.max_removed_ratio:.0%}"
        )
    return None


def cumulative_guard(
    cfg: SourceConfig, window: list[dict[str, Any]], old_count: int, removed: int
) -> str | None:
    """Why removals published within the window plus this snapshot's must be held, or None.

    `window` holds the earlier publications that removed entities within the window, oldest
    first; the base is the list as it was before the first of them (so a list shrunk in
    small steps is measured against its size at the start, not against each smaller one)."""
    if not cfg.removal_window_hours or not removed or not window:
        return None
    bound = cfg.max_removed_ratio_window
    if bound is None:
        bound = cfg.max_removed_ratio
    base = int(window[0]["before"]) or old_count
    total = removed + sum(int(w["removed"]) for w in window)
    if not base or total / base <= bound:
        return None
    return (
        f"cumulative: with this file {total} of {base} entities would be removed within "
        f"{cfg.removal_window_hours:g} h ({total / base:.0%}; this file removes {removed}), "
        f"above max_removed_ratio_window={bound:.0%}"
    )
