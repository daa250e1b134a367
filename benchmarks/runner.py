"""One benchmark scenario, run against whichever `pgqueuer` this Python imports.

The same file runs under this project (the hatch environment) and under PgQueuer 1.6.0 (its
own virtual environment, see compare.py): it only uses the API both share (`PgQueuer`, its
`entrypoint(name, concurrency_limit=...)` and `run(batch_size=..., max_concurrent_tasks=...,
dequeue_timeout=...)`, `AsyncpgDriver`, `Queries.enqueue`, `QueueExecutionMode`). It prints
one JSON object on stdout.

    python benchmarks/runner.py drain --jobs 20000
    python benchmarks/runner.py throughput --time 10
    python benchmarks/runner.py latency --jobs 500
    python benchmarks/runner.py enqueue --jobs 20000
    python benchmarks/runner.py drain --jobs 10000 --backlog 1000000   # scale
    python benchmarks/runner.py drain --jobs 20000 --driver psycopg    # psycopg workers

``--driver psycopg`` gives the workers (drain, throughput, latency) a psycopg 3 connection
and ``PsycopgDriver``, which both systems have; producers and setup stay on asyncpg.

The load scenarios (issue 16; in load.py, workers and producers in processes of their own):

    python benchmarks/runner.py fleet --time 20 --rate 2000
    python benchmarks/runner.py pickup --jobs 500 [--transaction]
    python benchmarks/runner.py sustained --time 120

* ``fleet``: ``--processes`` 4 worker processes, each one PgQueuer with
  ``max_concurrent_tasks=--concurrency`` (8; batch 4, as PgQueuer needs at least twice the
  batch), serving 20 entrypoints of which 3 have ``concurrency_limit=2``; ``--producers`` 4
  producer processes (4 connections each) enqueue single jobs at ``--rate`` jobs/s in total,
  each job's payload the producer's time before ``enqueue()``. After a 2 s warm-up it counts
  for ``--time`` s: jobs/s, pickup p50/p99 (payload time to the handler's first line), the
  same pickups split where the producer's ``enqueue()`` returned (``enqueue_p50_ms``/``_p99``:
  its commit; ``from_commit_p50_ms``/``_p99``: the queue's own part), and the
  PostgreSQL server's CPU per job (``cpu_ms_per_job``: utime+stime of the postmaster and all
  its children from /proc, before and after, see pgserver.py; null with ``cpu_note`` saying
  why when the server's processes are not readable here). ``enqueued_per_second`` and
  ``producer_late_max_ms`` show whether the producers held the rate: every single-job enqueue
  is a notifying commit, and PostgreSQL runs those one at a time, so a slow disk caps the rate
  below ``--rate``; the producers then send what they can and stop on time.
* ``pickup``: one idle worker in its own process; ``--jobs`` single jobs, one at a time with
  ``--pause`` s (0.02) after each is handled; latency from ``enqueue()`` returning in
  autocommit (``--transaction``: from the COMMIT of an explicit transaction around it
  returning) to the handler's first line: the queue's own cost, without the producer's commit.
  The producer is runner.py's process; ``negative`` counts pickups whose handler ran before
  the producer saw its commit return (most likely its process was waiting for a CPU on a
  loaded machine; such a run's figures are not clean).
* ``sustained``: ``--workers`` 32 workers, a PgQueuer each on its own connection and claim
  loop (as the drain and throughput scenarios count workers; one PgQueuer with
  ``max_concurrent_tasks=32`` would be one claim loop, the fleet's shape), each with both
  systems' defaults (batch 10), spread over ``--processes`` 4 processes so that they are not
  all on one core; ``--producers`` 1 producer process tops the queue up to ``--hold`` 4,000
  queued jobs every 100 ms (batches of up to 1,000). Over ``--time`` s after the warm-up:
  jobs/s, the queue table's dead tuples (``pg_stat_user_tables.n_dead_tup`` every second:
  peak and final), the autovacuum and autoanalyze runs on it (``autovacuum_count`` before and
  after), the server's CPU per job, and ``queued_min``/``queued_median`` (the backlog held).

The server's CPU counts every process of the server, other sessions' backends included: on a
shared server it is an upper bound for the benchmark's own cost.

The queue lives in the schema BENCH_SCHEMA (default pgq_bench), dropped and installed afresh
for every run. The connection comes from PGQUEUER_DSN or the libpq variables.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from typing import Any

import asyncpg

os.environ.setdefault("PGQUEUER_SCHEMA", os.environ.get("BENCH_SCHEMA", "pgq_bench"))
SCHEMA = os.environ["PGQUEUER_SCHEMA"]

from pgqueuer import PgQueuer  # noqa: E402
from pgqueuer.db import AsyncpgDriver  # noqa: E402
from pgqueuer.models import Job  # noqa: E402
from pgqueuer.queries import Queries  # noqa: E402
from pgqueuer.types import QueueExecutionMode  # noqa: E402

DSN = os.environ.get("PGQUEUER_DSN")
BACKLOG_CAP = 2000  # throughput: producers pause while this many jobs wait
COUNT_QUEUED = f"SELECT count(*) FROM \"{SCHEMA}\".pgqueuer WHERE status = 'queued'"


async def connect() -> asyncpg.Connection:
    return await asyncpg.connect(DSN)


async def fresh_schema() -> None:
    conn = await connect()
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')
        await conn.execute(f'CREATE SCHEMA "{SCHEMA}"')
        await Queries(AsyncpgDriver(conn)).install()
    finally:
        await conn.close()


async def fill(n: int, entrypoint: str = "bench", batch: int = 1000) -> None:
    conn = await connect()
    try:
        queries = Queries(AsyncpgDriver(conn))
        for start in range(0, n, batch):
            size = min(batch, n - start)
            await queries.enqueue([entrypoint] * size, [None] * size, [0] * size)
    finally:
        await conn.close()


async def fill_backlog(n: int) -> None:
    """Queue n jobs fast with one INSERT (setup only, not measured)."""
    if n <= 0:
        return
    conn = await connect()
    try:
        await conn.execute(
            f'INSERT INTO "{SCHEMA}".pgqueuer (priority, entrypoint, payload, status) '
            "SELECT 0, 'bench', NULL, 'queued' FROM generate_series(1, $1)",
            n,
        )
        await conn.execute(f'ANALYZE "{SCHEMA}".pgqueuer')
    finally:
        await conn.close()


async def worker_connection(driver: str) -> tuple[Any, Any]:
    """A worker's connection and its driver: asyncpg, or psycopg (autocommit, as required)."""
    if driver == "psycopg":
        import psycopg

        from pgqueuer.db import PsycopgDriver

        pconn = await psycopg.AsyncConnection.connect(DSN or "", autocommit=True)
        return pconn, PsycopgDriver(pconn)
    conn = await connect()
    if OPENS_CONNECTIONS:  # ours: the heartbeat thread and reconnect need a way to open one
        return conn, AsyncpgDriver(conn, connect=connect)
    return conn, AsyncpgDriver(conn)  # PgQueuer 1.6 has no connect=


