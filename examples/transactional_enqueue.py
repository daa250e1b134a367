"""Enqueue in the same transaction as your own data: both commit, or neither does.

`python examples/transactional_enqueue.py` creates an `orders` table next to the queue,
commits one order with its job, then rolls back a second one: only the first job exists.
"""

from __future__ import annotations

import asyncio
import os

import asyncpg

from pgqueuer.db import AsyncpgDriver
from pgqueuer.queries import Queries


class Rollback(Exception):
    pass


async def main() -> None:
    connection = await asyncpg.connect(os.environ.get("PGQUEUER_DSN"))
    queries = Queries(AsyncpgDriver(connection))
    table = queries.names.qualify("orders")
    await connection.execute(f"CREATE TABLE IF NOT EXISTS {table} (id serial, item text)")

    async with connection.transaction():
        order_id = await connection.fetchval(
            f"INSERT INTO {table} (item) VALUES ('book') RETURNING id"
        )
        await queries.enqueue("ship_order", str(order_id).encode())

    try:
        async with connection.transaction():
            await connection.execute(f"INSERT INTO {table} (item) VALUES ('lamp')")
            await queries.enqueue("ship_order", b"lamp")
            raise Rollback  # e.g. the payment failed: the order and its job disappear together
    except Rollback:
        pass

    sizes = {s.entrypoint: s.count for s in await queries.queue_size()}
    print(f"ship_order jobs queued: {sizes.get('ship_order', 0)}")
    await connection.close()


if __name__ == "__main__":
    asyncio.run(main())
