"""UN Security Council Consolidated List, HTML rendering: a fallback for when the XML is missing.

The page is `consolidatedLegacyByNAME.html` (or `...ByPRN.html`), an XSLT (Saxon) rendering of
the same records as the XML (../shared/data/SOURCES.md 1.3, "HTML variant"). Each record is one
`<tr class="rowtext"><td>` of labelled runs: `<strong>Label: </strong>value`, with multiple values
numbered by `<strong> a)</strong>` markers. The XSLT separates the parts it joins itself with
`&nbsp;`, while the data keeps ordinary spaces, so the non-breaking space is kept as a structural
marker until a value is split. What the rendering cannot carry (DATAID, GENDER, alias notes of
entities, the alias/name split of alias notes, address components, document type variants...) is
listed field by field in tests/scrapers/test_un_html.py.

Truncation rule (a download cut short must never replace a good list), checked by `validate` and
again by `parse`: the page states no record totals, so completeness is structural. The bytes must
end with `</html>`; every `<table` must have its `</table>`; both sections (anchors `alqaedaind`
and `alqaedaent`) must exist and hold rows; the individuals table holds only `..i.NNN` references
and the entities table only `..e.NNN`; every row has a reference, `Name:` and `Listed on:`; and
the number of `class="rowtext"` rows in the raw bytes equals the number found in the two section
tables (so the HTML parser neither lost nor invented rows while repairing the markup).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bs4 import BeautifulSoup, NavigableString, Tag

from listd.errors import ValidationFailed
from listd.model import Address, BirthDate, Document, Entity, Name, Place, Quality, Schema
from listd.scrapers.toolkit import cleaner, unique
from listd.scrapers.un import PROGRAMS

KIND = "un-html"

# The page has no UN_LIST_TYPE: it is recovered from the reference prefix, spelled as the XML
# spells UN_LIST_TYPE (checked against every XML file in ../shared/data/un), so that list_type
# and programs (un.PROGRAMS) come out exactly as the XML parser gives them.
LIST_TYPES = {
    "QD": "Al-Qaida",
    "TA": "Taliban",
    "KP": "DPRK",
    "IR": "Iran",
    "IQ": "Iraq",
    "CD": "DRC",
    "LY": "Libya",
    "SO": "Somalia",
    "CF": "CAR",
    "SD": "Sudan",
    "YE": "Yemen",
    "HT": "Haiti",
    "SS": "SouthSudan",
    "GB": "GB",
    "ML": "Mali",
}

# Alias labels: individuals use Good/Low quality, entities A.k.a./F.k.a.
ALIAS_LABELS: dict[str, Quality] = {
    "good quality a.k.a.": "good",
    "low quality a.k.a.": "low",
    "a.k.a.": "aka",
    "f.k.a.": "fka",
}
SECTIONS = {"alqaedaind": "i", "alqaedaent": "e"}  # anchor name -> reference kind letter

NBSP = "\xa0"
_REFERENCE = re.compile(r"([A-Z]{2})([ie])\.(\d+)")
_ITEM = re.compile(r"\s*[a-z]{1,2}\)\s*")  # the "a)" ... "aa)" markers of numbered values
_WHITESPACE = re.compile(r"\s+")  # \s includes NBSP for str patterns
_clean = cleaner(placeholders=("na", "null"), casefold=True)
_NAME_PARTS = re.compile(r"1:(.*?)\s2:(.*?)\s3:(.*?)\s4:(.*)", re.DOTALL)
_MONTH_NAMES = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_MONTHS = {name[:3]: number for number, name in enumerate(_MONTH_NAMES, 1)}
_DAY_MONTH_YEAR = re.compile(r"(?:(\d{1,2})\s+)?([A-Za-z]{3,9})\.?\s+(\d{4})")
_YEAR = re.compile(r"\d{4}")
_ISO = re.compile(r"\d{4}(-\d{2}(-\d{2})?)?")
_YEAR_RANGE = re.compile(r"(\d{4})\s*-\s*(\d{4})")
_ALIAS = re.compile(
    r"(?P<name>.*?)(?:\xa0+born\xa0+(?P<born>.*?))?(?:\xa0+in\xa0+(?P<place>.*?))?\s*",
    re.DOTALL,
)
_BETWEEN = re.compile(r"Between\s+(\d{4})\s+and\s+(\d{4})", re.IGNORECASE)
_APPROXIMATELY = re.compile(r"Approximately\b\s*", re.IGNORECASE)
_AMENDED = re.compile(r"amended\s+on", re.IGNORECASE)
_DATE_IN_TEXT = re.compile(r"\d{1,2}\s+[A-Za-z]{3,9}\.?\s+\d{4}")
_GENERATED = re.compile(
    rb"Generated on:\s*(?:</strong>)?\s*(\d{1,2}\s+[A-Za-z]{3,9}\.?\s+\d{4})", re.IGNORECASE
)
_HTML_START = re.compile(rb"<(?:!doctype\s+html|html)[\s>]", re.IGNORECASE)
_HTML_END = re.compile(rb"</html\s*>\s*\Z", re.IGNORECASE)
_TABLE_OPEN = re.compile(rb"<table\b", re.IGNORECASE)
_TABLE_CLOSE = re.compile(rb"</table\s*>", re.IGNORECASE)
_ROWTEXT = re.compile(rb"""<tr\s[^>]*class\s*=\s*["']?rowtext""", re.IGNORECASE)
# Words that mark a national-id part as a document type rather than an issuing country.
_DOCUMENT_WORDS = re.compile(
    r"\b(card|number|no|certificate|code|identification|identity|passport|id|licen[cs]e|permit)\b"
    r"|:$",
    re.IGNORECASE,
)
_NO_LINK = "No link available"
_LINK_TEXT = "click here"
# Parenthesised qualifiers that belong to UN country names ("Bolivia (Plurinational State of)").
_COUNTRY_QUALIFIER = re.compile(
    r"^(Islamic Republic|Plurinational State|Bolivarian Republic"
    r"|Federated States|Republic|State|Federal Republic) of$"
)


