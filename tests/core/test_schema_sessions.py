"""Schema management through a pool: the schema lock excludes other sessions, not its own."""

from __future__ import annotations

import asyncio

import asyncpg

from pgqueuer.db import AsyncpgPoolDriver
from pgqueuer.names import Names
from pgqueuer.queries import Queries


async def test_schema_lock_on_a_pool_makes_other_sessions_wait(
    dsn: str | None, empty_schema: str
) -> None:
    names = Names.create(schema=empty_schema)
    async with asyncpg.create_pool(dsn, min_size=1, max_size=4) as pool:
        holder = Queries(AsyncpgPoolDriver(pool), names)
        other = Queries(AsyncpgPoolDriver(pool), names)
        locked, release = asyncio.Event(), asyncio.Event()

        async def hold() -> None:
            async with holder.schema_lock():
                locked.set()
                await release.wait()

        held = asyncio.create_task(hold())
        await asyncio.wait_for(locked.wait(), 5)
        install = asyncio.create_task(other.install())
        done, _ = await asyncio.wait({install}, timeout=0.3)
        assert not done  # another session: waits for the lock
        assert not await other.schema_is_installed()
        release.set()
        await asyncio.wait_for(asyncio.gather(held, install), 5)
        assert await other.schema_is_installed()
        await other.uninstall()
