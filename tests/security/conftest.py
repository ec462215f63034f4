"""The access fixtures (an API over real HTTP and Redis, TLS with test certificates), shared."""

from tests.access.conftest import api, asettings, make_api, small_un
from tests.access.test_tls import pki, tls

__all__ = ["api", "asettings", "make_api", "pki", "small_un", "tls"]
