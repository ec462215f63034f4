"""The programmes the sources define, and the Kazakh legal basis each one carries.

Programme tags are born in the parsers (`KZ-TF` in kz_afm.tf, `UN-1267` from `PROGRAMS` in
un.py, `OFAC-<programme>` in ofac); this is the one table of what obliges a Kazakh reporting
entity to act on a designation under each. The webhook events cite it and derive their FM-1
report codes from `regime` (listd/notifications/events.py; docs/webhooks.md, "Legal basis and
FM-1 codes").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

KZ_LAW = "Law of the Republic of Kazakhstan No. 191-IV of 28 August 2009 (AML/CFT)"
Regime = Literal["tf", "pf"]


@dataclass(frozen=True, slots=True)
class Programme:
    """What obliges a Kazakh reporting entity to act on a designation under one programme.

    `basis` is the legal text to cite (None: the UN resolution or OFAC programme named by
    the tag); `regime` is the Kazakh freezing regime whose FM-1 codes apply, or None where
    no FM-1 rule covers the programme (no code is given rather than a guessed one)."""

    basis: str | None
    regime: Regime | None = None


# By programme tag. The TF list (Art. 12) takes in the UN counter-terrorism lists (1267
# ISIL/Al-Qaida and 1988 Taliban) and the AFM's own; the PF list (Art. 12-1) the UN 1718
# (DPRK) and 2231 (Iran) lists. Other UN regimes (arms embargoes, Iraq, Libya...) and OFAC
# programmes are not Kazakh freezing lists: they get their basis but no FM-1 code.
PROGRAMMES: dict[str, Programme] = {
    "KZ-TF": Programme(
        f"{KZ_LAW}, Article 12: AFM list of organisations and individuals linked to the"
        " financing of terrorism and extremism",
        "tf",
    ),
    "KZ-PTA": Programme(
        f"{KZ_LAW}, Article 12: AFM list of participants in terrorist activity (category 2"
        " of the list of organisations and individuals linked to the financing of terrorism"
        " and extremism)",
        "tf",
    ),
    "KZ-PF": Programme(
        f"{KZ_LAW}, Article 12-1: AFM list of persons linked to the financing of proliferation",
        "pf",
    ),
    "UN-1267": Programme(None, "tf"),
    "UN-1988": Programme(None, "tf"),
    "UN-1718": Programme(None, "pf"),
    "UN-2231": Programme(None, "pf"),
}
