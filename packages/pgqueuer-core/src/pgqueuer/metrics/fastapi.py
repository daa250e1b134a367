"""PgQueuer's ``pgqueuer.metrics.fastapi``: a FastAPI router serving ``collect_metrics``.

The router is built by pgqueuer-dashboard (``pgqueuer_dashboard.metrics_fastapi``), imported
when this is first called; it needs ``pgqueuer-dashboard[metrics]`` and fastapi.
"""

from __future__ import annotations

import importlib
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import APIRouter

    from pgqueuer.inmemory import InMemoryQueries
    from pgqueuer.metrics.prometheus import MetricNames
    from pgqueuer.queries import Queries

__all__ = ["create_metrics_router"]


def create_metrics_router(
    repository: Queries | InMemoryQueries,
    *,
    metric_names: MetricNames | None = None,
    last: timedelta = timedelta(seconds=300),
    path: str = "/metrics",
) -> APIRouter:
    """A router with ``GET path`` returning ``collect_metrics``' text (Prometheus format)."""
    try:
        module = importlib.import_module("pgqueuer_dashboard.metrics_fastapi")
    except ImportError as exc:
        raise ImportError(
            f"create_metrics_router needs pgqueuer-dashboard[metrics] and fastapi ({exc})"
        ) from exc
    router: APIRouter = module.create_metrics_router(
        repository, metric_names=metric_names, last=last, path=path
    )
    return router
