"""What every source parser needs: the field reader, value cleaning, dates and stable ids.

The habit (zavod's): a record's reader pops every child it knows and reports what is left,
so a new column in an official list is noticed rather than silently dropped. What a record
had that the model cannot hold goes to a typed `Issues` while it is read, and to the entity's
`meta` ("unknown", "warnings") only when the entity is built. The packaged XSDs are loaded
by listd.scrapers.xsd.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar, Self, TypeVar

from lxml import etree

_T = TypeVar("_T")
_WHITESPACE = re.compile(r"\s+")  # \s includes NBSP and tabs for str patterns

Clean = Callable[[str | None], str | None]


# -- values --------------------------------------------------------------------------------


def cleaner(placeholders: Iterable[str] = (), *, casefold: bool = False, drop: str = "") -> Clean:
    """A value cleaner: whitespace collapsed, the characters of `drop` (a regex character-class
    body) removed, and empty values or `placeholders` ("na") become None. With `casefold`,
    placeholders match in any case."""
    stop = frozenset(placeholders)
    longest = max(map(len, stop), default=0)
    word = rf"[^\s{drop}]+"
    plain = re.compile(f"{word}(?: {word})*")  # already clean: single spaces, no padding
    dropped = re.compile(f"[{drop}]") if drop else None
    # Every whitespace character but the space is unprintable; so, if `drop` holds only
    # unprintable characters, a printable value without padding or double spaces is plain:
    # three C scans instead of a character-class match per character.
    printable_is_plain = _unprintable(drop)

    def clean(value: str | None) -> str | None:
        if value is None:
            return None
        if not (
            printable_is_plain
            and value.isprintable()
            and value[:1] != " "
            and value[-1:] != " "
            and "  " not in value
        ) and not plain.fullmatch(value):  # most values need no work: skip the substitutions
            if dropped is not None:
                value = dropped.sub("", value)
            value = _WHITESPACE.sub(" ", value).strip()
        if not value:
            return None
        # lower() never shortens a string: a longer value is no placeholder
        if len(value) <= longest and (value.lower() if casefold else value) in stop:
            return None
        return value

    return clean


def _unprintable(chars: str) -> bool:
    """True if the regex character-class body `chars` (characters and a-b ranges, no
    escapes) holds only unprintable characters."""
    if "\\" in chars or "^" in chars or "[" in chars or "]" in chars:
        return False
    at = 0
    while at < len(chars):
        if at + 2 < len(chars) and chars[at + 1] == "-":
            low, high, at = ord(chars[at]), ord(chars[at + 2]), at + 3
        elif chars[at] == "-":
            return False
        else:
            low = high = ord(chars[at])
            at += 1
        if any(chr(code).isprintable() for code in range(low, high + 1)):
            return False
    return True


_plain_clean = cleaner()


def clean(value: str | None, strip: str = "") -> str | None:
    """Collapse whitespace; strip the characters of `strip` from both ends; empty is None."""
    value = _plain_clean(value)
    if value and strip:
        value = value.strip(strip + " ") or None
    return value


def unique(items: Iterable[_T]) -> tuple[_T, ...]:
    """Exact duplicates removed, first occurrence kept."""
    return tuple(dict.fromkeys(items))


# -- dates ---------------------------------------------------------------------------------

_DMY = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})(?:\s*г\.?)?")
_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def iso_day(year: int, month: int, day: int) -> str | None:
    """YYYY-MM-DD, or None if there is no such day (or it is before 1800: a typo)."""
    if year < 1800:
        return None
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def parse_date(value: str | None) -> str | None:
    """DD.MM.YYYY (optionally with "г.") or YYYY-MM-DD as YYYY-MM-DD; None if not a real day."""
    if not value:
        return None
    value = value.strip()
    if match := _DMY.fullmatch(value):
        return iso_day(int(match.group(3)), int(match.group(2)), int(match.group(1)))
    if match := _ISO.fullmatch(value):
        return iso_day(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    return None


# -- ids -----------------------------------------------------------------------------------


def fold(text: str) -> str:
    # Deliberately not listd.normalize.fold: ids must not move when matching rules change.
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def digest(*parts: str) -> str:
    """Short stable hash of case- and whitespace-folded parts: an id when the list gives none."""
    text = "|".join(fold(p) for p in parts)
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:12]


# -- records -------------------------------------------------------------------------------


@dataclass
class Issues:
    """What one record had that the parser could not map, reported with the entity."""

    unknown: set[str] = field(default_factory=set)  # element paths, e.g. INDIVIDUAL/NEW_TAG
    warnings: list[str] = field(default_factory=list)

    def report(self, meta: dict[str, Any]) -> None:
        """Into an entity's meta, where the sync collects them: "unknown" sorted."""
        if self.unknown:
            meta["unknown"] = sorted(self.unknown)
        if self.warnings:
            meta["warnings"] = self.warnings