def validate(raw: bytes) -> None:
    """Raise ValidationFailed unless `raw` is a complete UN consolidated-list HTML page."""
    _page(raw)


def published(raw: bytes) -> str | None:
    """The "Generated on" date (YYYY-MM-DD), read from the first 256 KB (after the inline logo)."""
    match = _GENERATED.search(raw, 0, 256 * 1024)
    return _date(match.group(1).decode("ascii", "replace")) if match else None


def parse(raw: bytes) -> Iterator[Entity]:
    """Every row, individuals (as persons) then entities, in page order."""
    for row in _page(raw).rows:
        yield _entity(row)


# -- page structure ---------------------------------------------------------------------------


@dataclass
class _Run:
    """One labelled run of a row: `Label:` followed by one or more numbered values."""

    label: str
    items: list[list[str]] = field(default_factory=lambda: [[]])
    links: list[str] = field(default_factory=list)

    def values(self) -> list[str]:
        """Each numbered value as raw text (NBSP kept); the text before "a)" if not blank."""
        texts = ["".join(chunks) for chunks in self.items]
        if len(texts) > 1 and not _clean(texts[0]):
            texts = texts[1:]
        return texts


@dataclass
class _Row:
    reference: str
    schema: Schema
    runs: dict[str, _Run]
    index: int


@dataclass
class _Page:
    rows: list[_Row]


