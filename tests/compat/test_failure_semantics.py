"""Misuse raises the exception types PgQueuer 1.6 raises, and ``PgQueuer.run()`` fails fast.

Reference: pgqueuer-1.6-behaviour.md §3.4 (entrypoint options), §3.5 (schedules), §3.15
(factories), §3.2 (run: one manager fails, the other is stopped, the error propagates).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from pgqueuer import PgQueuer
from pgqueuer.db import AsyncpgDriver
from pgqueuer.errors import PgQueuerError, SchemaNotInstalledError
from pgqueuer.factories import enter, validate_factory_result
from pgqueuer.models import Job, Schedule
from pgqueuer.names import Names
from pgqueuer.queries import Queries


async def handler(job: Job) -> None:
    return None


def test_a_duplicate_entrypoint_name_raises_runtime_error() -> None:
    pgq = PgQueuer.in_memory()
    pgq.entrypoint("fetch")(handler)
    with pytest.raises(RuntimeError, match="already registered"):
        pgq.entrypoint("fetch")(handler)


def test_a_sync_handler_raises_type_error_with_migration_advice() -> None:
    pgq = PgQueuer.in_memory()

    def blocking(job: Job) -> None:
        return None

    with pytest.raises(TypeError, match="async def") as caught:
        pgq.entrypoint("fetch")(blocking)
    assert "to_thread" in str(caught.value)


@pytest.mark.parametrize("on_failure", ["drop", "", None, 1])
def test_a_bad_on_failure_raises_value_error_that_is_also_a_type_error(on_failure: Any) -> None:
    pgq = PgQueuer.in_memory()
    with pytest.raises(ValueError, match="on_failure") as caught:
        pgq.entrypoint("fetch", on_failure=on_failure)
    assert isinstance(caught.value, TypeError)
    assert isinstance(caught.value, PgQueuerError)


@pytest.mark.parametrize("limit", [-1, "3", 1.5, None])
def test_a_bad_concurrency_limit_raises_value_error_that_is_also_a_type_error(limit: Any) -> None:
    pgq = PgQueuer.in_memory()
    with pytest.raises(ValueError, match="concurrency_limit") as caught:
        pgq.entrypoint("fetch", concurrency_limit=limit)
    assert isinstance(caught.value, TypeError)


def test_a_bool_concurrency_limit_passes_as_in_pgqueuer() -> None:
    pgq = PgQueuer.in_memory()
    pgq.entrypoint("fetch", concurrency_limit=True)(handler)
    assert pgq.qm.entrypoint_registry["fetch"].parameters.concurrency_limit == 1


@pytest.mark.parametrize("option", ["requests_per_second", "retry_timer", "serialized_dispatch"])
def test_options_removed_in_1_0_raise_type_error(option: str) -> None:
    pgq = PgQueuer.in_memory()
    with pytest.raises(TypeError, match=option):
        pgq.entrypoint("fetch", **{option: 1})


def test_a_duplicate_schedule_raises_runtime_error() -> None:
    pgq = PgQueuer.in_memory()

    async def tick(schedule: Schedule) -> None:
        return None

    pgq.schedule("tick", "* * * * *")(tick)
    with pytest.raises(RuntimeError, match="already registered"):
        pgq.schedule("tick", "*  *  * * *")(tick)  # the same expression, spelled differently


@pytest.mark.parametrize("expression", ["", "not cron", "* * *", "61 * * * *"])
def test_an_invalid_cron_expression_raises_value_error(expression: str) -> None:
    pgq = PgQueuer.in_memory()
    with pytest.raises(ValueError, match="cron"):
        pgq.schedule("tick", expression)


@pytest.mark.parametrize("result", [None, 42, "pgq"])
def test_a_factory_result_that_cannot_be_entered_raises_type_error(result: object) -> None:
    with pytest.raises(TypeError, match="async context manager"):
        validate_factory_result(result)


async def test_a_factory_yielding_something_else_raises_not_implemented_error() -> None:
    @contextlib.asynccontextmanager
    async def factory() -> AsyncIterator[object]:
        yield "not a manager"

    with pytest.raises(NotImplementedError, match="PgQueuer, QueueManager or SchedulerManager"):
        async with enter(factory):
            pass
    with pytest.raises(TypeError):  # the same error satisfies both kinds of except clause
        async with enter(factory):
            pass


async def test_validate_factory_result_returns_an_async_context_manager() -> None:
    pgq = PgQueuer.in_memory()

    @contextlib.asynccontextmanager
    async def factory() -> AsyncIterator[PgQueuer]:
        yield pgq

    produced = factory()
    assert validate_factory_result(produced) is produced

    async def coroutine_factory() -> PgQueuer:  # accepted here on purpose (PgQueuer refuses)
        return pgq

    async with validate_factory_result(coroutine_factory()) as value:
        assert value is pgq


# -- run() fails fast ----------------------------------------------------------------------------


def _table(names: Names, which: str) -> str:
    return names.qualify(getattr(names, which))


@pytest.fixture
async def worker_conn(dsn: str | None) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(dsn)
    yield connection
    await connection.close()


async def test_a_failing_scheduler_stops_the_worker_and_run_raises(
    conn: asyncpg.Connection, worker_conn: asyncpg.Connection, names: Names
) -> None:
    pgq = PgQueuer(AsyncpgDriver(worker_conn), names=names)
    ran = asyncio.Event()
    ticked = asyncio.Event()

    @pgq.entrypoint("work")
    async def work(job: Job) -> None:
        ran.set()

    @pgq.schedule("tick", "* * * * * *")  # every second
    async def tick(schedule: Schedule) -> None:
        ticked.set()

    run = asyncio.create_task(pgq.run(dequeue_timeout=timedelta(seconds=30)))
    try:
        await Queries(AsyncpgDriver(conn), names).enqueue("work", None)
        await asyncio.wait_for(ran.wait(), 10)
        await asyncio.wait_for(ticked.wait(), 10)
        await conn.execute(f"DROP TABLE {_table(names, 'schedules_table')}")
        # The scheduler reads through Queries, which names the problem in the library's type.
        with pytest.raises(SchemaNotInstalledError):
            await asyncio.wait_for(run, 15)  # the worker alone would run forever
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
    assert pgq.shutdown.is_set()


async def test_a_failing_worker_stops_the_scheduler_and_run_raises(
    conn: asyncpg.Connection, worker_conn: asyncpg.Connection, names: Names
) -> None:
    pgq = PgQueuer(AsyncpgDriver(worker_conn), names=names)
    ran = asyncio.Event()
    ticked = asyncio.Event()

    @pgq.entrypoint("work")
    async def work(job: Job) -> None:
        ran.set()

    @pgq.schedule("tick", "* * * * * *")
    async def tick(schedule: Schedule) -> None:
        ticked.set()

    run = asyncio.create_task(pgq.run(dequeue_timeout=timedelta(seconds=0.2)))
    try:
        await Queries(AsyncpgDriver(conn), names).enqueue("work", None)
        await asyncio.wait_for(ran.wait(), 10)
        await asyncio.wait_for(ticked.wait(), 10)
        await conn.execute(f"DROP TABLE {_table(names, 'queue_table')} CASCADE")
        with pytest.raises(SchemaNotInstalledError):
            await asyncio.wait_for(run, 15)  # the scheduler alone would run forever
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
    assert pgq.shutdown.is_set()
