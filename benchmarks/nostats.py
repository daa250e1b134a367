"""A backlog on a queue table the planner has no column statistics for: the claim rate,
second by second, with and without the vacuum chore's ANALYZE.

    hatch run python benchmarks/nostats.py                      # 200k queued, chore on (5 s)
    hatch run python benchmarks/nostats.py --vacuum-interval 0  # chore off: as before 72a1b16
    hatch run python benchmarks/nostats.py --backlog 75000 --top-up 100000 --hold 4

One worker in this process (batch 20, 40 concurrent, handlers that do nothing) drains a fresh
queue in schema BENCH_SCHEMA (default ``pgq_bench_nostats``) on the server PGQUEUER_DSN (or
the libpq variables) names. The table is never analyzed before the worker starts; on a server
with autovacuum on, autovacuum may analyze it during the run. ``--top-up N`` enqueues N more
jobs after two seconds; ``--hold S`` then holds a REPEATABLE READ snapshot for S seconds (its
xmin keeps every dead row, and the chore's VACUUM during it replans the claim). Prints one line
per second and a JSON line at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from datetime import timedelta
from typing import Any

import asyncpg

from pgqueuer import PgQueuer
from pgqueuer.db import AsyncpgDriver
from pgqueuer.models import Job
from pgqueuer.names import Names
from pgqueuer.queries import Queries
from pgqueuer_schema import install_sql

SCHEMA = os.environ.get("BENCH_SCHEMA", "pgq_bench_nostats")
BATCH = 5_000  # enqueued per statement
DSN = os.environ.get("PGQUEUER_DSN")  # None: asyncpg reads the libpq variables


async def enqueue(queries: Queries, n: int) -> None:
    for start in range(0, n, BATCH):
        size = min(BATCH, n - start)
        await queries.enqueue(["work"] * size, [None] * size)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    names = Names.create(schema=SCHEMA)
    admin = await asyncpg.connect(DSN)
    await admin.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')
    await admin.execute(install_sql(names))
    queries = Queries(AsyncpgDriver(admin), names)
    await enqueue(queries, args.backlog)
    async with await AsyncpgDriver.connect(DSN) as driver:
        return await drain(args, names, admin, queries, driver)


async def drain(
    args: argparse.Namespace,
    names: Names,
    admin: asyncpg.Connection,
    queries: Queries,
    driver: AsyncpgDriver,
) -> dict[str, Any]:
    done = 0
    pgq = PgQueuer(driver, names=names)

    @pgq.entrypoint("work")
    async def work(job: Job) -> None:
        nonlocal done
        done += 1

    interval = timedelta(seconds=args.vacuum_interval) if args.vacuum_interval else None
    task = asyncio.create_task(
        pgq.run(batch_size=20, max_concurrent_tasks=40, vacuum_interval=interval)
    )
    began = time.monotonic()
    seconds: list[dict[str, Any]] = []

    async def sample(phase: str, n: int) -> None:
        for _ in range(n):
            before = done
            await asyncio.sleep(1.0)
            row = await admin.fetchrow(
                "SELECT analyze_count + autoanalyze_count AS analyzed, "
                "vacuum_count + autovacuum_count AS vacuumed "
                "FROM pg_stat_user_tables WHERE relid = to_regclass($1)",
                names.qualify(names.queue_table),
            )
            record = {
                "at": round(time.monotonic() - began, 1),
                "phase": phase,
                "jobs_per_second": done - before,
                "analyzes": row["analyzed"],
                "vacuums": row["vacuumed"],
            }
            seconds.append(record)
            print(
                f"{record['at']:5.1f} s  {phase:6s} {record['jobs_per_second']:7,d} jobs/s"
                f"  analyzes {record['analyzes']}  vacuums {record['vacuums']}",
                flush=True,
            )

    try:
        if args.top_up or args.hold:
            await sample("warm", 2)
        if args.top_up:
            await enqueue(queries, args.top_up)
        if args.hold:
            holder = await asyncpg.connect(DSN)
            try:
                await holder.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
                await holder.fetchval("SELECT txid_current()")
                await sample("hold", args.hold)
                await holder.execute("ROLLBACK")
            finally:
                await holder.close()
        await sample("run", args.seconds)
    finally:
        pgq.shutdown.set()
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 60)
        await admin.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')
        await admin.close()
    return {
        "backlog": args.backlog,
        "top_up": args.top_up,
        "hold": args.hold,
        "vacuum_interval": args.vacuum_interval,
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backlog", type=int, default=200_000, help="jobs queued at the start")
    parser.add_argument("--top-up", type=int, default=0, help="jobs added after 2 s")
    parser.add_argument("--hold", type=int, default=0, help="seconds a snapshot is held")
    parser.add_argument("--seconds", type=int, default=10, help="seconds measured after that")
    parser.add_argument(
        "--vacuum-interval", type=float, default=5.0, help="the worker's chore (s; 0 off)"
    )
    print(json.dumps(asyncio.run(run(parser.parse_args()))))


if __name__ == "__main__":
    main()
