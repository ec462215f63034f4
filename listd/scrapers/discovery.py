"""Find the current list file on a publisher's HTML page (AFM, UN), for sources with `page_url`.

Pure: the caller fetches the page, this module only reads it. The rule, so that a configuration
can be reasoned about:

* candidates are the `href` of every `<a>` and `<area>` element, in document order. `<link>`
  elements are left out: they are page resources (stylesheets, icons, feeds, sitemaps) that sit
  in `<head>`, before any body link, and a loose pattern such as `\\.xml$` would pick them first;
* each href is made absolute against the page's first `<base href>` (itself resolved against the
  page URL) or else the page URL, and its `#fragment` is dropped; only http(s) URLs count, so
  `javascript:`, `mailto:` and `tel:` links never match;
* `pattern` is a Python regular expression searched (`re.search`, case-sensitive unless it says
  `(?i)`) in that absolute URL;
* the first matching link in document order wins. Publishers put the current file first and
  archives or other formats after it, and "first" does not change when a page grows at the end.
"""

from __future__ import annotations

import re
from urllib.parse import urldefrag, urljoin, urlsplit

from bs4 import BeautifulSoup, Tag

from listd.errors import ConfigError, SourceError

# Elements whose href is a link a reader could follow.
LINK_TAGS = ("a", "area")
_SCHEMES = frozenset({"http", "https"})
_HTML_START = re.compile(rb"<(?:!doctype\s+html|html|head|body)[\s>]", re.IGNORECASE)
_SNIFF_BYTES = 65536
_SHOWN = 5  # candidate URLs quoted in the error when nothing matches


class DiscoveryFailed(SourceError):
    """The publisher's page did not lead to a file: not HTML, or no link matches."""

    code = "discovery_failed"


def validate_pattern(pattern: str) -> None:
    """Raise ConfigError unless `pattern` is a usable regular expression."""
    _compile(pattern)


def find_link(page: bytes, base_url: str, pattern: str) -> str:
    """The absolute URL of the first link on `page` whose absolute URL matches `pattern`."""
    regex = _compile(pattern)
    if b"\x00" in page[:_SNIFF_BYTES] or not _HTML_START.search(page[:_SNIFF_BYTES]):
        raise DiscoveryFailed(
            f"the page at {base_url} is not HTML; cannot look for a link matching {pattern!r}",
            url=base_url,
        )
    soup = BeautifulSoup(page, "html.parser")
    base = _base(soup, base_url)
    links = list(_links(soup, base))
    for url in links:
        if regex.search(url):
            return url
    shown = ", ".join(links[:_SHOWN]) + (", ..." if len(links) > _SHOWN else "")
    raise DiscoveryFailed(
        f"no link on {base_url} matches {pattern!r}: the page has {len(links)} link(s)"
        + (f" ({shown})" if links else ""),
        url=base_url,
        pattern=pattern,
        links=len(links),
    )


def _compile(pattern: str) -> re.Pattern[str]:
    if not pattern:
        raise ConfigError("link_pattern is empty (it would match any link)", key="link_pattern")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigError(
            f"link_pattern {pattern!r} is not a valid regular expression: {exc}",
            key="link_pattern",
        ) from None


def _base(soup: BeautifulSoup, page_url: str) -> str:
    """The URL relative links resolve against: the first `<base href>`, as browsers do."""
    base = soup.find("base", href=True)
    if isinstance(base, Tag):
        href = base.get("href")
        if isinstance(href, str) and href.strip():
            return urljoin(page_url, href.strip())
    return page_url


def _links(soup: BeautifulSoup, base: str) -> list[str]:
    """Absolute http(s) URLs of the page's links, in document order, without duplicates."""
    out: dict[str, None] = {}
    for tag in soup.find_all(LINK_TAGS, href=True):
        href = tag.get("href") if isinstance(tag, Tag) else None
        if not isinstance(href, str):
            continue
        # Browsers drop surrounding whitespace and any tab or newline inside an href.
        href = re.sub(r"[\t\n\r]", "", href).strip()
        if not href or href.startswith("#"):  # empty or in-page: the page itself, not a file
            continue
        try:
            url = urldefrag(urljoin(base, href)).url
        except ValueError:  # e.g. "http://[::1" (a broken IPv6 host): not a usable link
            continue
        if urlsplit(url).scheme.lower() in _SCHEMES:
            out.setdefault(url, None)
    return list(out)
