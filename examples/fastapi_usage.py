"""A FastAPI app that enqueues jobs and reports the queue size, as in PgQueuer's examples.

``uvicorn examples.fastapi_usage:app``; then ``POST /enqueue?entrypoint=fetch&payload=hi``
and ``GET /queue_size``. The pool comes from PGQUEUER_DSN or the libpq variables.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import asyncpg
from fastapi import Depends, FastAPI, Request

from pgqueuer.db import AsyncpgPoolDriver
from pgqueuer.queries import Queries


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    pool = await asyncpg.create_pool(os.environ.get("PGQUEUER_DSN"), min_size=1, max_size=4)
    app.state.queries = Queries(AsyncpgPoolDriver(pool))
    try:
        yield
    finally:
        await pool.close()


def get_queries(request: Request) -> Queries:
    queries: Queries = request.app.state.queries
    return queries


QueriesDep = Annotated[Queries, Depends(get_queries)]
app = FastAPI(lifespan=lifespan)


@app.post("/enqueue")
async def enqueue(
    entrypoint: str, payload: str, queries: QueriesDep, priority: int = 0
) -> dict[str, list[int]]:
    ids = await queries.enqueue(entrypoint, payload.encode(), priority)
    return {"job_ids": [int(i) for i in ids]}


@app.get("/queue_size")
async def queue_size(queries: QueriesDep) -> list[dict[str, object]]:
    return [
        {"entrypoint": s.entrypoint, "status": s.status, "priority": s.priority, "count": s.count}
        for s in await queries.queue_size()
    ]
