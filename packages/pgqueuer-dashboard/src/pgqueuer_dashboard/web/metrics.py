"""``/metrics`` on ``pgq web``: the database-wide Prometheus metrics of ``pgq metrics``.

One :class:`pgqueuer_dashboard.exporter.DatabaseMetrics` per app, on a connection of its own
(opened at the first scrape, re-opened after a loss), so the counters fed from the log keep
accumulating across scrapes. The same credentials as the pages apply. Without the
``metrics`` extra (prometheus-client) the route answers 501 with the line to install it.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from fastapi import APIRouter, Request, Response

from pgqueuer.dberrors import classify
from pgqueuer.names import Names
from pgqueuer_dashboard.web.auth import WebAuth

logger = logging.getLogger("pgqueuer")

MISSING = "/metrics needs the metrics extra: pip install 'pgqueuer-dashboard[metrics]'\n"


class MetricsEndpoint:
    """Holds the exporter state between scrapes; ``close()`` at the app's shutdown."""

    def __init__(self, connect: Callable[[], Awaitable[asyncpg.Connection]], names: Names):
        self._connect = connect
        self._names = names
        self._metrics: Any = None
        self._lock = asyncio.Lock()

    async def body(self) -> tuple[bytes, str]:
        exporter = importlib.import_module("pgqueuer_dashboard.exporter")
        from prometheus_client import CONTENT_TYPE_LATEST

        async with self._lock:
            if self._metrics is None:
                conn = await self._connect()
                self._metrics = exporter.DatabaseMetrics(conn, self._names, reconnect=self._connect)
            data: bytes = await exporter.scrape(self._metrics)
        return data, CONTENT_TYPE_LATEST

    async def close(self) -> None:
        if self._metrics is not None and not self._metrics.connection.is_closed():
            await self._metrics.connection.close()


def create_metrics_router(endpoint: MetricsEndpoint, auth: WebAuth) -> APIRouter:
    router = APIRouter()

    @router.get("/metrics")
    async def metrics(request: Request) -> Response:
        if auth.configured and not auth.accepts(request.headers.get("authorization")):
            return Response(
                "authentication required\n",
                status_code=401,
                headers={"WWW-Authenticate": 'Basic realm="pgqueuer", charset="UTF-8"'},
            )
        try:
            data, content_type = await endpoint.body()
        except ImportError:
            return Response(MISSING, status_code=501, media_type="text/plain")
        except Exception as exc:
            if classify(exc) is None:  # not a database failure: a bug, let it show
                raise
            logger.warning("pgq web /metrics: database unavailable: %s", exc)
            return Response(
                f"database unavailable: {type(exc).__name__}\n",
                status_code=503,
                media_type="text/plain",
            )
        return Response(data, media_type=content_type)

    return router
