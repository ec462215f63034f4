"""The console's text: one catalogue per language, the same keys and placeholders in
each, and every key the pages use present."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from listd.console import STATIC
from listd.notifications.subscriptions import AMENDMENTS
from listd.pipeline.delta import CLASSES
from listd.screening.variants import CHANGES

LANGUAGES = ("en", "ru", "kk")
CYRILLIC = re.compile(r"[А-Яа-яЁёӘәҒғҚқҢңӨөҰұҮүҺһІі]")


def catalogue(lang: str) -> dict[str, str]:
    data = json.loads((STATIC / "i18n" / f"{lang}.json").read_text("utf-8"))
    assert isinstance(data, dict)
    return data


def sources() -> str:
    files = sorted((STATIC / "js").rglob("*.js")) + [STATIC / "index.html"]
    return "\n".join(f.read_text("utf-8") for f in files)


def test_every_key_exists_in_all_three_languages() -> None:
    keys = {lang: set(catalogue(lang)) for lang in LANGUAGES}
    assert len(keys["en"]) > 300
    for lang in LANGUAGES:
        assert keys[lang] == keys["en"], (lang, keys[lang] ^ keys["en"])
        assert all(v.strip() for v in catalogue(lang).values()), lang


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_translations_keep_placeholders_and_are_translated(lang: str) -> None:
    en, other = catalogue("en"), catalogue(lang)
    for key, text in en.items():
        assert set(re.findall(r"\{\w+\}", other[key])) == set(re.findall(r"\{\w+\}", text)), key
    # Not English copied over: most entries are in Cyrillic script.
    cyrillic = sum(bool(CYRILLIC.search(v)) for v in other.values())
    assert cyrillic / len(other) > 0.85
    if lang == "kk":  # Kazakh, not Russian: its own letters appear
        assert sum(bool(re.search("[ӘәҒғҚқҢңӨөҰұҮүҺһІі]", v)) for v in other.values()) > 100


def test_every_key_the_pages_use_is_in_the_catalogue() -> None:
    text = sources()
    keys = set(catalogue("en"))
    used = set(re.findall(r"\bt\(\"([a-z_]+\.[a-z_.]+)\"", text))
    used |= set(re.findall(r'data-i18n(?:-label)?="([^"]+)"', text))
    assert len(used) > 200
    assert sorted(used - keys) == []
    # Keys built at run time: every value they can take.
    built = [f"basis.{b}" for b in ("onboarding", "transaction", "periodic_review",
                                    "authority_request", "other")]  # fmt: skip
    built += [f"nav.{p}" for p in ("screen", "lists", "changes", "alerts", "audit", "entity")]
    built += [f"lang.{lang}" for lang in LANGUAGES]
    built += [f"entity.op_{op}" for op in ("added", "amended", "removed")]
    built += ["lists.synced", "lists.approved", "lists.rejected"]
    built += [f"status.{s}" for s in ("fresh", "stale", "held", "failing", "never", "disabled")]
    built += [f"origin.{o}" for o in ("fetched", "imported")]
    built += [f"warning.{w}" for w in ("source_not_loaded", "source_stale", "store_down")]
    built += [f"error.{e}" for e in ("dns", "tls", "timeout", "connect", "truncated", "too_large",
                                     "http", "cancelled", "invalid", "other")]  # fmt: skip
    built += [f"rule.{r}" for r in _rules()]
    built += [f"change.{c}" for c in CHANGES]
    built += [f"class.{c}" for c in CLASSES] + [f"amendments.{a}" for a in AMENDMENTS]
    built += [f"fm1.{code}" for code in ("6040", "6061", "6064", "6065")]
    assert sorted(set(built) - keys) == []


def _rules() -> list[str]:
    from listd.screening.explain import RULES

    return [*RULES, "not_in_list_name", "not_in_query"]


def test_no_external_resource_is_referenced() -> None:
    # Everything ships in the package: no CDN, no web font, no remote script.
    for path in STATIC.rglob("*"):
        if path.suffix in {".html", ".js", ".css"}:
            body = path.read_text("utf-8")
            assert not re.search(r"(src|href)=\"(https?:)?//", body), path
            assert not re.search(r"url\((['\"])?(https?:)?//", body), path
            assert "@import" not in body, path


def test_the_package_data_ships_every_console_file() -> None:
    # pyproject's package-data globs must cover every file under static/.
    root = Path(__file__).resolve().parents[2]
    spec = (root / "pyproject.toml").read_text("utf-8")
    globs = re.findall(r'"(console/static/[^"]+)"', spec)
    base = STATIC.parent.parent  # the listd package
    covered = {p for g in globs for p in base.glob(g)}
    files = {p for p in STATIC.rglob("*") if p.is_file()}
    assert files and files <= covered, sorted(str(p) for p in files - covered)
