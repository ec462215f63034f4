"""Re-checking signed evidence from the journal (`listd eds verify`): each entry that kept a
signature (terms signed, a registration decided) must still verify over the exact
document it stores, by a certificate that chained to an installed NCA root and was valid
when the entry was written. Revocation is not asked again: its outcome at signing time
is in the entry (`signer.revocation`)."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from listd.eds.errors import SignatureRefused
from listd.eds.trust import Purpose
from listd.eds.verify import Verifier, decode

SIGNED_ACTIONS = frozenset({"agreement.sign", "registration.signed"})


def carries_signature(entry: dict[str, Any]) -> bool:
    return entry.get("action") in SIGNED_ACTIONS and isinstance(entry.get("detail"), dict)


async def check_entry(verifier: Verifier, entry: dict[str, Any]) -> dict[str, Any]:
    """{"seq", "action", "ok", "problem"} for one journal entry that carries a signature."""
    detail: dict[str, Any] = entry["detail"]
    out: dict[str, Any] = {"seq": entry.get("seq"), "action": entry.get("action")}
    try:
        document = str(detail["document"])
        at = dt.datetime.fromisoformat(str(entry["at"]).replace("Z", "+00:00"))
        digest = hashlib.sha256(document.encode()).hexdigest()
        if digest != detail.get("document_sha256"):
            raise SignatureRefused("the stored document does not match its digest", "changed")
        if entry.get("action") == "agreement.sign" and detail.get("terms") != digest[:16]:
            raise SignatureRefused("the stored terms are not the version named", "changed")
        verified, _ = await verifier.verify(
            decode(str(detail["cms"])), document.encode(), Purpose.SIGN, at, revocation=False
        )
        signer = detail.get("signer") or {}
        if (signer.get("iin"), signer.get("bin")) != (verified.subject.iin, verified.subject.bin):
            raise SignatureRefused("the recorded signer is not the certificate's", "changed")
    except SignatureRefused as exc:
        return out | {"ok": False, "problem": f"{exc.reason}: {exc.message}"}
    except (KeyError, ValueError, TypeError) as exc:
        return out | {"ok": False, "problem": f"malformed evidence: {exc}"}
    return out | {
        "ok": True,
        "iin": verified.subject.iin,
        "bin": verified.subject.bin,
        "serial": format(verified.cert.serial_number, "x"),
        "revocation": signer.get("revocation"),
    }
