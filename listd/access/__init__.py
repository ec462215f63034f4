"""Who may do what: users, API keys, terms of use, registrations and maintenance windows.

One room, one module per part: `roles` (roles and the principal), `keys` (users and API
keys), `terms` (the terms of use, `terms.txt`), `gate` (admitting a request, TLS client
certificates), `maintenance` (windows), `registrations` (applications for access), and
`wiring` (the one place these and the journal are built). Everything is importable from
`listd.access`.
"""

from __future__ import annotations

from listd.access.gate import RATE_WINDOW, Admission, Gate, rate_limited, tls_context
from listd.access.keys import (
    SYSTEM,
    IssuedKey,
    KeyStore,
    User,
    bump_epoch,
    hash_key,
    key_json,
    principal_of,
)
from listd.access.maintenance import MaintenanceWindows, check_maintenance
from listd.access.registrations import Registrations, registration_json
from listd.access.roles import (
    APPLICABLE_ROLES,
    MAINTAINERS,
    ROLES,
    Principal,
    check_name,
    check_role,
)
from listd.access.terms import DEFAULT_TERMS, TERMS, Terms
from listd.access.wiring import Serving, Wiring, wire

__all__ = [
    "APPLICABLE_ROLES",
    "DEFAULT_TERMS",
    "MAINTAINERS",
    "RATE_WINDOW",
    "ROLES",
    "SYSTEM",
    "TERMS",
    "Admission",
    "Gate",
    "IssuedKey",
    "KeyStore",
    "MaintenanceWindows",
    "Principal",
    "Registrations",
    "Serving",
    "Terms",
    "User",
    "Wiring",
    "bump_epoch",
    "check_maintenance",
    "check_name",
    "check_role",
    "hash_key",
    "key_json",
    "principal_of",
    "rate_limited",
    "registration_json",
    "tls_context",
    "wire",
]
