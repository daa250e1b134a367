"""The worker's metrics hook: what a QueueManager reports when metrics are switched on.

``pgqueuer.metrics.worker.WorkerMetrics`` implements it with prometheus-client. A worker
without an observer (the default) makes no calls at all; this module imports nothing extra.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pgqueuer.models import Job

__all__ = ["WORKER_METRICS", "WorkerMetricsConfig", "WorkerObserver", "set_worker_metrics"]


class WorkerObserver(Protocol):
    """Called by the worker from its event loop; each call must be cheap and never raise."""

    def claimed(self, seconds: float, jobs: int) -> None:
        """One finish-and-claim round trip took ``seconds`` and returned ``jobs`` jobs."""

    def started(self, job: Job) -> None:
        """A handler was started for ``job``."""

    def finished(self, job: Job, outcome: str) -> None:
        """The run of ``job`` ended with ``outcome`` (successful, exception, failed, queued
        for a retry, canceled or release)."""

    def reconnected(self) -> None:
        """The worker's connection (and its LISTEN) came back after a loss."""


@dataclass
class WorkerMetricsConfig:
    """The process-wide observer, used by workers that were given none."""

    observer: WorkerObserver | None = None


WORKER_METRICS = WorkerMetricsConfig()


def set_worker_metrics(observer: WorkerObserver | None) -> None:
    """Report every worker of this process (without its own observer) to ``observer``."""
    WORKER_METRICS.observer = observer
