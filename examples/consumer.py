"""A worker written the way PgQueuer 1.6's README and examples write one.

The factory is an async context manager: it opens the connection, registers entrypoints and a
schedule, yields the PgQueuer, and closes what it opened after the worker stops. Run it with
``pgq run examples.consumer:main`` (``--mode drain`` stops once the queue is empty), or
``python examples/consumer.py [--drain]``. The connection comes from PGQUEUER_DSN or the libpq
variables; PGQUEUER_SCHEMA / PGQUEUER_PREFIX pick the queue.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from datetime import timedelta

from pgqueuer import PgQueuer
from pgqueuer.core.logconfig import logger
from pgqueuer.db import AsyncpgDriver
from pgqueuer.models import Context, Job, Schedule


class Greeter:
    """A resource built once per worker and shared by every job through its Context."""

    def __init__(self) -> None:
        self.greeted = 0

    def greet(self, payload: bytes | None) -> str:
        self.greeted += 1
        return f"Processed message: {payload!r}"


@asynccontextmanager
async def main() -> AsyncGenerator[PgQueuer, None]:
    # AsyncpgDriver.connect keeps how it connected: the worker can then reconnect in place
    # and send heartbeats from a thread on a connection of its own.
    driver = await AsyncpgDriver.connect(os.environ.get("PGQUEUER_DSN"))
    logger.info("consumer connected")
    pgq = PgQueuer(driver, resources={"greeter": Greeter()})

    @pgq.entrypoint("fetch")
    async def process_message(job: Job, ctx: Context) -> None:
        greeter: Greeter = ctx.resources["greeter"]
        print(greeter.greet(job.payload), flush=True)

    @pgq.entrypoint("report", concurrency_limit=2)
    async def build_report(job: Job) -> None:
        await asyncio.sleep(0.01)
        print(f"Built report for job {job.id}", flush=True)

    @pgq.schedule("scheduled_every_minute", "* * * * *")
    async def scheduled_every_minute(schedule: Schedule) -> None:
        print(f"Executed every minute {schedule!r}", flush=True)

    try:
        yield pgq
    finally:
        await driver.connection.close()  # a no-op when run() closed it already
        logger.info("consumer closed its connection")


async def run(drain: bool) -> None:
    from pgqueuer import run as supervise
    from pgqueuer.types import QueueExecutionMode

    mode = QueueExecutionMode.drain if drain else QueueExecutionMode.continuous
    await supervise(main, mode=mode, dequeue_timeout=timedelta(seconds=1))


if __name__ == "__main__":
    asyncio.run(run("--drain" in sys.argv[1:]))