def _page(raw: bytes) -> _Page:
    if not raw or raw.isspace():
        raise ValidationFailed("empty document")
    head = raw[:65536]
    if b"\x00" in head or not _HTML_START.search(head):
        raise ValidationFailed("not an HTML document (no <html> or <!DOCTYPE html> at the start)")
    if not _HTML_END.search(raw[-4096:]):
        raise ValidationFailed("truncated HTML page: it does not end with </html>")
    opened, closed = len(_TABLE_OPEN.findall(raw)), len(_TABLE_CLOSE.findall(raw))
    if opened != closed:
        raise ValidationFailed(f"truncated HTML page: {opened} <table> opened, {closed} closed")
    expected = len(_ROWTEXT.findall(raw))
    if expected == 0:
        raise ValidationFailed('no <tr class="rowtext"> rows: not a UN consolidated-list page')
    # lxml builds the tree faster than html.parser (0.44 s against 0.72 s for the 1.6 MB page;
    # 0.66 s against 0.95 s for the whole parse) and the entities come out identical.
    soup = BeautifulSoup(raw, "lxml")
    rows: list[_Row] = []
    for anchor, kind in SECTIONS.items():
        table = _section_table(soup, anchor)
        found = [_row(tr, kind, len(rows) + n) for n, tr in enumerate(_rowtexts(table))]
        if not found:
            raise ValidationFailed(f"section #{anchor} has no rows")
        rows += found
    if len(rows) != expected:
        raise ValidationFailed(
            f"the page has {expected} rowtext rows but its two section tables hold {len(rows)}",
            expected=expected,
            found=len(rows),
        )
    return _Page(rows)


def _section_table(soup: BeautifulSoup, anchor: str) -> Tag:
    """The first <table> after the section's `<a name=...>` anchor."""
    target = soup.find("a", attrs={"name": anchor}) or soup.find(id=anchor)
    if not isinstance(target, Tag):
        raise ValidationFailed(f"section anchor #{anchor} is missing")
    table = target.find_next("table")
    if not isinstance(table, Tag):
        raise ValidationFailed(f"section #{anchor} has no table")
    return table


def _rowtexts(table: Tag) -> Iterator[Tag]:
    for tr in table.find_all("tr", class_="rowtext"):
        if isinstance(tr, Tag):
            yield tr


def _row(tr: Tag, kind: str, index: int) -> _Row:
    td = tr.find("td")
    if not isinstance(td, Tag):
        raise ValidationFailed(f"row {index + 1} has no <td>")
    reference, runs = _runs(td)
    match = _REFERENCE.fullmatch(reference or "")
    if reference is None or match is None:
        raise ValidationFailed(f"row {index + 1} has no reference number (got {reference!r})")
    if match.group(2) != kind:
        section = "individuals" if kind == "i" else "entities"
        raise ValidationFailed(f"{reference} is listed in the {section} section")
    for label in ("name", "listed on"):
        if label not in runs:
            raise ValidationFailed(f"{reference} has no '{label}' field", record=reference)
    return _Row(reference, "person" if kind == "i" else "entity", runs, index)


def _runs(td: Tag) -> tuple[str | None, dict[str, _Run]]:
    """The row's reference and its labelled runs, from the cell's nodes in document order."""
    reference: str | None = None
    runs: dict[str, _Run] = {}
    run: _Run | None = None
    consumed: set[int] = set()  # ids of strings already read as a label, marker or link
    for node in td.descendants:
        if isinstance(node, Tag):
            if node.name == "strong":
                text = node.get_text()
                if reference is None and run is None:
                    reference = _clean(text)
                elif _ITEM.fullmatch(text) and run is not None:
                    run.items.append([])
                elif text.strip().endswith(":"):
                    label = _WHITESPACE.sub(" ", text).strip().rstrip(":").strip().lower()
                    # A label seen twice in a row would be new markup; keep both values.
                    run = runs.setdefault(label, _Run(label))
                    if run.items != [[]]:
                        run.items.append([])
                else:
                    continue  # emphasis inside a value: its text is kept below
                consumed.update(id(s) for s in node.strings)
            elif node.name == "a" and run is not None:
                if (href := node.get("href")) and isinstance(href, str):
                    run.links.append(href.strip())
                if (
                    node.get_text().strip().lower() == _LINK_TEXT
                ):  # the XSLT's INTERPOL link, not data
                    consumed.update(id(s) for s in node.strings)
            elif node.name == "br" and run is not None:
                run.items[-1].append("\n")
        # Only plain text: comments, CDATA and the like are subclasses and are skipped.
        elif type(node) is NavigableString and run is not None and id(node) not in consumed:
            run.items[-1].append(str(node))
    return reference, runs


