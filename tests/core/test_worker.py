"""The worker (QueueManager through PgQueuer) in this process, against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from conftest import WorkerDriver, unique_schema

from pgqueuer import PgQueuer, Queries, QueueExecutionMode, RetryRequested
from pgqueuer.db import AsyncpgDriver, AsyncpgPoolDriver
from pgqueuer.errors import FailingListenerError, SchemaNotInstalledError
from pgqueuer.executors import DatabaseRetryEntrypointExecutor, EntrypointExecutorParameters
from pgqueuer.models import Context, Job
from pgqueuer.names import Names
from pgqueuer.queries import EntrypointExecutionParameter, RoundTrip
from pgqueuer_schema import install_sql

FAST = {"dequeue_timeout": timedelta(seconds=30), "heartbeat_timeout": timedelta(seconds=5)}


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def count(conn: asyncpg.Connection, names: Names, where: str = "true") -> int:
    value = await conn.fetchval(
        names.substitute(f"SELECT count(*) FROM /*@queue_table*/pgqueuer WHERE {where}")
    )
    return int(value)


async def log_statuses(conn: asyncpg.Connection, names: Names) -> list[tuple[int, str]]:
    rows = await conn.fetch(
        names.substitute(
            "SELECT job_id, status::text FROM /*@queue_table_log*/pgqueuer_log ORDER BY id"
        )
    )
    return [(r[0], r[1]) for r in rows]


@pytest.fixture
async def worker_conn(dsn: str | None) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(dsn)
    yield conn
    if not conn.is_closed():
        await conn.close()


@asynccontextmanager
async def running(pgq: PgQueuer, **options: Any) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(pgq.run(**{**FAST, **options}))
    try:
        yield task
    finally:
        pgq.shutdown.set()
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 30)


async def test_runs_each_job_once_and_logs_success(
    conn: asyncpg.Connection, worker_driver: WorkerDriver, names: Names, queries: Queries
) -> None:
    pgq = PgQueuer(worker_driver.driver, names=names)
    seen: list[tuple[int, bytes | None]] = []

    @pgq.entrypoint("fetch")
    async def fetch(job: Job) -> None:
        seen.append((job.id, job.payload))

    ids = await queries.enqueue(["fetch"] * 50, [str(i).encode() for i in range(50)])
    await pgq.run(mode=QueueExecutionMode.drain, **FAST)
    assert sorted(i for i, _ in seen) == sorted(ids)
    assert await count(conn, names) == 0
    assert [s for _, s in await log_statuses(conn, names)] == ["successful"] * 50


async def test_a_failing_handler_is_logged_and_the_worker_carries_on(
    conn: asyncpg.Connection, worker_driver: WorkerDriver, names: Names, queries: Queries
) -> None:
    pgq = PgQueuer(worker_driver.driver, names=names)

    @pgq.entrypoint("boom")
    async def boom(job: Job) -> None:
        raise ValueError(f"bad payload {job.payload!r}")

    @pgq.entrypoint("keep", on_failure="hold")
    async def keep(job: Job) -> None:
        raise KeyError("kept")

    @pgq.entrypoint("ok")
    async def ok(job: Job) -> None:
        pass

    await queries.enqueue(["boom", "keep", "ok"], [b"x", None, None])
    await pgq.run(mode=QueueExecutionMode.drain, **FAST)
    rows = await conn.fetch(
        names.substitute(
            "SELECT entrypoint, status::text, traceback->>'exception_message' AS msg "
            "FROM /*@queue_table_log*/pgqueuer_log ORDER BY entrypoint"
        )
    )
    assert [(r[0], r[1]) for r in rows] == [
        ("boom", "exception"),
        ("keep", "failed"),
        ("ok", "successful"),
    ]
    assert "bad payload" in rows[0]["msg"]
    assert await count(conn, names, "status = 'failed' AND entrypoint = 'keep'") == 1


async def test_retry_requested_runs_the_job_again_woken_by_notify(
    conn: asyncpg.Connection, worker_driver: WorkerDriver, names: Names, queries: Queries
) -> None:
    pgq = PgQueuer(worker_driver.driver, names=names)
    attempts: list[int] = []

    @pgq.entrypoint("flaky")
    async def flaky(job: Job) -> None:
        attempts.append(job.attempts)
        if job.attempts < 2:
            raise RetryRequested(delay=timedelta(0), reason="not yet")

    await queries.enqueue("flaky", None)
    started = time.monotonic()
    async with running(pgq):  # polling every 30 s: only a NOTIFY can make this quick
        await wait_until(lambda: _done(conn, names), timeout=10)
    assert time.monotonic() - started < 10
    assert attempts == [0, 1, 2]
    assert [s for _, s in await log_statuses(conn, names)] == ["queued", "queued", "successful"]


async def _done(conn: asyncpg.Connection, names: Names) -> bool:
    return await count(conn, names) == 0


async def test_database_retry_executor_backs_off_then_gives_up(
    conn: asyncpg.Connection, worker_driver: WorkerDriver, names: Names, queries: Queries
) -> None:
    pgq = PgQueuer(worker_driver.driver, names=names)
    runs: list[int] = []

    def factory(params: EntrypointExecutorParameters) -> DatabaseRetryEntrypointExecutor:
        return DatabaseRetryEntrypointExecutor(
            params, max_attempts=2, initial_delay=timedelta(milliseconds=10)
        )

    @pgq.entrypoint("always", executor_factory=factory)
    async def always(job: Job) -> None:
        runs.append(job.attempts)
        raise RuntimeError("always")

    await queries.enqueue("always", None)
    async with running(pgq):
        await wait_until(lambda: _done(conn, names))
    assert runs == [0, 1, 2]
    assert [s for _, s in await log_statuses(conn, names)] == ["queued", "queued", "exception"]


async def test_an_idle_worker_is_woken_by_enqueue_not_by_polling(
    conn: asyncpg.Connection, worker_driver: WorkerDriver, names: Names, queries: Queries
) -> None:
    pgq = PgQueuer(worker_driver.driver, names=names)
    started: asyncio.Queue[float] = asyncio.Queue()

    @pgq.entrypoint("ping")
    async def ping(job: Job) -> None:
        started.put_nowait(time.monotonic())

    async with running(pgq):
        await asyncio.sleep(0.3)  # the worker is idle now, sleeping up to 30 s
        for _ in range(3):
            sent = time.monotonic()
            await queries.enqueue("ping", None)
            assert await asyncio.wait_for(started.get(), 5) - sent < 5


async def test_other_entrypoints_and_deferred_jobs(
    conn: asyncpg.Connection, worker_driver: WorkerDriver, names: Names, queries: Queries
) -> None:
    pgq = PgQueuer(worker_driver.driver, names=names)
    ran: list[int] = []

    @pgq.entrypoint("mine")
    async def mine(job: Job) -> None:
        ran.append(job.id)

    await queries.enqueue("theirs", None)
    (later,) = await queries.enqueue("mine", None, execute_after=timedelta(seconds=0.5))
    async with running(pgq):
        await wait_until(lambda: _ran(ran, later), timeout=5)
    assert await count(conn, names, "entrypoint = 'theirs' AND status = 'queued'") == 1


async def _ran(ran: list[int], job: int) -> bool:
    return job in ran


async def test_max_concurrent_tasks_bounds_running_and_claimed_jobs(
    conn: asyncpg.Connection, worker_driver: WorkerDriver, names: Names, queries: Queries
) -> None:
    pgq = PgQueuer(worker_driver.driver, names=names)
    now_running = 0
    peak = 0
    release = asyncio.Event()

    @pgq.entrypoint("slow")
    async def slow(job: Job) -> None:
        nonlocal now_running, peak
        now_running += 1
        peak = max(peak, now_running)
        await release.wait()
        now_running -= 1

    await queries.enqueue(["slow"] * 20, [None] * 20)
    async with running(pgq, max_concurrent_tasks=3, batch_size=10):
        await wait_until(lambda: _picked_is(conn, names, 3))
        await asyncio.sleep(0.2)
        assert await count(conn, names, "status = 'picked'") == 3
        release.set()
        await wait_until(lambda: _done(conn, names))
    assert peak == 3


async def _picked_is(conn: asyncpg.Connection, names: Names, n: int) -> bool:
    return await count(conn, names, "status = 'picked'") == n


async def test_cancelling_a_running_job_interrupts_its_cancellation_scope(
    conn: asyncpg.Connection, worker_driver: WorkerDriver, names: Names, queries: Queries
) -> None:
    pgq = PgQueuer(worker_driver.driver, names=names)
    inside = asyncio.Event()
    outcome: list[str] = []

    @pgq.entrypoint("long")
    async def long(job: Job, ctx: Context) -> None:
        with ctx.cancellation:
            inside.set()
            await asyncio.sleep(30)
            outcome.append("slept")
        outcome.append("cancel_called" if ctx.cancellation.cancel_called else "?")

    (job,) = await queries.enqueue("long", None)
    async with running(pgq):
        await asyncio.wait_for(inside.wait(), 5)
        assert await queries.mark_job_as_cancelled([job]) == [job]
        await wait_until(lambda: _outcome(outcome))
    assert outcome == ["cancel_called"]
    assert await log_statuses(conn, names) == [(job, "canceled")]


async def _outcome(outcome: list[str]) -> bool:
    return bool(outcome)


async def test_shutdown_lets_running_jobs_finish_and_leaves_nothing_picked(
    conn: asyncpg.Connection, worker_driver: WorkerDriver, names: Names, queries: Queries
) -> None:
    pgq = PgQueuer(worker_driver.driver, names=names)
    started = asyncio.Event()

    @pgq.entrypoint("job")
    async def job(job: Job) -> None:
        started.set()
        await asyncio.sleep(0.3)

    await queries.enqueue(["job"] * 10, [None] * 10)
    task = asyncio.create_task(pgq.run(max_concurrent_tasks=2, batch_size=2, **FAST))
    await asyncio.wait_for(started.wait(), 5)
    pgq.shutdown.set()
    await asyncio.wait_for(task, 10)
    assert await count(conn, names, "status = 'picked'") == 0
    assert [s for _, s in await log_statuses(conn, names)] == ["successful"] * 2
    assert await count(conn, names, "status = 'queued'") == 8


async def test_after_the_grace_period_running_jobs_go_back_to_the_queue(
    conn: asyncpg.Connection, worker_driver: WorkerDriver, names: Names, queries: Queries
) -> None:
    pgq = PgQueuer(worker_driver.driver, names=names)
    started = asyncio.Event()

    @pgq.entrypoint("stuck")
    async def stuck(job: Job) -> None:
        started.set()
        await asyncio.sleep(60)

    await queries.enqueue(["stuck"] * 3, [None] * 3)
    task = asyncio.create_task(pgq.run(shutdown_grace=timedelta(seconds=0.3), **FAST))
    await asyncio.wait_for(started.wait(), 5)
    pgq.shutdown.set()
    await asyncio.wait_for(task, 5)
    assert await count(conn, names, "status = 'queued' AND attempts = 0") == 3
    assert await log_statuses(conn, names) == []


async def test_abort_releases_running_jobs_at_once(
    conn: asyncpg.Connection, worker_driver: WorkerDriver, names: Names, queries: Queries
) -> None:
    pgq = PgQueuer(worker_driver.driver, names=names)
    started = asyncio.Event()

    @pgq.entrypoint("stuck")
    async def stuck(job: Job) -> None:
        started.set()
        await asyncio.sleep(60)

    await queries.enqueue("stuck", None)
    task = asyncio.create_task(pgq.run(shutdown_grace=None, **FAST))
    await asyncio.wait_for(started.wait(), 5)
    pgq.shutdown.set()
    await asyncio.sleep(0.2)
    assert not task.done()  # no grace limit: it would wait for the job
    pgq.qm.abort()
    await asyncio.wait_for(task, 5)
    assert await count(conn, names, "status = 'queued'") == 1


async def test_cancelling_run_puts_claimed_jobs_back(
    conn: asyncpg.Connection, worker_driver: WorkerDriver, names: Names, queries: Queries
) -> None:
    pgq = PgQueuer(worker_driver.driver, names=names)
    started = asyncio.Event()

    @pgq.entrypoint("stuck")
    async def stuck(job: Job) -> None:
        started.set()
        await asyncio.sleep(60)

    await queries.enqueue(["stuck"] * 2, [None] * 2)
    task = asyncio.create_task(pgq.run(**FAST))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert await count(conn, names, "status = 'queued'") == 2


async def test_a_blocked_event_loop_keeps_beating_and_the_job_runs_once(
    dsn: str | None,
    conn: asyncpg.Connection,
    worker_driver: WorkerDriver,
    names: Names,
    queries: Queries,
) -> None:
    busy = PgQueuer(worker_driver.driver, names=names)
    runs: list[str] = []
    blocking = threading.Event()

    @busy.entrypoint("cpu")
    async def cpu(job: Job) -> None:
        runs.append("busy")
        blocking.set()
        time.sleep(2.5)  # noqa: ASYNC251 - blocks the loop: only the heartbeat thread keeps the job alive

    def other_worker() -> None:
        # Another worker in its own thread and loop, rescuing stale jobs every 0.3 s.
        async def main() -> None:
            other_conn = await asyncpg.connect(dsn)
            other = PgQueuer(AsyncpgDriver(other_conn), names=names)

            @other.entrypoint("cpu")
            async def cpu_again(job: Job) -> None:
                runs.append("other")

            task = asyncio.create_task(other.run(heartbeat_timeout=timedelta(seconds=0.6)))
            await asyncio.sleep(2.5)
            other.shutdown.set()
            await task
            await other_conn.close()

        blocking.wait(10)
        asyncio.run(main())

    thread = threading.Thread(target=other_worker)
    thread.start()
    await queries.enqueue("cpu", None)
    async with running(busy, heartbeat_timeout=timedelta(seconds=0.6)):
        await wait_until(lambda: _done(conn, names), timeout=15)
    await asyncio.to_thread(thread.join, 15)
    assert runs == ["busy"]
    assert [s for _, s in await log_statuses(conn, names)] == ["successful"]


async def test_a_dead_workers_job_is_rescued_with_an_attempt_counted(
    conn: asyncpg.Connection, worker_driver: WorkerDriver, names: Names, queries: Queries
) -> None:
    await queries.enqueue("orphan", None)
    dead = uuid.uuid4()
    await queries.finish_and_claim([], dead, ["orphan"], [0], 1)  # claimed, then "died"
    pgq = PgQueuer(worker_driver.driver, names=names)
    seen: list[int] = []

    @pgq.entrypoint("orphan")
    async def orphan(j: Job) -> None:
        seen.append(j.attempts)

    async with running(pgq, heartbeat_timeout=timedelta(seconds=0.5)):
        await wait_until(lambda: _done(conn, names), timeout=10)
    assert seen == [1]
    assert [s for _, s in await log_statuses(conn, names)] == ["queued", "successful"]


async def test_listener_backend_killed_then_recovered_without_losing_a_job(
    conn: asyncpg.Connection, worker_driver: WorkerDriver, names: Names, queries: Queries
) -> None:
    pgq = PgQueuer(worker_driver.driver, names=names)
    seen: list[int] = []

    @pgq.entrypoint("ping")
    async def ping(job: Job) -> None:
        seen.append(job.id)

    async with running(pgq):
        first = await queries.enqueue("ping", None)
        await wait_until(lambda: _ran(seen, first[0]))
        pids = await worker_driver.backend_pids(conn, listening=True)
        assert len(pids) == 1
        assert await conn.fetchval("SELECT pg_terminate_backend($1)", pids[0])
        await asyncio.sleep(0.2)
        later = await queries.enqueue(["ping"] * 5, [None] * 5)
        await wait_until(lambda: _all_ran(seen, later), timeout=15)
    assert await count(conn, names) == 0


async def test_pool_driver_listener_killed_then_recovered(
    dsn: str | None, conn: asyncpg.Connection, names: Names, queries: Queries
) -> None:
    # Only this test's own backends are touched: its pool carries a unique application_name.
    app = f"pgq-test-{names.schema}"
    pool = await asyncpg.create_pool(
        dsn, min_size=1, max_size=4, server_settings={"application_name": app}
    )
    try:
        pgq = PgQueuer(AsyncpgPoolDriver(pool), names=names)
        seen: list[int] = []

        @pgq.entrypoint("ping")
        async def ping(job: Job) -> None:
            seen.append(job.id)

        async with running(pgq):
            await asyncio.sleep(0.3)
            pids = await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE application_name = $1 "
                "AND query LIKE 'LISTEN%'",
                app,
            )
            assert pids
            for row in pids:
                await conn.execute("SELECT pg_terminate_backend($1)", row["pid"])
            await asyncio.sleep(0.3)
            ids = await queries.enqueue(["ping"] * 3, [None] * 3)
            started = time.monotonic()
            await wait_until(lambda: _all_ran(seen, ids), timeout=15)
            assert time.monotonic() - started < 15
    finally:
        await pool.close()


async def _all_ran(seen: list[int], ids: list[int]) -> bool:
    return set(ids) <= set(seen)


async def test_run_without_schema_names_pgq_install(worker_conn: asyncpg.Connection) -> None:
    pgq = PgQueuer(AsyncpgDriver(worker_conn), names=Names.create(schema="pgq_absent_schema"))

    @pgq.entrypoint("x")
    async def x(job: Job) -> None:
        pass

    with pytest.raises(SchemaNotInstalledError, match="pgq --schema pgq_absent_schema install"):
        await pgq.run(**FAST)


def test_registration_errors_say_the_fix(worker_conn: Any = None) -> None:
    pgq = PgQueuer.in_memory()

    def sync_handler(job: Job) -> None:
        pass

    with pytest.raises(TypeError, match="async def"):
        pgq.entrypoint("sync")(sync_handler)

    @pgq.entrypoint("dup")
    async def dup(job: Job) -> None:
        pass

    with pytest.raises(RuntimeError, match="already registered"):
        pgq.entrypoint("dup")
    with pytest.raises(TypeError, match="concurrency_limit=1"):
        pgq.entrypoint("old", serialized_dispatch=True)
    with pytest.raises(TypeError, match="unknown option 'retries'"):
        pgq.entrypoint("new", retries=3)
    with pytest.raises(ValueError, match="on_failure"):
        pgq.entrypoint("bad", on_failure="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="concurrency_limit"):
        pgq.entrypoint("neg", concurrency_limit=-1)


async def test_context_is_detected_from_the_annotation_and_resources_are_shared(
    conn: asyncpg.Connection, worker_conn: asyncpg.Connection, names: Names, queries: Queries
) -> None:
    pgq = PgQueuer(AsyncpgDriver(worker_conn), names=names, resources={"db": "pool"})
    got: list[Any] = []

    @pgq.entrypoint("ctx")
    async def with_ctx(job: Job, ctx: Context) -> None:
        got.append(ctx.resources["db"])

    @pgq.entrypoint("plain")
    async def plain(job: Job) -> None:
        got.append("plain")

    await queries.enqueue(["ctx", "plain"], [None, None])
    await pgq.run(mode=QueueExecutionMode.drain, **FAST)
    assert sorted(got) == ["plain", "pool"]


class _RecordingQueries(Queries):
    """Real queries that remember the commit mode each claim asked for."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.modes: list[tuple[int, int, bool]] = []

    async def try_finish_and_claim(self, finished: Any, *args: Any, **kwargs: Any) -> RoundTrip:
        trip = await super().try_finish_and_claim(finished, *args, **kwargs)
        self.modes.append((len(finished), args[3], kwargs["async_claim"]))
        return trip


