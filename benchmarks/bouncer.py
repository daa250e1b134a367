"""Draining through PgBouncer (transaction pooling) against draining over direct connections.

    hatch run python benchmarks/bouncer.py                  # 20k jobs, 3 rounds
    hatch run python benchmarks/bouncer.py --jobs 5000 --rounds 1

A private PgBouncer (examples/localbouncer.py, Debian's package) is started in front of the
server PGQUEUER_DSN (or the libpq variables) names, and stopped at the end. Modes, alternating
within each round, each draining the same fresh queue of ``--jobs`` jobs with ``--workers``
workers in this process (runner.py's drain: batch 10, handlers that do nothing):

* ``direct``: workers connect to PostgreSQL (LISTEN on their connection, generic plans);
* ``bouncer-listen``: workers connect through the bouncer (``pgbouncer=True``, statement
  cache off) and LISTEN on a direct connection (``listen_dsn``);
* ``bouncer-poll``: through the bouncer, no LISTEN (``poll_interval=1``).

The table shows medians of jobs/s and the ratio to ``direct``; the last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "examples"))
from localbouncer import LocalBouncer  # noqa: E402

from pgqueuer import PgQueuer  # noqa: E402
from pgqueuer.db import AsyncpgDriver  # noqa: E402
from pgqueuer.models import Job  # noqa: E402
from pgqueuer.names import Names  # noqa: E402
from pgqueuer.queries import Queries  # noqa: E402
from pgqueuer.types import QueueExecutionMode  # noqa: E402

SCHEMA = os.environ.get("BENCH_SCHEMA", "pgq_bench_bouncer")
MODES = ("direct", "bouncer-listen", "bouncer-poll")


def direct_dsn() -> str:
    dsn = os.environ.get("PGQUEUER_DSN")
    if dsn:
        return dsn
    env = os.environ
    user = env.get("PGUSER", "postgres")
    host, port = env.get("PGHOST", "127.0.0.1"), env.get("PGPORT", "5432")
    return f"postgresql://{user}@{host}:{port}/{env.get('PGDATABASE', 'postgres')}"


async def fresh_queue(dsn: str, jobs: int) -> Names:
    names = Names.create(schema=SCHEMA)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')
        await conn.execute(f'CREATE SCHEMA "{SCHEMA}"')
        queries = Queries(AsyncpgDriver(conn), names)
        await queries.install()
        for start in range(0, jobs, 1000):
            size = min(1000, jobs - start)
            await queries.enqueue(["bench"] * size, [None] * size, [0] * size)
    finally:
        await conn.close()
    return names


async def drain(mode: str, direct: str, bounced: str, args: argparse.Namespace) -> float:
    names = await fresh_queue(direct, args.jobs)
    through = mode != "direct"
    options: dict[str, Any] = {}
    if mode == "bouncer-listen":
        options = {"pgbouncer": True, "listen_dsn": direct}
    elif mode == "bouncer-poll":
        options = {"pgbouncer": True, "poll_interval": timedelta(seconds=1)}
    connect = functools.partial(
        asyncpg.connect, bounced if through else direct, statement_cache_size=0 if through else 100
    )
    conns = [await connect() for _ in range(args.workers)]
    done = 0

    def consumer(conn: asyncpg.Connection) -> PgQueuer:
        pgq = PgQueuer(AsyncpgDriver(conn, connect=connect), names=names)  # heartbeat thread

        @pgq.entrypoint("bench")
        async def bench(job: Job) -> None:
            nonlocal done
            done += 1

        return pgq

    workers = [consumer(c) for c in conns]
    started = time.perf_counter()
    await asyncio.gather(
        *(
            w.run(
                batch_size=10,
                dequeue_timeout=timedelta(seconds=1),
                mode=QueueExecutionMode.drain,
                **options,
            )
            for w in workers
        )
    )
    elapsed = time.perf_counter() - started
    for c in conns:
        await c.close()
    assert done == args.jobs, f"{mode}: {done} of {args.jobs} jobs ran"
    return done / elapsed


async def main(args: argparse.Namespace) -> dict[str, Any]:
    direct = direct_dsn()
    local = LocalBouncer(Path(tempfile.mkdtemp(prefix="pgqueuer-bench-bouncer-")), direct)
    local.start()
    try:
        database = urlsplit(direct).path.strip("/") or "postgres"
        bounced = local.dsn(database)
        results: dict[str, list[float]] = {m: [] for m in MODES}
        for round_ in range(args.rounds):
            order = MODES if round_ % 2 == 0 else tuple(reversed(MODES))
            for mode in order:
                results[mode].append(await drain(mode, direct, bounced, args))
    finally:
        local.destroy()
    medians = {m: statistics.median(v) for m, v in results.items()}
    print(f"{'mode':<16}{'jobs/s (median)':>18}{'vs direct':>12}")
    for mode in MODES:
        print(f"{mode:<16}{medians[mode]:>18.0f}{medians[mode] / medians['direct']:>12.2f}")
    return {
        "jobs": args.jobs,
        "workers": args.workers,
        "rounds": args.rounds,
        "pool_size": local.pool_size,
        "jobs_per_second": {m: round(v) for m, v in medians.items()},
        "runs": {m: [round(x) for x in v] for m, v in results.items()},
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    print(json.dumps(asyncio.run(main(parser.parse_args()))))
