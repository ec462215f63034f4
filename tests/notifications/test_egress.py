"""Where webhooks may go: the URL rules and the resolver that enforces them per connection."""

from __future__ import annotations

import socket

import pytest

from listd.errors import BadRequest
from listd.notifications.egress import AllowList, GuardedResolver, check_destination, check_url

NONE = AllowList()
LOCAL = AllowList(["127.0.0.1:8443", "127.0.0.1", "Receiver.Internal"])


@pytest.mark.parametrize(
    "url",
    [
        "https://93.184.215.14/hook",
        "https://[2606:4700::6810:85e5]/hook",
        "https://bank.example/webhooks/listd?x=1",
    ],
)
def test_public_https_urls_pass_the_static_check(url: str) -> None:
    assert str(check_url(url, NONE)) == url


@pytest.mark.parametrize(
    "url",
    [
        "http://bank.example/hook",
        "https://127.0.0.1/hook",
        "https://192.168.0.10/hook",
        "https://172.16.5.4/hook",
        "https://100.64.0.1/hook",  # carrier-grade NAT
        "https://0.0.0.0/hook",
        "https://224.0.0.1/hook",
        "https://[fe80::1]/hook",
        "https://[fd00::1]/hook",
        "https://[::ffff:10.0.0.1]/hook",
        "https://[2002:7f00:1::]/hook",  # 6to4 around 127.0.0.1
        "https://u:p@bank.example/hook",
        "https://bank.example/hook#frag",
        "gopher://bank.example/",
        "not a url",
    ],
)
def test_refused(url: str) -> None:
    with pytest.raises(BadRequest) as err:
        check_url(url, NONE)
    assert err.value.detail["field"] == "url"


def test_allow_list_exempts_named_hosts_only() -> None:
    assert check_url("http://127.0.0.1:8443/hook", LOCAL).port == 8443
    assert check_url("http://receiver.internal/hook", LOCAL).host == "receiver.internal"
    with pytest.raises(BadRequest):
        check_url("http://127.0.0.2/hook", LOCAL)


async def test_names_are_resolved_and_private_answers_refused() -> None:
    with pytest.raises(BadRequest, match="non-public"):
        await check_destination("https://localhost/hook", NONE)
    with pytest.raises(BadRequest, match="does not resolve"):
        await check_destination("https://no-such-host.invalid/hook", NONE)
    assert (await check_destination("http://127.0.0.1/hook", LOCAL)).host == "127.0.0.1"


async def test_the_resolver_drops_non_public_addresses_at_connection_time() -> None:
    resolver = GuardedResolver(NONE)
    try:
        with pytest.raises(OSError, match="non-public"):
            await resolver.resolve("localhost", 443, socket.AF_INET)
    finally:
        await resolver.close()
    allowed = GuardedResolver(AllowList(["localhost"]))
    try:
        found = await allowed.resolve("localhost", 443, socket.AF_INET)
        assert found and found[0]["host"] == "127.0.0.1"
    finally:
        await allowed.close()
