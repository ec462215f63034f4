"""LISTD_REDIS_URL through Redis Sentinel: URL parsing, and a real Valkey Sentinel."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from listd.connection import SentinelURL, client, parse_sentinel_url
from listd.embedded import server_binary
from listd.errors import ConfigError
from tests.ops.conftest import free_port


def test_sentinel_url_with_every_part() -> None:
    url = (
        "redis+sentinel://listd:s%40cret@10.0.0.1:26380,sentinel-b,[::1]:26381"
        "/mymaster/2?sentinel_password=sp&sentinel_username=su"
    )
    assert parse_sentinel_url(url) == SentinelURL(
        sentinels=[("10.0.0.1", 26380), ("sentinel-b", 26379), ("::1", 26381)],
        service="mymaster",
        db=2,
        username="listd",
        password="s@cret",
        sentinel_username="su",
        sentinel_password="sp",
    )


def test_sentinel_url_minimal_and_tls() -> None:
    parsed = parse_sentinel_url("rediss+sentinel://:pw@h/svc")
    assert parsed.sentinels == [("h", 26379)] and parsed.service == "svc"
    assert parsed.db == 0 and parsed.password == "pw" and parsed.username is None
    assert parsed.tls


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("redis+sentinel://h:26379", "service name is missing"),
        ("redis+sentinel://h/svc/x", "/SERVICE or /SERVICE/DB"),
        ("redis+sentinel://h:99999/svc", "bad port"),
        ("redis+sentinel://h,,k/svc", "host is empty"),
        ("redis+sentinel://h/svc?timeout=3", "unknown option 'timeout'"),
        ("sentinel://h/svc", "scheme"),
    ],
)
def test_bad_sentinel_urls_are_refused_without_echoing_the_password(url: str, why: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_sentinel_url(url.replace("://", "://:topsecret@", 1))
    assert why in caught.value.message
    assert "topsecret" not in caught.value.message
    assert caught.value.detail["key"] == "LISTD_REDIS_URL"


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[str]:
    """A Valkey master on TCP and one Sentinel watching it (the embedded binary in
    sentinel mode); yields the redis+sentinel URL."""
    binary = str(server_binary())
    master, port = free_port(), free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor listd 127.0.0.1 {master} 1\n"
        "sentinel down-after-milliseconds listd 2000\n"
    )
    procs = [
        subprocess.Popen(
            [binary, "--port", str(master), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(tmp_path)],
            stdout=subprocess.DEVNULL,
        ),
        subprocess.Popen([binary, str(conf), "--sentinel"], stdout=subprocess.DEVNULL),
    ]  # fmt: skip
    try:
        yield f"redis+sentinel://127.0.0.1:{port}/listd/0"
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)


async def test_a_client_reaches_the_master_through_sentinel(sentinel: str) -> None:
    redis = client(sentinel)
    try:
        deadline = time.monotonic() + 20
        while True:  # the sentinel and the master take a moment to start
            try:
                assert await redis.ping()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
        await redis.set("listd-sentinel-test", "ü")
        assert await redis.get("listd-sentinel-test") == "ü"  # decoded, like the direct client
        role = await redis.execute_command("ROLE")
        assert role[0] == "master"
    finally:
        await redis.aclose()