# -- records -----------------------------------------------------------------------------------


def _entity(row: _Row) -> Entity:
    runs = dict(row.runs)
    reference = row.reference
    meta: dict[str, Any] = {"row": row.index + 1}
    warnings: list[str] = []
    prefix = reference[:2]
    list_type = LIST_TYPES.get(prefix)
    if list_type is None:
        warnings.append(f"unknown reference prefix {prefix!r}: no list type")

    def items(label: str) -> list[str]:
        run = runs.pop(label, None)
        return run.values() if run else []

    def texts(label: str) -> tuple[str, ...]:
        return unique(v for v in map(_clean, items(label)) if v)

    names = _names(row.schema, items("name"), texts("name (original script)"), warnings)
    alias_births: list[BirthDate] = []
    alias_places: list[Place] = []
    for label, quality in ALIAS_LABELS.items():
        for value in items(label):
            alias, born, place = _alias(value, quality)
            names += [alias] if alias else []
            alias_births += [born] if born else []
            alias_places += [place] if place else []
    listed = " ".join(items("listed on"))
    listed_on, updated_on = _listed(listed)
    other = runs.pop("other information", None)
    remarks, urls = _remarks(other)
    documents = [_document(v, "passport") for v in items("passport no")]
    documents += [_document(v, "national_id") for v in items("national identification no")]
    entity = Entity(
        id=f"un:{reference}",
        source="un",
        schema=row.schema,
        reference=reference,
        names=unique(names),
        list_type=list_type,
        programs=(PROGRAMS.get(list_type, f"UN-{list_type}"),) if list_type else (),
        listed_on=listed_on,
        updated_on=updated_on,
        titles=texts("title"),
        positions=texts("designation"),
        nationalities=texts("nationality"),
        # The record's own DOB/POB first, then those of aliases, as the XML parser orders them.
        birth_dates=unique([d for d in map(_birth_date, items("dob")) if d] + alias_births),
        birth_places=unique([p for p in map(_place, items("pob")) if p] + alias_places),
        documents=unique(d for d in documents if d is not None),
        addresses=unique(a for a in map(_address, items("address")) if a is not None),
        remarks=remarks,
        urls=urls,
        meta=meta,
    )
    if runs:
        entity.meta["unknown"] = sorted(f"label {label!r}" for label in runs)
    if warnings:
        entity.meta["warnings"] = warnings
    return entity


def _names(
    schema: Schema, values: list[str], originals: tuple[str, ...], warnings: list[str]
) -> list[Name]:
    text = " ".join(values)
    names: list[Name] = []
    match = _NAME_PARTS.fullmatch(text.strip()) if schema == "person" else None
    if match:
        parts = tuple(p for p in (_clean(g) for g in match.groups()) if p)
        if parts:
            names.append(Name(full=" ".join(parts), kind="primary", parts=parts))
    elif full := _clean(text):
        if schema == "person":
            warnings.append(f"name without numbered parts: {full!r}")
        names.append(Name(full=full, kind="primary", parts=(full,)))
    return names + [Name(full=v, kind="original") for v in originals]


def _alias(value: str, quality: Quality) -> tuple[Name | None, BirthDate | None, Place | None]:
    """`NAME[¦born¦DOB][¦in¦POB][ (NOTE)]`: an alias with the alias-level DOB/POB of the XML.

    Only when `born`/`in` follow the name is a final parenthesis known to be the alias NOTE;
    otherwise `AA (initials)` (NOTE) and `EL PARA (COMBAT NAME)` (name) look alike, and the
    text is kept whole as the name.
    """
    match = _ALIAS.fullmatch(value.strip())
    if match is None or not (match.group("born") or match.group("place")):
        full = _clean(value)
        return (Name(full=full, quality=quality) if full else None), None, None
    text, note = _split_note(value)
    match = _ALIAS.fullmatch(text or "")
    if match is None:
        return None, None, None
    full = _clean(match.group("name"))
    born = _alias_birth_date(match.group("born"))
    place = None
    if where := _clean(match.group("place")):
        city, _, country = where.rpartition(", ")
        place = Place(city=city or None, country=country)
    name = Name(full=full, quality=quality, note=note) if full else None
    return name, born, place