# Element tag -> local name, for readers of namespaced documents: a handful of tags, met
# hundreds of thousands of times in a full-size list.
_LOCAL_NAMES: dict[str, str] = {}
_LOCAL_NAMES_MAX = 10_000


class Fields:
    """An element's children by tag. Callers pop what they handle; `close` reports the rest.

    A source subclasses it to set `clean` (its value cleaner), `ignored` (tags that are
    never read and not worth reporting) and `local_names` (namespaced documents).
    """

    clean: ClassVar[staticmethod[[str | None], str | None]] = staticmethod(_plain_clean)
    ignored: ClassVar[frozenset[str]] = frozenset()
    local_names: ClassVar[bool] = False

    def __init__(self, el: etree._Element, path: str, issues: Issues) -> None:
        self.el = el
        self.path = path
        self.issues = issues
        self.children: dict[str, list[etree._Element]] = {}
        children = self.children
        local = _LOCAL_NAMES if self.local_names else None
        for child in el:
            tag = child.tag
            if not isinstance(tag, str):  # skips comments and processing instructions
                continue
            if local is not None:
                name = local.get(tag)
                if name is None:
                    if len(local) >= _LOCAL_NAMES_MAX:  # a document of ever new tags
                        local.clear()
                    name = local[tag] = tag.rpartition("}")[2]
                tag = name
            found = children.get(tag)
            if found is None:
                children[tag] = [child]
            else:
                found.append(child)

    def pop(self, tag: str) -> list[etree._Element]:
        return self.children.pop(tag, [])

    def text(self, tag: str) -> str | None:
        """The first non-empty value of `tag`."""
        found = self.children.pop(tag, None)
        if found is None:  # most tags a reader asks for are absent: no tuple, no iterator
            return None
        if len(found) == 1:
            return self.clean(found[0].text) or None
        return next((v for v in (self.clean(el.text) for el in found) if v), None)

    def texts(self, tag: str) -> tuple[str, ...]:
        found = self.pop(tag)
        clean = self.clean
        if len(found) == 1:  # the common case, without building a generator chain
            value = clean(found[0].text)
            return (value,) if value else ()
        return unique(v for v in (clean(el.text) for el in found) if v)

    def sub(self, tag: str) -> Iterator[Self]:
        """Each `tag` child as its own reader of the same kind; closes each one after use."""
        kind, path, issues = type(self), f"{self.path}/{tag}", self.issues
        for el in self.pop(tag):
            inner = kind(el, path, issues)
            yield inner
            inner.close()

    def leftover(self) -> list[str]:
        """The tags nobody popped (ignored ones included)."""
        return list(self.children)

    def close(self) -> None:
        if not self.children:  # the common case: every child was read
            return
        ignored = self.ignored
        self.issues.unknown.update(
            f"{self.path}/{tag}" for tag in self.children if tag not in ignored
        )
        self.children.clear()
