"""A worker, written the way PgQueuer's README writes one.

Run it with `pgq run examples.consumer:main` (once `pgq run` exists), or directly:
`python examples/consumer.py [--drain]`. The connection comes from the libpq variables
(PGHOST, PGUSER, ...) or PGQUEUER_DSN; PGQUEUER_SCHEMA / PGQUEUER_PREFIX pick the queue.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import timedelta

import asyncpg

from pgqueuer import PgQueuer, QueueExecutionMode
from pgqueuer.db import AsyncpgDriver
from pgqueuer.models import Job


async def main() -> PgQueuer:
    connection = await asyncpg.connect(os.environ.get("PGQUEUER_DSN"))
    driver = AsyncpgDriver(connection)
    pgq = PgQueuer(driver)

    @pgq.entrypoint("fetch")
    async def process_message(job: Job) -> None:
        print(f"Processed message: {job!r}")

    @pgq.entrypoint("report", concurrency_limit=2)
    async def build_report(job: Job) -> None:
        await asyncio.sleep(0.01)
        print(f"Built report for job {job.id}")

    return pgq


async def run(drain: bool) -> None:
    pgq = await main()
    mode = QueueExecutionMode.drain if drain else QueueExecutionMode.continuous
    await pgq.run(mode=mode, dequeue_timeout=timedelta(seconds=1))


if __name__ == "__main__":
    asyncio.run(run("--drain" in sys.argv[1:]))
