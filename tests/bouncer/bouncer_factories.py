"""A `pgq run` factory for the PgBouncer tests (not a test module).

It opens its connection with ``pgqueuer.connection.connect``, which turns asyncpg's statement
cache off when ``PGQUEUER_PGBOUNCER`` is set (``pgq run --pgbouncer`` sets it): the way a
user's factory should. Entrypoint "work" appends each job id to the file RUN_MARKERS.
"""

from __future__ import annotations

import os

from pgqueuer import PgQueuer
from pgqueuer.connection import connect
from pgqueuer.db import AsyncpgDriver
from pgqueuer.models import Job


async def worker() -> PgQueuer:
    pgq = PgQueuer(AsyncpgDriver(await connect(), connect=connect))

    @pgq.entrypoint("work")
    async def work(job: Job) -> None:
        fd = os.open(os.environ["RUN_MARKERS"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            os.write(fd, f"{job.id}\n".encode())
        finally:
            os.close(fd)

    return pgq
