"""When the heartbeat thread cannot start, the worker beats on its event loop instead.

A driver may be able to open separate connections in principle (``SeparateConnections``) and
still fail to when asked (``connect_factory`` raises ``ConfigurationError``). Then the rescue
loop must send the heartbeats itself; otherwise a job running longer than the heartbeat
timeout looks dead, is rescued by the worker's own rescue loop, and runs twice.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import asyncpg

from pgqueuer import PgQueuer, Queries
from pgqueuer.db import AsyncpgDriver
from pgqueuer.errors import ConfigurationError
from pgqueuer.models import Job
from pgqueuer.names import Names


class NoSecondConnection(AsyncpgDriver):
    async def connect_factory(self) -> Callable[[], Awaitable[asyncpg.Connection]]:
        raise ConfigurationError("cannot open another connection like this one")


async def test_a_failed_heartbeat_thread_falls_back_to_beating_on_the_loop(
    dsn: str | None, conn: asyncpg.Connection, names: Names, queries: Queries
) -> None:
    worker_conn = await asyncpg.connect(dsn)
    runs: list[int] = []
    finished = asyncio.Event()
    try:
        # A channel of its own: other suites on the server send cancellations for job id 1.
        own = Names.create(schema=names.schema, channel=f"ch_{uuid.uuid4().hex[:12]}")
        pgq = PgQueuer(NoSecondConnection(worker_conn), names=own)

        @pgq.entrypoint("slow")
        async def slow(job: Job) -> None:
            runs.append(job.id)
            await asyncio.sleep(2.0)  # over three heartbeat timeouts
            finished.set()

        await queries.enqueue("slow", None)
        options: dict[str, Any] = {"heartbeat_timeout": timedelta(seconds=0.6)}
        task = asyncio.create_task(pgq.run(**options))
        try:
            await asyncio.wait_for(finished.wait(), 10)
            await asyncio.sleep(0.3)  # a rescued copy would have started by now
        finally:
            pgq.shutdown.set()
            await asyncio.wait_for(task, 30)
    finally:
        await worker_conn.close()
    assert len(runs) == 1
    statuses = await conn.fetch(
        names.substitute("SELECT status::text FROM /*@queue_table_log*/pgqueuer_log")
    )
    assert [r[0] for r in statuses] == ["successful"]
