"""The console's "Sign in with EDS" driven in headless Chromium, against a stand-in for
NCALayer that speaks its WebSocket messages and signs with the test PKI's keys.

The stand-in listens on ws:// (LISTD_EDS_NCALAYER_URL names it): the real NCALayer is
wss://127.0.0.1:13579 with its own certificate, which headless Chromium would refuse
without extra flags; the console code is the same for both."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

from listd.access import KeyStore
from listd.access.eds import EdsAccounts
from listd.eds import EdsSettings
from listd.keyspace import Keys
from tests.console.conftest import MakeConsole, expect
from tests.eds.pki import BIN, Person, make_pki, sign


@dataclass
class NcaLayer:
    """What the stand-in does with the next request, and what it was asked."""

    person: Person
    cancel: bool = False
    asked: list[list[Any]] = field(default_factory=list)

    def app(self) -> web.Application:
        async def socket(request: web.Request) -> web.WebSocketResponse:
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            await ws.send_json({"result": {"version": "1.4"}})  # NCALayer greets first
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                call = json.loads(msg.data)
                assert call["module"] == "kz.gov.pki.knca.commonUtils", call
                assert call["method"] == "createCMSSignatureFromBase64", call
                storage, key_type, data, attached = call["args"]
                self.asked.append([storage, key_type, attached])
                if self.cancel:
                    await ws.send_json({"code": "500", "message": "action.canceled"})
                    continue
                key = (
                    self.person.auth if key_type in ("AUTH", "AUTHENTICATION") else self.person.sign
                )
                cms = sign(key, base64.b64decode(data), detached=not attached)
                await ws.send_json({"code": "200", "responseObject": cms})
            return ws

        app = web.Application()
        app.router.add_get("/", socket)
        return app


async def test_sign_in_with_eds_through_ncalayer(
    browser: Any, make_console: MakeConsole, tmp_path: Path
) -> None:
    pki = make_pki()
    layer = NcaLayer(pki.people["alice"], cancel=True)
    server = TestServer(layer.app(), host="127.0.0.1")
    await server.start_server()
    url = f"ws://127.0.0.1:{server.port}/"
    eds = EdsSettings(
        trust_dir=pki.write_trust(tmp_path / "nca"),
        crl_dir=pki.write_crl(tmp_path / "crl"),
        ncalayer_url=url,
    )
    console = await make_console(eds=eds)
    keys = Keys(console.settings.key_prefix)
    store = KeyStore(console.redis, keys)
    user = await store.create_user("Алия Тестова", BIN, "screener")
    await EdsAccounts(console.redis, keys, store).bind(user.id, pki.people["alice"].iin, None)

    page = await console.page(browser)
    await page.goto(f"{console.base}/console/")
    button = page.get_by_role("button", name="With EDS (NCALayer)")
    alert = page.get_by_role("alert")
    await button.click()
    await expect(alert).to_have_text("Signing was cancelled in NCALayer.")
    layer.cancel = False
    layer.person = pki.people["bob"]
    await button.click()
    await expect(alert).to_have_text("Your certificate has expired. Get a new one from the NCA RK.")
    layer.person = pki.people["dave"]
    await button.click()
    await expect(alert).to_contain_text("is not registered with listd")
    layer.person = pki.rogue
    await button.click()
    await expect(alert).to_have_text("This certificate was not issued by the NCA RK.")

    layer.person = pki.people["alice"]
    await button.click()
    # First sign-in: the terms are signed with the SIGN key, not ticked.
    await expect(page.get_by_role("heading", name="Terms of use")).to_be_visible()
    await page.get_by_role("button", name="Sign with EDS and continue").click()
    await expect(page.get_by_role("heading", name="Screen a name")).to_be_visible()
    await expect(page.locator(".who")).to_have_text(f"Алия Тестова · screener · {BIN}")
    assert [a[1] for a in layer.asked] == ["AUTHENTICATION"] * 5 + ["SIGNATURE"]
    assert all(a[0] == "PKCS12" and a[2] is True for a in layer.asked)

    # NCALayer not running: said so, in the officer's language.
    await page.get_by_role("button", name="Sign out").click()
    await server.close()
    await page.locator("#lang").select_option("ru")
    await page.get_by_role("button", name="Через ЭЦП (NCALayer)").click()
    await expect(page.get_by_role("alert")).to_have_text(
        "NCALayer не запущен на этом компьютере. Запустите NCALayer и повторите попытку."
    )
    assert console.errors == []


async def test_no_eds_button_when_eds_is_off(browser: Any, make_console: MakeConsole) -> None:
    console = await make_console()  # LISTD_EDS_TRUST_DIR unset
    assert not console.settings.eds.enabled
    page = await console.page(browser)
    await page.goto(f"{console.base}/console/")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    # The server has answered that EDS is off: the part stays hidden.
    await expect(page.locator("[data-eds=off]")).to_have_count(1, timeout=5000)
    await expect(page.get_by_role("button", name="With EDS (NCALayer)")).to_have_count(0)
    assert console.errors == []