# This file also runs under PgQueuer 1.6, whose AsyncpgDriver takes the connection only.
OPENS_CONNECTIONS = "connect" in inspect.signature(AsyncpgDriver).parameters


def consumer(driver: Any, on_job: Any) -> PgQueuer:
    pgq = PgQueuer(driver)

    @pgq.entrypoint("bench")
    async def bench(job: Job) -> None:
        on_job(job)

    return pgq


async def drain(args: argparse.Namespace) -> dict[str, Any]:
    await fill(args.jobs)
    await fill_backlog(args.backlog)
    done = 0
    target = args.jobs
    finished = asyncio.Event()

    def on_job(job: Job) -> None:
        nonlocal done
        done += 1
        if done >= target:
            finished.set()

    pairs = [await worker_connection(args.driver) for _ in range(args.workers)]
    conns = [c for c, _ in pairs]
    workers = [consumer(d, on_job) for _, d in pairs]
    started = time.perf_counter()
    kwargs = {"batch_size": args.batch_size, "dequeue_timeout": timedelta(seconds=1)}
    if args.backlog:
        tasks = [asyncio.create_task(w.run(**kwargs)) for w in workers]
        await finished.wait()
        elapsed = time.perf_counter() - started
        for w in workers:
            w.shutdown.set()
        await asyncio.wait(tasks, timeout=30)
    else:
        kwargs["mode"] = QueueExecutionMode.drain
        await asyncio.gather(*(w.run(**kwargs) for w in workers))
        elapsed = time.perf_counter() - started
    for c in conns:
        await c.close()
    return {"jobs": done, "seconds": elapsed, "jobs_per_second": done / elapsed}


