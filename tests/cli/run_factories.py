"""Factories of every shape for the `pgq run` tests (not a test module).

Each builds a PgQueuer on a fresh connection (PGQUEUER_DSN or libpq variables) for the queue
named by PGQUEUER_SCHEMA, with one entrypoint "work" that sleeps RUN_SLEEP seconds. Markers
are appended to the file RUN_MARKERS so the tests can see what ran (e.g. cleanup after yield).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg

from pgqueuer import PgQueuer, QueueManager
from pgqueuer.db import AsyncpgDriver
from pgqueuer.models import Job, Schedule
from pgqueuer.queries import Queries
from pgqueuer.sm import SchedulerManager


def mark(text: str) -> None:
    path = os.environ.get("RUN_MARKERS")
    if path:
        with Path(path).open("a") as f:
            f.write(text + "\n")


def register(pgq: PgQueuer | QueueManager) -> None:
    sleep = float(os.environ.get("RUN_SLEEP", "0"))

    @pgq.entrypoint("work")
    async def work(job: Job) -> None:
        mark(f"start {job.id}")
        await asyncio.sleep(sleep)
        mark(f"done {job.id}")


async def connect() -> asyncpg.Connection:
    return await asyncpg.connect(os.environ.get("PGQUEUER_DSN"))


async def driver() -> AsyncpgDriver:
    """A driver that can reopen its connection (in-place reconnect, heartbeat thread)."""
    return AsyncpgDriver(await connect(), connect=connect)


async def plain() -> PgQueuer:
    pgq = PgQueuer(await driver())
    register(pgq)
    return pgq


async def queue_manager() -> QueueManager:
    qm = QueueManager(Queries(await driver()))
    register(qm)
    return qm


@contextlib.asynccontextmanager
async def managed() -> AsyncIterator[PgQueuer]:
    conn = await connect()
    pgq = PgQueuer(AsyncpgDriver(conn, connect=connect))
    register(pgq)
    mark("setup")
    yield pgq
    mark("cleanup")
    await conn.close()


class SyncFactory:
    """A sync context manager whose PgQueuer gets its connection lazily on first use."""

    def __enter__(self) -> PgQueuer:
        mark("sync setup")
        pgq = PgQueuer(_LazyDriver())
        register(pgq)
        return pgq

    def __exit__(self, *exc: object) -> None:
        mark("sync cleanup")


class _LazyDriver(AsyncpgDriver):
    def __init__(self) -> None:
        self._pending = True
        super().__init__(None, connect=connect)  # type: ignore[arg-type]

    async def _ensure(self) -> None:
        if self._conn is None:
            self._conn = await connect()

    async def __aenter__(self) -> AsyncpgDriver:
        await self._ensure()
        return self

    async def fetch_records(self, query: str, *args: object) -> list[asyncpg.Record]:
        await self._ensure()
        return await super().fetch_records(query, *args)


def sync_factory() -> SyncFactory:
    return SyncFactory()


async def with_args(args: list[str]) -> PgQueuer:
    mark("args " + " ".join(args))
    return await plain()


partial_factory = functools.partial(plain)
lambda_factory = lambda: plain()  # noqa: E731


async def wrong_type() -> int:
    return 42


async def broken() -> PgQueuer:
    raise RuntimeError("the factory could not start")


async def flaky() -> PgQueuer:
    """Fails on its first call in this process, works on the second (restart test)."""
    path = Path(os.environ["RUN_MARKERS"])
    calls = path.read_text().count("flaky call") if path.exists() else 0
    mark("flaky call")
    if calls == 0:
        raise ConnectionError("database went away")
    return await plain()


async def scheduler_only() -> SchedulerManager:
    sm = SchedulerManager(await driver())

    @sm.schedule("tick", "* * * * * *")
    async def tick(schedule: Schedule) -> None:
        mark(f"tick {schedule.id}")

    return sm
