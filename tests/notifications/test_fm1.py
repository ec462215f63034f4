"""Alerts in the regulator's terms: Kazakh FM-1 operation codes and their legal basis on
blocking.required / blocking.lifted, delivered to a real receiver."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from listd.model import Entity, Name
from listd.notifications import events
from listd.settings import Settings
from tests.helpers import eventually, until
from tests.notifications.conftest import Client, Receiver, designate, screened, subscribe, upload


def listed(source: str, ref: str, name: str, *programs: str, schema: Any = "person") -> Entity:
    return Entity(
        id=f"{source}:{ref}",
        source=source,
        schema=schema,
        reference=ref,
        names=(Name(name, "primary"),),
        programs=programs,
    )


def codes(event: dict[str, Any]) -> list[str]:
    return [c["code"] for c in event["data"]["fm1"]]


def by_entity(rx: Receiver, kind: str) -> dict[str, dict[str, Any]]:
    return {e["data"]["designation"]["entity_id"]: e for e in rx.of_type(kind)}


async def test_fm1_codes_on_required_and_lifted(
    api: Client, keys: dict[str, str], receivers: Any, redis: Redis, settings: Settings
) -> None:
    rx: Receiver = await receivers()
    sub = await subscribe(api, keys["bank-a"], rx, threshold=0.8)
    customers = [
        {"reference": "TF-UN", "name": "Aslan Terrorfinancier", "type": "person"},
        {"reference": "TF-KZ", "name": "Boris Kazakhlisted", "type": "person"},
        {"reference": "PF-UN", "name": "Chon Proliferator", "type": "person"},
        {"reference": "PF-KZ", "name": "Dmitri Irankontakt", "type": "person"},
        {"reference": "OFAC", "name": "Edgar Treasurylisted", "type": "person"},
        {"reference": "BOTH", "name": "Farid Doublelisted", "type": "person"},
    ]
    await upload(api, keys["bank-a"], sub["id"], customers)
    await until(lambda: screened(redis, settings, sub["id"]), what="screening on upload")
    assert rx.events == []

    await designate(
        redis,
        settings,
        listed("un", "QDi.901", "Aslan Terrorfinancier", "UN-1267"),
        listed("un", "KPi.901", "Chon Proliferator", "UN-1718"),
        listed("un", "QDi.902", "Farid Doublelisted", "UN-1267"),
    )
    await designate(
        redis,
        settings,
        listed("kz-afm-tf", "KZ-901", "Boris Kazakhlisted", "KZ-TF"),
        listed("kz-afm-tf", "KZ-902", "Farid Doublelisted", "KZ-TF"),
        source="kz-afm-tf",
    )
    await designate(
        redis,
        settings,
        listed("kz-afm-pf", "PF-901", "Dmitri Irankontakt", "KZ-PF", "UN-2231"),
        source="kz-afm-pf",
    )
    await designate(
        redis,
        settings,
        listed("ofac", "OFAC-901", "Edgar Treasurylisted", "OFAC-SDGT"),
        source="ofac",
    )
    await eventually(lambda: len(rx.of_type("blocking.required")) == 7, 60, "seven alerts")
    required = by_entity(rx, "blocking.required")
    assert {e: r["data"]["customer"]["reference"] for e, r in required.items()} == {
        "un:QDi.901": "TF-UN",
        "un:KPi.901": "PF-UN",
        "un:QDi.902": "BOTH",
        "kz-afm-tf:KZ-901": "TF-KZ",
        "kz-afm-tf:KZ-902": "BOTH",
        "kz-afm-pf:PF-901": "PF-KZ",
        "ofac:OFAC-901": "OFAC",
    }
    assert codes(required["un:QDi.901"]) == ["6040"]
    assert codes(required["kz-afm-tf:KZ-901"]) == ["6040"]
    assert codes(required["un:KPi.901"]) == ["6061"]
    (pf,) = required["kz-afm-pf:PF-901"]["data"]["fm1"]
    assert pf["code"] == "6061" and pf["programs"] == ["KZ-PF", "UN-2231"]
    assert any("Article 12-1" in b for b in pf["legal_basis"])
    assert "28.09.2023" in pf["rules"]
    tf = required["kz-afm-tf:KZ-901"]["data"]["fm1"][0]
    assert any("Article 12" in b for b in tf["legal_basis"])
    # OFAC is no Kazakh freezing list: its basis is given, an FM-1 code is not.
    ofac = required["ofac:OFAC-901"]["data"]
    assert ofac["fm1"] == []
    assert ofac["designation"]["legal_basis"] == ["US Treasury OFAC sanctions programme SDGT"]

    # Lifting: Farid is on the UN list and on the AFM's; the UN delisting leaves the AFM
    # freeze in place (partial), the AFM delisting then ends it (full).
    await designate(redis, settings, remove=("un:QDi.902", "un:QDi.901", "un:KPi.901"))
    await eventually(lambda: len(rx.of_type("blocking.lifted")) == 3, 60, "three liftings")
    await designate(redis, settings, remove=("kz-afm-tf:KZ-902",), source="kz-afm-tf")
    await designate(redis, settings, remove=("ofac:OFAC-901",), source="ofac")
    await eventually(lambda: len(rx.of_type("blocking.lifted")) == 5, 60, "five liftings")
    lifted = by_entity(rx, "blocking.lifted")
    assert codes(lifted["un:QDi.902"]) == ["6064"]
    assert lifted["un:QDi.902"]["data"]["fm1"][0]["extent"] == "partial"
    assert codes(lifted["kz-afm-tf:KZ-902"]) == ["6065"]
    assert codes(lifted["un:QDi.901"]) == ["6065"]  # Aslan matched nothing else
    (pf_lift,) = lifted["un:KPi.901"]["data"]["fm1"]
    assert pf_lift["code"] == "6065" and pf_lift["legal_basis"] == [
        f"{events._KZ_LAW}, Article 12-1, paragraph 5"
    ]
    assert lifted["ofac:OFAC-901"]["data"]["fm1"] == []


def test_the_programme_table() -> None:
    assert events.regimes(["UN-1267", "UN-1988", "KZ-TF", "KZ-PTA"]) == ["tf"]
    assert events.regimes(["UN-1718", "UN-2231", "KZ-PF"]) == ["pf"]
    # Regimes without a Kazakh FM-1 rule get no code: no guess.
    for tag in ("UN-1518", "UN-1970", "UN-2713", "OFAC-SDGT", "OFAC-IRAN", "EU-X"):
        assert events.fm1_required([tag]) == [] and events.fm1_lifted([tag], "full") == []
    both = events.fm1_required(["UN-1267", "KZ-PF"])
    assert [c["code"] for c in both] == ["6040", "6061"]
    assert events.legal_basis(["UN-1267"], "Al-Qaida") == [
        "UN Security Council resolution 1267 (Al-Qaida)"
    ]
