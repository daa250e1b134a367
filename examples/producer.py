"""Enqueue jobs, the way PgQueuer's README does: `python examples/producer.py [N]`."""

from __future__ import annotations

import asyncio
import os
import sys

import asyncpg

from pgqueuer.db import AsyncpgDriver
from pgqueuer.queries import Queries


async def main(n: int) -> None:
    connection = await asyncpg.connect(os.environ.get("PGQUEUER_DSN"))
    queries = Queries(AsyncpgDriver(connection))
    # A batch: one statement for all N jobs.
    ids = await queries.enqueue(
        ["fetch"] * n,
        [f"this is from me: {i}".encode() for i in range(n)],
        [0] * n,
    )
    # A single job.
    ids += await queries.enqueue("fetch", b"one more")
    print(f"enqueued {len(ids)} jobs")
    await connection.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10))
