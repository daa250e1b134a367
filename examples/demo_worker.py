"""The demo's worker: `pgq run examples.demo_worker:main`.

Three entrypoints: thumbnails (quick), emails (fail now and then; held for a look with
`pgq failed`), and invoices (at most 2 at once across every worker).
"""

from __future__ import annotations

import asyncio
import os
import random

import asyncpg

from pgqueuer import PgQueuer
from pgqueuer.db import AsyncpgDriver
from pgqueuer.models import Job


async def main() -> PgQueuer:
    conn = await asyncpg.connect(os.environ.get("PGQUEUER_DSN"))
    pgq = PgQueuer(AsyncpgDriver(conn))

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

    return pgq
