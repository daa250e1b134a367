"""One partitioned drain: the queue table partitioned on entrypoint, against the plain one.

    hatch run python benchmarks/partitioned.py --jobs 20000
    hatch run python benchmarks/partitioned.py --jobs 20000 --dedicated --explain
    hatch run python benchmarks/partitioned.py --jobs 20000 --by hash --partitions 8
    hatch run python benchmarks/partitioned.py --jobs 20000 --statement-seconds 5   # + pgbench

Each round installs the schema afresh into BENCH_SCHEMA (default pgq_bench_part) with
``Queries.install``, as runner.py does. For the partitioned layout it then drops the queue table
and declares it again from pgqueuer_schema's own declaration (same columns, indexes and
triggers), with the changes PostgreSQL requires of a partitioned table: ``PARTITION BY LIST
(entrypoint)``, one partition per entrypoint plus a DEFAULT one (or ``--by hash`` with
``--partitions`` partitions), and the partition key in every unique index (the primary key
becomes ``(id, entrypoint)``, the dedupe key ``(dedupe_key, entrypoint)``; the concurrency-seat
index ``(entrypoint, slot)`` has it already). It queues ``--jobs`` jobs over ``--entrypoints``
entrypoints with ``Queries.enqueue`` (batches of 1,000, round robin), ANALYZEs, and drains them
with this project's workers (``--workers`` PgQueuer instances in this process, batch
``--batch-size``, drain mode; each serves every entrypoint, or one with ``--dedicated``). The
library's SQL is not touched. The two layouts alternate within a round and swap order every
round.

Every drain is checked: each job ran exactly once, the queue table is empty and the log has one
row per job. ``index_scans_per_1000_jobs`` sums pg_stat_user_indexes.idx_scan of the partitions'
indexes into their parent index (PostgreSQL 15 counts one scan per element of ``id = ANY(array)``
per index, and a small partition may be read by a sequential scan instead: read it beside
``--explain``, which adds each layout's executed generic plan of one round trip).

Before the first round it runs the producer, worker and operator statements once on a small
partitioned queue and reports which ones work there (``statements`` in the output).

``--statement-seconds S`` also runs the worker's statement without Python (ceiling.py's pgbench
script, ``--workers`` clients, generic plans) for S seconds on three layouts: plain,
partitioned, and partitioned with the statement adapted in this script only (``PRUNE``): its
lookups by id also name the entrypoints the worker serves, so PostgreSQL can skip the other
partitions. That only helps a worker serving a subset of the entrypoints (``--dedicated``).

Prints one JSON object on stdout (progress on stderr); the connection comes from PGQUEUER_DSN or
the libpq variables. The schema is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import ceiling  # benchmarks/ceiling.py, next to this file
from partition_layout import (  # sets PGQUEUER_SCHEMA before pgqueuer is imported
    DSN,
    LAYOUTS,
    NAMES,
    SCHEMA,
    connect,
    entrypoints,
    fill,
    index_scans,
    install,
    served,
)

from pgqueuer import PgQueuer
from pgqueuer.db import AsyncpgDriver
from pgqueuer.models import Job
from pgqueuer.names import quote_ident, quote_literal
from pgqueuer.queries import Queries
from pgqueuer.types import QueueExecutionMode


async def drain(layout: str, args: argparse.Namespace) -> dict[str, Any]:
    eps = entrypoints(args.entrypoints)
    await install(layout, args)
    await fill(args.jobs, eps)
    before = await index_scans()
    runs: collections.Counter[int] = collections.Counter()

    def worker(i: int, conn: asyncpg.Connection) -> PgQueuer:
        pgq = PgQueuer(AsyncpgDriver(conn, connect=connect))  # heartbeat thread
        for ep in served(i, args):

            @pgq.entrypoint(ep)
            async def handler(job: Job) -> None:
                runs[int(job.id)] += 1

        return pgq

    conns = [await connect() for _ in range(args.workers)]
    workers = [worker(i, c) for i, c in enumerate(conns)]
    started = time.perf_counter()
    await asyncio.gather(
        *(
            w.run(
                batch_size=args.batch_size,
                dequeue_timeout=timedelta(seconds=1),
                mode=QueueExecutionMode.drain,
            )
            for w in workers
        )
    )
    elapsed = time.perf_counter() - started
    for c in conns:
        await c.close()
    await asyncio.sleep(1.0)  # closed backends flush their statistics on exit
    after = await index_scans()
    conn = await connect()
    try:
        left = await conn.fetchval(f"SELECT count(*) FROM {NAMES.qualify(NAMES.queue_table)}")
        logged = await conn.fetchval(f"SELECT count(*) FROM {NAMES.qualify(NAMES.queue_table_log)}")
    finally:
        await conn.close()
    done = sum(runs.values())
    per_k = {
        name: round((after.get(name, 0) - before.get(name, 0)) * 1000 / max(done, 1), 1)
        for name in sorted(after)
        if after.get(name, 0) != before.get(name, 0)
    }
    return {
        "layout": layout,
        "jobs": done,
        "seconds": elapsed,
        "jobs_per_second": done / elapsed,
        "exactly_once": len(runs) == args.jobs and max(runs.values(), default=0) == 1,
        "left_in_queue": int(left),
        "log_rows": int(logged),
        "index_scans_per_1000_jobs": per_k,
    }


async def probe(args: argparse.Namespace) -> dict[str, str]:
    """Run each library statement once on a small partitioned queue: "ok" or the error."""
    await install("partitioned", args)
    conn = await connect()
    queries = Queries(AsyncpgDriver(conn))
    worker_id = uuid.uuid4()
    out: dict[str, str] = {}

    async def attempt(name: str, call: Any) -> Any:
        try:
            result = await call
        except Exception as exc:  # reported, not raised: this is the finding
            state = getattr(exc, "sqlstate", "")
            out[name] = f"{type(exc).__name__} {state}: {str(exc).splitlines()[0]}"
            return None
        out[name] = "ok"
        return result

    try:
        await attempt("enqueue", queries.enqueue(["ep0", "ep1"], [None, None], [0, 0]))
        await attempt("enqueue dedupe_key", queries.enqueue("ep0", None, dedupe_key="k"))
        await attempt(
            "enqueue dedupe_key on_conflict=skip",
            queries.enqueue("ep0", None, dedupe_key="k", on_conflict="skip"),
        )
        await attempt(
            "enqueue dedupe_key on_conflict=update_priority",
            queries.enqueue("ep0", None, dedupe_key="k", on_conflict="update_priority"),
        )
        jobs = await attempt(
            "finish_and_claim (claim)",
            queries.finish_and_claim([], worker_id, ["ep0", "ep1"], [0, 1], 10),
        )
        jobs = jobs or []
        await attempt("heartbeat", queries.heartbeat([j.id for j in jobs], worker_id))
        await attempt(
            "rescue_stale", queries.rescue_stale(["ep0"], timedelta(hours=1), max_attempts=5)
        )
        await attempt("next_due", queries.next_due(["ep0", "ep1"]))
        if len(jobs) >= 2:
            await attempt("retry_job", queries.retry_job(jobs[0], timedelta(0)))
            await attempt("log_jobs (finish)", queries.log_jobs([(jobs[1], "successful", None)]))
        await attempt("mark_job_as_cancelled", queries.mark_job_as_cancelled([j.id for j in jobs]))
        await attempt("queue_size", queries.queue_size())
        plan = await attempt("plan_upgrade", queries.plan_upgrade())
        if plan is not None:  # what `pgq upgrade` would do to this table
            said = [r for step in plan.steps for r in step.reasons] + [str(d) for d in plan.drift]
            out["plan_upgrade"] = f"ok, {len(plan.steps)} step(s): " + "; ".join(said)[:400]
    finally:
        await conn.close()
    return out


# The worker's statement adapted (here only) so that its lookups by id also name the entrypoints
# the worker serves ($6). PostgreSQL 15 prunes partitions on `key = ANY(array)` only when the
# array is a constant or an ARRAY[...] expression, not a bound array parameter: pgbench's script
# passes ARRAY[...] (pruned), a worker binding $6 would not be (see --explain).
PRUNE = (
    ("AND q.queue_manager_id = $5", "AND q.queue_manager_id = $5 AND q.entrypoint = ANY ($6)", 4),
    ("WHERE was.id = q.id", "WHERE was.id = q.id AND was.entrypoint = q.entrypoint", 2),
    (
        "(SELECT seated.id FROM seated)))",
        "(SELECT seated.id FROM seated)))\n      AND q.entrypoint = ANY ($6)",
        1,
    ),
)


def pruned(sql: str) -> str:
    for old, new, count in PRUNE:
        if sql.count(old) != count:
            sys.exit(f"partitioned.py: finish_and_claim changed ({old!r}); update PRUNE")
        sql = sql.replace(old, new)
    return sql


async def statement_setup(layout: str, args: argparse.Namespace) -> str:
    """A fresh queue for pgbench and the script for it (ceiling.py's, entrypoints put in)."""
    await install("plain" if layout == "plain" else "partitioned", args)
    eps = entrypoints(args.entrypoints)
    conn = await connect()
    try:
        queue = NAMES.qualify(NAMES.queue_table)
        await conn.execute(
            f"INSERT INTO {queue} (priority, entrypoint, status) "
            "SELECT 0, ($2::text[])[1 + g % cardinality($2::text[])], 'queued' "
            "FROM generate_series(1, $1) AS g",
            args.statement_jobs,
            eps,
        )
        await conn.execute(f"VACUUM ANALYZE {queue}")
        sql = Queries(AsyncpgDriver(conn)).sql["finish_and_claim"]
    finally:
        await conn.close()
    if layout == "partitioned+pruned":
        sql = pruned(sql)
    text = ceiling.script(sql)
    if args.dedicated:  # each pgbench client serves one entrypoint, as the drain's workers
        text = text.replace("'{bench}'::text[]", f"ARRAY['ep' || (:client_id % {len(eps)})]")
    else:
        text = text.replace("'{bench}'::text[]", "'{" + ",".join(eps) + "}'::text[]")
        text = text.replace("'{0}'::int[]", "'{" + ",".join(["0"] * len(eps)) + "}'::int[]")
    return text


async def explain(layout: str, args: argparse.Namespace) -> list[str]:
    """The executed generic plan of one round trip: finish 10 claimed jobs, claim 10 more."""
    await install("plain" if layout == "plain" else "partitioned", args)
    await fill(args.jobs, entrypoints(args.entrypoints))
    eps = served(0, args)
    conn = await connect()
    try:
        queries = Queries(AsyncpgDriver(conn))
        me = uuid.uuid4()
        held = await queries.finish_and_claim([], me, eps, [0] * len(eps), 10)
        sql = queries.sql["finish_and_claim"]
        if layout == "partitioned+pruned":
            sql = pruned(sql)
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        await conn.execute(f"PREPARE round_trip AS {sql}")
        # EXPLAIN EXECUTE takes no bind parameters: literals (ints, a uuid, ep0..epN).
        ids = "{" + ",".join(str(int(j.id)) for j in held) + "}"
        n = len(held)
        rows = await conn.fetch(
            "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE round_trip("
            f"{quote_literal(ids)}::bigint[], array_fill('successful'::text, ARRAY[{n}]), "
            f"array_fill(NULL::jsonb, ARRAY[{n}]), array_fill(NULL::interval, ARRAY[{n}]), "
            f"{quote_literal(str(me))}::uuid, {quote_literal('{' + ','.join(eps) + '}')}::text[], "
            f"{quote_literal('{' + ','.join(['0'] * len(eps)) + '}')}::int[], 10, false)"
        )
    finally:
        await conn.close()
    return [r[0] for r in rows]


def pgbench(path: Path, clients: int, seconds: float) -> float | None:
    exe = shutil.which("pgbench")
    if exe is None:
        return None
    cmd = [exe, "-n", "-M", "prepared", "-D", "ids={}", "-c", str(clients), "-j", "2"]
    cmd += ["-f", str(path), "-T", str(int(seconds))]
    if DSN:
        cmd.append(DSN)
    env = {**os.environ, "PGOPTIONS": "-c plan_cache_mode=force_generic_plan -c jit=off"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    for line in done.stdout.splitlines():
        if done.returncode == 0 and line.startswith("tps = "):
            return float(line.split()[2]) * 10  # 10 jobs per transaction
    print(f"pgbench failed: {done.stderr[-500:]}", file=sys.stderr)
    return None


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--entrypoints", type=int, default=4)
    parser.add_argument(
        "--by", choices=["list", "hash"], default="list", help="partition by list or hash"
    )
    parser.add_argument("--partitions", type=int, default=4, help="hash partitions (--by hash)")
    parser.add_argument("--workers", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2, help="each round drains both layouts")
    parser.add_argument("--statement-seconds", type=float, default=0, help="pgbench (0: skip)")
    parser.add_argument("--statement-jobs", type=int, default=100_000)
    parser.add_argument(
        "--dedicated", action="store_true", help="each worker serves one entrypoint (default: all)"
    )
    parser.add_argument(
        "--explain", action="store_true", help="add each layout's executed round-trip plan"
    )
    args = parser.parse_args()
    if args.jobs < 1 or args.entrypoints < 1 or args.partitions < 1 or args.workers < 1:
        parser.error("--jobs, --entrypoints, --partitions and --workers must be at least 1")

    result: dict[str, Any] = {"settings": vars(args), "schema": SCHEMA}
    result["load_at_start"] = os.getloadavg()
    result["statements"] = asyncio.run(probe(args))
    for name, outcome in result["statements"].items():
        print(f"statement {name}: {outcome}", file=sys.stderr)

    drains: list[dict[str, Any]] = []
    for r in range(args.rounds):
        for layout in LAYOUTS if r % 2 == 0 else LAYOUTS[::-1]:
            d = asyncio.run(drain(layout, args))
            d["round"], d["load"] = r + 1, os.getloadavg()[0]
            drains.append(d)
            print(
                f"round {r + 1} {layout}: {d['jobs_per_second']:,.0f} jobs/s "
                f"(exactly once: {d['exactly_once']}, load {d['load']:.1f})",
                file=sys.stderr,
            )
    result["drains"] = drains
    rates = {lay: [d["jobs_per_second"] for d in drains if d["layout"] == lay] for lay in LAYOUTS}
    result["median_jobs_per_second"] = {lay: median(v) for lay, v in rates.items()}
    plain, part = (
        result["median_jobs_per_second"]["plain"],
        result["median_jobs_per_second"]["partitioned"],
    )
    result["ratio_partitioned_to_plain"] = part / plain if plain and part else None

    if args.statement_seconds > 0:
        layouts = ["plain", "partitioned", "partitioned+pruned"]
        found: dict[str, list[float]] = {lay: [] for lay in layouts}
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(args.rounds):
                for layout in layouts if r % 2 == 0 else layouts[::-1]:
                    path = Path(tmp) / "claim.sql"
                    path.write_text(asyncio.run(statement_setup(layout, args)))
                    rate = pgbench(path, args.workers, args.statement_seconds)
                    if rate is not None:
                        found[layout].append(rate)
                        print(
                            f"pgbench round {r + 1} {layout}: {rate:,.0f} jobs/s", file=sys.stderr
                        )
        result["statement_jobs_per_second"] = found
        result["statement_median"] = {lay: median(v) for lay, v in found.items()}

    if args.explain:
        result["plans"] = {
            lay: asyncio.run(explain(lay, args))
            for lay in ("plain", "partitioned", "partitioned+pruned")
        }
    asyncio.run(drop_schema())
    print(json.dumps(result, default=str))


async def drop_schema() -> None:
    conn = await connect()
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {quote_ident(SCHEMA)} CASCADE")
    finally:
        await conn.close()


if __name__ == "__main__":
    main()
