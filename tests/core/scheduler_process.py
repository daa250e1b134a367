"""A scheduler process for the once-per-tick test (not a test module).

Registers "tick" every second on the schema given as argv[1]; each firing inserts a row
(pid, the tick's second) into {schema}.fired through its own connection. Runs argv[2] seconds.
"""

from __future__ import annotations

import asyncio
import os
import sys

import asyncpg

from pgqueuer import PgQueuer
from pgqueuer.db import AsyncpgDriver
from pgqueuer.models import Schedule
from pgqueuer.names import Names


async def main(schema: str, seconds: float) -> None:
    dsn = os.environ.get("PGQUEUER_DSN")
    recorder = await asyncpg.connect(dsn)
    driver = await AsyncpgDriver.connect(dsn)
    pgq = PgQueuer(driver, names=Names.create(schema=schema))

    @pgq.schedule("tick", "* * * * * *")
    async def tick(schedule: Schedule) -> None:
        await recorder.execute(
            f'INSERT INTO "{schema}".fired (pid, tick) '
            "VALUES ($1, date_trunc('second', $2::timestamptz))",
            os.getpid(),
            schedule.next_run,
        )

    task = asyncio.create_task(pgq.run())
    print("ready", flush=True)
    await asyncio.sleep(seconds)
    pgq.shutdown.set()
    await task
    await recorder.close()
    await driver.connection.close()  # run() closed it already (the driver opened it)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2])))
