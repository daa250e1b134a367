"""The vacuum chore: keep the queue table lean while jobs flow through it.

Every job leaves two dead row versions in the queue table (its claim's update and its delete).
Autovacuum visits a table at most once per ``autovacuum_naptime`` (a minute by default), and
never where it is off; at a few thousand jobs a second the table then carries hundreds of
thousands of dead rows, and every claim's index scan walks past them. Measured in
benchmarks/RESULTS.md (2026-12-04, "the vacuum chore"): 32 workers over 60 s did 6,232 jobs/s
with 802k dead rows at the peak, and 10,368 jobs/s with 297k when the table was vacuumed every
5 s.

So each worker reads the table's statistics every ``interval`` seconds (jittered) and runs
``VACUUM (SKIP_LOCKED)`` when ``vacuum_due`` says so: enough dead rows (``VACUUM_MIN_DEAD``,
and at least ``VACUUM_DEAD_SHARE`` of the live ones, as autovacuum's scale factor) and no
VACUUM by anyone, autovacuum included, within the interval, and none running now; a fleet
therefore vacuums about once per interval, not once per worker, and a worker that still finds
the table locked (by a VACUUM it could not see, or DDL) skips it instead of waiting. The
VACUUM runs on a connection of its own when the driver can open one (``SeparateConnections``),
so the claim loop never waits for it; otherwise on the worker's connection, between its round
trips. A role that does not own the table stops the chore at once (its VACUUM would only
warn). A failing check or VACUUM is logged at debug level and tried again next time: it never
stops the worker.

The chore also runs ``ANALYZE`` once when the table holds a backlog (``ANALYZE_MIN_LIVE``
rows) but has no column statistics (``analyze_due``): a server with autovacuum off, or a new
table before autovacuum's first look. Without statistics the planner guesses that a handful of
rows match the claim, and once the table is large its generic plan can take the (entrypoint,
execute_after) index and sort the entrypoint's whole backlog on every claim (a VACUUM, which
refreshes the table's size, replans it so mid-run). Measured: 200,000 queued jobs without
statistics claimed at 700 jobs/s, and at 24,000 after the ANALYZE (benchmarks/nostats.py;
benchmarks/RESULTS.md, 2026-12-04 third stop). With statistics the planner walks the
(entrypoint, priority, id) index and stops at the batch.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from pgqueuer.capabilities import SeparateConnections
from pgqueuer.db import Driver
from pgqueuer.models import TableChurn

if TYPE_CHECKING:
    from pgqueuer.inmemory import InMemoryQueries
    from pgqueuer.queries import Queries

logger = logging.getLogger("pgqueuer")

VACUUM_MIN_DEAD = 5_000  # dead rows below which a vacuum is not worth its scan
VACUUM_DEAD_SHARE = 0.2  # ... nor below this share of the live rows (a large backlog)
ANALYZE_MIN_LIVE = 1_000  # rows below which the claim's plan hardly matters


def vacuum_due(churn: TableChurn | None, interval: float) -> bool:
    """True when the queue table should be vacuumed now."""
    if churn is None or not churn.may_vacuum or churn.vacuuming:
        return False
    if churn.since_vacuum is not None and churn.since_vacuum < interval:
        return False  # somebody (another worker, autovacuum) did it within the interval
    return churn.dead >= max(VACUUM_MIN_DEAD, VACUUM_DEAD_SHARE * churn.live)


def analyze_due(churn: TableChurn | None) -> bool:
    """True when the queue table holds a backlog the planner has no statistics for."""
    if churn is None or not churn.may_vacuum or churn.vacuuming or churn.analyzed:
        return False
    return churn.live >= ANALYZE_MIN_LIVE


Maintenance = Callable[[str], Awaitable[None]]  # runs "vacuum_queue" or "analyze_queue"


async def maintenance_runner(queries: Queries | InMemoryQueries, driver: Driver) -> Maintenance:
    """How this worker runs its VACUUM and ANALYZE: on a fresh connection of its own when it
    can open one, else on the worker's connection."""
    on_worker_connection = {
        "vacuum_queue": queries.vacuum_queue,
        "analyze_queue": queries.analyze_queue,
    }
    if isinstance(driver, SeparateConnections):
        try:
            connect = await driver.connect_factory()
        except Exception as exc:
            logger.debug("the vacuum chore will use the worker's connection: %s", exc)
        else:

            async def on_own_connection(statement: str) -> None:
                conn = await connect()
                try:
                    await conn.execute(queries.sql[statement])
                except BaseException:
                    conn.terminate()
                    raise
                await conn.close()

            return on_own_connection

    async def on_the_worker_connection(statement: str) -> None:
        await on_worker_connection[statement]()

    return on_the_worker_connection


async def vacuum_loop(queries: Queries | InMemoryQueries, driver: Driver, interval: float) -> None:
    """Analyze the queue table when ``analyze_due`` and vacuum it when ``vacuum_due``, checking
    every ``interval`` s, forever."""
    run = await maintenance_runner(queries, driver)
    # The first look comes soon after the start: a backlog left from before may have no
    # statistics, and every claim until then pays for it.
    wait = interval * random.uniform(0.0, 0.2)
    while True:
        await asyncio.sleep(wait)
        wait = interval * random.uniform(0.8, 1.2)
        try:
            churn = await queries.queue_churn()
            if churn is None:
                return  # rows held in memory; or the table is gone, which the loop reports
            if not churn.may_vacuum:
                logger.info(
                    "vacuum chore off: this role does not own the queue table "
                    "(leave it to autovacuum, or pass vacuum_interval=None)"
                )
                return
            chores = (
                (analyze_due(churn), "analyze_queue", f"analyzed ({churn.live} rows, no stats)"),
                (vacuum_due(churn, interval), "vacuum_queue", f"vacuumed ({churn.dead} dead rows)"),
            )
            for due, statement, what in chores:
                if due:
                    started = time.monotonic()
                    await run(statement)
                    elapsed = (time.monotonic() - started) * 1000
                    logger.debug("queue table %s in %.0f ms", what, elapsed)
        except Exception as exc:
            logger.debug("queue table maintenance skipped: %s", exc)
