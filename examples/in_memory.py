"""The whole queue in this process, no database: `python examples/in_memory.py`.

Handy for unit tests of handlers and for single-process batch scripts.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pgqueuer import PgQueuer, QueueExecutionMode
from pgqueuer.models import Job


async def main() -> None:
    pgq = PgQueuer.in_memory()
    done: list[bytes | None] = []

    @pgq.entrypoint("greet")
    async def greet(job: Job) -> None:
        done.append(job.payload)

    await pgq.qm.queries.enqueue(["greet"] * 3, [b"ada", b"grace", b"linus"])
    await pgq.run(mode=QueueExecutionMode.drain, dequeue_timeout=timedelta(seconds=0.1))
    print("greeted:", ", ".join(p.decode() for p in done if p))


if __name__ == "__main__":
    asyncio.run(main())
