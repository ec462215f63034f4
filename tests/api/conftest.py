"""Fixtures shared by the API tests."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from listd.access import KeyStore
from listd.settings import Settings


@pytest.fixture
async def keys(redis: Redis, settings: Settings) -> dict[str, str]:
    """A screener key and an admin key, each having accepted the terms of use."""
    ks = KeyStore(redis, settings.keys)
    keys = {
        "screener": await ks.create("bank-a screening", "screener"),
        "admin": await ks.create("ops", "admin"),
    }
    for secret in keys.values():  # a new key can do nothing before it accepts the terms
        await ks.accept_agreement(secret)
    return keys
