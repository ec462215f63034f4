"""Where webhooks may go: https only, public addresses only, no redirects.

A subscriber chooses the URL, so without these checks listd could be made to POST to
its own Redis, a cloud metadata service or the bank's intranet (server-side request
forgery). The URL is checked when a subscription is saved, and again at every
connection: `GuardedResolver` is the HTTP client's resolver, so the address connected
to is the address checked (a DNS answer that changes between check and use, "DNS
rebinding", gains nothing). Hosts in the administrator's allow-list may use http and
private addresses (an internal receiver, the tests' 127.0.0.1), on the ports the entry names.
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
from listd.settings import host_key, parse_entry

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AllowList:
    """The configured host:port entries exempt from the https and public-address rules.

    Entries: `host:port`, `host:low-high`, `[v6]:port`, or a bare `host` (ports 443 and 80
    only). An allow-listed host is not a licence for every service on it (its Redis, say)."""

    def __init__(self, entries: Iterable[str] = ()) -> None:
        ports: dict[str, list[range]] = {}
        for entry in entries:
            if entry.strip():
                host, allowed = parse_entry(entry)
                ports.setdefault(host, []).extend(allowed)
        self.ports = {host: tuple(allowed) for host, allowed in ports.items()}

    def permits(self, host: str | None, port: int | None) -> bool:
        """True if `host` is allow-listed for `port`."""
        if host is None or port is None:
            return False
        return any(port in allowed for allowed in self.ports.get(host_key(host), ()))

    def names(self, host: str | None) -> bool:
        """True if `host` has an entry, for whichever ports."""
        return host is not None and host_key(host) in self.ports

    def describe(self, host: str) -> str:
        return ", ".join(
            str(r.start) if len(r) == 1 else f"{r.start}-{r.stop - 1}"
            for r in self.ports.get(host_key(host), ())
        )


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


def check_form(url: str) -> None:
    """Refuse a URL that is not written exactly as it will be requested: control characters,
    whitespace, or anything the URL parser would rewrite (case, default port, dot segments,
    percent-escapes, IDNA). What is stored is then what is requested, byte for byte."""
    if any(ord(c) < 0x21 or ord(c) == 0x7F or c.isspace() for c in url):
        raise BadRequest("url must not contain control characters or whitespace", field="url")
    try:
        canonical = str(URL(url))
    except (ValueError, TypeError):
        raise BadRequest("url is not a valid URL", field="url") from None
    if canonical != url:
        raise BadRequest(
            f"url must be written as it will be requested: {canonical}",
            field="url",
            canonical=canonical,
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
    allowed = allow.permits(host, parsed.port)
    if not allowed and allow.names(host):
        raise BadRequest(
            f"url port {parsed.port} is not allow-listed for {host} "
            f"(allowed: {allow.describe(host)})",
            field="url",
        )
    if parsed.scheme == "http" and not allowed:
        raise BadRequest("url must use https (http only for allow-listed hosts)", field="url")
    if parsed.user is not None or parsed.password is not None:
        raise BadRequest("url must not hold credentials; sign-in is by signature", field="url")
    if parsed.fragment:
        raise BadRequest("url must not have a fragment", field="url")
    if not allowed:
        literal = _literal(host)
        if literal is not None and not public(literal):
            raise BadRequest(f"url points to a non-public address ({literal})", field="url")
    return parsed


async def check_destination(url: str, allow: AllowList, *, saving: bool = True) -> URL:
    """`check_url`, then resolve the host: every address it resolves to must be public.

    When `saving`, `check_form` too; a stored URL (a ping, a delivery) is not held to it,
    so a subscription saved before that rule keeps receiving."""
    parsed = check_url(url, allow)
    if saving:
        check_form(url)
    host = parsed.host
    assert host is not None
    if allow.permits(host, parsed.port) or _literal(host) is not None:
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
        if self.allow.permits(host, port):
            return found
        kept = [r for r in found if public(ipaddress.ip_address(r["host"].split("%", 1)[0]))]
        if not kept:
            raise OSError(f"{host} resolves only to non-public addresses; refused")
        return kept

    async def close(self) -> None:
        await self._inner.close()
