"""Who a certificate names: the NCA puts the person's IIN in SERIALNUMBER ("IIN" + 12
digits) and, for an employee, the organisation's BIN in OU ("BIN" + 12 digits)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

_IIN = re.compile(r"IIN(\d{12})")
_BIN = re.compile(r"BIN(\d{12})")


@dataclass(frozen=True, slots=True)
class Subject:
    iin: str  # "" when the certificate names none
    bin: str  # "" for a private person's certificate
    common_name: str
    organisation: str
    rfc4514: str

    @classmethod
    def of(cls, cert: x509.Certificate) -> Subject:
        name = cert.subject
        iin = bin_ = ""
        for attr in name.get_attributes_for_oid(NameOID.SERIAL_NUMBER):
            found = _IIN.fullmatch(str(attr.value))
            if found:
                iin = found.group(1)
        for attr in name.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME):
            found = _BIN.fullmatch(str(attr.value))
            if found:
                bin_ = found.group(1)
        return cls(
            iin=iin,
            bin=bin_,
            common_name=_first(name, NameOID.COMMON_NAME),
            organisation=_first(name, NameOID.ORGANIZATION_NAME),
            rfc4514=name.rfc4514_string(),
        )

    def to_json(self) -> dict[str, str]:
        return {
            "iin": self.iin,
            "bin": self.bin,
            "cn": self.common_name,
            "o": self.organisation,
            "subject": self.rfc4514,
        }


def _first(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    found = name.get_attributes_for_oid(oid)
    return str(found[0].value) if found else ""
