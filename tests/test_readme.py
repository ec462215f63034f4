"""The README a newcomer follows: what it shows works, and its tables say what the code does."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from listd.cli import parser
from listd.manpage import subcommands
from tests.cli.test_cli import listd

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text("utf-8")
SOURCES = tomllib.loads((ROOT / "listd" / "sources.toml").read_text("utf-8"))["sources"]


def section(title: str) -> str:
    """The text under a `## title` or `### title` heading, up to the next heading."""
    match = re.search(rf"^#+ {re.escape(title)}\n(.*?)(?=^#+ |\Z)", README, re.M | re.S)
    assert match, title
    return match.group(1)


def shell_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, re.S)


def test_every_variable_an_example_uses_is_set_first() -> None:
    assigned: set[str] = set()
    for block in shell_blocks(README):
        for line in block.splitlines():
            used = set(re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)", line)) - {"USER", "HOME", "PWD"}
            assert used <= assigned, f"{sorted(used - assigned)} used before it is set: {line}"
            assigned |= set(re.findall(r"^\s*(?:export\s+)?([A-Z_][A-Z0-9_]*)=", line))


def test_keys_create_prints_only_the_key_so_the_example_can_capture_it(tmp_path: Path) -> None:
    """`KEY=$(listd keys create ...)`: standard output holds the key and nothing else."""
    assert 'KEY=$(.venv/bin/listd keys create --name "bank-a screening"' in README
    done = listd(tmp_path / "state", "keys", "create", "--name", "bank-a", "--role", "screener")
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"lk_\S+\n", done.stdout), done.stdout


def test_the_poll_interval_said_is_each_source_s() -> None:
    using = section("Using it")
    assert "every 15 minutes)" not in using  # not every source: OFAC and KZ-PF are hourly
    said = {15: "every 15 minutes", 60: "hourly"}
    for name, source in SOURCES.items():
        if source.get("enabled", True) is not False:
            assert said[source["interval_minutes"]] in using, name
    assert "LISTD_LISTEN" in using  # where the port of every example comes from


def test_offline_import_names_the_file_of_every_source() -> None:
    using = section("Using it")
    table = dict(re.findall(r"^\| `([a-z-]+)`(?:, `([a-z-]+)`)? \|", using, re.M))
    named = set(table) | {v for v in table.values() if v}
    fetched = {n for n, s in SOURCES.items() if s.get("enabled", True) is not False}
    assert fetched <= named, sorted(fetched - named)
    # The SDN source holds a file under its min_entities: the README says which one.
    assert f"at least {SOURCES['ofac']['min_entities']:,} entries" in using


def test_the_commands_table_has_every_command() -> None:
    commands = section("Commands")
    for name in subcommands(parser()):
        assert f"| `listd {name}" in commands, name


def test_the_configuration_table_is_one_table_with_every_variable() -> None:
    config = section("Configuration")
    rows = re.findall(r"^\| `LISTD_", config, re.M)
    table = re.search(r"^\| variable .*?(?=\n\n|\Z)", config, re.M | re.S)
    assert table is not None
    in_table = re.findall(r"^\| `LISTD_", table.group(0), re.M)
    assert len(in_table) == len(rows), "a blank line splits the table"
    documented = set(re.findall(r"`(LISTD_[A-Z_]+)`", table.group(0)))
    assert {"LISTD_LISTEN", "LISTD_STATE_DIR", "LISTD_DELTA_RETENTION", "LISTD_TLS_CERT"} <= (
        documented
    )
