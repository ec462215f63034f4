"""The TLS fixtures (test certificates), shared with the access tests."""

from tests.access.test_tls import pki, tls

__all__ = ["pki", "tls"]
