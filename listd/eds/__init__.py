"""Kazakh digital signatures (EDS / ЭЦП of the NCA RK): CMS verification, the certificate's
chain up to the operator's trust anchors, key usage, revocation, and the subject's IIN/BIN.

Pure: nothing here speaks HTTP. OCSP answers are fetched through a callable the caller
passes (the API passes one built on its client session), so tests and the command line
can verify without a network.
"""

from listd.eds.cms import Signed, parse_cms
from listd.eds.config import EdsSettings
from listd.eds.errors import SignatureRefused
from listd.eds.subject import Subject
from listd.eds.trust import Purpose, TrustStore, Verified
from listd.eds.verify import Verifier

__all__ = [
    "EdsSettings",
    "Purpose",
    "SignatureRefused",
    "Signed",
    "Subject",
    "TrustStore",
    "Verified",
    "Verifier",
    "parse_cms",
]
