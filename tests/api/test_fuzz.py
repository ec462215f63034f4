"""The API fuzzed from its own OpenAPI description with schemathesis.

A real app on a real port (its own event loop in a thread, so schemathesis' blocking
client can call it) over the embedded Redis, with the real UN list loaded and a key of
every role. Each operation is called with valid and invalid data; every answer must
conform to the description (status, content type, body schema) and none may be a
server error, except the deliberate upstream ones the description documents (a webhook
receiver that fails a ping answers 502 ping_failed).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import CheckContext
from schemathesis.core.failures import Failure
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from listd.access import KeyStore
from listd.api import create_app
from listd.api.openapi import spec
from listd.connection import client
from listd.keyspace import Keys
from listd.notifications.config import WebhookConfig
from listd.pipeline.store import Store
from listd.pipeline.sync import Syncer
from listd.settings import Settings, SourceConfig
from tests.conftest import un_file

# Per operation and mode: the whole run stays under a minute on two cores. Set
# LISTD_FUZZ_EXAMPLES higher for a longer hunt.
MAX_EXAMPLES = int(os.environ.get("LISTD_FUZZ_EXAMPLES", "12"))
# Server errors that are the documented answer to an upstream's failure, not bugs.
UPSTREAM = {"ping_failed", "fetch_failed", "source_error", "invalid_document"}
ROLES = ("screener", "subscriber", "auditor", "operator", "admin")
MUST_SUCCEED = (
    "POST /v1/screen",
    "POST /v1/screen/batch",
    "GET /v1/entities/{id}",
    "GET /v1/sources",
    "POST /v1/sources/{name}/sync",
    "GET /v1/deltas",
    "GET /v1/audit",
    "POST /v1/users",
    "POST /v1/keys",
    "POST /v1/keys/{key_id}/block",
    "PUT /v1/subscriptions/{id}/watchlist",
    "PATCH /v1/subscriptions/{id}",
)
# Watchlists are uploaded as JSON lines: text on the wire.
schemathesis.serializer.alias("application/x-ndjson", "text/plain")


@dataclass
class Live:
    """An API on 127.0.0.1, run by its own loop in a daemon thread."""

    redis_url: str
    state: Path
    prefix: str = field(default_factory=lambda: f"fuzz-{uuid.uuid4().hex[:12]}")
    keys: dict[str, str] = field(default_factory=dict)
    base: str = ""
    subscription: str = ""
    entity: str = "un:QDi.312"
    # Objects the path parameters point at half the time (see `real_or_random`).
    user: str = ""
    key_id: str = ""
    registration: str = ""
    window: str = ""
    statuses: dict[str, Counter[int]] = field(default_factory=dict)
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(120)

    async def start(self) -> None:
        raw = un_file("2026-05-08").read_bytes()
        source_app = web.Application()

        async def serve(request: web.Request) -> web.Response:
            return web.Response(body=raw, content_type="application/xml")

        source_app.router.add_get("/un.xml", serve)
        self.source = web.AppRunner(source_app)
        await self.source.setup()
        site = web.TCPSite(self.source, "127.0.0.1", 0)
        await site.start()
        port = self.source.addresses[0][1]
        un = SourceConfig(name="un", kind="un", url=f"http://127.0.0.1:{port}/un.xml")
        settings = Settings(
            redis_url=self.redis_url,
            state_dir=self.state,
            key_prefix=self.prefix,
            sources={"un": un},
            log_format="console",
            rate_limit=0,
        )
        self.redis = client(self.redis_url)
        await Syncer(settings, Store(self.redis, Keys(self.prefix))).sync("un", raw=raw)
        store = KeyStore(self.redis, Keys(self.prefix))
        for role in ROLES:
            self.keys[role] = await store.create(f"bank-a {role}", role, org="bank-a")
            await store.accept_agreement(self.keys[role])
        # Blocked, rotated, read by the fuzzer; not a key the fuzzer calls with.
        target = await store.key_for("bank-z clerk", "screener", org="bank-z")
        self.user, self.key_id = target.user, target.key_id
        app = create_app(
            settings,
            self.redis,
            refresh_seconds=0.2,
            webhooks=WebhookConfig(allow_hosts=("127.0.0.1:1-65535",)),
        )
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        api_site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await api_site.start()
        self.base = f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    async def stop(self) -> None:
        await self.runner.cleanup()
        await self.source.cleanup()
        found = [k async for k in self.redis.scan_iter(match=Keys(self.prefix).pattern())]
        if found:
            await self.redis.delete(*found)
        await self.redis.aclose()


@pytest.fixture(scope="module")
def live(valkey_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    api = Live(valkey_url, tmp_path_factory.mktemp("fuzz"))
    thread = threading.Thread(target=api.loop.run_forever, daemon=True)
    thread.start()
    api.run(api.start())
    for _ in range(300):  # the index loads in the background
        if requests.get(f"{api.base}/readyz", timeout=5).status_code == 200:
            break
        threading.Event().wait(0.05)
    api.subscription = new_subscription(api)
    example = spec()["paths"]["/v1/registrations"]["post"]["requestBody"]["content"]
    resp = requests.post(
        f"{api.base}/v1/registrations", json=example["application/json"]["example"], timeout=10
    )
    assert resp.status_code == 201, resp.text
    api.registration = resp.json()["id"]
    window = {"start": "2031-01-01T00:00:00Z", "end": "2031-01-01T01:00:00Z", "reason": "x"}
    resp = requests.post(
        f"{api.base}/v1/maintenance", json=window, headers=auth(api, "operator"), timeout=10
    )
    assert resp.status_code == 201, resp.text
    api.window = resp.json()["id"]
    yield api
    api.run(api.stop())
    api.loop.call_soon_threadsafe(api.loop.stop)
    thread.join(10)
    api.loop.close()


def new_subscription(api: Live) -> str:
    resp = requests.post(
        f"{api.base}/v1/subscriptions",
        json={"url": "http://127.0.0.1:9/hook"},
        headers=auth(api, "subscriber"),
        timeout=10,
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def auth(api: Live, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.keys[role]}"}


def no_server_error(ctx: CheckContext, response: Any, case: Case) -> bool | None:
    """No 5xx, except the documented answer to an upstream that failed."""
    if response.status_code < 500:
        return None
    code = ""
    with contextlib.suppress(ValueError):
        code = str(response.json().get("error", ""))
    if response.status_code in (502, 503) and code in UPSTREAM:
        return None
    raise Failure(
        operation=case.operation.label,
        title="Server error",
        message=f"{response.status_code} {code}: {response.text[:300]}",
    )


def real_or_random(generated: str, real: str) -> str:
    """Half the cases use an object that exists, so the handlers get past their lookup."""
    return real if hashlib.sha256(generated.encode()).digest()[0] % 2 else generated


def load_schema(live: Live) -> Any:
    schema = schemathesis.openapi.from_dict(spec())
    schema.config.update(base_url=live.base)
    # An endless event stream cannot be read to its end; tests/api/test_deltas_api.py
    # covers it.
    return schema.exclude(path="/v1/deltas/stream")


def call(live: Live, case: Case) -> None:
    """Send `case` with a key of the role it needs, check the answer, undo side effects."""
    path = case.operation.path
    params = case.path_parameters if case.path_parameters is not None else {}
    if "{name}" in path:
        params["name"] = real_or_random(str(params.get("name", "")), "un")
    if path.startswith("/v1/subscriptions/{id}") and not (
        path == "/v1/subscriptions/{id}" and case.method == "DELETE"
    ):
        params["id"] = real_or_random(str(params.get("id", "")), live.subscription)
    real = {
        "/v1/entities/{id}": ("id", live.entity),
        "/v1/users/{id}": ("id", live.user),
        "/v1/keys/{key_id}": ("key_id", live.key_id),
        "/v1/registrations/{id}": ("id", live.registration),
        "/v1/maintenance/{id}": ("id", live.window),
    }
    for prefix, (param, value) in real.items():
        if path.startswith(prefix):
            params[param] = real_or_random(str(params.get(param, "")), value)
    if (
        path == "/v1/keys"
        and isinstance(case.body, dict)
        and isinstance(case.body.get("user"), str)
    ):
        case.body["user"] = real_or_random(case.body["user"], live.user)
    roles = case.operation.definition.raw.get("x-listd-roles")
    headers = dict(case.headers or {})
    if roles:
        # An operator may do everything every role may (rotate any key, for one).
        headers |= auth(live, "operator" if "operator" in roles else roles[0])
    response = case.call(headers=headers, timeout=30)
    live.statuses.setdefault(case.operation.label, Counter())[response.status_code] += 1
    try:
        case.validate_response(
            response,
            checks=[
                no_server_error,
                status_code_conformance,
                content_type_conformance,
                response_schema_conformance,
            ],
        )
    finally:
        # Undo what would change the rest of the run.
        if path == "/v1/maintenance" and response.status_code == 201:
            window = response.json()["id"]
            requests.delete(
                f"{live.base}/v1/maintenance/{window}", headers=auth(live, "operator"), timeout=10
            )
        deleted = case.method == "DELETE" and response.status_code == 204
        if path == "/v1/subscriptions/{id}" and deleted:
            live.subscription = new_subscription(live)


def test_api_conforms_to_its_description_and_never_fails(live: Live) -> None:
    failures: list[str] = []
    operations = 0
    schema = load_schema(live)
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode)
            if mode is GenerationMode.POSITIVE:  # the description's examples, too
                strategy = st.one_of(strategy, *schema.get_strategies_from_examples(operation))

            @given(case=strategy)
            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
                phases=[Phase.explicit, Phase.generate],
            )
            def run(case: Case) -> None:
                call(live, case)

            try:
                run()
            except Unsatisfiable:
                continue  # no invalid input exists (an operation without parameters)
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect them all
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    assert operations >= 50
    for label, seen in sorted(live.statuses.items()):
        print(label, dict(sorted(seen.items())))
    assert not failures, "\n\n".join(failures)
    # The run got past authentication and lookups, not only into the refusals.
    for label in MUST_SUCCEED:
        assert any(200 <= s < 300 for s in live.statuses[label]), (label, live.statuses[label])
