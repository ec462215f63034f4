"""Link discovery on publishers' HTML pages, then fetching what was found from a real HTTP server.

The pages are small copies of the structure of the real ones: the AFM page
https://afmrk.gov.kz/ru/the-list-of-organizations-and-individuals-associa/ (export links per
list and format) and the UN Security Council consolidated-list page (XML and HTML renderings).
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from listd.errors import ConfigError, SourceError
from listd.pipeline.fetch import fetch
from listd.scrapers import un
from listd.scrapers.discovery import DiscoveryFailed, find_link, validate_pattern
from tests.conftest import SourceServer

UN_XML = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "un"
AFM_URL = "https://afmrk.gov.kz/ru/the-list-of-organizations-and-individuals-associa/"
UN_URL = "https://main.un.org/securitycouncil/ru/content/un-sc-consolidated-list"

AFM_PAGE = """<!DOCTYPE html>
<html lang="ru">
<head>
  <meta charset="utf-8">
  <title>Перечень организаций и физических лиц, связанных с финансированием терроризма</title>
  <link rel="stylesheet" href="/static/css/main.css">
  <link rel="alternate" type="application/rss+xml" href="/ru/news/rss.xml">
  <link rel="icon" href="/favicon.ico">
</head>
<body>
  <nav><a href="/ru/">Главная</a> <a href="#content">К содержанию</a>
       <a href="javascript:window.print()">Печать</a></nav>
  <main id="content">
    <h1>Перечень организаций и физических лиц, связанных с финансированием терроризма
        и экстремизма</h1>
    <p>Действующий перечень:
      <a class="btn" href="/blacklist/export/active/xml">Скачать XML</a>
      <a class="btn" href="/blacklist/export/active/xls">Скачать XLS</a>
    </p>
    <p>Исключённые из перечня:
      <a class="btn" href="/blacklist/export/excluded/xml">Скачать XML</a>
      <a class="btn" href="/blacklist/export/excluded/xls">Скачать XLS</a>
    </p>
    <p>Вопросы: <a href="mailto:info@afmrk.gov.kz">info@afmrk.gov.kz</a></p>
  </main>
</body>
</html>
"""

UN_PAGE = """<!DOCTYPE html>
<html lang="en" dir="ltr">
<head>
  <meta charset="utf-8">
  <title>United Nations Security Council Consolidated List | Security Council</title>
  <link rel="canonical" href="https://main.un.org/securitycouncil/en/content/un-sc-consolidated-list">
</head>
<body>
  <div class="field--name-body">
    <p>The Consolidated List is available in the following formats:</p>
    <ul>
      <li>XML: <a href="https://scsanctions.un.org/resources/xml/en/consolidated.xml">English</a>,
          <a href="https://scsanctions.un.org/resources/xml/fr/consolidated.xml">French</a>,
          <a href="https://scsanctions.un.org/resources/xml/sp/consolidated.xml">Spanish</a></li>
      <li>HTML: <a href="https://scsanctions.un.org/consolidated/">Alphabetical</a>
          (<a href="https://scsanctions.un.org/resources/htm/consolidatedLegacyByNAME.html">by
          name</a>, <a href="https://scsanctions.un.org/resources/htm/consolidatedLegacyByPRN.html"
          >by reference number</a>)</li>
      <li>PDF: <a href="https://scsanctions.un.org/resources/pdf/en/consolidated.pdf">English</a></li>
    </ul>
    <map name="m"><area shape="rect" coords="0,0,10,10" href="/securitycouncil/en/sanctions/"></map>
  </div>
