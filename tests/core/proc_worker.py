"""A worker process for the multi-process tests (not a test module).

Runs one entrypoint whose handler records each run (job id, pid, start and end time) in the
table ``{schema}.runs`` through its own connection, then sleeps. SIGTERM/SIGINT: the first asks
for a graceful shutdown, the second for an immediate one (jobs released).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from datetime import timedelta

import asyncpg

from pgqueuer import PgQueuer
from pgqueuer.db import AsyncpgDriver
from pgqueuer.models import Job
from pgqueuer.names import Names


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--schema", required=True)
    parser.add_argument("--entrypoint", default="work")
    parser.add_argument("--concurrency-limit", type=int, default=0)
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--heartbeat-timeout", type=float, default=30.0)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--grace", type=float, default=30.0)
    args = parser.parse_args()

    dsn = os.environ.get("PGQUEUER_DSN")
    recorder = await asyncpg.connect(dsn)
    driver = await AsyncpgDriver.connect(dsn)
    pgq = PgQueuer(driver, names=Names.create(schema=args.schema))
    lock = asyncio.Lock()

    @pgq.entrypoint(args.entrypoint, concurrency_limit=args.concurrency_limit)
    async def work(job: Job) -> None:
        async with lock:
            await recorder.execute(
                f'INSERT INTO "{args.schema}".runs (job_id, pid, started) '
                "VALUES ($1, $2, clock_timestamp())",
                job.id,
                os.getpid(),
            )
        await asyncio.sleep(args.sleep)
        async with lock:
            await recorder.execute(
                f'UPDATE "{args.schema}".runs SET finished = clock_timestamp() '
                "WHERE job_id = $1 AND pid = $2",
                job.id,
                os.getpid(),
            )

    signals = 0

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            pgq.shutdown.set()
        else:
            pgq.qm.abort()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    task = asyncio.create_task(
        pgq.run(
            batch_size=args.batch_size,
            heartbeat_timeout=timedelta(seconds=args.heartbeat_timeout),
            shutdown_grace=timedelta(seconds=args.grace),
            dequeue_timeout=timedelta(seconds=5),
        )
    )
    await asyncio.sleep(0.2)
    print("ready", flush=True)
    await task
    await recorder.close()
    await driver.connection.close()  # run() closed it already (the driver opened it)


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
