"""Key names: unchanged on a single server, one slot per atomic group on a cluster."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import pytest
from redis.crc import key_slot

from listd.keyspace import Keys
from listd.settings import Settings

# Every name a single-server deployment has in Redis today: a rename would orphan a
# running deployment's data (there is no migration), so this table is the contract.
SINGLE_SERVER = [
    ("access_epoch", (), "{listd}:access:epoch"),
    ("announcements", (), "{listd}:announce"),
    ("api_key", ("ab12",), "{listd}:apikey:ab12"),
    ("api_key_ids", (), "{listd}:apikeys:ids"),
    ("api_keys", (), "{listd}:apikeys"),
    ("cert_agreement", ("u_1",), "{listd}:user:u_1:cert"),
    ("cert_users", (), "{listd}:users:certs"),
    ("current", ("un",), "{listd}:src:un:current"),
    ("delta_floor", (), "{listd}:delta:floor"),
    ("delta_seq", (), "{listd}:delta:seq"),
    ("deltas", (), "{listd}:delta:stream"),
    ("eds_agreement", ("u_1",), "{listd}:eds:agreement:u_1"),
    ("eds_challenge", ("n1",), "{listd}:eds:challenge:n1"),
    ("eds_rate", ("10.0.0.1", 5), "{listd}:eds:rate:10.0.0.1:5"),
    ("eds_users", (), "{listd}:eds:users"),
    ("entity_deltas", ("un:QDi.312",), "{listd}:delta:entity:un:QDi.312"),
    ("entity_deltas_from", (), "{listd}:delta:entity-index-from"),
    ("fence", ("leader",), "{listd}:lease:leader:fence"),
    ("held", ("un",), "{listd}:src:un:held"),
    ("history", ("un",), "{listd}:src:un:history"),
    ("journal", (), "{listd}:journal"),
    ("journal_archives", (), "{listd}:journal:archives"),
    ("journal_floor", (), "{listd}:journal:floor"),
    ("journal_head", (), "{listd}:journal:head"),
    ("journal_lock", (), "{listd}:journal:lock"),
    ("journal_org", ("bank-a",), "{listd}:journal:org:bank-a"),
    ("journal_orgs", (), "{listd}:journal:org:*"),
    ("journal_progress", ("leader",), "{listd}:journal:progress:leader"),
    ("lease", ("leader",), "{listd}:lease:leader"),
    ("maintenance", (), "{listd}:maint"),
    ("maintenance_windows", (), "{listd}:maint:windows"),
    ("org", ("bank-a",), "{listd}:org:bank-a:info"),
    ("org_subscriptions", ("bank-a",), "{listd}:org:bank-a:subs"),
    ("pattern", (), "{listd}:*"),
    ("rate", ("ab12", 5), "{listd}:rate:ab12:5"),
    ("rate_ip", ("10.0.0.1", 5), "{listd}:rate:ip:10.0.0.1:5"),
    ("registration", ("reg_1",), "{listd}:reg:reg_1"),
    ("registrations", (), "{listd}:regs"),
    ("registrations_pending", (), "{listd}:regs:pending"),
    ("removals", ("un",), "{listd}:src:un:removals"),
    ("snap_documents", ("un", "v7"), "{listd}:snap:un:v7:documents"),
    ("snap_entities", ("un", "v7"), "{listd}:snap:un:v7:entities"),
    ("snap_hashes", ("un", "v7"), "{listd}:snap:un:v7:hashes"),
    ("snap_meta", ("un", "v7"), "{listd}:snap:un:v7:meta"),
    ("source_state", ("un",), "{listd}:src:un:state"),
    ("sources", (), "{listd}:sources"),
    ("staged_deltas", ("un", "v7"), "{listd}:delta:staged:un:v7"),
    ("sub_cursor", ("sub_1",), "{listd}:sub:sub_1:cursor"),
    ("sub_dead", ("sub_1",), "{listd}:sub:sub_1:dead"),
    ("sub_deliveries", ("sub_1",), "{listd}:sub:sub_1:deliveries"),
    ("sub_events", ("sub_1",), "{listd}:sub:sub_1:events"),
    ("sub_matches", ("sub_1",), "{listd}:sub:sub_1:matches"),
    ("subscription", ("sub_1",), "{listd}:sub:sub_1"),
    ("subscriptions", (), "{listd}:subs"),
    ("sync_lock", ("un",), "{listd}:src:un:lock"),
    ("user", ("u_1",), "{listd}:user:u_1"),
    ("user_keys", ("u_1",), "{listd}:user:u_1:keys"),
    ("user_names", (), "{listd}:users:names"),
    ("user_prefix", (), "{listd}:user:"),
    ("users", (), "{listd}:users"),
    ("version_counter", ("un",), "{listd}:src:un:vseq"),
    ("versions", ("un",), "{listd}:src:un:versions"),
    ("watchlist", ("sub_1",), "{listd}:sub:sub_1:watchlist"),
    ("watchlist_changes", (5,), "{listd}:part:5:watchlists:changes"),
    ("watchlist_changes_of", ("sub_1",), "{listd}:part:3:watchlists:changes"),
    ("watchlist_dirty", (), "{listd}:watchlists:dirty"),
    ("watchlist_dirty_of", ("sub_1",), "{listd}:watchlists:dirty"),
    ("watchlist_upload", ("sub_1", "u1", "seen"), "{listd}:sub:sub_1:watchlist:upload:u1:seen"),
    ("dispatch_partitions", (), "{listd}:dispatch:partitions"),
    ("dispatch_workers", (), "{listd}:dispatch:workers"),
    ("dispatch_sliced", (), "{listd}:dispatch:sliced"),
    ("slice_snapshot", (5,), "{listd}:part:5:slices:snapshot"),
    ("slice_changes", ("sub_1", 2), "{listd}:sub:sub_1:slice:2:changes"),
    ("slice_found", ("sub_1", 7), "{listd}:sub:sub_1:slice:found:7"),
    ("watchlist_meta", ("sub_1",), "{listd}:sub:sub_1:watchlist:meta"),
    ("watchlist_pending", ("sub_1",), "{listd}:sub:sub_1:watchlist:pending"),
    ("webhook_stats", (), "{listd}:webhooks:stats"),
]


def names(keys: Keys) -> dict[str, str]:
    return {name: getattr(keys, name)(*args) for name, args, _ in SINGLE_SERVER}


def test_single_server_names_are_unchanged() -> None:
    described = {
        name
        for name, f in inspect.getmembers(Keys, predicate=inspect.isfunction)
        if not name.startswith(("_", "partition"))
        and name not in ("snapshot_keys", "webhook_stats_keys")
    }
    assert described == {name for name, _, _ in SINGLE_SERVER}, "a key name is not in the table"
    assert names(Keys("listd")) == {name: expected for name, _, expected in SINGLE_SERVER}
    assert names(Settings().keys) == names(Keys("listd"))
    # On one server every key, the partitions' too, shares the one tag.
    keys = Keys("listd")
    assert keys.partition_tag(5) == "{listd}"
    assert keys.partition_key(5, "lease") == "{listd}:part:5:lease"


def slot(key: str) -> int:
    return int(key_slot(key.encode()))


def test_on_a_cluster_each_atomic_group_shares_a_slot() -> None:
    keys = Keys("listd", cluster=True)
    assert Settings(redis_url="redis://127.0.0.1:7000", redis_cluster=True).keys == keys
    lists = {
        keys.current("un"), keys.source_state("un"), keys.version_counter("eu"),
        keys.versions("un"), keys.snap_entities("un", "v1"), keys.snap_meta("ofac", "v9"),
        keys.staged_deltas("un", "v2"), keys.delta_seq(), keys.deltas(), keys.delta_floor(),
        keys.entity_deltas("un:QDi.312"), keys.entity_deltas_from(), keys.sources(),
        keys.held("un"), keys.removals("un"), keys.lease("leader"), keys.fence("leader"),
        keys.history("un"), keys.sync_lock("un"),
    }  # fmt: skip
    access = {
        keys.api_key("ab"), keys.api_keys(), keys.api_key_ids(), keys.user("u1"),
        keys.user_prefix() + "u2", keys.users(), keys.user_keys("u1"), keys.rate("ab", 3),
        keys.maintenance(), keys.access_epoch(), keys.journal(), keys.journal_head(),
        keys.journal_org("bank-a"), keys.journal_progress("w-1"), keys.registration("r1"),
        keys.org("bank-a"), keys.eds_users(), keys.eds_challenge("n"),
    }  # fmt: skip
    # The dirty set and delivery totals are per partition on a cluster (in its slot).
    registry = {keys.subscriptions(), keys.org_subscriptions("bank-a")}
    groups = [lists, access, registry]
    for group in groups:
        assert len({slot(k) for k in group}) == 1, sorted(group)
    assert len({slot(next(iter(g))) for g in groups}) == 3
    assert all(k.startswith("{listd:lists}:") for k in lists)


def test_a_subscriptions_keys_share_its_partitions_slot() -> None:
    keys = Keys("listd", cluster=True)
    per_sub: list[Callable[[str], str]] = [
        keys.subscription, keys.sub_events, keys.sub_cursor, keys.sub_deliveries,
        keys.sub_dead, keys.sub_matches, keys.watchlist, keys.watchlist_meta,
        keys.watchlist_pending, keys.watchlist_dirty_of, keys.watchlist_changes_of,
        lambda s: keys.webhook_stats(keys.partition_of(s)),
        lambda s: keys.partition_lease(keys.partition_of(s)),
        lambda s: keys.partition_cursor(keys.partition_of(s)),
    ]  # fmt: skip
    seen: set[int] = set()
    for n in range(200):
        sub_id = f"sub_{n:024x}"
        partition = keys.partition_of(sub_id)
        assert 0 <= partition < keys.partitions
        seen.add(partition)
        expected = slot(keys.partition_key(partition, "lease"))
        assert {slot(f(sub_id)) for f in per_sub} == {expected}
        assert keys.subscription(sub_id).startswith(f"{{listd:p{partition}}}:sub:")
    assert len(seen) > keys.partitions // 2  # spread, not piled on a few
    # Partitions land in different slots, so they spread over the primaries.
    assert len({slot(keys.partition_tag(p)) for p in range(keys.partitions)}) == keys.partitions
    assert keys.partition_of("sub_x") == Keys("other", cluster=True).partition_of("sub_x")
    with pytest.raises(ValueError, match="partition 64"):
        keys.partition_tag(64)
    # The partition count is the dispatcher's: a deployment with 16 tags 16 partitions.
    assert len(set(Keys("listd", cluster=True, partitions=16).webhook_stats_keys())) == 16
    assert Keys("listd").webhook_stats_keys() == [Keys("listd").webhook_stats()]


def test_a_clusters_scan_pattern_matches_every_group_and_no_other_prefix() -> None:
    keys = Keys("listd", cluster=True)
    pattern = keys.pattern()
    assert pattern == "{listd:*"
    for key in (keys.current("un"), keys.user("u"), keys.subscriptions(), keys.watchlist("s")):
        assert key.startswith(pattern[:-1])
    assert not Keys("listd2", cluster=True).current("un").startswith(pattern[:-1])
