"""listd(1), written from the command line's own argparse parser.

The page ships in the package (`listd/man/man1/listd.1`) so the unit's
`Documentation=man:listd(1)` resolves. Regenerate it after changing a command:
`python -m listd.manpage --write`; a test fails while it is out of date."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

from listd import __version__

PAGE = Path(__file__).parent / "man" / "man1" / "listd.1"

_ENVIRONMENT = (
    ("LISTD_REDIS_URL", "the Redis to use; unset: an embedded server under the state directory"),
    ("LISTD_REDIS_CLUSTER", "1: LISTD_REDIS_URL names a node of a Redis Cluster (default 0)"),
    ("LISTD_STATE_DIR", "state directory (default $STATE_DIRECTORY, else ~/.local/state/listd)"),
    ("LISTD_LISTEN", "the HTTP address, host:port (default 127.0.0.1:8080)"),
    ("LISTD_SOURCES", "the TOML file declaring the sources"),
    ("LISTD_KEY_PREFIX", "prefix of every Redis key (default listd)"),
    ("LISTD_LOG_FORMAT", "json, console or auto"),
    ("LISTD_AFM_TOKEN", "the AFM API token; the kz-afm-* sources switch on when it is set"),
)


def _escape(text: str) -> str:
    """Text safe in roff: backslashes doubled, hyphens literal, no leading control dot."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + text if text.startswith((".", "'")) else text


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The commands under `parser`, by name (empty for a leaf command)."""
    for action in parser._actions:  # argparse keeps no public list of its subparsers
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _helps(parser: argparse.ArgumentParser) -> dict[str, str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {a.dest: a.help or "" for a in action._choices_actions}
    return {}


def _usage(parser: argparse.ArgumentParser, words: list[str]) -> str:
    usage = parser.format_usage().removeprefix("usage: ").split(None, 1)
    tail = " ".join(usage[1].split()) if len(usage) > 1 else ""
    # A replaced subparser (`listd keys`) names itself; the path is what a reader types.
    head = " ".join(words)
    return f"{head} {tail.removeprefix(' '.join(words[1:])).strip()}".strip()


def _options(parser: argparse.ArgumentParser) -> Iterator[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
            continue
        if action.option_strings:
            name = ", ".join(action.option_strings)
            if action.nargs != 0:
                metavar = action.metavar or (
                    "{" + ",".join(map(str, action.choices)) + "}"
                    if action.choices
                    else action.dest.upper()
                )
                name += f" {metavar}"
        else:
            name = str(action.metavar or action.dest)
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and action.option_strings:
            text = f"{text} (default: {action.default})".strip()
        yield f".TP\n.B {_escape(name)}\n{_escape(text)}" if text else f".TP\n.B {_escape(name)}"


def _commands(parser: argparse.ArgumentParser, words: list[str]) -> Iterator[str]:
    helps = _helps(parser)
    for name, sub in subcommands(parser).items():
        path = [*words, name]
        nested = subcommands(sub)
        if nested:
            yield from _commands(sub, path)
            continue
        yield f".SS {_escape(' '.join(path))}"
        yield f".B {_escape(_usage(sub, path))}"
        yield ".PP"
        yield _escape(sub.description or helps.get(name) or "")
        yield from _options(sub)


def render(parser: argparse.ArgumentParser) -> str:
    """The man page of `parser` (the `listd` parser), in roff."""
    lines = [
        f'.TH LISTD 1 "" "listd {_escape(__version__)}" "User Commands"',
        ".SH NAME",
        "listd \\- " + _escape(parser.description or ""),
        ".SH SYNOPSIS",
        ".B listd",
        ".I command",
        "[options]",
        ".SH DESCRIPTION",
        _escape(
            "listd keeps sanctions lists in sync (UN, Kazakhstan AFM, OFAC) and screens names "
            "against them over HTTP. 'listd run' is the daemon; the other commands work on the "
            "same store. Exit status: 0 on success, 1 when the work failed, 2 for bad usage."
        ),
        ".SH COMMANDS",
        *_commands(parser, ["listd"]),
        ".SH ENVIRONMENT",
    ]
    for name, text in _ENVIRONMENT:
        lines += [".TP", f".B {name}", _escape(text)]
    lines += [
        ".SH SEE ALSO",
        _escape("README.md and docs/operations.md in the listd source tree."),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print the page, or with --write store it in the package."""
    from listd.cli import parser

    args = argparse.ArgumentParser(prog="python -m listd.manpage", description=__doc__)
    args.add_argument("--write", action="store_true", help=f"write {PAGE}")
    page = render(parser())
    if args.parse_args(argv).write:
        PAGE.parent.mkdir(parents=True, exist_ok=True)
        PAGE.write_text(page, encoding="utf-8")
    else:
        sys.stdout.write(page)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
