"""``create_web_app``: the pages as a FastAPI app owning its pool and its LISTEN connection.

FastAPI, because PgQueuer's embedding API hands out a FastAPI app and an ``APIRouter`` that
takes ``dependencies=[Depends(auth)]``: code written for it mounts ours unchanged.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import asyncpg
from fastapi import APIRouter, FastAPI

from pgqueuer.adapters.connections import ConnectionSettings
from pgqueuer.connection import connect_timeout, resolve_dsn
from pgqueuer.names import Names
from pgqueuer_dashboard import envvars
from pgqueuer_dashboard.web.auth import WebAuth
from pgqueuer_dashboard.web.events import Broadcaster
from pgqueuer_dashboard.web.metrics import MetricsEndpoint, create_metrics_router
from pgqueuer_dashboard.web.routes import create_web_router
from pgqueuer_dashboard.web.source import Source

__all__ = ["create_web_app", "create_web_router"]

POOL_MIN_ENV, POOL_MAX_ENV = envvars.POOL_MIN_SIZE, envvars.POOL_MAX_SIZE


def _pool_size(env: str, default: int) -> int:
    value = os.environ.get(env, "").strip()
    try:
        return int(value) if value else default
    except ValueError:
        raise ValueError(f"{env}={value!r} is not a whole number") from None


def create_web_app(
    dsn: str | None = None,
    connection_settings: ConnectionSettings | Mapping[str, Any] | None = None,
    *,
    names: Names | None = None,
    auth: WebAuth | None = None,
    routers: Sequence[APIRouter] = (),
) -> FastAPI:
    """The web pages over the queue at ``dsn`` (None: PGQUEUER_DSN, then libpq variables).

    ``connection_settings``: PgQueuer's ``ConnectionSettings`` (``pgqueuer.adapters.connections``:
    DSN, timeout, application name, pool sizes) or extra keyword arguments for
    ``asyncpg.create_pool``. The pool
    opens no connection until a page needs one (``PGQUEUER_POOL_MIN_SIZE``, default 0;
    ``PGQUEUER_POOL_MAX_SIZE``, default 5), so the app starts while the database is down.
    ``/metrics`` serves the database-wide Prometheus metrics (the ``metrics`` extra).
    ``routers`` are included after the pages.
    """
    names = names or Names.from_env()
    auth = auth or WebAuth.from_env()
    target = resolve_dsn(dsn)
    options: dict[str, Any] = {
        "min_size": _pool_size(POOL_MIN_ENV, 0),
        "max_size": _pool_size(POOL_MAX_ENV, 5),
        "timeout": connect_timeout(),
    }
    if isinstance(connection_settings, ConnectionSettings):  # PgQueuer's argument
        target = resolve_dsn(dsn or connection_settings.dsn)
        options.update(
            min_size=connection_settings.pool_min_size,
            max_size=connection_settings.pool_max_size,
            timeout=connection_settings.connect_timeout,
        )
        if connection_settings.application_name:
            options["server_settings"] = {"application_name": connection_settings.application_name}
    elif connection_settings:
        options.update(connection_settings)

    async def listen_connection() -> asyncpg.Connection:
        conn: asyncpg.Connection = await asyncpg.connect(target, timeout=options["timeout"])
        return conn

    endpoint = MetricsEndpoint(listen_connection, names)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await asyncpg.create_pool(target, **options)
        broadcaster = Broadcaster(listen_connection, names)
        app.state.pgq_pool = pool
        app.state.pgq_web_source = Source(pool=pool, names=names)
        app.state.pgq_web_broadcaster = broadcaster
        await broadcaster.start()
        try:
            yield
        finally:
            try:
                await broadcaster.stop()
                await endpoint.close()
            finally:
                await pool.close()  # whatever happened above, no pool connection is left open

    app = FastAPI(
        title="pgqueuer", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.include_router(create_web_router(auth=auth))
    app.include_router(create_metrics_router(endpoint, auth))
    for router in routers:
        app.include_router(router)
    return app