async def throughput(args: argparse.Namespace) -> dict[str, Any]:
    done = 0

    def on_job(job: Job) -> None:
        nonlocal done
        done += 1

    # Producers run in processes of their own, so they do not take the consumers' CPU time
    # in this process (as separate services would not).
    producers = [
        subprocess.Popen(  # noqa: ASYNC220 - started once, before the measurement
            [sys.executable, __file__, "produce", "--time", str(args.time + 2.0)],
            env=dict(os.environ),
        )
        for _ in range(args.producers)
    ]

    pairs = [await worker_connection(args.driver) for _ in range(args.workers)]
    conns = [c for c, _ in pairs]
    workers = [consumer(d, on_job) for _, d in pairs]
    tasks = [
        asyncio.create_task(w.run(batch_size=args.batch_size, dequeue_timeout=timedelta(seconds=1)))
        for w in workers
    ]
    await asyncio.sleep(1.0)  # warm-up
    start_done, started = done, time.perf_counter()
    await asyncio.sleep(args.time)
    elapsed = time.perf_counter() - started
    measured = done - start_done
    for proc in producers:
        proc.wait(timeout=30)
    for w in workers:
        w.shutdown.set()
    await asyncio.wait(tasks, timeout=30)
    for c in conns:
        await c.close()
    return {"jobs": measured, "seconds": elapsed, "jobs_per_second": measured / elapsed}


async def produce(args: argparse.Namespace) -> dict[str, Any]:
    """Enqueue batches of 10 for --time seconds (throughput's producer process).

    The backlog is kept under BACKLOG_CAP queued jobs: a producer that outruns the consumers
    only burns the CPU they need (both share this machine), which would reward a system
    whose enqueue is slower. So the figure is what flows through: enqueued and processed.
    """
    conn = await connect()
    queries = Queries(AsyncpgDriver(conn))
    deadline = time.perf_counter() + args.time
    enqueued = 0
    while time.perf_counter() < deadline:
        await queries.enqueue(["bench"] * 10, [None] * 10, [0] * 10)
        enqueued += 10
        if enqueued % 200 == 0:
            while time.perf_counter() < deadline:
                if await conn.fetchval(COUNT_QUEUED) <= BACKLOG_CAP:
                    break
                await asyncio.sleep(0.005)
    await conn.close()
    return {"enqueued": enqueued, "seconds": args.time}


async def latency(args: argparse.Namespace) -> dict[str, Any]:
    await fill_backlog(args.backlog)
    started_at: dict[bytes, float] = {}
    arrived: asyncio.Queue[tuple[bytes, float]] = asyncio.Queue()

    def on_job(job: Job) -> None:
        if job.payload:
            arrived.put_nowait((job.payload, time.perf_counter()))

    conn, driver = await worker_connection(args.driver)
    pgq = PgQueuer(driver)

    @pgq.entrypoint("latency")
    async def bench(job: Job) -> None:
        on_job(job)

    task = asyncio.create_task(pgq.run(dequeue_timeout=timedelta(seconds=30)))
    producer_conn = await connect()
    queries = Queries(AsyncpgDriver(producer_conn))
    await asyncio.sleep(1.0)  # the worker is idle, waiting for a notification
    samples: list[float] = []
    for i in range(args.jobs + 20):
        key = str(i).encode()
        started_at[key] = time.perf_counter()
        await queries.enqueue("latency", key)
        payload, when = await asyncio.wait_for(arrived.get(), 30)
        if i >= 20:  # warm-up
            samples.append((when - started_at[payload]) * 1000)
        await asyncio.sleep(0.005)
    pgq.shutdown.set()
    await asyncio.wait([task], timeout=30)
    await conn.close()
    await producer_conn.close()
    samples.sort()

    def pct(p: float) -> float:
        return samples[min(len(samples) - 1, int(p / 100 * len(samples)))]

    return {
        "jobs": len(samples),
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "max_ms": samples[-1],
        "mean_ms": statistics.fmean(samples),
    }


