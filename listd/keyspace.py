"""Every Redis key listd uses, in one place.

All keys share a prefix (default "listd", a unique one per test) so several
deployments or test runs can share one server.

On a single server (or behind Sentinel) the prefix is wrapped in one hash tag,
`{listd}:...`, as it always was: every key lands in the same slot.

On Redis Cluster (`Keys(prefix, cluster=True)`, LISTD_REDIS_CLUSTER=1) each group of
keys that must change together gets a tag of its own, so the groups spread over the
primaries while every script and transaction still names keys of one slot only:

- `{listd:lists}`: sources, snapshots, versions, the delta stream and its indexes,
  the announcement channel, the leader lease (the publication script checks it);
- `{listd:access}`: API keys, users, registrations, maintenance, rate counters,
  digital-signature state and the journal (the gate and journal scripts read them
  together);
- `{listd:subs}`: the registry of subscriptions (every id, per organisation, the
  dirty watchlists, delivery totals);
- `{listd:p<N>}`: everything of the subscriptions in partition N (`partition_of`):
  the subscription, its watchlist, outbox, cursor, deliveries, matches, and whatever
  the partition's owner keeps under `partition_key(N, name)` (its lease, its cursor in
  the delta stream).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

# Subscriptions are spread over this many partitions by a hash of their id. It names
# keys on a cluster, so it is fixed for a deployment's life: changing it moves keys.
PARTITIONS = 64
# Entries (one per watchlist write of up to 2,000 customers) a partition's change log
# keeps at most when no snapshot trims it: past that a takeover reads every record.
CHANGES_MAX = 100_000


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "listd"
    cluster: bool = False
    partitions: int = PARTITIONS

    def _tag(self, group: str) -> str:
        if self.cluster:
            return "{" + self.prefix + ":" + group + "}"
        return "{" + self.prefix + "}"

    @property
    def _p(self) -> str:
        """Tag of the lists, versions, deltas and the leader lease."""
        return self._tag("lists")

    @property
    def _a(self) -> str:
        """Tag of access control and the journal."""
        return self._tag("access")

    @property
    def _n(self) -> str:
        """Tag of the subscription registry."""
        return self._tag("subs")

    def _s(self, sub_id: str) -> str:
        """Tag of the partition holding subscription `sub_id`."""
        return self.partition_tag(self.partition_of(sub_id))

    # --- partitions ----------------------------------------------------------
    def partition_of(self, sub_id: str) -> int:
        """The partition (0 .. partitions-1) of a subscription: a stable hash of its id."""
        return zlib.crc32(sub_id.encode()) % self.partitions

    def partition_tag(self, partition: int) -> str:
        """The hash tag every key of `partition` starts with: `{listd:p7}` on a cluster,
        the one shared tag `{listd}` on a single server."""
        if not 0 <= partition < self.partitions:
            raise ValueError(f"partition {partition} is not in 0..{self.partitions - 1}")
        return self._tag(f"p{partition}")

    def partition_key(self, partition: int, name: str) -> str:
        """A key of the partition's own (its lease, fence, cursor in the delta stream, set
        of subscriptions...): in the slot of the partition's subscriptions."""
        return f"{self.partition_tag(partition)}:part:{partition}:{name}"

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
        """HASH: a document-number index that older versions hold; no longer written or
        read, only deleted with its snapshot so that it does not outlive it."""
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

    def held(self, source: str) -> str:
        """HASH: a snapshot the guard held back (version, reason, counts); absent when
        nothing is held. Deleted on approve or reject."""
        return f"{self._p}:src:{source}:held"

    def removals(self, source: str) -> str:
        """ZSET: one member per publication of `source` that removed entities, JSON
        {version, removed, before} scored by its unix time; the cumulative removal guard
        sums the members within the source's window. Pruned beyond the window at each
        publication; deleted when an administrator approves a held snapshot."""
        return f"{self._p}:src:{source}:removals"

    # --- deltas --------------------------------------------------------------
    def delta_seq(self) -> str:
        """STRING (INCR): last delta sequence number handed out, global across sources.
        Only ever incremented inside the activation script, so it is gap-free."""
        return f"{self._p}:delta:seq"

    def staged_deltas(self, source: str, version: str) -> str:
        """LIST: delta JSON waiting for `version` of `source` to be published; moved into the
        stream and deleted by the activation script. Expires after an hour (a sync that died
        before activating)."""
        return f"{self._p}:delta:staged:{source}:{version}"

    def deltas(self) -> str:
        """STREAM: every delta, entry id "<seq>-0", field "d" = delta JSON. Trimmed by
        retention; the dispatcher's consumer group reads it as the notification outbox."""
        return f"{self._p}:delta:stream"

    def delta_floor(self) -> str:
        """STRING: highest sequence number trimmed away (0 when nothing was); readers
        asking for older deltas must resynchronise from a snapshot."""
        return f"{self._p}:delta:floor"

    def entity_deltas(self, entity_id: str) -> str:
        """ZSET: seqs of the deltas about one entity (member and score: the seq), added in
        the activation script; seqs at or below the delta floor are pruned there and
        ignored by readers. Lets an entity's history skip the stream scan."""
        return f"{self._p}:delta:entity:{entity_id}"

    def entity_deltas_from(self) -> str:
        """STRING: the first delta seq the per-entity index covers (set once, by the first
        publication that has it); older retained deltas are found by a bounded scan."""
        return f"{self._p}:delta:entity-index-from"

    def announcements(self) -> str:
        """PUB/SUB channel: {"source", "version", "first", "last"} after each publication."""
        return f"{self._p}:announce"

    # --- access --------------------------------------------------------------
    def api_key(self, key_hash: str) -> str:
        """HASH: one API key, addressed by the sha256 of the secret (never stored in
        clear): key_id, user, name, role, org, status, created, created_by, expires,
        agreed (terms version), agreed_at, rate_limit, rotated_from/rotated_to,
        block_reason. Kept after expiry (the journal refers to it)."""
        return f"{self._a}:apikey:{key_hash}"

    def api_keys(self) -> str:
        """SET: hashes of every API key, for listing."""
        return f"{self._a}:apikeys"

    # --- sync history --------------------------------------------------------
    def history(self, source: str) -> str:
        """LIST (capped): JSON record of each sync attempt of `source`, newest first."""
        return f"{self._p}:src:{source}:history"

    def pattern(self) -> str:
        """SCAN pattern matching every key under this prefix (tests, reset)."""
        if self.cluster:
            return "{" + self.prefix + ":*"
        return f"{self._p}:*"

    # --- asset-blocking notifications (listd.notifications) ------------------
    # Subscriptions, customer watchlists and each subscription's webhook outbox.
    # All live until the subscription is deleted unless said otherwise.
    def lease(self, name: str) -> str:
        """STRING with TTL: token of the process elected for `name` ("leader": the instance
        running the scrapers and the webhook dispatcher); expires unless renewed, so a dead
        holder is replaced within the TTL. Publication and dispatcher scripts check it."""
        return f"{self._p}:lease:{name}"

    def fence(self, name: str) -> str:
        """STRING (INCR): fencing number, incremented on every acquisition of lease `name`."""
        return f"{self._p}:lease:{name}:fence"

    def subscriptions(self) -> str:
        """SET: id of every subscription (the dispatcher's list of lanes)."""
        return f"{self._n}:subs"

    def org_subscriptions(self, org: str) -> str:
        """SET: ids of the subscriptions organisation `org` owns."""
        return f"{self._n}:org:{org}:subs"

    def subscription(self, sub_id: str) -> str:
        """HASH: one subscription: org, url, events/sources/programs (JSON), threshold,
        status, signing secrets (JSON), created, created_seq."""
        return f"{self._s(sub_id)}:sub:{sub_id}"

    def sub_events(self, sub_id: str) -> str:
        """STREAM: the subscription's outbox, in delivery order; fields i (event id),
        t (type), s (delta seq), e (the exact JSON body). Settled entries trimmed beyond
        a cap (10,000)."""
        return f"{self._s(sub_id)}:sub:{sub_id}:events"

    def sub_cursor(self, sub_id: str) -> str:
        """HASH: delivery state: cursor (last stream id settled), next_at, head
        (event being retried) and its first attempt time."""
        return f"{self._s(sub_id)}:sub:{sub_id}:cursor"

    def sub_deliveries(self, sub_id: str) -> str:
        """HASH: event id -> JSON delivery record (status, attempts capped); trimmed
        together with the outbox."""
        return f"{self._s(sub_id)}:sub:{sub_id}:deliveries"

    def sub_dead(self, sub_id: str) -> str:
        """LIST (capped): ids of events that failed or ran out of retries, newest first."""
        return f"{self._s(sub_id)}:sub:{sub_id}:dead"

    def sub_matches(self, sub_id: str) -> str:
        """HASH: designated entity id -> JSON {customer ref: blocking.required event id,
        entity content hash}; deleted entry by entry when blocking.lifted goes out."""
        return f"{self._s(sub_id)}:sub:{sub_id}:matches"

    # --- dispatcher partitions (listd.notifications.partitions) ---------------------------
    # Subscriptions map to a fixed number of partitions (`partition_of`); each partition is
    # served by one dispatcher worker at a time, under its own fenced lease.
    def dispatch_partitions(self) -> str:
        """STRING: the number of partitions the deployment uses, set by the first worker;
        a worker configured with another number refuses to start. Never expires."""
        return f"{self._p}:dispatch:partitions"

    def dispatch_workers(self) -> str:
        """ZSET: token of every live dispatcher worker, scored by the Redis time (ms) its
        heartbeat expires; a worker's fair share of the partitions is counted from it."""
        return f"{self._p}:dispatch:workers"

    def partition_lease(self, partition: int) -> str:
        """STRING with TTL: token of the worker serving `partition`; checked by every
        write of its fan-out and deliveries (`outbox.Batch`)."""
        return self.partition_key(partition, "lease")

    def partition_fence(self, partition: int) -> str:
        """STRING (INCR): fencing number, incremented on every acquisition of the
        partition's lease."""
        return self.partition_key(partition, "fence")

    def partition_snapshot(self, partition: int) -> str:
        """HASH: the partition's customer index as a compact snapshot
        (`CustomerIndex.dump`): field "meta" (JSON: generation, chunks, customers, at,
        cursor) and the generation's chunks "<generation>:<n>" (bytes). Replaced whole
        by its worker; read by the worker that takes the partition over."""
        return self.partition_key(partition, "snapshot")

    def dispatch_sliced(self) -> str:
        """HASH: subscription id -> the number of slices its customers are split into
        (`listd.notifications.slices`), set once by its home partition's worker when its
        watchlist outgrew LISTD_DISPATCH_SLICE_CUSTOMERS; never changes afterwards. The
        field is deleted with the subscription."""
        return f"{self._p}:dispatch:sliced"

    def slice_snapshot(self, partition: int) -> str:
        """HASH: the slices of big subscriptions `partition` indexes, as a snapshot like
        `partition_snapshot` (meta: generation, chunks and, per slice, the entry of its
        change stream applied); replaced whole by the partition's worker, without the
        slices of subscriptions deleted since, and deleted when none is left."""
        return self.partition_key(partition, "slices:snapshot")

    def slice_changes(self, sub_id: str, piece: int) -> str:
        """STREAM, in the subscription's slot: the references of slice `piece` drained
        by its home worker (field refs, a JSON list), appended in the script that clears
        their pending mark, plus marks (field mark) the slice's indexer applies what
        follows of; trimmed by the slice's snapshot writer. Both append only while the
        subscription exists; deleted with it."""
        return f"{self._s(sub_id)}:sub:{sub_id}:slice:{piece}:changes"

    def slice_found(self, sub_id: str, seq: int) -> str:
        """HASH, in the subscription's slot: slice number -> JSON shortlist of that
        slice's customers for delta `seq` (refs, the change stream entry applied,
        cut-off), written by the slice's indexer for the home worker's fan-out while the
        subscription exists and the home's cursor is before `seq`; deleted in the script
        that moves the cursor past `seq`, or with the subscription. TTL one day: a safety
        net for one left behind (a cursor taken back by a Redis fail-over)."""
        return f"{self._s(sub_id)}:sub:{sub_id}:slice:found:{seq}"

    def partition_cursor(self, partition: int) -> str:
        """STRING: the last delta sequence fanned out to the partition's subscriptions,
        advanced in the script that appends that delta's events. Never expires."""
        return self.partition_key(partition, "cursor")

    def webhook_stats(self, partition: int = 0) -> str:
        """HASH: delivery attempts by outcome (delivered, retry, failed, dead, disabled),
        counted in the same script that records each attempt: every instance's /metrics
        reads the same totals, whichever worker delivers. On a single server one hash for
        every partition; on a cluster one per partition, in the slot of its outboxes (the
        totals are the sum over `webhook_stats_keys`)."""
        if self.cluster:
            return self.partition_key(partition, "webhooks:stats")
        return f"{self._n}:webhooks:stats"

    def webhook_stats_keys(self) -> list[str]:
        """Every hash `webhook_stats` names: one on a single server."""
        return sorted({self.webhook_stats(p) for p in range(self.partitions)})

    def watchlist(self, sub_id: str) -> str:
        """HASH: customer reference -> customer JSON (name, birth date, ids, nationality)."""
        return f"{self._s(sub_id)}:sub:{sub_id}:watchlist"

    def watchlist_meta(self, sub_id: str) -> str:
        """HASH: facts about the last watchlist upload (mode, counts, at)."""
        return f"{self._s(sub_id)}:sub:{sub_id}:watchlist:meta"

    def watchlist_pending(self, sub_id: str) -> str:
        """SET: customer references written but not yet indexed and screened by the
        dispatcher; a reference leaves only once its screening result is committed."""
        return f"{self._s(sub_id)}:sub:{sub_id}:watchlist:pending"

    def watchlist_upload(self, sub_id: str, upload: str, part: str) -> str:
        """SET, TTL one day: the references an upload in progress named (`part` "seen")
        or holds invalid records for ("kept"), so that the API's memory stays bounded
        whatever the upload's size; deleted when the upload is applied."""
        return f"{self._p}:sub:{sub_id}:watchlist:upload:{upload}:{part}"

    def watchlist_changes(self, partition: int) -> str:
        """STREAM: the partition's watchlist changes (fields sub, refs: a JSON list),
        appended in the transaction that writes them, plus one entry per snapshot written
        (field snapshot: its generation), the mark a taking-over worker applies what
        follows of. Trimmed to the latest snapshot's mark; capped at `CHANGES_MAX`."""
        return self.partition_key(partition, "watchlists:changes")

    def watchlist_changes_of(self, sub_id: str) -> str:
        """The `watchlist_changes` stream of subscription `sub_id`'s partition."""
        return self.watchlist_changes(self.partition_of(sub_id))

    def watchlist_dirty(self, partition: int = 0) -> str:
        """SET: ids of subscriptions whose watchlist has pending references. On a single
        server one set for every partition; on a cluster one per partition, in the slot of
        its subscriptions' watchlists (so the dispatcher's script that settles a watchlist
        names keys of one slot)."""
        if self.cluster:
            return self.partition_key(partition, "watchlists:dirty")
        return f"{self._n}:watchlists:dirty"

    def watchlist_dirty_of(self, sub_id: str) -> str:
        """The `watchlist_dirty` set subscription `sub_id` is marked in."""
        return self.watchlist_dirty(self.partition_of(sub_id))

    # --- access control and the journal (listd.access, listd.audit) -----------------------
    # Users, their keys, registrations, maintenance windows, rate counters and the
    # hash-chained journal. Nothing here expires unless said otherwise.
    def user(self, user_id: str) -> str:
        """HASH: one user: id, name, org, role, status (active|blocked), created,
        created_by, blocked_at, block_reason, cert_subject."""
        return f"{self._a}:user:{user_id}"

    def user_prefix(self) -> str:
        """Prefix of `user(id)`: the gate script reads a key's user status by it."""
        return f"{self._a}:user:"

    def users(self) -> str:
        """SET: id of every user."""
        return f"{self._a}:users"

    def user_names(self) -> str:
        """HASH: JSON [org, name] -> user id (a name is unique within its organisation)."""
        return f"{self._a}:users:names"

    def user_keys(self, user_id: str) -> str:
        """SET: sha256 hashes of the user's API keys (also expired and blocked ones)."""
        return f"{self._a}:user:{user_id}:keys"

    def cert_users(self) -> str:
        """HASH: TLS client certificate subject (RFC 4514 string) -> user id."""
        return f"{self._a}:users:certs"

    def cert_agreement(self, user_id: str) -> str:
        """HASH: terms acceptance of the user's certificate credential (agreed, agreed_at)."""
        return f"{self._a}:user:{user_id}:cert"

    def api_key_ids(self) -> str:
        """HASH: key id (first 12 hex of the hash, safe to show) -> full sha256 hash."""
        return f"{self._a}:apikeys:ids"

    def rate(self, key_id: str, window: int) -> str:
        """STRING (INCR), TTL two windows: requests of key `key_id` in minute `window`."""
        return f"{self._a}:rate:{key_id}:{window}"

    def rate_ip(self, ip: str, window: int) -> str:
        """STRING (INCR), TTL two windows: registrations sent from `ip` in hour `window`."""
        return f"{self._a}:rate:ip:{ip}:{window}"

    def registration(self, reg_id: str) -> str:
        """HASH: one application for access: organisation, bin, contact (JSON), roles
        (JSON), legal_ground, status (pending|approved|rejected), submitted, decided,
        decided_by, reason. Kept after the decision."""
        return f"{self._a}:reg:{reg_id}"

    def registrations(self) -> str:
        """ZSET: id of every application, scored by submission time (unix seconds)."""
        return f"{self._a}:regs"

    def registrations_pending(self) -> str:
        """ZSET: ids of undecided applications, scored by submission time; an id leaves
        when the application is decided. Overdue = older than the SLA."""
        return f"{self._a}:regs:pending"

    def org(self, org: str) -> str:
        """HASH: an organisation admitted by registration: name, bin, registration id."""
        return f"{self._a}:org:{org}:info"

    def maintenance(self) -> str:
        """ZSET: maintenance windows scored by start (unix seconds), member "END|ID";
        the gate reads it on every request. Windows over for a day are pruned."""
        return f"{self._a}:maint"

    def maintenance_windows(self) -> str:
        """HASH: window id -> JSON {id, start, end, reason, announced_by, announced}."""
        return f"{self._a}:maint:windows"

    def journal(self) -> str:
        """STREAM: the live journal, entry id "<seq>-0", fields e (canonical JSON of the
        entry), p (link of the previous entry), h (this entry's link). The oldest part
        is moved to archive files and trimmed."""
        return f"{self._a}:journal"

    def journal_head(self) -> str:
        """STRING: "<seq>:<link>" of the newest entry; the append script chains on it."""
        return f"{self._a}:journal:head"

    def journal_org(self, org: str) -> str:
        """ZSET: seqs of live entries by or about organisation `org` (score = seq), so an
        auditor's read touches only its organisation; trimmed with the stream."""
        return f"{self._a}:journal:org:{org}"

    def journal_orgs(self) -> str:
        """SCAN pattern matching every `journal_org` index (checkpoints count them all)."""
        return f"{self._a}:journal:org:*"

    def journal_archives(self) -> str:
        """HASH: archive file name -> JSON trailer (first, last, count, prev, head,
        first_at, last_at): what the archive must hold, to detect a lost file."""
        return f"{self._a}:journal:archives"

    def journal_floor(self) -> str:
        """STRING: the last seq moved to an archive file (0 when none was)."""
        return f"{self._a}:journal:floor"

    def journal_lock(self) -> str:
        """STRING with TTL: token of the process archiving the journal."""
        return f"{self._a}:journal:lock"

    def journal_progress(self, name: str) -> str:
        """STRING with TTL (30 days): how far one journal writer got, set in the same
        script as its appends: for an API process's writer `w-<id>`, the number of its
        last applied batch; for a spool file `s-<file>`, the lines of it applied. Lets a
        spool be replayed after an outage or a crash without appending anything twice."""
        return f"{self._a}:journal:progress:{name}"

    def access_epoch(self) -> str:
        """STRING (INCR): bumped after every change that can refuse a credential (key or
        user blocked, key expiry moved, terms accepted, maintenance announced or
        cancelled). A request admitted from an API process's cache is confirmed against
        it inside its journal append."""
        return f"{self._a}:access:epoch"

    # --- digital signatures (listd.eds) ---------------------------------------------------
    def eds_users(self) -> str:
        """HASH: JSON [BIN, IIN] of an NCA certificate -> user id. Never expires."""
        return f"{self._a}:eds:users"

    def eds_challenge(self, nonce: str) -> str:
        """STRING with TTL (LISTD_EDS_CHALLENGE_SECONDS): a sign-in challenge's text;
        deleted when a sign-in uses it (single use)."""
        return f"{self._a}:eds:challenge:{nonce}"

    def eds_agreement(self, user_id: str) -> str:
        """HASH: the terms the user signed with a SIGN key: version, at, seq (the journal
        entry holding the signature as evidence). Never expires."""
        return f"{self._a}:eds:agreement:{user_id}"

    def eds_rate(self, ip: str, window: int) -> str:
        """STRING (INCR), TTL two minutes: EDS challenges asked from `ip` in minute `window`."""
        return f"{self._a}:eds:rate:{ip}:{window}"
