"""systemd's notification protocol (sd_notify): readiness, watchdog pings, stopping.

A few lines over a datagram socket, so no dependency: when NOTIFY_SOCKET is unset
(not under systemd) every call is a no-op.
"""

from __future__ import annotations

import os
import socket

from listd.logs import get_logger

log = get_logger(__name__)


class Notifier:
    def __init__(self, env: dict[str, str] | None = None) -> None:
        env = dict(os.environ if env is None else env)
        address = env.get("NOTIFY_SOCKET") or None
        if address and address.startswith("@"):
            address = "\0" + address[1:]  # abstract socket namespace
        self.address = address
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        own = not pid or pid == str(os.getpid())
        self.watchdog_s = int(usec) / 1_000_000 if usec.isdigit() and own else None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *fields: str) -> None:
        if self.address is None:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.connect(self.address)
                sock.sendall("\n".join(fields).encode())
        except OSError as exc:
            log.warning("sd_notify failed", error=str(exc))

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}")

    def status(self, status: str) -> None:
        self.send(f"STATUS={status}")

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    def stopping(self) -> None:
        self.send("STOPPING=1", "STATUS=draining")

    def reloading(self) -> None:
        self.send("RELOADING=1")
