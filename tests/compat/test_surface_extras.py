"""PgQueuer 1.6 names that our worker does not need itself, behaving as a caller expects:
QueueManager's fetch_jobs/log_failure/forget_job/capacity check, drivers' ``shutdown``/``tm``,
schedule executors' ``get_next``/``next_in``, ``pgqueuer.core.logconfig`` and the other deeper
import paths PgQueuer's examples use."""

from __future__ import annotations

import asyncio
import importlib
import logging
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from pgqueuer import PgQueuer
from pgqueuer.db import AsyncpgDriver, Driver
from pgqueuer.errors import RetryRequested
from pgqueuer.executors import (
    ScheduleExecutor,
    ScheduleExecutorFactoryParameters,
)
from pgqueuer.inmemory import InMemoryDriver
from pgqueuer.models import Context, Job, Schedule
from pgqueuer.names import Names
from pgqueuer.queries import Queries
from pgqueuer.tasks import TaskManager


async def noop(job: Job) -> None:
    return None


async def rows(conn: asyncpg.Connection, names: Names) -> list[tuple[int, str, int]]:
    found = await conn.fetch(
        names.substitute("SELECT id, status::text, attempts FROM /*@queue_table*/pgqueuer")
    )
    return sorted((r[0], r[1], r[2]) for r in found)


async def log(conn: asyncpg.Connection, names: Names) -> list[tuple[int, str]]:
    found = await conn.fetch(
        names.substitute("SELECT job_id, status::text FROM /*@queue_table_log*/pgqueuer_log")
    )
    return sorted((r[0], r[1]) for r in found)


async def test_fetch_jobs_claims_the_registered_entrypoints_then_ends(
    conn: asyncpg.Connection, names: Names, queries: Queries
) -> None:
    pgq = PgQueuer(AsyncpgDriver(conn), names=names)
    pgq.entrypoint("email")(noop)
    ids = await queries.enqueue(["email"] * 5 + ["other"], [None] * 6)
    got = [
        job.id
        async for job in pgq.qm.fetch_jobs(
            batch_size=2, global_concurrency_limit=None, heartbeat_timeout=timedelta(seconds=30)
        )
    ]
    assert sorted(got) == sorted(ids[:5])  # several rounds of 2; "other" is not registered
    statuses = {i: s for i, s, _ in await rows(conn, names)}
    assert {statuses[i] for i in ids[:5]} == {"picked"} and statuses[ids[5]] == "queued"


async def test_log_failure_deletes_holds_or_retries_as_run_would(
    conn: asyncpg.Connection, names: Names, queries: Queries
) -> None:
    pgq = PgQueuer(AsyncpgDriver(conn), names=names)
    pgq.entrypoint("gone")(noop)
    pgq.entrypoint("held", on_failure="hold")(noop)
    pgq.entrypoint("again")(noop)
    gone, held, again = await queries.enqueue(["gone", "held", "again"], [None] * 3)
    jobs = {
        j.entrypoint: j
        async for j in pgq.qm.fetch_jobs(10, None, heartbeat_timeout=timedelta(seconds=30))
    }
    registry = pgq.qm.entrypoint_registry
    await pgq.qm.log_failure(jobs["gone"], registry["gone"], ValueError("x"), None)
    await pgq.qm.log_failure(jobs["held"], registry["held"], ValueError("y"), None)
    retry = RetryRequested(timedelta(0), reason="later")
    await pgq.qm.log_failure(jobs["again"], registry["again"], retry, None)
    assert await rows(conn, names) == [(held, "failed", 0), (again, "queued", 1)]
    logged = await log(conn, names)
    assert (gone, "exception") in logged and (held, "failed") in logged


async def test_log_failure_hands_the_result_to_a_status_buffer() -> None:
    pgq = PgQueuer.in_memory()
    pgq.entrypoint("email")(noop)
    (job_id,) = await pgq.queries.enqueue("email", None)
    jobs = [j async for j in pgq.qm.fetch_jobs(1, None, timedelta(seconds=30))]
    added: list[tuple[Job, str, object]] = []

    class Buffer:
        async def add(self, item: tuple[Job, str, object]) -> None:
            added.append(item)

    await pgq.qm.log_failure(jobs[0], pgq.qm.entrypoint_registry["email"], KeyError("k"), Buffer())
    assert [(j.id, status) for j, status, _ in added] == [(job_id, "exception")]


def test_entrypoints_below_capacity_limits_counts_this_workers_running_jobs() -> None:
    pgq = PgQueuer.in_memory()
    pgq.entrypoint("free")(noop)
    pgq.entrypoint("one", concurrency_limit=1)(noop)
    assert pgq.qm.entrypoints_below_capacity_limits() == {"free", "one"}