@pytest.mark.parametrize("durable", [False, True])
async def test_claims_commit_asynchronously_unless_durable_claims(
    conn: asyncpg.Connection,
    worker_conn: asyncpg.Connection,
    names: Names,
    queries: Queries,
    durable: bool,
) -> None:
    pgq = PgQueuer(AsyncpgDriver(worker_conn), names=names)
    recording = _RecordingQueries(AsyncpgDriver(worker_conn), names)
    pgq.qm.queries = recording
    ran = asyncio.Event()

    @pgq.entrypoint("fetch")
    async def fetch(job: Job) -> None:
        ran.set()

    async with running(pgq, durable_claims=durable):
        await queries.enqueue("fetch", None)
        await asyncio.wait_for(ran.wait(), 10)
        await wait_until(lambda: _logged(conn, names))
    assert recording.modes, "the worker made no claim"
    assert {mode for _, _, mode in recording.modes} == {not durable}
    assert await count(conn, names) == 0


async def _logged(conn: asyncpg.Connection, names: Names) -> bool:
    return bool(await log_statuses(conn, names))


async def test_every_backend_of_the_worker_terminated_mid_job_it_keeps_beating_and_recovers(
    conn: asyncpg.Connection, worker_driver: WorkerDriver, names: Names, queries: Queries
) -> None:
    """Query, LISTEN and heartbeat connections all killed while a job runs.

    With a 0.6 s heartbeat timeout the worker's own rescue would re-queue the job (and run it
    twice) if its heartbeats stopped; afterwards a NOTIFY must still wake the idle worker.
    """
    pgq = PgQueuer(worker_driver.driver, names=names)
    runs: list[int] = []
    inside = asyncio.Event()

    @pgq.entrypoint("slow")
    async def slow(job: Job) -> None:
        runs.append(job.id)
        inside.set()
        await asyncio.sleep(2.0)

    @pgq.entrypoint("ping")
    async def ping(job: Job) -> None:
        runs.append(job.id)

    async with running(pgq, heartbeat_timeout=timedelta(seconds=0.6)):
        (job,) = await queries.enqueue("slow", None)
        await asyncio.wait_for(inside.wait(), 5)
        pids = await worker_driver.backend_pids(conn)
        assert pids
        for pid in pids:
            await conn.execute("SELECT pg_terminate_backend($1)", pid)
        await wait_until(lambda: _ran_once_and_logged(conn, names, runs, job), timeout=15)
        await asyncio.sleep(1.5)  # the worker is idle again; polling would take 30 s
        sent = time.monotonic()
        later = await queries.enqueue(["ping"] * 3, [None] * 3)
        await wait_until(lambda: _all_ran(seen=runs, ids=later), timeout=10)
        assert time.monotonic() - sent < 5
    assert runs.count(job) == 1
    assert await log_statuses(conn, names) == [(job, "successful")] + [
        (i, "successful") for i in later
    ]


