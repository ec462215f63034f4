"""Where webhooks may go: https only, public addresses only, no redirects.

A subscriber chooses the URL, so without these checks listd could be made to POST to
its own Redis, a cloud metadata service or the bank's intranet (server-side request
forgery). The URL is checked when a subscription is saved, and again at every
connection: `GuardedResolver` is the HTTP client's resolver, so the address connected
to is the address checked (a DNS answer that changes between check and use, "DNS
rebinding", gains nothing). Hosts in the administrator's allow-list may use http and
private addresses (an internal receiver, the tests' 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

from listd.errors import BadRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AllowList:
    """The configured hosts exempt from the https and public-address rules."""

    def __init__(self, hosts: Iterable[str] = ()) -> None:
        self.hosts = frozenset(h.strip().lower().strip("[]") for h in hosts if h.strip())

    def __contains__(self, host: object) -> bool:
        return isinstance(host, str) and host.lower().strip("[]") in self.hosts


def public(ip: IPAddress) -> bool:
    """True for a globally routable unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None and not public(embedded):
            return False
    return ip.is_global and not (
        ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_private
    )


def check_url(url: str, allow: AllowList) -> URL:
    """The parsed URL if its form is acceptable; BadRequest naming the problem if not."""
    try:
        parsed = URL(url)
    except (ValueError, TypeError):
        raise BadRequest("url is not a valid URL", field="url") from None
    host = parsed.host
    if not parsed.is_absolute() or not host:
        raise BadRequest("url must be absolute, with a host", field="url")
    if parsed.scheme not in ("https", "http"):
        raise BadRequest("url must use https", field="url")
    if parsed.scheme == "http" and host not in allow:
        raise BadRequest("url must use https (http only for allow-listed hosts)", field="url")
    if parsed.user is not None or parsed.password is not None:
        raise BadRequest("url must not hold credentials; sign-in is by signature", field="url")
    if parsed.fragment:
        raise BadRequest("url must not have a fragment", field="url")
    if host not in allow:
        literal = _literal(host)
        if literal is not None and not public(literal):
            raise BadRequest(f"url points to a non-public address ({literal})", field="url")
    return parsed


async def check_destination(url: str, allow: AllowList) -> URL:
    """`check_url`, then resolve the host: every address it resolves to must be public."""
    parsed = check_url(url, allow)
    host = parsed.host
    assert host is not None
    if host in allow or _literal(host) is not None:
        return parsed
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, parsed.port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:  # UnicodeError: IDNA refuses a label over 63
        raise BadRequest(f"url host {host!r} does not resolve: {exc}", field="url") from None
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not public(ip):
            raise BadRequest(f"url host {host!r} resolves to a non-public address", field="url")
    return parsed


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


class GuardedResolver(AbstractResolver):
    """The webhook client's resolver: drops every non-public address it is given."""

    def __init__(self, allow: AllowList) -> None:
        self.allow = allow
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        if host in self.allow:
            return found
        kept = [r for r in found if public(ipaddress.ip_address(r["host"].split("%", 1)[0]))]
        if not kept:
            raise OSError(f"{host} resolves only to non-public addresses; refused")
        return kept

    async def close(self) -> None:
        await self._inner.close()
