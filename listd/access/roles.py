"""Roles and principals: who is asking, and what each role may do.

Adding a role: name it in `ROLES` (and in `APPLICABLE_ROLES` if an outside organisation
may apply for it), then give routes that role where they are declared.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from listd.audit.entries import Actor
from listd.errors import BadRequest, Forbidden

# screener: screen and read entities; subscriber: its own subscriptions and watchlists;
# auditor: its organisation's journal; operator: registrations, users, keys;
# admin: sources, held lists, configuration.
ROLES = ("screener", "subscriber", "auditor", "operator", "admin")
# admin may do what a screener or a subscriber may (its own organisation's data), but
# not what an operator or an auditor does: identities and the journal are separate duties.
_IMPLIED = {"admin": frozenset({"screener", "subscriber"})}
# Roles an outside organisation may apply for; operators and admins run listd itself.
APPLICABLE_ROLES = ("screener", "subscriber", "auditor")
# During maintenance only these are served, so they can manage the window and the lists.
MAINTAINERS = frozenset({"operator", "admin"})
# A user's or organisation's name; listd.api.operator publishes it as the JSON schema's pattern.
NAME_PATTERN = r"[\w][\w .@()'&,/+-]{0,99}"
_NAME = re.compile(NAME_PATTERN)


def check_name(value: Any, field: str) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value.strip()):
        raise BadRequest(
            f"{field} must be 1-100 letters, digits, spaces or .@()'&,/+- and start with a "
            "letter or digit",
            field=field,
        )
    return value.strip()


def check_role(value: Any, field: str = "role") -> str:
    if value not in ROLES:
        raise BadRequest(f"{field} must be one of {', '.join(ROLES)}", field=field)
    return str(value)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: the user's name and role, the credential and the organisation."""

    name: str
    role: str
    key_id: str  # first 12 hex of the key hash: safe to log
    org: str  # the organisation the key belongs to; data is never shared across orgs
    user: str = ""  # user id
    via: str = "key"  # key | cert

    def require(self, *roles: str) -> None:
        if self.role not in roles and not _IMPLIED.get(self.role, frozenset()) & set(roles):
            raise Forbidden(f"this route needs role {' or '.join(roles)}", role=self.role)

    def require_org(self, org: str) -> None:
        """Refuse (403) anything about another organisation."""
        if org != self.org:
            raise Forbidden("that belongs to another organisation", org=self.org)

    def actor(self) -> Actor:
        return Actor(self.name, self.org, self.role, self.user, self.key_id, self.via)
