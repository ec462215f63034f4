"""Typed keys for state kept on the aiohttp Application and Request (no module globals)."""

from __future__ import annotations

from aiohttp import web
from redis.asyncio import Redis

from listd.access import KeyStore, Principal
from listd.screening import ScreeningIndex
from listd.settings import Settings
from listd.store import Store
from listd.sync import Syncer

SETTINGS = web.AppKey("settings", Settings)
REDIS = web.AppKey("redis", Redis)
STORE = web.AppKey("store", Store)
KEYSTORE = web.AppKey("keystore", KeyStore)
INDEX = web.AppKey("index", ScreeningIndex)
SYNCER = web.AppKey("syncer", Syncer)
READY = web.AppKey("ready", dict)  # {"loaded": bool}; flipped once the initial load ends
PRINCIPAL = web.RequestKey("principal", Principal)  # who sent this request
