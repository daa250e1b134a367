"""PgQueuer's ``pgqueuer.metrics.fastapi``: a FastAPI router serving ``collect_metrics``."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from pgqueuer.metrics.prometheus import MetricNames
from pgqueuer_dashboard.prometheus import collect_metrics

if TYPE_CHECKING:
    from pgqueuer.inmemory import InMemoryQueries
    from pgqueuer.queries import Queries

__all__ = ["create_metrics_router"]


def create_metrics_router(
    repository: Queries | InMemoryQueries,
    *,
    metric_names: MetricNames | None = None,
    last: timedelta = timedelta(seconds=300),
    path: str = "/metrics",
) -> APIRouter:
    """A router with ``GET path`` returning :func:`collect_metrics`' text."""
    router = APIRouter()

    @router.get(path)
    async def metrics() -> Response:
        text = await collect_metrics(repository, metric_names=metric_names, last=last)
        return Response(content=text, media_type=CONTENT_TYPE_LATEST)

    return router
