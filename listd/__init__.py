"""listd: sanctions-list synchronisation daemon and screening API."""

__version__ = "0.1.0"
