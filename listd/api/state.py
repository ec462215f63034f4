"""The API's own app key (its metrics); the shared keys live in `listd.http.state` and
are re-exported here for code written against this module."""

from __future__ import annotations

from aiohttp import web

from listd.api.metrics import Metrics
from listd.http.state import BELL as BELL
from listd.http.state import FRESHNESS as FRESHNESS
from listd.http.state import INDEX as INDEX
from listd.http.state import KEYSTORE as KEYSTORE
from listd.http.state import PRINCIPAL as PRINCIPAL
from listd.http.state import READY as READY
from listd.http.state import REDIS as REDIS
from listd.http.state import ROLE as ROLE
from listd.http.state import SETTINGS as SETTINGS
from listd.http.state import STORE as STORE
from listd.http.state import SYNCER as SYNCER
from listd.http.state import Bell as Bell

METRICS = web.AppKey("metrics", Metrics)
