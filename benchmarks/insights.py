"""How long each of Queries' insight reads takes on a big queue and a big log.

    hatch run python benchmarks/insights.py

Fills the schema pgq_insights_bench (dropped and installed afresh) with benchmarks/dashboard.py's
data (1M queued jobs, 1M log rows over ten minutes), times each read five times and prints
the medians, then drops the schema. The connection comes from PGQUEUER_DSN or the libpq
variables.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg

from pgqueuer.db import AsyncpgDriver
from pgqueuer.names import Names
from pgqueuer.queries import Queries


def _dashboard_bench() -> Any:
    path = Path(__file__).with_name("dashboard.py")
    spec = importlib.util.spec_from_file_location("dashboard_bench", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def main() -> None:
    dsn = os.environ.get("PGQUEUER_DSN")
    names = Names.create(schema="pgq_insights_bench")
    await _dashboard_bench().fill(dsn, names)
    conn = await asyncpg.connect(dsn)
    q = Queries(AsyncpgDriver(conn), names)
    hour = timedelta(hours=1)
    reads: dict[str, Callable[[], Awaitable[object]]] = {
        "queue_age()": q.queue_age,
        "job_duration_percentiles(1h)": lambda: q.job_duration_percentiles(hour),
        "throughput_summary(1h)": lambda: q.throughput_summary(hour),
        "throughput_summary()": q.throughput_summary,
        "throughput_timeseries(1h)": lambda: q.throughput_timeseries(hour),
        "job_log_history(5)": lambda: q.job_log_history(5),
        "browse_queue()": q.browse_queue,
        "queue_job_by_id(5)": lambda: q.queue_job_by_id(5),
        "unaggregated_log_count()": q.unaggregated_log_count,
        "schema_info()": q.schema_info,
        "stale_jobs()": q.stale_jobs,
        "active_workers()": q.active_workers,
    }
    try:
        for name, read in reads.items():
            times = []
            for _ in range(5):
                start = time.perf_counter()
                await read()
                times.append(time.perf_counter() - start)
            print(f"{name:32s} median {statistics.median(times) * 1000:8.1f} ms")
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{names.schema}" CASCADE')
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
