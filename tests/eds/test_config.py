"""LISTD_EDS_* settings: off unless a trust directory is named; bad values stop the start."""

from __future__ import annotations

from pathlib import Path

import pytest

from listd.eds import EdsSettings, TrustStore
from listd.errors import ConfigError
from listd.settings import Settings
from tests.eds.pki import Pki


def test_off_by_default_and_read_from_the_environment(tmp_path: Path) -> None:
    assert not Settings.from_env({"LISTD_STATE_DIR": str(tmp_path)}).eds.enabled
    eds = Settings.from_env(
        {
            "LISTD_STATE_DIR": str(tmp_path),
            "LISTD_EDS_TRUST_DIR": str(tmp_path / "nca"),
            "LISTD_EDS_UNKNOWN_REVOCATION": "accept",
            "LISTD_EDS_OCSP_TIMEOUT": "0",
            "LISTD_EDS_SESSION_MINUTES": "480",
            "LISTD_EDS_NCALAYER_URL": "ws://127.0.0.1:8765/",
        }
    ).eds
    assert eds.enabled and eds.trust_dir == tmp_path / "nca"
    assert (eds.unknown_revocation, eds.ocsp_timeout, eds.session_minutes) == ("accept", 0, 480)
    assert eds.ncalayer_url == "ws://127.0.0.1:8765/"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("LISTD_EDS_UNKNOWN_REVOCATION", "allow"),
        ("LISTD_EDS_SESSION_MINUTES", "0"),
        ("LISTD_EDS_CHALLENGE_SECONDS", "soon"),
        # It goes into the console's Content-Security-Policy: nothing but one ws(s) URL.
        ("LISTD_EDS_NCALAYER_URL", "wss://127.0.0.1:13579; script-src *"),
        ("LISTD_EDS_NCALAYER_URL", "https://127.0.0.1:13579/"),
    ],
)
def test_bad_values_name_the_variable(key: str, value: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"LISTD_STATE_DIR": str(tmp_path), key: value})
    assert caught.value.detail["key"] == key


def test_a_trust_directory_without_a_root_stops_the_start(pki: Pki, tmp_path: Path) -> None:
    folder = pki.write_trust(tmp_path / "nca")
    (folder / "root_rsa.pem").unlink()  # only the intermediate left: nothing to anchor on
    with pytest.raises(ConfigError, match="no self-signed root"):
        TrustStore.load(EdsSettings(trust_dir=folder))
