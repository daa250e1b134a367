"""The worker registry (pgqueuer.registry): who registers, when the row changes, what expires.

The many-process view (8 workers with their own host names) is tests/chaos/test_many_hosts.py.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from pgqueuer import PgQueuer, QueueManager
from pgqueuer.db import AsyncpgDriver
from pgqueuer.errors import InvalidOptionError
from pgqueuer.inmemory import InMemoryQueries
from pgqueuer.models import Job
from pgqueuer.names import Names
from pgqueuer.queries import Queries
from pgqueuer.registry import WORKER_HOST_ENV, refresh_interval, worker_host
from pgqueuer_dashboard import Dashboard

# -- the host name, without a database ---------------------------------------------------------


def test_host_is_the_explicit_one_then_the_env_var_then_the_machines() -> None:
    env = {WORKER_HOST_ENV: "from-env"}
    assert worker_host("given", env) == "given"
    assert worker_host(None, env) == "from-env"
    assert worker_host(None, {}) == socket.gethostname()
    assert worker_host(None, {WORKER_HOST_ENV: ""}) == socket.gethostname()


@pytest.mark.parametrize("bad", ["", "   ", "a\nb", "tab\there", "x" * 256])
def test_a_bad_host_is_one_clear_error(bad: str) -> None:
    with pytest.raises(InvalidOptionError, match="host must be"):
        worker_host(bad, {})
    with pytest.raises(InvalidOptionError, match=WORKER_HOST_ENV):
        worker_host(None, {WORKER_HOST_ENV: bad} if bad else {WORKER_HOST_ENV: " "})


def test_queue_manager_checks_its_host_when_built() -> None:
    with pytest.raises(InvalidOptionError):
        QueueManager(InMemoryQueries(), host="")
    assert QueueManager(InMemoryQueries(), host="pod-7").host == "pod-7"


def test_rows_are_refreshed_as_often_as_the_rescue_runs() -> None:
    assert refresh_interval(30.0) == 15.0
    assert refresh_interval(0.001) == 0.01


# -- against PostgreSQL -------------------------------------------------------------------------


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def registry_rows(conn: asyncpg.Connection, names: Names) -> list[asyncpg.Record]:
    return await conn.fetch(
        names.substitute("SELECT * FROM /*@workers_table*/pgqueuer_workers ORDER BY host")
    )


@asynccontextmanager
async def running(pgq: PgQueuer, **options: Any) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(pgq.run(**options))
    try:
        yield task
    finally:
        pgq.shutdown.set()
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 30)


@pytest.fixture
async def worker_conn(dsn: str | None) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(dsn)
    yield conn
    if not conn.is_closed():
        await conn.close()


async def test_a_worker_registers_refreshes_and_leaves(
    conn: asyncpg.Connection, worker_conn: asyncpg.Connection, names: Names
) -> None:
    pgq = PgQueuer(AsyncpgDriver(worker_conn), names=names)
    pgq.qm.host = "host-a"

    @pgq.entrypoint("b")
    async def b(job: Job) -> None: ...

    @pgq.entrypoint("a")
    async def a(job: Job) -> None: ...

    async with running(pgq, heartbeat_timeout=timedelta(seconds=0.4)):
        await wait_until(lambda: _count(conn, names))
        (row,) = await registry_rows(conn, names)
        assert row["queue_manager_id"] == pgq.qm.queue_manager_id
        assert (row["host"], row["pid"]) == ("host-a", os.getpid())
        assert sorted(row["entrypoints"]) == ["a", "b"] and row["version"]
        assert row["expires_at"] > row["last_seen"]
        first_seen = row["last_seen"]

        async def refreshed() -> bool:
            (again,) = await registry_rows(conn, names)
            return bool(again["last_seen"] > first_seen and again["started_at"] == first_seen)

        await wait_until(refreshed, 5)
    assert await registry_rows(conn, names) == [], "a clean shutdown removes the row"


async def _count(conn: asyncpg.Connection, names: Names) -> bool:
    return bool(await registry_rows(conn, names))


async def test_a_dead_workers_row_expires_from_the_views_and_is_pruned(
    conn: asyncpg.Connection, worker_conn: asyncpg.Connection, names: Names
) -> None:
    dead, holding = uuid.uuid4(), uuid.uuid4()
    insert = names.substitute(
        "INSERT INTO /*@workers_table*/pgqueuer_workers "
        "(queue_manager_id, host, pid, entrypoints, expires_at) "
        "VALUES ($1, $2, 1, '{x}', now() - $3::interval)"
    )
    await conn.execute(insert, dead, "gone", timedelta(hours=1))
    await conn.execute(insert, holding, "stuck", timedelta(seconds=1))
    queries = Queries(AsyncpgDriver(conn), names)
    await queries.enqueue("x", None)
    await queries.finish_and_claim([], holding, ["x"], [0], 1)

    # Expired rows are not shown, unless their worker still holds jobs.
    shown = await Dashboard(conn, names).workers()
    assert [(w.host, w.running_jobs) for w in shown] == [("stuck", 1)]

    pgq = PgQueuer(AsyncpgDriver(worker_conn), names=names)
    pgq.qm.host = "alive"

    @pgq.entrypoint("y")
    async def y(job: Job) -> None: ...

    # Refreshes every 1 s; prunes rows expired for longer than 4 s (four refreshes).
    async with running(pgq, heartbeat_timeout=timedelta(seconds=2)):

        async def pruned() -> bool:
            hosts = {r["host"] for r in await registry_rows(conn, names)}
            return "gone" not in hosts and "alive" in hosts

        await wait_until(pruned, 5)
        shown = await Dashboard(conn, names).workers()
        assert [(w.host, w.running_jobs, w.pid) for w in shown] == [
            ("stuck", 1, 1),
            ("alive", 0, os.getpid()),
        ]


async def test_without_the_registry_table_the_worker_runs_after_one_warning(
    conn: asyncpg.Connection,
    worker_conn: asyncpg.Connection,
    names: Names,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A PgQueuer 1.6 database, used before 'pgq upgrade' adds the registry."""
    await conn.execute(names.substitute("DROP TABLE /*@workers_table*/pgqueuer_workers"))
    pgq = PgQueuer(AsyncpgDriver(worker_conn), names=names)
    done = asyncio.Event()

    @pgq.entrypoint("work")
    async def work(job: Job) -> None:
        done.set()

    caplog.set_level(logging.WARNING, logger="pgqueuer")
    async with running(pgq, heartbeat_timeout=timedelta(seconds=0.2)):
        await Queries(AsyncpgDriver(conn), names).enqueue("work", None)
        await asyncio.wait_for(done.wait(), 10)
        await asyncio.sleep(0.3)  # a refresh or two: no further warning
        shown = await Dashboard(conn, names).workers()
        assert all(w.host is None for w in shown)
    warnings = [r.getMessage() for r in caplog.records if "registry" in r.getMessage()]
    assert len(warnings) == 1 and "pgq upgrade" in warnings[0], warnings
    assert "\n" not in warnings[0]


async def test_the_in_memory_worker_has_no_registry() -> None:
    pgq = PgQueuer.in_memory()
    ran = asyncio.Event()

    @pgq.entrypoint("work")
    async def work(job: Job) -> None:
        ran.set()

    async with running(pgq):
        await pgq.queries.enqueue("work", None)
        await asyncio.wait_for(ran.wait(), 5)
