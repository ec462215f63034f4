"""Settings and the sources file: validated at start-up, errors name the bad key."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import listd
from listd.errors import ConfigError
from listd.notifications.config import WebhookConfig
from listd.settings import Settings, load_sources, parse_listen

TOKEN = {"LISTD_AFM_TOKEN": "t0ken"}


def test_default_sources_ship_official_urls_and_kz_waits_for_a_token() -> None:
    sources = load_sources(None, {})
    assert sources["un"].url == "https://scsanctions.un.org/resources/xml/en/consolidated.xml"
    assert sources["un"].enabled and sources["un"].min_entities == 500
    for name in ("kz-afm-tf", "kz-afm-pta", "kz-afm-pf"):
        assert not sources[name].enabled, name
    with_token = load_sources(None, TOKEN)
    assert with_token["kz-afm-tf"].enabled
    assert with_token["kz-afm-tf"].headers == {"Authorization": "Bearer t0ken"}
    assert "sanction-weapon-old" in (with_token["kz-afm-pf"].url or "")
    assert not with_token["un-html"].enabled


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[sources.un]\nkind = "un"\nurl = "x"\ninterval = 5\n', "sources.un.interval"),
        ('[sources.un]\nurl = "x"\n', "sources.un.kind"),
        ('[sources.un]\nkind = "eu"\nurl = "x"\n', "sources.un.kind"),
        ('[sources.un]\nkind = "un"\n', "sources.un.url"),
        ('[sources.un]\nkind = "un"\nurl = "x"\ntimeout = "fast"\n', "sources.un.timeout"),
        ('[sources.un]\nkind = "un"\nurl = "x"\ntimeout = -1\n', "sources.un.timeout"),
        ('[sources.un]\nkind = "un"\nurl = "x"\nenabled = "yes"\n', "sources.un.enabled"),
        ('[sources.un]\nkind = "un"\nurl = "x"\nmin_entities = true\n', "sources.un.min_entities"),
        (
            '[sources.un]\nkind = "un"\nurl = "x"\nmax_removed_ratio = 1.5\n',
            "sources.un.max_removed_ratio",
        ),
        ('[sources.un]\nkind = "un"\npage_url = "http://p"\n', "sources.un.link_pattern"),
        (
            '[sources.un]\nkind = "un"\npage_url = "http://p"\nlink_pattern = "("\n',
            "sources.un.link_pattern",
        ),
        ('[sources."Bad Name"]\nkind = "un"\nurl = "x"\n', "sources.Bad Name"),
        ("[other]\n", "sources"),
    ],
)
def test_bad_source_file_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_sources(write(tmp_path, text), {})
    assert info.value.detail["key"] == key, info.value.message


def test_missing_token_is_a_clear_start_up_error(tmp_path: Path) -> None:
    text = (
        '[sources.kz]\nkind = "kz-afm-tf"\nurl = "https://api"\n'
        'headers = { Authorization = "Bearer ${LISTD_AFM_TOKEN}" }\n'
    )
    with pytest.raises(ConfigError, match=r"LISTD_AFM_TOKEN.*not set") as info:
        load_sources(write(tmp_path, text), {})
    assert info.value.detail["key"] == "sources.kz.headers.Authorization"
    assert load_sources(write(tmp_path, text), TOKEN)["kz"].headers["Authorization"] == (
        "Bearer t0ken"
    )


def test_not_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_sources(write(tmp_path, "[sources.un\n"), {})
    with pytest.raises(ConfigError, match="cannot read"):
        load_sources(tmp_path / "missing.toml", {})


def test_environment(tmp_path: Path) -> None:
    env = {"LISTD_STATE_DIR": str(tmp_path), "LISTD_LISTEN": "0.0.0.0:9000"}
    settings = Settings.from_env(env)
    assert settings.state_dir == tmp_path and settings.redis_url is None
    assert parse_listen(settings.listen) == ("0.0.0.0", 9000)
    assert Settings.from_env({"STATE_DIRECTORY": "/var/lib/listd"}).state_dir == Path(
        "/var/lib/listd"
    )
    for bad in (
        {"LISTD_LISTEN": "8080"},
        {"LISTD_KEY_PREFIX": "a b"},
        {"LISTD_DELTA_RETENTION": "0"},
    ):
        with pytest.raises(ConfigError):
            Settings.from_env(bad)


def test_redis_cluster_is_chosen_by_its_variable_with_a_node_url(tmp_path: Path) -> None:
    base = {"LISTD_STATE_DIR": str(tmp_path)}
    plain = Settings.from_env({**base, "LISTD_REDIS_URL": "redis://10.0.0.5:7000"})
    assert not plain.redis_cluster and plain.keys.current("un") == "{listd}:src:un:current"
    on = Settings.from_env(
        {**base, "LISTD_REDIS_URL": "redis://10.0.0.5:7000", "LISTD_REDIS_CLUSTER": "1"}
    )
    assert on.redis_cluster and on.keys.current("un") == "{listd:lists}:src:un:current"
    off = Settings.from_env({**base, "LISTD_REDIS_CLUSTER": "0"})
    assert not off.redis_cluster and off.redis_url is None  # the embedded server, as before
    for url, flag, says in (
        ("", "1", "needs LISTD_REDIS_URL"),  # no embedded cluster
        ("unix:///run/redis.sock", "1", "needs LISTD_REDIS_URL"),
        ("redis+sentinel://s1:26379/mymaster", "1", "needs LISTD_REDIS_URL"),
        ("redis://10.0.0.5:7000", "maybe", "must be 1 or 0"),
    ):
        env = {**base, "LISTD_REDIS_URL": url, "LISTD_REDIS_CLUSTER": flag}
        with pytest.raises(ConfigError, match=says) as caught:
            Settings.from_env(env)
        assert caught.value.detail["key"] == "LISTD_REDIS_CLUSTER"


def test_webhook_and_leader_settings_are_read_here(tmp_path: Path) -> None:
    """LISTD_WEBHOOK_*, LISTD_WATCHLIST_MAX_MB and LISTD_LEADER_TTL are read with the rest;
    the dispatcher's configuration is built from them, keeping its defaults when unset."""
    env = {"LISTD_STATE_DIR": str(tmp_path)}
    default = WebhookConfig.from_settings(Settings.from_env(env).webhooks)
    assert default == WebhookConfig()
    settings = Settings.from_env(
        env
        | {
            "LISTD_WEBHOOK_ALLOW_HOSTS": "127.0.0.1:1-65535, hooks.internal:8443",
            "LISTD_WEBHOOK_TIMEOUT": "5",
            "LISTD_WEBHOOK_CONCURRENCY": "8",
            "LISTD_WEBHOOK_RETRY_HOURS": "48",
            "LISTD_WATCHLIST_MAX_MB": "1.5",
            "LISTD_LEADER_TTL": "4",
            "LISTD_DISPATCH_PARTITIONS": "16",
            "LISTD_DISPATCH_ON": "every",
            "LISTD_DISPATCH_SLICE_CUSTOMERS": "500000",
            "LISTD_DISPATCH_SLICES": "4",
        }
    )
    config = WebhookConfig.from_settings(settings.webhooks)
    assert config.partitions == 16 and settings.webhooks.dispatch_on == "every"
    assert (config.slice_customers, config.slices) == (500_000, 4)
    assert WebhookConfig().slice_customers == 0  # never sliced unless asked
    assert config.allow_hosts == ("127.0.0.1:1-65535", "hooks.internal:8443")
    assert (config.delivery.timeout, config.delivery.concurrency) == (5.0, 8)
    assert config.delivery.retry_window == 48 * 3600
    assert config.max_watchlist_bytes == int(1.5 * 2**20)
    assert settings.leader_ttl == 4.0
    for key, bad in (
        ("LISTD_WEBHOOK_TIMEOUT", "soon"),
        ("LISTD_WEBHOOK_CONCURRENCY", "0"),
        ("LISTD_WEBHOOK_RETRY_HOURS", "12"),
        ("LISTD_WATCHLIST_MAX_MB", "-1"),
        ("LISTD_DISPATCH_PARTITIONS", "0"),
        ("LISTD_DISPATCH_PARTITIONS", "eight"),
        ("LISTD_DISPATCH_ON", "all"),
        ("LISTD_DISPATCH_SLICE_CUSTOMERS", "-5"),
        ("LISTD_DISPATCH_SLICES", "0"),
    ):
        with pytest.raises(ConfigError) as caught:
            Settings.from_env(env | {key: bad})
        assert caught.value.detail["key"] == key


