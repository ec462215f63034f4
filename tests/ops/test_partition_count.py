"""`listd run` configured with another LISTD_DISPATCH_PARTITIONS than the count recorded
in Redis refuses to serve: it names the setting and both numbers and exits non-zero
(its API would file uploads in partitions no dispatcher worker serves)."""

from __future__ import annotations

from redis.asyncio import Redis

from listd.settings import Settings
from tests.ops.conftest import Start


async def test_listd_run_with_another_partition_count_exits_non_zero(
    start_daemon: Start, redis: Redis, settings: Settings
) -> None:
    await redis.set(settings.keys.dispatch_partitions(), 8)  # the workers' deployment
    for dispatch_on in ("leader", "every"):
        daemon = await start_daemon(
            f"odd-{dispatch_on}",
            wait=False,
            LISTD_DISPATCH_PARTITIONS="16",
            LISTD_DISPATCH_ON=dispatch_on,
        )
        code = await daemon.wait(60)
        out = daemon.log.read_text()
        assert code == 1, out[-3000:]
        assert "listd: LISTD_DISPATCH_PARTITIONS is 16 here but 8 in Redis" in out, out[-3000:]
    assert await redis.get(settings.keys.dispatch_partitions()) == "8"