def _alias_birth_date(value: str | None) -> BirthDate | None:
    # Seen in the XML: "1968-05-25", "1969", "1958 - 1964"; rendered as "25 May 1968", "1969".
    value = _clean(value)
    if value is None:
        return None
    if match := _YEAR_RANGE.fullmatch(value):
        return BirthDate(from_year=int(match.group(1)), to_year=int(match.group(2)))
    date = _date(value)
    return BirthDate(date=date) if date and _ISO.fullmatch(date) else BirthDate(note=value)


def _listed(text: str) -> tuple[str | None, tuple[str, ...]]:
    """`18 Oct. 2012 ( amended on 1 May 2019, 8 Nov. 2022 )` -> listed_on, updated_on."""
    text = _WHITESPACE.sub(" ", text)
    amended = _AMENDED.search(text)
    before, after = (text[: amended.start()], text[amended.end() :]) if amended else (text, "")
    listed = _DATE_IN_TEXT.search(before)
    updated = (_date(d) for d in _DATE_IN_TEXT.findall(after))
    return (_date(listed.group(0)) if listed else None), unique(d for d in updated if d)


def _remarks(run: _Run | None) -> tuple[str | None, tuple[str, ...]]:
    """`Other information:` text; the XSLT appends a "click here" link or "No link available"."""
    if run is None:
        return None, ()
    text = _WHITESPACE.sub(" ", " ".join(run.values())).strip()
    text = text.removesuffix(_NO_LINK).strip()
    return _clean(text), unique(run.links)


def _birth_date(value: str) -> BirthDate | None:
    """`3 Aug. 1986`, `1962`, `Approximately 1970`, `Between 1977 and 1982`, each maybe `(note)`."""
    text, note = _split_note(value)
    if text is None and note is None:
        return None
    text = text or ""
    approximate = bool(_APPROXIMATELY.match(text))
    if approximate:
        text = _APPROXIMATELY.sub("", text, count=1).strip()
    between = _BETWEEN.fullmatch(text)
    if between:
        return BirthDate(
            from_year=int(between.group(1)),
            to_year=int(between.group(2)),
            approximate=approximate,
            note=note,
        )
    if not text:
        return BirthDate(approximate=approximate, note=note)
    date = _date(text)
    if date is None or not _ISO.fullmatch(date):  # not a date we can read: keep it as the note
        return BirthDate(note=_clean(value))
    return BirthDate(date=date, approximate=approximate, note=note)


def _place(value: str) -> Place | None:
    """`city, region, country (note)`: the last part is taken as the country (see module doc)."""
    text, note = _split_note(value)
    if text is None and note is None:
        return None
    parts = _parts(text)
    country = parts.pop() if parts else None
    region = parts.pop() if len(parts) >= 2 else None
    return Place(city=", ".join(parts) or None, region=region, country=country, note=note)


def _address(value: str) -> Address | None:
    """`street, city, country (note)`: the components are joined with commas on the page."""
    text, note = _split_note(value)
    if text is None and note is None:
        return None
    parts = _parts(text)
    country = parts.pop() if parts else None
    city = parts.pop() if parts else None
    return Address(street=", ".join(parts) or None, city=city, country=country, note=note)


