"""Several worker processes on one queue: exactly once, crash recovery, global limits, signals."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest
from conftest import Server

from pgqueuer.names import Names
from pgqueuer.queries import Queries

WORKER = Path(__file__).with_name("proc_worker.py")
REPO = Path(__file__).resolve().parents[2]


class Workers:
    def __init__(self, server: Server, schema: str) -> None:
        self.server = server
        self.schema = schema
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, *args: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, str(WORKER), "--schema", self.schema, *args],
            cwd=REPO,
            env={**os.environ, **self.server.env()},
            stdout=subprocess.PIPE,
            text=True,
        )
        self.procs.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "ready", f"worker did not start (exit {proc.poll()})"
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
            if proc.stdout is not None:
                proc.stdout.close()


@pytest.fixture
async def workers(server: Server, names: Names, conn: asyncpg.Connection) -> AsyncIterator[Workers]:
    await conn.execute(
        f'CREATE TABLE "{names.schema}".runs '
        "(job_id bigint, pid int, started timestamptz, finished timestamptz)"
    )
    assert names.schema is not None
    pool = Workers(server, names.schema)
    try:
        yield pool
    finally:
        pool.stop_all()


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def scalar(conn: asyncpg.Connection, names: Names, sql: str) -> int:
    return int(await conn.fetchval(names.substitute(sql)))


async def test_two_processes_run_every_job_exactly_once(
    workers: Workers, conn: asyncpg.Connection, names: Names, queries: Queries
) -> None:
    workers.start()
    workers.start()
    ids = await queries.enqueue(["work"] * 400, [None] * 400)

    async def drained() -> bool:
        return await scalar(conn, names, "SELECT count(*) FROM /*@queue_table*/pgqueuer") == 0

    await wait_until(drained)
    runs = await conn.fetch(f'SELECT job_id, pid FROM "{names.schema}".runs')
    assert sorted(r["job_id"] for r in runs) == sorted(ids)  # each exactly once
    assert len({r["pid"] for r in runs}) == 2  # both took part
    logged = await scalar(
        conn,
        names,
        "SELECT count(DISTINCT job_id) FROM /*@queue_table_log*/pgqueuer_log "
        "WHERE status = 'successful'",
    )
    assert logged == 400


async def test_a_sigkilled_workers_jobs_are_finished_by_another(
    workers: Workers, conn: asyncpg.Connection, names: Names, queries: Queries
) -> None:
    victim = workers.start("--sleep", "30", "--heartbeat-timeout", "1", "--batch-size", "3")
    ids = await queries.enqueue(["work"] * 3, [None] * 3)

    async def all_started() -> bool:
        return await conn.fetchval(f'SELECT count(*) FROM "{names.schema}".runs') == 3

    await wait_until(all_started)
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    workers.start("--sleep", "0", "--heartbeat-timeout", "1")

    async def drained() -> bool:
        return await scalar(conn, names, "SELECT count(*) FROM /*@queue_table*/pgqueuer") == 0

    await wait_until(drained)
    finished = await conn.fetch(
        f'SELECT job_id FROM "{names.schema}".runs WHERE finished IS NOT NULL'
    )
    assert sorted(r["job_id"] for r in finished) == sorted(ids)
    statuses = await conn.fetch(
        names.substitute(
            "SELECT status::text, traceback->'additional_context'->>'attempt' AS attempt "
            "FROM /*@queue_table_log*/pgqueuer_log ORDER BY id"
        )
    )
    assert sorted(r["status"] for r in statuses) == ["queued"] * 3 + ["successful"] * 3
    assert {r["attempt"] for r in statuses if r["status"] == "queued"} == {"1"}


async def test_a_concurrency_limit_of_two_holds_across_three_processes(
    workers: Workers, conn: asyncpg.Connection, names: Names, queries: Queries
) -> None:
    for _ in range(3):
        workers.start("--concurrency-limit", "2", "--sleep", "0.3")
    await queries.enqueue(["work"] * 12, [None] * 12)

    async def drained() -> bool:
        return await scalar(conn, names, "SELECT count(*) FROM /*@queue_table*/pgqueuer") == 0

    await wait_until(drained)
    runs = await conn.fetch(f'SELECT job_id, pid, started, finished FROM "{names.schema}".runs')
    assert len(runs) == 12 and len({r["job_id"] for r in runs}) == 12
    events = sorted(
        [(r["started"], 1) for r in runs] + [(r["finished"], -1) for r in runs],
        key=lambda e: (e[0], e[1]),  # an end and a start at the same instant: end first
    )
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert peak == 2
    assert len({r["pid"] for r in runs}) >= 2


async def test_sigterm_lets_running_jobs_finish_and_leaves_nothing_picked(
    workers: Workers, conn: asyncpg.Connection, names: Names, queries: Queries
) -> None:
    proc = workers.start("--sleep", "1", "--batch-size", "2")
    await queries.enqueue(["work"] * 10, [None] * 10)

    async def started() -> bool:
        return await conn.fetchval(f'SELECT count(*) FROM "{names.schema}".runs') >= 1

    await wait_until(started)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    picked = await scalar(
        conn, names, "SELECT count(*) FROM /*@queue_table*/pgqueuer WHERE status = 'picked'"
    )
    assert picked == 0
    ran = await conn.fetchval(
        f'SELECT count(*) FROM "{names.schema}".runs WHERE finished IS NOT NULL'
    )
    done = await scalar(
        conn,
        names,
        "SELECT count(*) FROM /*@queue_table_log*/pgqueuer_log WHERE status = 'successful'",
    )
    queued = await scalar(
        conn, names, "SELECT count(*) FROM /*@queue_table*/pgqueuer WHERE status = 'queued'"
    )
    assert ran == done >= 1 and done + queued == 10


async def test_a_second_sigterm_stops_at_once_and_puts_the_jobs_back(
    workers: Workers, conn: asyncpg.Connection, names: Names, queries: Queries
) -> None:
    proc = workers.start("--sleep", "60", "--batch-size", "2", "--grace", "60")
    await queries.enqueue(["work"] * 2, [None] * 2)

    async def started() -> bool:
        return await conn.fetchval(f'SELECT count(*) FROM "{names.schema}".runs') == 2

    await wait_until(started)
    began = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    await asyncio.sleep(0.3)
    assert proc.poll() is None  # the first signal waits for the running jobs
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert time.monotonic() - began < 10
    back = await scalar(
        conn,
        names,
        "SELECT count(*) FROM /*@queue_table*/pgqueuer WHERE status = 'queued' AND attempts = 0",
    )
    assert back == 2