async def enqueue(args: argparse.Namespace) -> dict[str, Any]:
    conn = await connect()
    queries = Queries(AsyncpgDriver(conn))
    started = time.perf_counter()
    for _ in range(0, args.jobs, 100):
        await queries.enqueue(["bench"] * 100, [None] * 100, [0] * 100)
    batched = time.perf_counter() - started
    singles = max(args.jobs // 10, 100)
    started = time.perf_counter()
    for _ in range(singles):
        await queries.enqueue("bench", None)
    single = time.perf_counter() - started
    await conn.close()
    return {"batch100_per_second": args.jobs / batched, "single_per_second": singles / single}


SCENARIOS = {
    "drain": drain,
    "throughput": throughput,
    "latency": latency,
    "enqueue": enqueue,
    "produce": produce,
}
# Option defaults; load.DEFAULTS overrides them for its scenarios.
DEFAULTS: dict[str, Any] = {"jobs": 20_000, "time": 10.0, "workers": 5, "producers": 2}


def main() -> None:
    import load  # the load scenarios; imported here, as load.py imports this module

    scenarios = {**SCENARIOS, **load.SCENARIOS}
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=sorted(scenarios))
    parser.add_argument("--jobs", type=int, help="jobs (20,000; pickup 500)")
    parser.add_argument("--time", type=float, help="seconds measured (10; fleet 20, sustained 120)")
    parser.add_argument("--workers", type=int, help="consumers (5; sustained 32)")
    parser.add_argument(
        "--producers", type=int, help="producer processes (2; fleet 4, sustained 1)"
    )
    parser.add_argument("--processes", type=int, help="worker processes (fleet, sustained: 4)")
    parser.add_argument("--concurrency", type=int, help="jobs at once per worker (fleet: 8)")
    parser.add_argument("--rate", type=float, help="jobs/s enqueued in total (fleet: 2,000)")
    parser.add_argument("--hold", type=int, help="queued jobs kept (sustained: 4,000)")
    parser.add_argument("--pause", type=float, help="seconds between jobs (pickup: 0.02)")
    parser.add_argument(
        "--transaction", action="store_true", help="pickup: enqueue in an explicit transaction"
    )
    parser.add_argument(
        "--vacuum-interval",
        type=float,
        default=None,
        help="sustained: our workers' vacuum chore (s; 0 off; default the library's own)",
    )
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--backlog", type=int, default=0, help="jobs queued beforehand (scale)")
    parser.add_argument(
        "--driver", choices=["asyncpg", "psycopg"], default="asyncpg", help="the workers' driver"
    )
    args = parser.parse_args()
    for key, value in {**DEFAULTS, **load.DEFAULTS.get(args.scenario, {})}.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.scenario != "produce":
        asyncio.run(fresh_schema())
    result = asyncio.run(scenarios[args.scenario](args))
    try:
        from importlib.metadata import version

        impl = "pgqueuer-core " + version("pgqueuer-core")
    except Exception:
        from importlib.metadata import version

        impl = "pgqueuer " + version("pgqueuer")
    result.update(
        {
            "scenario": args.scenario,
            "implementation": impl,
            "driver": args.driver,
            "python": sys.version.split()[0],
        }
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
