"""A real Redis Cluster on the loopback interface: three primaries, one replica each.

The `local_cluster` fixture (tests/conftest.py) starts one per test session, from the
embedded Valkey binary or the server LISTD_TEST_CLUSTER_SERVER names (for instance
Debian's redis-server). Each test has its own key prefix, so tests share the cluster
without seeing each other's keys. After a test that killed a node, `heal` restarts it:
it rejoins from its nodes.conf, as a replica."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis as sync_redis
from redis.crc import key_slot

from listd.embedded import server_binary
from listd.errors import ConfigError

SLOTS = 16384


def free_ports(n: int) -> list[int]:
    """`n` ports free on 127.0.0.1 whose cluster bus ports (port + 10000) are free too."""
    found: list[int] = []
    held: list[socket.socket] = []
    try:
        while len(found) < n:
            a = socket.socket()
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            if port + 10000 > 65535:
                a.close()
                continue
            b = socket.socket()
            try:
                b.bind(("127.0.0.1", port + 10000))
            except OSError:
                a.close()
                b.close()
                continue
            held += [a, b]
            found.append(port)
    finally:
        for s in held:
            s.close()
    return found


@dataclass
class Node:
    port: int
    directory: Path
    binary: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        log = (self.directory / "server.log").open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - a fixed argv
            [
                str(self.binary),
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(self.directory),
                "--cluster-enabled", "yes",
                "--cluster-config-file", str(self.directory / "nodes.conf"),
                "--cluster-node-timeout", "1000",
                # A replica takes over however long it was cut off (tests kill at will).
                "--cluster-replica-validity-factor", "0",
                # The other primaries keep answering while one shard fails over.
                "--cluster-require-full-coverage", "no",
                "--save", "",
                "--appendonly", "no",
                "--daemonize", "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()

    def conn(self) -> sync_redis.Redis:
        return sync_redis.Redis(port=self.port, decode_responses=True, socket_timeout=5)

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
            self.process = None


def _wait(check: object, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except (sync_redis.RedisError, OSError) as exc:
            last = exc
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what} (last error: {last})")


@dataclass
class LocalCluster:
    """Six server processes: nodes[0..2] start as primaries, nodes[3..5] as their
    replicas (nodes[i + 3] replicates nodes[i])."""

    nodes: list[Node] = field(default_factory=list)

    @property
    def url(self) -> str:
        """A live node's URL (a client discovers the others from it)."""
        live = next(n for n in self.nodes if n.process is not None)
        return f"redis://127.0.0.1:{live.port}"

    @classmethod
    def start(cls, binary: Path, directory: Path) -> LocalCluster:
        ports = free_ports(6)
        cluster = cls([Node(p, directory / str(p), binary) for p in ports])
        for node in cluster.nodes:
            node.start()
        try:
            cluster._form()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _form(self) -> None:
        for node in self.nodes:
            _wait(node.conn().ping, f"node {node.port} to answer")
        primaries, replicas = self.nodes[:3], self.nodes[3:]
        for i, node in enumerate(primaries):
            low, high = i * SLOTS // 3, (i + 1) * SLOTS // 3 - 1
            node.conn().execute_command("CLUSTER", "ADDSLOTSRANGE", low, high)
        first = self.nodes[0].conn()
        for node in self.nodes[1:]:
            first.execute_command("CLUSTER", "MEET", "127.0.0.1", node.port)
        for node in self.nodes:
            _wait(lambda n=node: self._known(n) == 6, f"node {node.port} to meet the others")
        for primary, replica in zip(primaries, replicas, strict=True):
            node_id = primary.conn().execute_command("CLUSTER", "MYID")
            replica.conn().execute_command("CLUSTER", "REPLICATE", node_id)
        self.wait_healthy()

    def _known(self, node: Node) -> int:
        raw = node.conn().execute_command("CLUSTER", "NODES")
        return len([line for line in str(raw).splitlines() if line.strip()])

    def _state_ok(self, node: Node) -> bool:
        info = str(node.conn().execute_command("CLUSTER", "INFO"))
        return "cluster_state:ok" in info

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Every node sees a whole cluster, and every primary has a linked replica."""

        def healthy() -> bool:
            for node in self.nodes:
                if not self._state_ok(node):
                    return False
                info = node.conn().info("replication")
                if info["role"] == "master" and int(info.get("connected_slaves", 0)) < 1:
                    return False
                if info["role"] == "slave" and info.get("master_link_status") != "up":
                    return False
            return True

        _wait(healthy, "a healthy cluster", timeout)

    def primary_of(self, key: str) -> Node:
        """The node serving `key`'s slot now."""
        slot = key_slot(key.encode())
        for node in self.nodes:
            if node.process is None:
                continue
            for entry in node.conn().execute_command("CLUSTER", "SLOTS"):
                low, high, owner = int(entry[0]), int(entry[1]), entry[2]
                if low <= slot <= high:
                    return next(n for n in self.nodes if n.port == int(owner[1]))
        raise AssertionError(f"no node serves slot {slot}")

    def heal(self) -> None:
        """Restart killed nodes (they rejoin from their nodes.conf as replicas)."""
        for node in self.nodes:
            if node.process is None:
                node.start()
        for node in self.nodes:
            _wait(node.conn().ping, f"node {node.port} to answer")
        self.wait_healthy()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def cluster_binary() -> Path | None:
    """LISTD_TEST_CLUSTER_SERVER if set, else the embedded Valkey binary."""
    named = os.environ.get("LISTD_TEST_CLUSTER_SERVER")
    if named:
        return Path(named) if Path(named).is_file() else None
    try:
        return server_binary()
    except ConfigError:
        return None
