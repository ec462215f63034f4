"""A webhook dispatcher worker process for crash tests: runs against LISTD_REDIS_URL and
LISTD_KEY_PREFIX until killed, printing "leading" once it serves partitions with their
customer indexes built (LISTD_DISPATCH_PARTITIONS of them in all, 64 by default). With
LISTD_REDIS_CLUSTER=1 the URL names a node of a Redis Cluster; LISTD_TEST_LEASE_TTL sets
the partition leases' TTL (1 s by default); LISTD_DISPATCH_SLICE_CUSTOMERS and
LISTD_DISPATCH_SLICES slice big watchlists."""

from __future__ import annotations

import asyncio
import os

from listd import logs
from listd.connection import client
from listd.keyspace import Keys
from listd.notifications.app import webhook_session
from listd.notifications.config import WebhookConfig
from listd.notifications.delivery import Policy
from listd.notifications.dispatcher import Dispatcher
from listd.screening import ScreeningIndex


async def main() -> None:
    logs.configure("console")
    cluster = os.environ.get("LISTD_REDIS_CLUSTER") == "1"
    redis = client(os.environ["LISTD_REDIS_URL"], cluster=cluster)
    config = WebhookConfig(
        allow_hosts=("127.0.0.1:1-65535",),
        delivery=Policy(timeout=2.0, backoff_base=0.05, backoff_max=0.2, idle_poll=0.05),
        lease_ttl=float(os.environ.get("LISTD_TEST_LEASE_TTL") or 1.0),
        poll_interval=0.05,
        partitions=int(os.environ.get("LISTD_DISPATCH_PARTITIONS") or 64),
        slice_customers=int(os.environ.get("LISTD_DISPATCH_SLICE_CUSTOMERS") or 0),
        slices=int(os.environ.get("LISTD_DISPATCH_SLICES") or 8),
    )
    async with webhook_session(config) as session:
        keys = Keys(os.environ["LISTD_KEY_PREFIX"], cluster=cluster)
        dispatcher = Dispatcher(redis, keys, ScreeningIndex(), ["un"], session, config)
        task = asyncio.create_task(dispatcher.run(asyncio.Event()))
        await dispatcher.leading.wait()
        print("leading", flush=True)
        await task


if __name__ == "__main__":
    asyncio.run(main())
