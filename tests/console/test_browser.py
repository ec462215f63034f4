"""The console driven in headless Chromium against listd on a real port, with the real
KZ AFM and UN lists in the embedded Redis."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp

from listd.api.middleware import ACCESS
from tests.conftest import un_file
from tests.console.conftest import Console, MakeConsole, alert_for_a_listed_customer, expect
from tests.notifications.conftest import Receiver

KZ_PERSON = "kz-afm-tf:iin-930807351075"


async def test_sign_in_with_a_key_after_accepting_the_terms(browser: Any, console: Console) -> None:
    page = await console.page(browser)
    await page.goto(f"{console.base}/console/")
    # Keyboard: the key field has the focus on arrival, Tab reaches the button, and the
    # focus ring is visible.
    await expect(page.get_by_label("API key")).to_be_focused()
    await page.keyboard.press("Tab")
    button = page.get_by_role("button", name="Sign in")
    await expect(button).to_be_focused()
    ring = "el => [getComputedStyle(el).outlineStyle, getComputedStyle(el).outlineWidth]"
    assert await button.evaluate(ring) == ["solid", "3px"]
    await page.get_by_label("API key").fill("lk_not-a-key")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("The key was not accepted")

    key = await console.key("screener", agree=False)  # a new key must accept the terms
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Terms of use")).to_be_visible()
    await page.get_by_role("button", name="Accept and continue").click()
    await expect(page.get_by_role("alert")).to_contain_text("Tick the box")
    await page.get_by_label("I have read and accept the terms of use").check()
    await page.get_by_role("button", name="Accept and continue").click()

    await expect(page.get_by_role("heading", name="Screen a name")).to_be_visible()
    menu = page.get_by_role("navigation", name="Main menu")
    await expect(menu.get_by_role("link")).to_have_text(["Screen", "Lists", "Changes"])
    await expect(page.locator(".who")).to_have_text("bank-a screener · screener · bank-a")
    # The key stays in this tab only, and goes with "Sign out".
    assert await page.evaluate("sessionStorage.getItem('listd.key')") == key
    assert await page.evaluate("localStorage.getItem('listd.key')") is None
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_label("API key")).to_be_visible()
    assert await page.evaluate("sessionStorage.getItem('listd.key')") is None
    assert console.errors == []


async def test_screen_a_cyrillic_name_from_the_kz_list(browser: Any, console: Console) -> None:
    listed = await console.store.entity(KZ_PERSON)
    assert listed is not None
    name = listed.primary_name  # Абдибеков Асет Мейржанович, as the AFM publishes it
    assert re.fullmatch(r"[А-Яа-яЁё ]+", name)
    page = await console.page(browser)
    await console.sign_in(page, await console.key("screener"))

    # Word order changed and the patronymic dropped, as an officer might type it.
    query = " ".join(reversed(name.split()[:2]))
    await page.get_by_label("Name", exact=True).fill(query)
    await page.get_by_role("button", name="Screen", exact=True).click()
    await expect(page.get_by_role("alert")).to_contain_text("Choose the legal basis")
    await page.get_by_label("Legal basis").select_option("authority_request")
    await page.get_by_role("button", name="Screen", exact=True).click()
    await expect(page.get_by_role("alert")).to_contain_text("Enter the case reference")
    await page.get_by_label("Case reference").fill("AFM-2026/117")
    await page.keyboard.press("Enter")  # keyboard only: Enter submits the form

    first = page.locator("ol.matches > li").first
    await expect(first.get_by_role("link")).to_have_text(name)
    await expect(first.locator("ul.explain li").first).to_contain_text("similar to the listed")
    await expect(first).to_contain_text("kz-afm-tf")
    versions = page.locator(".versions")
    await expect(versions).to_contain_text("kz-afm-tf")
    await expect(versions).to_contain_text("un")
    # The screening went through the API: journaled with its basis and case reference.
    entries = [e.fields for e in await console.app[ACCESS].wiring.journal.read(0, 10_000)]
    screened = [e for e in entries if e.get("route") == "/v1/screen" and e["status"] == 200]
    assert screened[-1]["query"]["name"] == query
    assert (screened[-1]["basis"], screened[-1]["case_ref"]) == (
        "authority_request",
        "AFM-2026/117",
    )

    # The match opens the entity: every name, the IIN document, the programme.
    await first.get_by_role("link").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(name)
    await expect(page.locator("section.block").filter(has_text="Documents")).to_contain_text(
        "930807351075"
    )
    await expect(page.locator("dl.facts")).to_contain_text("KZ-TF")
    await expect(page.locator("section.history")).to_contain_text("added")
    assert console.errors == []


async def test_a_delta_appears_live_on_changes_after_a_sync(browser: Any, console: Console) -> None:
    page = await console.page(browser)
    await console.sign_in(page, await console.key("screener"), "#/changes")
    await expect(page.get_by_role("heading", name="Changes")).to_be_visible()
    await expect(page.locator("#live-state")).to_have_text("live")
    await expect(page.locator("li.feed-item.arrived")).to_have_count(0)

    # A newer UN file arrives: the sync runs server-side, outside the app, and
    # announces its deltas; the page learns of them over the SSE stream.
    result = await console.sync("un", un_file("2026-02-27"))
    assert result.deltas == {"added": 4, "amended": 2, "removed": 1}
    arrived = page.locator("li.feed-item.arrived")
    await expect(arrived).to_have_count(7)
    await expect(arrived.first).to_have_attribute("data-seq", str(result.last_seq))
    await expect(page.locator("#feed")).to_contain_text("un:SDi.010")

    # An amended entry opens the entity with what changed highlighted.
    await arrived.filter(has_text="un:HTi.006").get_by_role("link").click()
    await page.get_by_label("Legal basis").select_option("periodic_review")
    await page.get_by_role("button", name="Open the record").click()
    panel = page.locator("#what-changed")
    await expect(panel).to_contain_text("amended")
    await expect(page.locator(".changed-tag").first).to_be_visible()
    await expect(page.locator("section.history tr.current")).to_contain_text("amended")

    # Filters apply to live deltas too: only removals now.
    await page.goto(f"{console.base}/console/#/changes?op=removed&source=un")
    await expect(page.locator("#live-state")).to_have_text("live")
    await expect(page.locator("li.feed-item").first).to_contain_text("un:IQi.074")
    await console.sync("un", un_file("2026-05-08"))  # +7 -1 ~138
    await expect(page.locator("li.feed-item.arrived")).to_have_count(1)
    await expect(page.locator("li.feed-item.arrived")).to_contain_text("removed")
    assert console.errors == []


async def test_changes_filtered_to_identity_or_details(browser: Any, console: Console) -> None:
    page = await console.page(browser)
    await console.sign_in(page, await console.key("screener"), "#/changes?class=identity")
    await expect(page.get_by_label("Kind of change")).to_have_value("identity")
    await expect(page.locator("#live-state")).to_have_text("live")
    # 2026-02-27: +4 -1, and two amendments that only re-word COMMENTS1 (details).
    await console.sync("un", un_file("2026-02-27"))
    arrived = page.locator("li.feed-item.arrived")
    await expect(arrived).to_have_count(5)
    await expect(page.locator("#feed")).not_to_contain_text("un:HTi.006")

    await page.get_by_label("Kind of change").select_option("details")
    await page.get_by_role("button", name="Filter").click()
    await expect(page).to_have_url(re.compile(r"class=details"))
    details = page.locator("li.feed-item")
    await expect(details).to_have_count(2)
    await expect(details.first).to_contain_text("details only")
    await expect(page.locator("#feed")).to_contain_text("un:HTi.006")
    assert console.errors == []


async def test_alerts_show_the_fm1_code_and_its_legal_basis(
    browser: Any, make_console: MakeConsole
) -> None:
    console = await make_console(dispatch=True)
    subscriber = await console.key("subscriber", "bank-a")
    rx = Receiver()
    await rx.start()
    try:
        async with aiohttp.ClientSession() as http:
            await alert_for_a_listed_customer(console, http, subscriber, rx)
    finally:
        await rx.stop()
    page = await console.page(browser)
    await console.sign_in(page, subscriber, "#/alerts")
    row = page.locator("tbody tr").first
    await expect(row).to_contain_text("C-001")
    cell = row.locator("td.fm1")
    await expect(cell).to_contain_text("6040")  # a KZ TF-list match
    await expect(cell).to_contain_text("terrorist financing list")
    await expect(cell).to_contain_text("Article 12")
    await expect(page.locator("dl.facts").first).to_contain_text("identity changes only")
    assert console.errors == []


async def test_a_screener_is_refused_on_pages_for_other_roles(
    browser: Any, console: Console
) -> None:
    page = await console.page(browser)
    await console.sign_in(page, await console.key("screener"))
    menu = page.get_by_role("navigation", name="Main menu")
    await expect(menu.get_by_role("link", name="Audit")).to_have_count(0)

    # Opened by its address, the auditor's page shows the API's refusal in words.
    await page.goto(f"{console.base}/console/#/audit")
    problem = page.get_by_role("alert")
    await expect(problem).to_contain_text("Not allowed for your role")
    await expect(problem).to_contain_text(
        "You are signed in as screener; this needs the role auditor"
    )
    await expect(page.get_by_role("heading", name="Audit journal")).to_be_visible()

    await page.goto(f"{console.base}/console/#/alerts")
    await expect(page.get_by_role("alert")).to_contain_text("this needs the role subscriber")

    # Administrative actions on the lists are not offered to a screener...
    await page.goto(f"{console.base}/console/#/lists")
    await expect(page.locator("tr[data-source='un']")).to_contain_text("fresh")
    await expect(page.get_by_role("button", name="Sync un now")).to_have_count(0)
    # ...and the refusals are journaled as such.
    entries = [e.fields for e in await console.app[ACCESS].wiring.journal.read(0, 10_000)]
    refused = {e["route"] for e in entries if e.get("outcome") == "refused"}
    assert {"/v1/audit", "/v1/alerts"} <= refused

    # The same pages in Russian: the refusal is translated, not blank.
    ru = await console.page(browser, locale="ru-RU")
    await console.sign_in_as(ru, await console.key("screener"), "#/audit", "API-ключ", "Войти")
    await expect(ru.get_by_role("alert")).to_contain_text("Действие недоступно для вашей роли")
    assert console.errors == []


async def test_screen_a_csv_file_with_progress_and_download_the_results(
    browser: Any, console: Console, tmp_path: Path
) -> None:
    kz = [e for e in await console.store.entities("kz-afm-tf") if e.schema == "person"][:300]
    rows = ["reference,name,birth_date"]
    rows += [f"K-{n},{e.primary_name},{_born(e)}" for n, e in enumerate(kz)]
    rows += ["X-1,Иванова Мария Петровна,1990-01-01", 'X-2,"Smith, John",']
    upload = tmp_path / "customers.csv"
    upload.write_text("\n".join(rows) + "\n", "utf-8")
    page = await console.page(browser)
    await console.sign_in(page, await console.key("screener"))
    await page.get_by_label("Legal basis").select_option("periodic_review")
    await page.get_by_label("CSV file").set_input_files(str(upload))
    await page.get_by_role("button", name="Screen the file").click()
    # Generous: on a loaded 2-core CI machine the batch can take more than the default 5 s.
    await expect(page.locator("#batch-form .notice-ok")).to_contain_text(
        "302 names screened", timeout=60_000
    )
    assert await page.locator("#batch-form progress").get_attribute("max") == "302"
    async with page.expect_download() as info:
        await page.get_by_role("button", name="Download results (CSV)").click()
    download = await info.value
    assert download.suggested_filename == "listd-screening-results.csv"
    lines = Path(await download.path()).read_text("utf-8-sig").splitlines()
    assert lines[0].startswith("reference,name,birth_date,identifier,matches,best_score,entity_id")
    assert len(lines) == 303
    found = {line.split(",")[0]: line for line in lines[1:]}
    # Every listed person is found as themself; the two others are not listed.
    assert all(f",{e.id}," in found[f"K-{n}"] for n, e in enumerate(kz))
    assert ",0,," in found["X-1"] and '"Smith, John"' in found["X-2"]
    entries = [e.fields for e in await console.app[ACCESS].wiring.journal.read(0, 10_000)]
    batches = [e for e in entries if e.get("route") == "/v1/screen/batch"]
    assert len(batches) == 2 and all(e["basis"] == "periodic_review" for e in batches)
    assert console.errors == []


def _born(entity: Any) -> str:
    dates = [b.date for b in entity.birth_dates if b.date]
    return dates[0] if dates else ""


async def test_server_warnings_are_said_in_the_interface_s_language(
    browser: Any, console: Console
) -> None:
    """A stale list's warning, in Russian: translated from its code, not left in English."""
    await console.store.set_state("un", last_success="2026-01-01T00:00:00Z")
    page = await console.page(browser, locale="ru-RU")
    await console.sign_in_as(page, await console.key("screener"), "", "API-ключ", "Войти")
    await page.get_by_label("Имя или наименование").fill("Aamir Ali Chaudhry")
    await page.get_by_label("Правовое основание").select_option("onboarding")
    await page.get_by_role("button", name="Проверить", exact=True).click()
    await expect(page.locator("ol.matches > li").first).to_contain_text("QDi.312")
    warning = page.locator(".results .notice-warn").first
    await expect(warning).to_contain_text("Источник un устарел")
    assert "stale" not in await warning.inner_text()
    assert console.errors == []


async def test_a_file_with_a_surely_wrong_row_is_refused_naming_its_line(
    browser: Any, console: Console, tmp_path: Path
) -> None:
    """A birth date in the future or a name of punctuation only: the line is named and
    nothing is screened, rather than the API refusing a chunk by its index."""
    page = await console.page(browser)
    await console.sign_in(page, await console.key("screener"))
    await page.get_by_label("Legal basis").select_option("periodic_review")
    upload = tmp_path / "customers.csv"
    for rows, said in (
        ("C-1,Иванова Мария,1990-01\nC-2,Aamir Ali,2999-05\n", "Line 3: the birth date 2999-05"),
        ("C-1,Иванова Мария,1990-01\nC-2,---,\n", "Line 3: the name “---” has no letter"),
    ):
        upload.write_text("reference,name,birth_date\n" + rows, "utf-8")
        await page.get_by_label("CSV file").set_input_files(str(upload))
        await page.get_by_role("button", name="Screen the file").click()
        await expect(page.locator("#batch-form .notice-error").last).to_contain_text(said)
    assert console.errors == []
