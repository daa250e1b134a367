"""A scheduler-only process, as PgQueuer's examples write one: the factory yields a
SchedulerManager (no queue worker). ``pgq run examples.scheduler:main``.

Every tick of ``* * * * * *`` (every second; the sixth field is seconds) enqueues one
"tick" job, once per tick however many of these processes run.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

import asyncpg

from pgqueuer.db import AsyncpgDriver
from pgqueuer.models import Schedule
from pgqueuer.queries import Queries
from pgqueuer.sm import SchedulerManager


@asynccontextmanager
async def main() -> AsyncGenerator[SchedulerManager, None]:
    connection = await asyncpg.connect(os.environ.get("PGQUEUER_DSN"))
    queries = Queries(AsyncpgDriver(connection))
    sm = SchedulerManager(queries)

    @sm.schedule("enqueue_tick", "* * * * * *")
    async def enqueue_tick(schedule: Schedule) -> None:
        await queries.enqueue("tick", schedule.next_run.isoformat().encode())

    try:
        yield sm
    finally:
        await connection.close()
