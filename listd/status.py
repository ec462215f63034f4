"""What a source's data is worth right now: one reading for the API, the CLI and screening.

A source that has data serves, whether the scheduler fetched it or an operator imported
it from a file (`listd sync SOURCE --file`, the only way some lists arrive: Kazakhstan's
AFM issues API tokens to organisations registered there only). `enabled` says whether
the scheduler polls a source; it never hides data that is loaded.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from listd.errors import NotFound, Unavailable
from listd.pipeline.store import age_minutes
from listd.settings import Settings, SourceConfig


def source_status(cfg: SourceConfig, state: Mapping[str, str]) -> dict[str, Any]:
    """A source's status fields from its stored state.

    `status`: never | ok | stale | held | error, with `+syncing` (or `syncing`) while a sync
    runs. `origin`: fetched | imported (from `imported_from`, a file name) | None (data
    stored before listd recorded it, or none)."""
    status = state.get("status") or "never"
    age = age_minutes(state.get("last_success"))
    stale = age is not None and age > cfg.stale_after_minutes
    if stale and status == "ok":
        status = "stale"
    if state.get("status_detail") == "syncing":
        status = f"{status}+syncing" if status != "never" else "syncing"
    version = state.get("version") or None
    return {
        "enabled": cfg.enabled,
        "version": version,
        "entities": int(state.get("entities", 0)),
        "published": state.get("published") or None,
        "last_attempt": state.get("last_attempt") or None,
        "last_success": state.get("last_success") or None,
        "status": status,
        "origin": (state.get("origin") or None) if version else None,
        "imported_from": (state.get("imported_from") or None) if version else None,
        "last_error": state.get("last_error") or None,
        "last_error_at": state.get("last_error_at") or None,
        "seq": int(state.get("seq", 0)),
        "stale": stale,
        "age_minutes": None if age is None else round(age, 1),
        "held_reason": state.get("held_reason") or None,
    }


@dataclass(frozen=True, slots=True)
class ScreenWarning:
    """A list a screening could not consult, or consulted stale: English text for people,
    a stable code and its parameters for clients that say it in their own language."""

    code: str  # source_not_loaded | source_stale (the middleware adds store_down)
    message: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.params}

    def __str__(self) -> str:
        return self.message


def consulted(
    settings: Settings,
    loaded: Mapping[str, str],
    last_success: Mapping[str, str | None],
    asked: Collection[str] = (),
) -> tuple[dict[str, str], list[ScreenWarning]]:
    """The list versions a screening uses, and warnings about lists it cannot trust.

    Without `asked`, that is every loaded list (fetched or imported) and every source
    the scheduler polls; an enabled source with nothing loaded is named in a warning.
    NotFound for an unknown source asked for; Unavailable when no list can be consulted."""
    unknown = sorted(s for s in asked if s not in settings.sources)
    if unknown:
        raise NotFound(f"unknown source {unknown[0]!r}", field="sources")
    polled = {n for n, s in settings.sources.items() if s.enabled}
    wanted = (
        sorted(asked) if asked else sorted(polled | {s for s in loaded if s in settings.sources})
    )
    versions = {s: loaded[s] for s in wanted if s in loaded}
    if not versions:
        raise Unavailable("no list is loaded yet; run a sync first", sources=list(wanted))
    warnings = [
        ScreenWarning(
            "source_not_loaded", f"source {s} has no data loaded; not screened", {"source": s}
        )
        for s in wanted
        if s not in versions
    ]
    for name in versions:
        age = age_minutes(last_success.get(name))
        bound = settings.sources[name].stale_after_minutes
        if age is not None and age > bound:
            hours = round(age / 60, 1)
            message = f"source {name} is stale: last successful sync {hours:.1f} hours ago"
            warnings.append(
                ScreenWarning("source_stale", message, {"source": name, "hours": hours})
            )
    return versions, warnings
