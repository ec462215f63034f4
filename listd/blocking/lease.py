"""Moved to `listd.lease` (the leader lease is shared by the scrapers and the dispatcher)."""

from listd.lease import LEADER, Lease, LeaseLost

__all__ = ["LEADER", "Lease", "LeaseLost"]
