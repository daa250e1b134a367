"""How long one dashboard refresh takes on a big queue and a big log.

    hatch run python benchmarks/dashboard.py                      # 1M queued, 1M log rows
    hatch run python benchmarks/dashboard.py --queued 100000 --refreshes 20

Fills the schema BENCH_SCHEMA (default pgq_dash_bench, dropped and installed afresh) with
``--queued`` queued jobs over five entrypoints, plus 0.1% as many running jobs (held by eight
workers) and 0.1% held failed jobs, and ``--log-rows`` log rows spread evenly over the last
``--log-minutes`` (2% exceptions, 1% retries). Then it times ``Dashboard.snapshot()`` (every
section, one read-only transaction) and prints one JSON object. The connection comes from
PGQUEUER_DSN or the libpq variables.

The tables are installed UNLOGGED and the rows inserted before the indexes are built, which
only makes the setup faster: reads cost the same either way. The tables are vacuumed and
analysed after the fill, as autovacuum would do on a live queue.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from datetime import timedelta
from typing import Any

import asyncpg

from pgqueuer.names import Names
from pgqueuer_dashboard import Dashboard
from pgqueuer_schema import install_sql

ENTRYPOINTS = 5
WORKERS = 8

QUEUE_ROWS = """
INSERT INTO /*@queue_table*/pgqueuer
    (priority, entrypoint, status, created, updated, heartbeat, execute_after, queue_manager_id)
SELECT i % 3, 'ep' || (i % $4::int), s.status, now() - i * interval '1 ms',
       now() - (i % 1000) * interval '1 ms', now() - (i % 1000) * interval '1 ms',
       -- one queued job in a hundred is deferred (due in the future)
       CASE WHEN s.status = 'queued' AND i % 100 = 0 THEN now() + interval '1 hour'
            ELSE now() - i * interval '1 ms' END,
       CASE WHEN s.status = 'picked'
            THEN ('00000000-0000-0000-0000-' || lpad((i % $5::int)::text, 12, '0'))::uuid END
FROM generate_series(1, $1::int + $2::int + $3::int) AS i
CROSS JOIN LATERAL (SELECT (CASE WHEN i <= $1 THEN 'queued' WHEN i <= $1 + $2 THEN 'picked'
                                 ELSE 'failed' END)::/*@queue_status_type*/pgqueuer_status
                    AS status) AS s
"""

LOG_ROWS = """
INSERT INTO /*@queue_table_log*/pgqueuer_log
    (created, job_id, status, priority, entrypoint, traceback, aggregated, picked_at,
     execute_after)
SELECT t.created, i, s.status, i % 3, 'ep' || (i % $3::int),
       CASE WHEN s.status <> 'successful' THEN jsonb_build_object(
           'exception_type', 'ValueError', 'exception_message', 'row ' || i || E' failed\nmore',
           'job_id', i, 'timestamp', t.created,
           'traceback', E'Traceback (most recent call last):\nValueError: row ' || i)
       END,
       true, t.created - (i % 97) * interval '1 ms',
       t.created - (i % 97) * interval '1 ms' - (i % 89) * interval '3 ms'
FROM generate_series(1, $1::int) AS i
CROSS JOIN LATERAL (SELECT now() - (i - 1) * ($2::interval / $1::int) AS created) AS t
CROSS JOIN LATERAL (SELECT (CASE WHEN i % 50 = 0 THEN 'exception' WHEN i % 100 = 1 THEN 'queued'
                                 ELSE 'successful' END)::/*@queue_status_type*/pgqueuer_status
                    AS status) AS s
"""


async def fill(
    dsn: str | None,
    names: Names,
    *,
    queued: int = 1_000_000,
    log_rows: int = 1_000_000,
    log_span: timedelta = timedelta(minutes=10),
) -> None:
    """Install ``names`` afresh and fill its queue and log (two connections at once)."""
    a, b = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        if names.schema:
            await a.execute(f'DROP SCHEMA IF EXISTS "{names.schema}" CASCADE')
        await a.execute(install_sql(names, "volatile"))
        queue, log = names.qualify(names.queue_table), names.qualify(names.queue_table_log)
        indexes = await a.fetch(
            "SELECT indexrelid::regclass::text AS name, indrelid = $1::regclass AS queue, "
            "pg_get_indexdef(indexrelid) AS ddl FROM pg_index "
            "WHERE indrelid IN ($1::regclass, $2::regclass) AND NOT indisprimary",
            queue,
            log,
        )
        for index in indexes:
            await a.execute(f"DROP INDEX {index['name']}")
        await a.execute(f"ALTER TABLE {queue} DISABLE TRIGGER USER")  # no NOTIFY for the fill
        held = max(queued // 1000, 1)

        async def fill_queue() -> None:
            await a.execute(names.substitute(QUEUE_ROWS), queued, held, held, ENTRYPOINTS, WORKERS)
            for index in indexes:
                if index["queue"]:
                    await a.execute(index["ddl"])
            await a.execute(f"ALTER TABLE {queue} ENABLE TRIGGER USER")
            await a.execute(f"VACUUM ANALYZE {queue}")

        async def fill_log() -> None:
            await b.execute(names.substitute(LOG_ROWS), log_rows, log_span, ENTRYPOINTS)
            for index in indexes:
                if not index["queue"]:
                    await b.execute(index["ddl"])
            await b.execute(f"VACUUM ANALYZE {log}")

        await asyncio.gather(fill_queue(), fill_log())
    finally:
        await a.close()
        await b.close()


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    dsn = os.environ.get("PGQUEUER_DSN")
    names = Names.create(schema=os.environ.get("BENCH_SCHEMA", "pgq_dash_bench"))
    began = time.perf_counter()
    await fill(
        dsn,
        names,
        queued=args.queued,
        log_rows=args.log_rows,
        log_span=timedelta(minutes=args.log_minutes),
    )
    setup = time.perf_counter() - began
    conn = await asyncpg.connect(dsn)
    try:
        dashboard = Dashboard(conn, names)
        first = time.perf_counter()
        snap = await dashboard.snapshot()
        first_ms = (time.perf_counter() - first) * 1000
        times = []
        for _ in range(args.refreshes):
            start = time.perf_counter()
            snap = await dashboard.snapshot()
            times.append((time.perf_counter() - start) * 1000)
    finally:
        if not args.keep and names.schema:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{names.schema}" CASCADE')
        await conn.close()
    times.sort()
    return {
        "scenario": "dashboard_refresh",
        "queued": sum(e.queued for e in snap.entrypoints),
        "log_rows": args.log_rows,
        "log_rows_in_window": snap.sampled_log_rows,
        "window_seconds": round(snap.window_seconds, 1),
        "first_refresh_ms": round(first_ms, 1),
        "refresh_ms_median": round(statistics.median(times), 1),
        "refresh_ms_p95": round(times[max(int(len(times) * 0.95) - 1, 0)], 1),
        "refresh_ms_max": round(times[-1], 1),
        "refreshes": len(times),
        "setup_seconds": round(setup, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queued", type=int, default=1_000_000)
    parser.add_argument("--log-rows", type=int, default=1_000_000)
    parser.add_argument("--log-minutes", type=float, default=10.0, help="span of the log rows")
    parser.add_argument("--refreshes", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the schema afterwards")
    print(json.dumps(asyncio.run(measure(parser.parse_args()))))


if __name__ == "__main__":
    main()