async def test_entrypoints_below_capacity_limits_drops_a_full_entrypoint() -> None:
    pgq = PgQueuer.in_memory()
    started = asyncio.Event()
    release = asyncio.Event()
    seen: set[str] = set()

    @pgq.entrypoint("one", concurrency_limit=1)
    async def one(job: Job) -> None:
        seen.update(pgq.qm.entrypoints_below_capacity_limits())
        started.set()
        await release.wait()

    pgq.entrypoint("free")(noop)
    await pgq.queries.enqueue("one", None)
    run = asyncio.create_task(pgq.run(dequeue_timeout=timedelta(seconds=1)))
    try:
        await asyncio.wait_for(started.wait(), 5)
        assert seen == {"free"}
    finally:
        release.set()
        pgq.shutdown.set()
        await asyncio.wait_for(run, 10)


async def test_forget_job_drops_a_finished_jobs_context_only() -> None:
    pgq = PgQueuer.in_memory()
    context = Context()
    pgq.qm.job_context[7] = context  # type: ignore[index]

    async def work() -> None:
        return None

    task = asyncio.create_task(work())
    pgq.qm.forget_job(7, Context(), task)  # type: ignore[arg-type]
    assert 7 in pgq.qm.job_context  # not done yet
    await task
    pgq.qm.forget_job(7, Context(), task)  # type: ignore[arg-type]
    assert 7 in pgq.qm.job_context  # another context: left alone
    pgq.qm.forget_job(7, context, task)  # type: ignore[arg-type]
    assert 7 not in pgq.qm.job_context


async def test_drivers_have_a_shutdown_event_and_a_task_manager(conn: asyncpg.Connection) -> None:
    for driver in (AsyncpgDriver(conn), InMemoryDriver()):
        assert isinstance(driver, Driver)
        assert isinstance(driver.shutdown, asyncio.Event)
        assert driver.shutdown is driver.shutdown and not driver.shutdown.is_set()
        assert isinstance(driver.tm, TaskManager) and driver.tm is driver.tm


async def test_the_task_manager_waits_for_its_tasks_and_logs_failures(
    caplog: pytest.LogCaptureFixture,
) -> None:
    finished: list[str] = []

    async def slow() -> None:
        await asyncio.sleep(0.05)
        finished.append("slow")

    async def broken() -> None:
        raise RuntimeError("boom")

    async def forever() -> None:
        await asyncio.Event().wait()

    with caplog.at_level(logging.ERROR, logger="pgqueuer"):
        async with TaskManager() as tm:
            tm.spawn(slow())
            tm.spawn(broken())
            stuck = tm.spawn(forever())
            await tm.cancel_on_exit(stuck)
    assert finished == ["slow"] and not tm.tasks
    assert "boom" in caplog.text


def test_schedule_executors_tell_the_next_tick() -> None:
    async def tick(schedule: Schedule) -> None:
        return None

    executor = ScheduleExecutor(
        ScheduleExecutorFactoryParameters("tick", "*/5 * * * *", tick, False)
    )
    after = datetime(2024, 5, 1, 12, 1, tzinfo=UTC)
    assert executor.get_next(after) == datetime(2024, 5, 1, 12, 5, tzinfo=UTC)
    assert executor.get_next() > datetime.now(UTC)
    assert timedelta(0) < executor.next_in() <= timedelta(minutes=5)


def test_pgqueuers_deeper_import_paths_are_our_modules() -> None:
    from pgqueuer.core.logconfig import logger

    assert logger is logging.getLogger("pgqueuer")
    pairs = {
        "pgqueuer.core.applications": "pgqueuer.applications",
        "pgqueuer.core.qm": "pgqueuer.qm",
        "pgqueuer.core.sm": "pgqueuer.sm",
        "pgqueuer.domain.models": "pgqueuer.models",
        "pgqueuer.domain.types": "pgqueuer.types",
        "pgqueuer.ports.driver": "pgqueuer.db",
    }
    for alias, real in pairs.items():
        assert importlib.import_module(alias) is importlib.import_module(real)
    from pgqueuer.core import qm

    assert qm.QueueManager is PgQueuer.in_memory().qm.__class__


def test_an_unknown_deeper_path_is_still_an_import_error() -> None:
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("pgqueuer.core.no_such_module")


def test_setup_fancy_logger_splits_streams_and_is_idempotent(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from pgqueuer.core.logconfig import LogLevel, logger, setup_fancy_logger

    before = list(logger.handlers)
    try:
        setup_fancy_logger(LogLevel.INFO)
        setup_fancy_logger(LogLevel.INFO)
        assert len(logger.handlers) == len(before) + 2
        logger.info("to stdout")
        logger.warning("to stderr")
        out, err = capsys.readouterr()
        assert "to stdout" in out and "to stdout" not in err
        assert "to stderr" in err and "to stderr" not in out
        assert out.split()[0].endswith("+00:00")  # an ISO 8601 UTC timestamp
    finally:
        for handler in list(logger.handlers):
            if handler not in before:
                logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
