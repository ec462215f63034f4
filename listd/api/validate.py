"""Moved to `listd.http.body` (below the rooms that serve routes); this name stays for
code written against it."""

from listd.http.body import *  # noqa: F403
