"""A worker process for the reliability tests (not a test module).

Runs ``pgqueuer.run`` (the supervisor behind ``pgq run``: the first SIGTERM drains, the second
stops at once) over a PgQueuer whose handler does what each job's payload asks:

    {"sleep": s}   await asyncio.sleep(s)
    {"block": s}   time.sleep(s): blocks the event loop
    {"spin": s}    a CPU-bound loop for s seconds (holds the GIL between switches)
    {"kill": 1}    SIGKILL its own process (a poison job)
    {"pool": s}    hold a connection of the worker's pool for s seconds (pg_sleep)
    anything else  (not JSON: raw bytes) nothing; the payload's size and hash are recorded

Every run is appended to ``{runs_dir}/runs-{pid}.log``, one line per event, written with a
single O_APPEND ``write`` so that a SIGKILL loses at most the event in flight:

    S job_id pid time attempts payload_size payload_sha256 gauge   (start; gauge: see --gauge)
    E job_id pid time                                              (returned normally)
    C job_id pid time                                              (cancelled: shutdown)

``--gauge FILE`` keeps, in FILE, the number of handlers running across all processes that
share it (read-modify-write under ``flock``): the value after the increment is recorded in
the start line, so the tests can prove a concurrency limit exact, not by timestamps.
With ``--gauge-per-entrypoint`` each entrypoint counts in a file of its own (``FILE.NAME``),
for limits held across processes while other entrypoints run beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import hashlib
import json
import logging
import os
import signal
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg

import pgqueuer
from pgqueuer import PgQueuer
from pgqueuer.db import AsyncpgDriver, AsyncpgPoolDriver, PsycopgDriver
from pgqueuer.models import Job
from pgqueuer.names import Names


class Recorder:
    def __init__(self, runs_dir: Path, gauge: Path | None, per_entrypoint: bool = False) -> None:
        self.fd = os.open(
            runs_dir / f"runs-{os.getpid()}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND
        )
        self.gauge = gauge
        self.per_entrypoint = per_entrypoint

    def line(self, *fields: object) -> None:
        os.write(self.fd, (" ".join(str(f) for f in fields) + "\n").encode())

    def bump(self, delta: int, entrypoint: str = "") -> int:
        if self.gauge is None:
            return 0
        gauge = self.gauge
        if self.per_entrypoint:
            gauge = gauge.with_name(f"{gauge.name}.{entrypoint}")
        with gauge.open("a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            f.seek(0)
            value = int(f.read().strip() or 0) + delta
            f.seek(0)
            f.truncate()
            f.write(str(value))
            f.flush()
            return value


class ChaosPgQueuer(PgQueuer):
    """PgQueuer with run options the supervisor does not pass (max_attempts, concurrency)."""

    def __init__(self, *args: Any, extra: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.extra = extra

    async def run(self, *args: Any, **options: Any) -> None:
        await super().run(*args, **{**options, **self.extra})


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--schema", required=True)
    parser.add_argument("--runs-dir", required=True, type=Path)
    parser.add_argument("--entrypoint", action="append", default=[], help="NAME[=LIMIT]")
    parser.add_argument("--app", default="chaos-worker", help="application_name")
    parser.add_argument("--pool", type=int, default=0, help="use a pool of this max size")
    parser.add_argument("--driver", choices=["asyncpg", "psycopg"], default="asyncpg")
    parser.add_argument("--gauge", type=Path, default=None)
    parser.add_argument("--gauge-per-entrypoint", action="store_true")
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--max-concurrent", type=int, default=0)
    parser.add_argument("--heartbeat-timeout", type=float, default=30.0)
    parser.add_argument("--grace", type=float, default=30.0)
    parser.add_argument("--dequeue-timeout", type=float, default=30.0)
    parser.add_argument("--max-attempts", type=int, default=5)
    # behind PgBouncer (tests/bouncer): PGQUEUER_DSN is the bouncer's
    parser.add_argument("--pgbouncer", action="store_true", help="no statement cache")
    parser.add_argument("--listen-dsn", default=None)
    parser.add_argument("--poll-interval", type=float, default=None)
    return parser.parse_args()


async def main() -> None:
    args = parse_args()
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    dsn = os.environ.get("PGQUEUER_DSN")
    settings = {"application_name": args.app}
    cache = {"statement_cache_size": 0} if args.pgbouncer else {}
    recorder = Recorder(args.runs_dir, args.gauge, args.gauge_per_entrypoint)
    entrypoints = args.entrypoint or ["work"]

    async def factory() -> PgQueuer:
        pool: asyncpg.Pool | None = None
        if args.pool:
            driver: Any = await AsyncpgPoolDriver.create(
                dsn, min_size=1, max_size=args.pool, server_settings=settings, **cache
            )
            pool = driver.pool
        elif args.driver == "psycopg":
            import psycopg

            conn = await psycopg.AsyncConnection.connect(
                dsn or "", autocommit=True, application_name=args.app
            )
            if args.pgbouncer:
                conn.prepare_threshold = None  # no server-side prepared statements
            driver = PsycopgDriver(conn)
        else:
            driver = await AsyncpgDriver.connect(dsn, server_settings=settings, **cache)
        pgq = ChaosPgQueuer(
            driver,
            names=Names.create(schema=args.schema),
            extra={"max_attempts": args.max_attempts},
        )

        async def handle(job: Job) -> None:
            payload = job.payload or b""
            gauge = recorder.bump(1, job.entrypoint)
            recorder.line(
                "S",
                job.id,
                os.getpid(),
                f"{time.time():.6f}",
                job.attempts,
                len(payload),
                hashlib.sha256(payload).hexdigest(),
                gauge,
            )
            try:
                op = json.loads(payload) if payload[:1] == b"{" else {}
                if "sleep" in op:
                    await asyncio.sleep(op["sleep"])
                if "block" in op:
                    time.sleep(op["block"])  # noqa: ASYNC251 (on purpose: a blocking handler)
                if "spin" in op:
                    end = time.monotonic() + op["spin"]
                    while time.monotonic() < end:
                        sum(range(1000))
                if "kill" in op:
                    os.kill(os.getpid(), signal.SIGKILL)
                if "pool" in op and pool is not None:
                    async with pool.acquire() as conn:
                        await conn.execute("SELECT pg_sleep($1)", op["pool"])
            except asyncio.CancelledError:
                recorder.bump(-1, job.entrypoint)
                recorder.line("C", job.id, os.getpid(), f"{time.time():.6f}")
                raise
            recorder.bump(-1, job.entrypoint)
            recorder.line("E", job.id, os.getpid(), f"{time.time():.6f}")

        for spec in entrypoints:
            name, _, limit = spec.partition("=")
            pgq.entrypoint(name, concurrency_limit=int(limit or 0))(handle)
        print("ready", flush=True)
        return pgq

    await pgqueuer.run(
        factory,
        batch_size=args.batch_size,
        max_concurrent_tasks=args.max_concurrent or None,
        heartbeat_timeout=timedelta(seconds=args.heartbeat_timeout),
        shutdown_grace=timedelta(seconds=args.grace),
        dequeue_timeout=timedelta(seconds=args.dequeue_timeout),
        pgbouncer=args.pgbouncer,
        listen_dsn=args.listen_dsn,
        poll_interval=None if args.poll_interval is None else timedelta(seconds=args.poll_interval),
    )


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