def test_sync_isolation_is_a_process_unless_inline_is_asked_for(tmp_path: Path) -> None:
    env = {"LISTD_STATE_DIR": str(tmp_path)}
    assert Settings.from_env(env).sync_isolation == "process"
    inline = Settings.from_env(env | {"LISTD_SYNC_ISOLATION": "inline"})
    assert inline.sync_isolation == "inline"
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env | {"LISTD_SYNC_ISOLATION": "thread"})
    assert caught.value.detail["key"] == "LISTD_SYNC_ISOLATION"


def test_the_sync_process_is_niced_5_unless_idle_or_another_niceness_is_asked_for(
    tmp_path: Path,
) -> None:
    env = {"LISTD_STATE_DIR": str(tmp_path)}
    assert Settings.from_env(env).sync_niceness == 5
    assert Settings.from_env(env | {"LISTD_SYNC_PRIORITY": "idle"}).sync_niceness is None
    assert Settings.from_env(env | {"LISTD_SYNC_PRIORITY": "5"}).sync_niceness == 5
    for bad in ("-1", "20", "low", "5.5"):
        with pytest.raises(ConfigError) as caught:
            Settings.from_env(env | {"LISTD_SYNC_PRIORITY": bad})
        assert caught.value.detail["key"] == "LISTD_SYNC_PRIORITY"


def test_listd_variables_are_read_only_in_settings() -> None:
    """Every `LISTD_*` variable is parsed in listd/settings.py; other modules get typed
    settings. A read elsewhere (`env.get("LISTD_X")`, `env["LISTD_X"]`) fails here."""
    root = Path(listd.__file__).parent
    readers = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                reads = node.func.attr in ("get", "getenv", "pop")
                arg = node.args[0] if node.args else None
            elif isinstance(node, ast.Subscript):
                reads, arg = True, node.slice
            else:
                continue
            if reads and isinstance(arg, ast.Constant) and str(arg.value).startswith("LISTD_"):
                readers.add(path.relative_to(root).as_posix())
    # locate.py runs before: it picks the environment settings.py then parses (the service's
    # environment file, LISTD_ENV_FILE, and which store a command works on).
    assert readers == {"settings.py", "locate.py"}
