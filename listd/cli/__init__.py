"""The `listd` command line: `main` is the console script and `python -m listd`."""

from __future__ import annotations

from listd.cli.entry import main, parser

__all__ = ["main", "parser"]
