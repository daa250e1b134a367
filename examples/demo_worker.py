"""The demo's worker: `pgq run examples.demo_worker:main`.

Three entrypoints: thumbnails (quick), emails (fail now and then; held for a look with
`pgq failed`), and invoices (at most 2 at once across every worker); and a schedule that
enqueues a "digest" job every second (once per second however many workers run).
"""

from __future__ import annotations

import asyncio
import os
import random

from pgqueuer import PgQueuer
from pgqueuer.db import AsyncpgDriver
from pgqueuer.models import Job, Schedule


async def main() -> PgQueuer:
    pgq = PgQueuer(await AsyncpgDriver.connect(os.environ.get("PGQUEUER_DSN")))

    @pgq.entrypoint("thumbnail")
    async def thumbnail(job: Job) -> None:
        await asyncio.sleep(0.001)

    @pgq.entrypoint("email", on_failure="hold")
    async def email(job: Job) -> None:
        if random.random() < 0.05:
            raise ConnectionError(f"SMTP server refused {job.payload!r}")

    @pgq.entrypoint("invoice", concurrency_limit=2)
    async def invoice(job: Job) -> None:
        await asyncio.sleep(0.002)

    @pgq.entrypoint("digest")
    async def digest(job: Job) -> None:
        pass

    @pgq.schedule("enqueue_digest", "* * * * * *")
    async def enqueue_digest(schedule: Schedule) -> None:
        await pgq.queries.enqueue("digest", schedule.next_run.isoformat().encode())

    return pgq