async def _ran_once_and_logged(
    conn: asyncpg.Connection, names: Names, runs: list[int], job: int
) -> bool:
    return (job, "successful") in await log_statuses(conn, names)


async def test_the_listener_health_check_round_trips_then_fails_once_the_listener_is_gone(
    conn: asyncpg.Connection, worker_driver: WorkerDriver, names: Names, queries: Queries
) -> None:
    pgq = PgQueuer(worker_driver.driver, names=names)
    ran = asyncio.Event()

    @pgq.entrypoint("noop")
    async def noop(job: Job) -> None:
        ran.set()

    async with running(pgq):
        await queries.enqueue("noop", None)
        await asyncio.wait_for(ran.wait(), 5)  # the worker is in its loop: LISTENing
        event = await pgq.qm.listener_healthy(timedelta(seconds=5))
        assert event.id is not None
    # After run(), nothing listens: the check times out as a FailingListenerError.
    with pytest.raises(FailingListenerError):
        await pgq.qm.listener_healthy(timedelta(seconds=0.3))


async def test_a_cancellation_in_another_schema_leaves_the_same_job_id_running(
    conn: asyncpg.Connection, worker_driver: WorkerDriver, names: Names, queries: Queries
) -> None:
    """Job ids are per queue table: queues in two schemas share the channel and the ids."""
    other = Names.create(schema=unique_schema("o"))
    await conn.execute(install_sql(other))
    try:
        others = Queries(AsyncpgDriver(conn), other)
        pgq = PgQueuer(worker_driver.driver, names=names)
        inside = asyncio.Event()
        outcome: list[str] = []

        @pgq.entrypoint("long")
        async def long(job: Job, ctx: Context) -> None:
            inside.set()
            with ctx.cancellation:
                await asyncio.sleep(1.0)
                outcome.append("slept")
            if ctx.cancellation.cancel_called:
                outcome.append("cancelled")

        (job,) = await queries.enqueue("long", None)
        (same,) = await others.enqueue("long", None)
        assert same == job  # both sequences start at 1
        # Running there too (claimed by some worker of that queue), so cancelling it notifies.
        params = {"long": EntrypointExecutionParameter(0)}
        assert [j.id for j in await others.dequeue(1, params, uuid.uuid4())] == [same]
        async with running(pgq):
            await asyncio.wait_for(inside.wait(), 5)
            await others.notify_job_cancellation([same])  # the Python-built payload
            assert await others.mark_job_as_cancelled([same]) == [same]  # the SQL-built one
            await wait_until(lambda: _outcome(outcome))
            assert outcome == ["slept"]
            # Its own queue's cancellation still reaches it (the schema matches).
            (second,) = await queries.enqueue("long", None)
            inside.clear()
            await asyncio.wait_for(inside.wait(), 5)
            outcome.clear()
            assert await queries.mark_job_as_cancelled([second]) == [second]
            await wait_until(lambda: _outcome(outcome))
            assert outcome == ["cancelled"]
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{other.schema}" CASCADE')
