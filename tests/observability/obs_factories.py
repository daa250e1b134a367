"""Worker factories for the observability tests (not a test module).

A QueueManager on a fresh connection for the queue named by PGQUEUER_SCHEMA, with entrypoints
``ok`` (returns), ``boom`` (raises ValueError) and ``flaky`` (asks for a retry on its first
attempt, then succeeds).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg

from pgqueuer import QueueManager
from pgqueuer.db import AsyncpgDriver
from pgqueuer.errors import RetryRequested
from pgqueuer.models import Job
from pgqueuer.queries import Queries


def register(qm: QueueManager) -> None:
    @qm.entrypoint("ok")
    async def ok(job: Job) -> None:
        return None

    @qm.entrypoint("boom")
    async def boom(job: Job) -> None:
        raise ValueError(f"job {job.id} went boom")

    @qm.entrypoint("flaky")
    async def flaky(job: Job) -> None:
        if job.attempts == 0:
            raise RetryRequested(timedelta(0), "first attempt always fails")


@contextlib.asynccontextmanager
async def worker() -> AsyncIterator[QueueManager]:
    conn = await asyncpg.connect(os.environ.get("PGQUEUER_DSN"))
    try:
        qm = QueueManager(Queries(AsyncpgDriver(conn)))
        register(qm)
        yield qm
    finally:
        await conn.close()
