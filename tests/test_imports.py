"""listd's rooms (its top-level modules and packages) import each other without a
cycle, so each can be read, tested and changed from the rooms below it up."""

from __future__ import annotations

import ast
from pathlib import Path

import listd

ROOT = Path(listd.__file__).parent


def room(module: str) -> str:
    """The room a dotted listd module name belongs to (`__init__` for the package's own)."""
    parts = module.split(".")
    if len(parts) < 2:
        return "__init__"
    return parts[1]


def imports() -> dict[str, set[str]]:
    """Room -> the rooms it imports (module level and inside functions alike)."""
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        source = "__init__" if parts == ("__init__",) else parts[0]
        found = graph.setdefault(source, set())
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module == "listd":  # from listd import api, __version__
                    names = [f"listd.{alias.name}" for alias in node.names]
                else:
                    names = [node.module]
            else:
                continue
            for name in names:
                if name.startswith("listd."):
                    target = room(name)
                    if not (ROOT / target).is_dir() and not (ROOT / f"{target}.py").exists():
                        target = "__init__"  # a name defined in listd/__init__.py
                    if target != source:
                        found.add(target)
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle in `graph`, as the path around it, or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for nxt in sorted(graph.get(node, ())):
            found = visit(nxt, [*path, node])
            if found:
                return found
        done.add(node)
        return None

    for start in sorted(graph):
        found = visit(start, [])
        if found:
            return found
    return None


def test_no_import_cycle_between_rooms() -> None:
    graph = imports()
    assert {"api", "notifications", "console", "http", "screening"} <= set(graph)
    assert cycle(graph) is None, " -> ".join(cycle(graph) or [])


def test_the_http_kernel_is_below_the_rooms_that_serve_routes() -> None:
    graph = imports()
    assert graph["http"].isdisjoint({"api", "notifications", "console"})
    assert "http" in graph["notifications"] and "http" in graph["console"]


def test_a_cycle_is_found() -> None:
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": {"c"}}) is None
