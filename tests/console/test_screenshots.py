"""Every page of the console rendered in Chromium at 1366x768, with real data, and
photographed. The pictures go to a temporary directory, or to the directory named by
LISTD_SCREENSHOTS (`LISTD_SCREENSHOTS=docs/screenshots pytest tests/console/test_screenshots.py`
refreshes the README's pictures)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from listd.errors import FetchError
from listd.pipeline.store import Store
from listd.pipeline.sync import Syncer
from listd.settings import Settings
from tests.conftest import un_file
from tests.console.conftest import MakeConsole, alert_for_a_listed_customer, expect
from tests.notifications.conftest import Receiver

UNLABELLED = """[...document.querySelectorAll('input, select, textarea')]
  .filter((el) => el.type !== 'hidden' && !el.labels.length && !el.getAttribute('aria-label'))
  .map((el) => el.outerHTML)"""
# Laid out for a 1366x768 laptop: nothing wider than the window, no table that must be
# scrolled sideways to reach a column (the Lists page's "Sync now"), nothing poking out of
# the card or box that holds it (the entity page's basis box).
OVERFLOW = """(() => {
  const out = [];
  const root = document.documentElement;
  if (root.scrollWidth > innerWidth) out.push(`page ${root.scrollWidth}px > ${innerWidth}px`);
  const name = (el) => el.tagName.toLowerCase() + (el.className ? "." + el.className : "")
    + (el.textContent ? ` "${el.textContent.trim().slice(0, 40)}"` : "");
  for (const el of document.querySelectorAll("body *")) {
    const r = el.getBoundingClientRect();
    if (r.width && r.right > innerWidth + 1) out.push(`${name(el)} ends at ${r.right}px`);
  }
  for (const wrap of document.querySelectorAll(".table-wrap")) {
    if (wrap.getBoundingClientRect().width && wrap.scrollWidth > wrap.clientWidth + 1)
      out.push(`${name(wrap.querySelector("caption") || wrap)} scrolls sideways`);
  }
  for (const box of document.querySelectorAll(".card, fieldset")) {
    const edge = box.getBoundingClientRect().right + 1;
    for (const el of box.querySelectorAll("*")) {
      const r = el.getBoundingClientRect();
      if (r.width && r.right > edge) out.push(`${name(el)} overflows ${name(box).slice(0, 30)}`);
    }
  }
  return [...new Set(out)].slice(0, 20);
})()"""
PAGES = (
    "console-signin", "console-screen", "console-screen-kk", "console-lists",
    "console-changes", "console-entity", "console-alerts", "console-audit", "console-refused",
)  # fmt: skip


async def hold_a_snapshot(settings: Settings, store: Store) -> None:
    """Offer the 2017 UN list over the 2025 one: it removes too much, so the guard holds it
    for an administrator (max_removed_ratio)."""
    strict = replace(settings.sources["un"], max_removed_ratio=0.05)
    guarded = replace(settings, sources={**settings.sources, "un": strict})
    result = await Syncer(guarded, store).sync("un", raw=un_file("2017-06-20").read_bytes())
    assert result.outcome == "held", result


async def fail_one_poll(settings: Settings, store: Store) -> None:
    """Poll kz-afm-tf's publisher, which does not answer: its loaded list stays fresh."""
    once = replace(settings.sources["kz-afm-tf"], retries=0)
    failing = replace(settings, sources={**settings.sources, "kz-afm-tf": once})
    async with aiohttp.ClientSession() as http:
        with pytest.raises(FetchError, match="Cannot connect to host"):
            await Syncer(failing, store, http).sync("kz-afm-tf")
    assert (await store.state("kz-afm-tf"))["status"] == "error"