</body>
</html>
"""


def find(page: str, pattern: str, base: str = AFM_URL) -> str:
    return find_link(page.encode(), base, pattern)


# -- the AFM page ------------------------------------------------------------------------------


def test_afm_active_xml() -> None:
    assert find(AFM_PAGE, r"/active/xml$") == "https://afmrk.gov.kz/blacklist/export/active/xml"


def test_afm_other_exports() -> None:
    assert find(AFM_PAGE, r"/active/xls$") == "https://afmrk.gov.kz/blacklist/export/active/xls"
    assert find(AFM_PAGE, r"/excluded/xml") == "https://afmrk.gov.kz/blacklist/export/excluded/xml"


def test_first_match_in_document_order_wins() -> None:
    # Both active exports match; the one earlier on the page is taken.
    assert find(AFM_PAGE, r"/blacklist/export/") == (
        "https://afmrk.gov.kz/blacklist/export/active/xml"
    )
    assert find(AFM_PAGE, r"/xls$") == "https://afmrk.gov.kz/blacklist/export/active/xls"


def test_link_elements_are_not_candidates() -> None:
    # The RSS <link> in <head> ends in .xml and comes first; only body links count.
    assert find(AFM_PAGE, r"xml$") == "https://afmrk.gov.kz/blacklist/export/active/xml"
    with pytest.raises(DiscoveryFailed):
        find(AFM_PAGE, r"main\.css|favicon")


def test_pattern_is_matched_against_the_absolute_url() -> None:
    assert find(AFM_PAGE, r"^https://afmrk\.gov\.kz/blacklist/.*/active/xml$").startswith("https")
    assert find(AFM_PAGE, r"(?i)/ACTIVE/XML") == "https://afmrk.gov.kz/blacklist/export/active/xml"
    with pytest.raises(DiscoveryFailed):
        find(AFM_PAGE, r"/ACTIVE/XML")  # case-sensitive unless the pattern says (?i)


def test_mailto_javascript_and_in_page_links_ignored() -> None:
    with pytest.raises(DiscoveryFailed) as info:
        find(AFM_PAGE, r"mailto|javascript|#content|afmrk\.gov\.kz/ru/the-list")
    # Candidates: /ru/ and the four exports (the page's own URL only via "#content": skipped).
    assert info.value.detail["links"] == 5


# -- the UN page -------------------------------------------------------------------------------


def test_un_english_xml() -> None:
    found = find(UN_PAGE, r"/xml/en/consolidated\.xml$", UN_URL)
    assert found == "https://scsanctions.un.org/resources/xml/en/consolidated.xml"


def test_un_html_rendering_by_name() -> None:
    found = find(UN_PAGE, r"consolidatedLegacyByNAME\.html$", UN_URL)
    assert found == "https://scsanctions.un.org/resources/htm/consolidatedLegacyByNAME.html"


def test_un_area_href_is_a_candidate() -> None:
    found = find(UN_PAGE, r"/sanctions/$", UN_URL)
    assert found == "https://main.un.org/securitycouncil/en/sanctions/"


# -- relative links and <base href> --------------------------------------------------------------


@pytest.mark.parametrize(
    ("href", "expected"),
    [
        ("export/active/xml", "https://afmrk.gov.kz/ru/the-list/export/active/xml"),
        ("../files/list.xml", "https://afmrk.gov.kz/ru/files/list.xml"),
        ("/files/list.xml", "https://afmrk.gov.kz/files/list.xml"),
        ("//cdn.afmrk.gov.kz/files/list.xml", "https://cdn.afmrk.gov.kz/files/list.xml"),
        ("  /files/list.xml\n", "https://afmrk.gov.kz/files/list.xml"),
        ("/files/list.xml#section", "https://afmrk.gov.kz/files/list.xml"),
        ("/files/list.xml?lang=ru&amp;v=2", "https://afmrk.gov.kz/files/list.xml?lang=ru&v=2"),
    ],
)
def test_relative_links_resolved_against_the_page(href: str, expected: str) -> None:
    page = f'<html><body><a href="{href}">XML</a></body></html>'
    assert find(page, r"xml", "https://afmrk.gov.kz/ru/the-list/") == expected


def test_base_href_honoured() -> None:
    page = """<html><head><base href="https://files.afmrk.gov.kz/exports/"></head>
    <body><a href="active.xml">XML</a></body></html>"""
    assert find(page, r"active\.xml$") == "https://files.afmrk.gov.kz/exports/active.xml"


def test_relative_base_href_resolved_against_the_page_url() -> None:
    page = """<html><head><base href="/static/lists/"><base href="/ignored/"></head>
    <body><a href="active.xml">XML</a></body></html>"""
    assert find(page, r"active\.xml$") == "https://afmrk.gov.kz/static/lists/active.xml"


def test_base_without_href_ignored() -> None:
    page = '<html><head><base target="_blank"></head><body><a href="a.xml">x</a></body></html>'
    assert find(page, r"a\.xml$") == AFM_URL + "a.xml"


# -- failures -----------------------------------------------------------------------------------


def test_no_match_says_how_many_links_the_page_had() -> None:
    with pytest.raises(DiscoveryFailed) as info:
        find(AFM_PAGE, r"/active/json$")
    error = info.value
    assert isinstance(error, SourceError)
    assert error.code == "discovery_failed" and error.status == 502
    assert "no link on " + AFM_URL in error.message
    assert "'/active/json$'" in error.message
    assert "the page has 5 link(s)" in error.message
    assert "https://afmrk.gov.kz/blacklist/export/active/xml" in error.message
    assert error.detail == {"url": AFM_URL, "pattern": "/active/json$", "links": 5}


def test_page_without_links() -> None:
    with pytest.raises(DiscoveryFailed, match=r"the page has 0 link\(s\)$"):
        find("<html><body><p>Технические работы</p></body></html>", r"xml")


@pytest.mark.parametrize("pattern", [r"/active/(xml", r"[", r"*.xml", r"(?P<x>a)(?P<x>b)"])
def test_bad_regex_is_a_config_error(pattern: str) -> None:
    with pytest.raises(ConfigError, match="not a valid regular expression") as info:
        find(AFM_PAGE, pattern)
    assert info.value.detail == {"key": "link_pattern"}
    with pytest.raises(ConfigError):
        validate_pattern(pattern)


def test_empty_pattern_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="empty"):
        validate_pattern("")


def test_valid_pattern_accepted() -> None:
    validate_pattern(r"/blacklist/export/active/xml$")


@pytest.mark.parametrize(
    "body",
    [
        (UN_XML / "consolidated-2026-05-08.xml").read_bytes()[:4096],
        b'{"items": [], "error": "not found"}',
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n",
        b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00",  # an XLS(X) file
        b"",
        b"https://afmrk.gov.kz/blacklist/export/active/xml",
    ],
)
def test_non_html_page_rejected(body: bytes) -> None:
    with pytest.raises(DiscoveryFailed, match="is not HTML"):
        find_link(body, AFM_URL, r"xml")


def test_bad_pattern_reported_before_the_page_is_read() -> None:
    with pytest.raises(ConfigError):
        find_link(b"not html at all", AFM_URL, r"(")


# -- discovery + fetch against a real HTTP server --------------------------------------------------


async def test_find_link_then_fetch_the_real_un_file(source_server: SourceServer) -> None:
    xml = (UN_XML / "consolidated-2026-05-08.xml").read_bytes()
    page = UN_PAGE.replace("https://scsanctions.un.org/resources/xml/en/", "/redirect/resources/")
    source_server.put("/securitycouncil/en/content/un-sc-consolidated-list", page.encode())
    source_server.put("/resources/consolidated.xml", xml)
    headers = {"User-Agent": "listd-test"}
    async with aiohttp.ClientSession() as session:
        page_url = source_server.url("/securitycouncil/en/content/un-sc-consolidated-list")
        fetched_page = await fetch(session, page_url, headers=headers, retries=0)
        assert fetched_page.body is not None
        link = find_link(fetched_page.body, fetched_page.url, r"/resources/consolidated\.xml$")
        assert link == source_server.url("/redirect/resources/consolidated.xml")
        fetched = await fetch(session, link, headers=headers, retries=0)
    # The link answers 302 to a signed URL (as the UN's does since 2025); the bytes are the file.
    assert fetched.status == 200
    assert fetched.url.endswith("/resources/consolidated.xml?sig=abc")
    assert fetched.body == xml
    assert un.published(fetched.body) == "2026-05-08T23:00:06.922Z"
    assert [r.path for r in source_server.requests] == [
        "/securitycouncil/en/content/un-sc-consolidated-list",
        "/redirect/resources/consolidated.xml",
        "/resources/consolidated.xml",
    ]


async def test_afm_page_relative_export_link_fetched(source_server: SourceServer) -> None:
    body = b'<?xml version="1.0" encoding="UTF-8"?><root/>'
    source_server.put("/ru/the-list-of-organizations-and-individuals-associa/", AFM_PAGE.encode())
    source_server.put("/blacklist/export/active/xml", body)
    async with aiohttp.ClientSession(headers={"User-Agent": "listd-test"}) as session:
        page_url = source_server.url("/ru/the-list-of-organizations-and-individuals-associa/")
        page = await fetch(session, page_url, retries=0)
        assert page.body is not None
        link = find_link(page.body, page.url, r"/active/xml$")
        fetched = await fetch(session, link, retries=0)
    assert link == source_server.url("/blacklist/export/active/xml")
    assert fetched.body == body
