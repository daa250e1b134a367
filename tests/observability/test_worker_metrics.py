"""A worker's own instruments, in process: jobs in flight, and reconnects after its backend dies."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

import asyncpg
from prometheus_client import CollectorRegistry

from pgqueuer import QueueManager
from pgqueuer.db import AsyncpgDriver
from pgqueuer.metrics.worker import WorkerMetrics
from pgqueuer.models import Job
from pgqueuer.names import Names
from pgqueuer.ports.metrics import WORKER_METRICS, set_worker_metrics
from pgqueuer.queries import Queries


async def wait_until(check: Callable[[], Awaitable[bool] | bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result if isinstance(result, bool) else await result:
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels or None) or 0.0


def ok(registry: CollectorRegistry) -> float:
    name = "pgqueuer_worker_jobs_finished_total"
    return sample(registry, name, entrypoint="hold", outcome="successful")


async def test_in_flight_jobs_and_a_reconnect_are_counted(
    dsn: str | None, conn: asyncpg.Connection, names: Names, queries: Queries
) -> None:
    async def connect() -> asyncpg.Connection:
        return await asyncpg.connect(dsn)

    worker_conn = await connect()
    registry = CollectorRegistry()
    driver = AsyncpgDriver(worker_conn, connect=connect)  # it reconnects in place below
    qm = QueueManager(Queries(driver, names), metrics=WorkerMetrics(registry))
    release = asyncio.Event()

    @qm.entrypoint("hold")
    async def hold(job: Job) -> None:
        await release.wait()

    task = asyncio.create_task(qm.run(dequeue_timeout=timedelta(seconds=0.2)))
    try:
        await queries.enqueue(["hold"] * 3, [None] * 3, [0] * 3)
        await wait_until(
            lambda: sample(registry, "pgqueuer_worker_jobs_in_flight", entrypoint="hold") == 3
        )
        release.set()
        await wait_until(lambda: ok(registry) == 3)
        assert sample(registry, "pgqueuer_worker_jobs_in_flight", entrypoint="hold") == 0
        assert sample(registry, "pgqueuer_worker_reconnects_total") == 0

        assert await conn.fetchval("SELECT pg_terminate_backend($1)", worker_conn.get_server_pid())
        await wait_until(lambda: sample(registry, "pgqueuer_worker_reconnects_total") >= 1)
        await queries.enqueue("hold", None)
        await wait_until(lambda: ok(registry) == 4)
    finally:
        qm.shutdown.set()
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 30)
        if not worker_conn.is_closed():
            await worker_conn.close()


def test_set_worker_metrics_is_the_fallback_for_every_worker() -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    try:
        set_worker_metrics(metrics)
        assert WORKER_METRICS.observer is metrics
    finally:
        set_worker_metrics(None)
    assert WORKER_METRICS.observer is None
