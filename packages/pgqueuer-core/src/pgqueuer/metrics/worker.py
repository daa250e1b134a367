"""A worker's own Prometheus instruments (extra ``metrics``), fed without a database round trip.

``WorkerMetrics(registry)`` creates the instruments in ``registry`` (prometheus-client's
default one when omitted) and implements :class:`pgqueuer.ports.metrics.WorkerObserver`.
Give it to one worker (``QueueManager(..., metrics=m)``) or to every worker of the process
(``set_worker_metrics(m)``); ``serve_worker_metrics(port)`` does the latter and serves the
registry over HTTP (``pgq run --metrics-port``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import start_http_server

from pgqueuer.ports.metrics import set_worker_metrics

if TYPE_CHECKING:
    from pgqueuer.models import Job

__all__ = ["WorkerMetrics", "serve_worker_metrics"]

# Handler run times span sub-millisecond no-ops to hour-long batch jobs.
DURATION_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600
)  # fmt: skip
CLAIM_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
BATCH_BUCKETS = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


class WorkerMetrics:
    """Jobs started/finished by outcome, handler duration, claim round trip, batch size,
    reconnects and jobs in flight, as ``pgqueuer_worker_*`` series."""

    def __init__(
        self, registry: CollectorRegistry | None = None, namespace: str = "pgqueuer_worker"
    ) -> None:
        registry = REGISTRY if registry is None else registry
        ns = namespace
        self.registry = registry
        self.jobs_started = Counter(
            f"{ns}_jobs_started", "Handlers started.", ["entrypoint"], registry=registry
        )
        self.jobs_finished = Counter(
            f"{ns}_jobs_finished",
            "Handler runs ended, by outcome (successful, exception, failed, retried, canceled, "
            "released).",
            ["entrypoint", "outcome"],
            registry=registry,
        )
        self.handler_seconds = Histogram(
            f"{ns}_handler_duration_seconds",
            "Time from a handler's start to its end.",
            ["entrypoint"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.claim_seconds = Histogram(
            f"{ns}_claim_roundtrip_seconds",
            "Duration of one finish-and-claim round trip to PostgreSQL.",
            buckets=CLAIM_BUCKETS,
            registry=registry,
        )
        self.batch_size = Histogram(
            f"{ns}_claim_batch_size",
            "Jobs returned by one claim.",
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.reconnects = Counter(
            f"{ns}_reconnects", "Connection (LISTEN) losses recovered.", registry=registry
        )
        self.in_flight = Gauge(
            f"{ns}_jobs_in_flight", "Handlers running now.", ["entrypoint"], registry=registry
        )
        self._started_at: dict[int, float] = {}
        self.port: int | None = None  # set by serve_worker_metrics: the port it listens on

    def claimed(self, seconds: float, jobs: int) -> None:
        self.claim_seconds.observe(seconds)
        self.batch_size.observe(jobs)

    def started(self, job: Job) -> None:
        self._started_at[job.id] = time.perf_counter()
        self.jobs_started.labels(job.entrypoint).inc()
        self.in_flight.labels(job.entrypoint).inc()

    def finished(self, job: Job, outcome: str) -> None:
        began = self._started_at.pop(job.id, None)
        if began is None:  # not started by this worker: a job given back unrun
            return
        if outcome == "queued":
            outcome = "retried"
        elif outcome == "release":
            outcome = "released"
        self.in_flight.labels(job.entrypoint).dec()
        self.jobs_finished.labels(job.entrypoint, outcome).inc()
        self.handler_seconds.labels(job.entrypoint).observe(time.perf_counter() - began)

    def reconnected(self) -> None:
        self.reconnects.inc()


def serve_worker_metrics(
    port: int, host: str = "127.0.0.1", registry: CollectorRegistry | None = None
) -> WorkerMetrics:
    """Instrument every worker of this process and serve ``registry`` on ``host:port``
    (prometheus-client's HTTP server, in a daemon thread)."""
    metrics = WorkerMetrics(registry)
    server, _ = start_http_server(port, addr=host, registry=metrics.registry)
    metrics.port = server.server_port
    set_worker_metrics(metrics)
    return metrics