async def test_every_page_renders_and_is_photographed(
    browser: Any, make_console: MakeConsole, tmp_path: Path
) -> None:
    out = Path(os.environ.get("LISTD_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    console = await make_console(dispatch=True)
    admin = await console.key("admin", "bank-a")
    subscriber = await console.key("subscriber", "bank-a")
    auditor = await console.key("auditor", "bank-a")
    screener = await console.key("screener", "bank-a")

    async def shot(page: Any, name: str) -> None:
        # Every control on every page has a label (or an aria-label) a screen reader reads.
        assert await page.evaluate(UNLABELLED) == [], name
        await page.mouse.move(0, 0)  # no hover effects
        await page.evaluate("document.activeElement && document.activeElement.blur()")
        assert await page.evaluate("[innerWidth, innerHeight]") == [1366, 768]
        assert await page.evaluate(OVERFLOW) == [], name
        await page.screenshot(path=str(out / f"{name}.png"), animations="disabled")

    page = await console.page(browser)
    await page.goto(f"{console.base}/console/")
    await expect(page.get_by_label("API key")).to_be_visible()
    await shot(page, "console-signin")

    await console.sign_in(page, screener)
    await page.get_by_label("Name", exact=True).fill("Абдибеков Асет")
    await page.get_by_label("Birth date").fill("1993-08-07")
    await page.get_by_label("Legal basis").select_option("onboarding")
    await page.get_by_role("button", name="Screen", exact=True).click()
    await expect(page.locator("ol.matches > li").first).to_contain_text("Абдибеков")
    await page.locator("#results-title").scroll_into_view_if_needed()
    await shot(page, "console-screen")

    kk = await console.page(browser, locale="kk-KZ")
    await console.sign_in_as(kk, screener, "", "API кілті", "Кіру")
    await kk.get_by_label("Аты немесе атауы").fill("Абдибеков Асет Мейржанович")
    await kk.get_by_label("Құқықтық негіз").select_option("transaction")
    await kk.get_by_role("button", name="Тексеру", exact=True).click()
    await expect(kk.locator("ol.matches > li").first).to_contain_text("Абдибеков")
    await shot(kk, "console-screen-kk")

    await page.goto(f"{console.base}/console/#/changes")
    await expect(page.locator("#live-state")).to_have_text("live")
    await console.sync("un", un_file("2026-02-27"))
    await expect(page.locator("li.feed-item.arrived")).to_have_count(7)
    await shot(page, "console-changes")

    # The basis given on the Screen page is remembered for the tab: no question asked.
    await page.locator("li.feed-item", has_text="un:HTi.006").get_by_role("link").click()
    await expect(page.locator("#what-changed")).to_be_visible()
    await shot(page, "console-entity")

    # The basis box the entity page shows when the tab has no basis yet.
    await page.goto(f"{console.base}/console/#/entity/un:HTi.006?basis=change")
    await expect(page.get_by_label("Legal basis")).to_be_visible()
    assert await page.evaluate(OVERFLOW) == [], "entity basis box"

    await hold_a_snapshot(console.settings, console.store)
    await fail_one_poll(console.settings, console.store)
    lists = await console.page(browser)
    await console.sign_in(lists, admin, "#/lists")
    await expect(lists.locator("[data-held='un']")).to_contain_text("max_removed_ratio")
    await lists.get_by_role("button", name="Sync history of un").click()
    await expect(lists.locator("tr[data-source='un'] + tr.detail")).to_contain_text("held")
    await expect(lists.get_by_role("button", name="Approve and publish")).to_be_visible()
    # One failed poll of a list that still serves: fresh, with the reason, and the raw
    # aiohttp error only on demand; the name once; "Sync now" on screen.
    kz = lists.locator("tr[data-source='kz-afm-tf']")
    await expect(kz.locator(".badge").first).to_have_text("fresh")
    await expect(kz.locator(".why")).to_contain_text("still serves")
    await expect(kz.locator(".error-cell summary")).to_have_text(
        "The publisher could not be reached."
    )
    await expect(kz.locator(".raw-error")).not_to_be_visible()
    assert (await kz.locator("th").inner_text()).count("kz-afm-tf") == 1
    assert await kz.locator(".source-name").evaluate("el => el.getClientRects().length") == 1
    for source in ("un", "kz-afm-tf"):
        sync_now = lists.get_by_role("button", name=f"Sync {source} now")
        await expect(sync_now).to_be_in_viewport()
    await shot(lists, "console-lists")
    await kz.locator(".error-cell summary").click()
    await expect(kz.locator(".raw-error")).to_contain_text("Cannot connect to host")
    lists.once("dialog", lambda dialog: dialog.accept())  # "Discard the held snapshot?"
    await lists.get_by_role("button", name="Reject").click()
    await expect(lists.get_by_role("status").first).to_contain_text("discarded")
    await expect(lists.locator("[data-held]")).to_have_count(0)
    assert (await console.store.held("un")) == {}

    rx = Receiver()
    await rx.start()
    try:
        async with aiohttp.ClientSession() as http:
            await alert_for_a_listed_customer(console, http, subscriber, rx)
        alerts = await console.page(browser)
        await console.sign_in(alerts, subscriber, "#/alerts")
        await expect(alerts.locator("tbody tr").first).to_contain_text("C-001")
        await expect(alerts.locator("tbody tr").first).to_contain_text("delivered")
        await shot(alerts, "console-alerts")
    finally:
        await rx.stop()

    audit = await console.page(browser)
    await console.sign_in(audit, auditor, "#/audit")
    await expect(audit.locator("table")).to_contain_text("/v1/screen")
    await shot(audit, "console-audit")
    async with audit.expect_download() as info:
        await audit.get_by_role("button", name="Export CSV").click()
    exported = Path(await (await info.value).path()).read_text("utf-8-sig").splitlines()
    assert exported[0].startswith("seq,at,kind,name,role,org,method,route")
    assert any(",/v1/screen," in line and ",onboarding," in line for line in exported)

    await page.goto(f"{console.base}/console/#/audit")
    await expect(page.get_by_role("alert")).to_contain_text("needs the role auditor")
    await shot(page, "console-refused")

    assert sorted(p.stem for p in out.glob("console-*.png")) == sorted(PAGES)
    assert console.errors == []
