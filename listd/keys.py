"""Every Redis key listd uses, in one place.

All keys share a prefix (default "listd", a unique one per test) so several
deployments or test runs can share one server. The prefix is wrapped in a hash
tag, `{listd}`, so that on Redis Cluster every key lands in one slot and the
multi-key transactions (pointer flip + delta append) stay legal there.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "listd"

    @property
    def _p(self) -> str:
        return "{" + self.prefix + "}"

    # --- sources -------------------------------------------------------------
    def current(self, source: str) -> str:
        """STRING: version id of the snapshot now serving for `source`. Never expires."""
        return f"{self._p}:src:{source}:current"

    def source_state(self, source: str) -> str:
        """HASH: sync status of `source` (last attempt/success, status, error, HTTP
        validators etag/last_modified/raw_sha256). Never expires."""
        return f"{self._p}:src:{source}:state"

    def version_counter(self, source: str) -> str:
        """STRING (INCR): last version number handed out for `source`. Never expires."""
        return f"{self._p}:src:{source}:vseq"

    def versions(self, source: str) -> str:
        """ZSET: every snapshot version written for `source`, scored by version number;
        the garbage collector reads it to find old keyspaces. Never expires."""
        return f"{self._p}:src:{source}:versions"

    def sync_lock(self, source: str) -> str:
        """STRING with TTL: token of the process syncing `source`; expires if it dies."""
        return f"{self._p}:src:{source}:lock"

    def sources(self) -> str:
        """SET: names of every source that has ever been synced."""
        return f"{self._p}:sources"

    # --- snapshots (one keyspace per version; deleted by GC) -----------------
    def snap_entities(self, source: str, version: str) -> str:
        """HASH: entity id -> canonical entity JSON, for one snapshot version."""
        return f"{self._p}:snap:{source}:{version}:entities"

    def snap_hashes(self, source: str, version: str) -> str:
        """HASH: entity id -> sha256 of its normalised content (the delta engine's input)."""
        return f"{self._p}:snap:{source}:{version}:hashes"

    def snap_documents(self, source: str, version: str) -> str:
        """HASH: normalised document number (passport, IIN, ...) -> JSON list of entity ids."""
        return f"{self._p}:snap:{source}:{version}:documents"

    def snap_meta(self, source: str, version: str) -> str:
        """HASH: facts about one snapshot: counts, content hash, published date, created."""
        return f"{self._p}:snap:{source}:{version}:meta"

    def snapshot_keys(self, source: str, version: str) -> list[str]:
        return [
            self.snap_entities(source, version),
            self.snap_hashes(source, version),
            self.snap_documents(source, version),
            self.snap_meta(source, version),
        ]

    # --- access --------------------------------------------------------------
    def api_key(self, key_hash: str) -> str:
        """HASH: one API key, addressed by the sha256 of the secret (never stored in
        clear): name, role, created, expires."""
        return f"{self._p}:apikey:{key_hash}"

    def api_keys(self) -> str:
        """SET: hashes of every API key, for listing."""
        return f"{self._p}:apikeys"

    # --- sync history --------------------------------------------------------
    def history(self, source: str) -> str:
        """LIST (capped): JSON record of each sync attempt of `source`, newest first."""
        return f"{self._p}:src:{source}:history"

    def pattern(self) -> str:
        """SCAN pattern matching every key under this prefix (tests, reset)."""
        return f"{self._p}:*"