def _document(value: str, kind: str) -> Document | None:
    """A passport or national id, as rendered by the XSLT.

    Passport: `[COUNTRY¦number¦]NUMBER[, issued on¦DATE][, issued in¦PLACE][ (NOTE)]`.
    National id: `[COUNTRY¦][TYPE¦]NUMBER[...same tail...]` (¦ = NBSP). "issued in" names the city
    of issue when the issuing country leads the value, else the country of issue.
    """
    text, note = _split_note(value)
    if text is None and note is None:
        return None
    text = text or ""
    place: str | None = None
    issued: str | None = None
    if (at := text.rfind(", issued in" + NBSP)) >= 0:
        text, place = text[:at], _clean(text[at + len(", issued in") + 1 :])
    if (at := text.rfind(", issued on" + NBSP)) >= 0:
        text, issued = text[:at], _clean(text[at + len(", issued on") + 1 :])
    parts = [p for p in (_clean(p) for p in text.split(NBSP)) if p]
    country = label = None
    if kind == "passport" and len(parts) >= 3 and parts[1] == "number":
        country, parts = parts[0], parts[2:]
    elif kind == "national_id" and len(parts) >= 3:
        country, label, parts = parts[0], parts[1], parts[2:]
    elif kind == "national_id" and len(parts) == 2:
        if _DOCUMENT_WORDS.search(parts[0]):
            label, parts = parts[0], parts[1:]
        else:
            country, parts = parts[0], parts[1:]
    number = " ".join(parts)
    if not label and not any(c.isdigit() for c in number) and _DOCUMENT_WORDS.search(number):
        label, number = number, ""  # `Algeria¦Birth certificate`: a type, no number
    city = None
    if place:
        if country:
            city = place.removesuffix(", " + country) if place != country else None
        else:
            head, _, country = place.rpartition(", ")
            city = head or None
    default = "Passport" if kind == "passport" else "National Identification Number"
    return Document(
        type=kind,
        number=number,
        type_label=label or default,
        country=country,
        issued=_date(issued) if issued else None,
        city_of_issue=city,
        note=note,
    )


# -- values ------------------------------------------------------------------------------------


def _split_note(value: str) -> tuple[str | None, str | None]:
    """`text (note)` -> (text, note), the note being the last balanced parenthesised group.

    The text keeps its inner NBSPs (the structure of documents); the note is cleaned.
    """
    value = value.strip()  # str.strip() removes NBSP too
    text, note = value, None
    if value.startswith("(") and value.endswith(")"):
        text, note = "", _clean(value[1:-1])  # only a note: `(Believed to be in Pakistan)`
    elif value.endswith(")"):
        depth = 0
        for at in range(len(value) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(value[at], 0)
            if depth == 0:
                text, note = value[:at].strip(), _clean(value[at + 1 : -1])
                break
        else:  # unbalanced, e.g. a note that itself ends with ")" or holds "i)": first " ("
            head, _, tail = value.partition(" (")
            text, note = (head, _clean(tail[:-1])) if tail else (value, None)
        if note and _COUNTRY_QUALIFIER.search(note):  # "Iran (Islamic Republic of)"
            text, note = value, None
    return (text if _clean(text) else None), note


def _parts(text: str | None) -> list[str]:
    parts = [p for p in (_clean(p) for p in (text or "").split(",")) if p]
    # The one UN country name with a comma: "China, Hong Kong Special Administrative Region".
    if len(parts) >= 2 and parts[-2] == "China" and parts[-1].endswith("Administrative Region"):
        parts[-2:] = [f"China, {parts[-1]}"]
    return parts


def _date(text: str) -> str | None:
    """`3 Aug. 1986` -> 1986-08-03, `Aug. 1986` -> 1986-08, `1986` -> 1986; else the text itself."""
    text = _WHITESPACE.sub(" ", text).strip(" ,")
    if not text:
        return None
    if _YEAR.fullmatch(text):
        return text
    match = _DAY_MONTH_YEAR.fullmatch(text)
    month = _month(match.group(2)) if match else None
    if match is None or month is None:
        return text
    day, year = match.group(1), match.group(3)
    return f"{year}-{month:02d}-{int(day):02d}" if day else f"{year}-{month:02d}"


def _month(word: str) -> int | None:
    word = word.lower()
    number = _MONTHS.get(word[:3])
    # "Sept" and "August" are fine, "Augustus" or "Mayday" are not months.
    if number is None or not (_MONTH_NAMES[number - 1].startswith(word) or word == "sept"):
        return None
    return number
