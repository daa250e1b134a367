"""Database-wide Prometheus metrics (extra ``metrics``: prometheus-client).

``DatabaseMetrics(connection, names).read()`` returns metric families for the whole queue:
depth by entrypoint and status, oldest queued age, held failed jobs, workers holding jobs,
stale jobs, schedule lag (gauges, read now), and jobs completed / failed / retried with time in
queue and run time (counters and histograms that advance by the log rows written since the
previous read, through the log's primary key). Every query is bounded and index-driven, and
all of one read run in a read-only transaction.

``serve_database_metrics`` serves them with prometheus-client's HTTP server (``pgq metrics``);
``scrape`` renders one read as exposition text (for an app's own ``/metrics`` route).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import asyncpg
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import start_http_server
from prometheus_client.registry import Collector

from pgqueuer.names import Names
from pgqueuer.sql import load_blocks
from pgqueuer_dashboard.queries import DEFAULT_COUNT_CAP, Dashboard

__all__ = [
    "DURATION_BUCKETS",
    "DatabaseCollector",
    "DatabaseMetrics",
    "scrape",
    "serve_database_metrics",
]

DURATION_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600
)  # fmt: skip
LOG_BATCH = 50_000  # log rows counted per read at most (a backlog is caught up over reads)
SETTLE = timedelta(seconds=2)  # see log_since in sql/metrics.sql
LIST_LIMIT = 1_000  # entrypoints, workers, stale jobs, schedules per read


@dataclass
class _Histogram:
    buckets: list[int] = field(default_factory=lambda: [0] * len(DURATION_BUCKETS))
    count: int = 0
    total: float = 0.0

    def observe(self, value: float) -> None:
        value = max(value, 0.0)
        for i, bound in enumerate(DURATION_BUCKETS):
            if value <= bound:
                self.buckets[i] += 1
                break
        self.count += 1
        self.total += value

    def cumulative(self) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        running = 0
        for bound, n in zip(DURATION_BUCKETS, self.buckets, strict=True):
            running += n
            out.append((str(float(bound)), running))
        out.append(("+Inf", self.count))
        return out


@dataclass
class _Totals:
    """What the counters and histograms have accumulated since this exporter started."""

    last_id: int | None = None
    completed: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    retried: dict[str, int] = field(default_factory=dict)
    queue_time: dict[str, _Histogram] = field(default_factory=dict)
    run_time: dict[str, _Histogram] = field(default_factory=dict)

    def add(self, row: Any) -> None:
        ep, status = row["entrypoint"], row["status"]
        ran = row["run_seconds"] is not None
        if status == "successful":
            self.completed[ep] = self.completed.get(ep, 0) + 1
        elif status in ("exception", "failed"):
            self.failed[ep] = self.failed.get(ep, 0) + 1
        elif status == "queued" and ran:
            self.retried[ep] = self.retried.get(ep, 0) + 1
        if ran:
            self.queue_time.setdefault(ep, _Histogram()).observe(row["queue_seconds"])
            self.run_time.setdefault(ep, _Histogram()).observe(row["run_seconds"])


class DatabaseMetrics:
    """Reads one queue's statistics as Prometheus metric families, one bounded read each.

    ``reconnect``, when given, is called for a new connection after the current one was lost.
    """

    def __init__(
        self,
        connection: asyncpg.Connection,
        names: Names | None = None,
        *,
        namespace: str = "pgqueuer",
        stale_after: timedelta = timedelta(minutes=5),
        count_cap: int = DEFAULT_COUNT_CAP,
        reconnect: Callable[[], Awaitable[asyncpg.Connection]] | None = None,
    ) -> None:
        self.names = names or Names.from_env()
        self.namespace = namespace
        self.stale_after = stale_after
        self.count_cap = count_cap
        self._reconnect = reconnect
        self._sql = {
            k: self.names.substitute(v)
            for k, v in load_blocks("pgqueuer_dashboard.sql", "metrics.sql").items()
        }
        self._totals = _Totals()
        self._lock = asyncio.Lock()
        self._use(connection)

    def _use(self, connection: asyncpg.Connection) -> None:
        self.connection = connection
        self.dashboard = Dashboard(connection, self.names)

    async def read(self) -> list[Metric]:
        """Every family, from one read-only transaction (reads are serialised)."""
        async with self._lock:
            if self.connection.is_closed() and self._reconnect is not None:
                self._use(await self._reconnect())
            began = time.perf_counter()
            async with self.dashboard.read_only():
                families = await self._read()
            families.append(
                self._gauge(
                    "scrape_duration_seconds",
                    "Time the database reads of this scrape took.",
                    [((), time.perf_counter() - began)],
                )
            )
            return families

    async def _read(self) -> list[Metric]:
        d = self.dashboard
        now = await d.now()
        counts = await d.queue_counts(LIST_LIMIT, count_cap=self.count_cap)
        depth, ages, held = [], [], []
        for ep, c in sorted(counts.items()):
            for status in ("queued", "picked", "failed"):
                depth.append(((ep, status), c.get(status, 0)))
            held.append(((ep,), c.get("failed", 0)))
            first_due = c.get("first_due")
            age = (now - first_due).total_seconds() if first_due and first_due <= now else 0.0
            ages.append(((ep,), age))
        workers = await d.workers(LIST_LIMIT, count_cap=self.count_cap)
        stale = await d.stale_jobs(self.stale_after, LIST_LIMIT)
        schedules = await d.schedules(LIST_LIMIT)
        lag = [
            ((s.entrypoint, s.expression), max((now - s.next_run).total_seconds(), 0.0))
            for s in schedules
        ]
        await self._advance()
        t = self._totals
        return [
            self._gauge(
                "queue_jobs",
                "Jobs in the queue table by entrypoint and status (queued, picked = running, "
                "failed = held); each count stops at the exporter's count cap.",
                depth,
                ("entrypoint", "status"),
            ),
            self._gauge(
                "queue_oldest_age_seconds",
                "How long the longest-due queued job of an entrypoint has been due (0: none).",
                ages,
                ("entrypoint",),
            ),
            self._gauge(
                "held_failed_jobs",
                "Jobs held as failed (on_failure='hold'), waiting for a requeue.",
                held,
                ("entrypoint",),
            ),
            self._gauge(
                "workers",
                "Workers (queue managers) holding running jobs.",
                [((), sum(1 for w in workers if w.running_jobs))],
            ),
            self._gauge(
                "stale_jobs",
                f"Running jobs without a heartbeat for {self.stale_after.total_seconds():g} s.",
                [((), len(stale))],
            ),
            self._gauge(
                "schedule_lag_seconds",
                "How far a cron schedule's next run is overdue (0: on time).",
                lag,
                ("entrypoint", "expression"),
            ),
            self._counter("jobs_completed", "Jobs that ended successfully.", t.completed),
            self._counter("jobs_failed", "Jobs that raised (deleted or held as failed).", t.failed),
            self._counter("jobs_retried", "Attempts that ended in a retry.", t.retried),
            self._histogram(
                "job_queue_seconds",
                "Time from when a job became due to when it was claimed.",
                t.queue_time,
            ),
            self._histogram(
                "job_run_seconds", "Time from a job's claim to its log row.", t.run_time
            ),
        ]

    async def _advance(self) -> None:
        t = self._totals
        if t.last_id is None:  # counters start at this exporter's start, as counters do
            rows = await self.dashboard.connection.fetch(self._sql["log_last_id"])
            t.last_id = int(rows[0]["id"])
            return
        rows = await self.connection.fetch(self._sql["log_since"], t.last_id, LOG_BATCH, SETTLE)
        for row in rows:
            if not row["settled"]:
                break
            t.add(row)
            t.last_id = row["id"]

    def _name(self, name: str) -> str:
        return f"{self.namespace}_{name}"

    def _gauge(
        self,
        name: str,
        doc: str,
        samples: Iterable[tuple[tuple[str, ...], float]],
        labels: tuple[str, ...] = (),
    ) -> Metric:
        family = GaugeMetricFamily(self._name(name), doc, labels=list(labels))
        for values, value in samples:
            family.add_metric(list(values), value)
        return family

    def _counter(self, name: str, doc: str, totals: dict[str, int]) -> Metric:
        family = CounterMetricFamily(self._name(name), doc, labels=["entrypoint"])
        for ep, n in sorted(totals.items()):
            family.add_metric([ep], n)
        return family

    def _histogram(self, name: str, doc: str, hists: dict[str, _Histogram]) -> Metric:
        family = HistogramMetricFamily(self._name(name), doc, labels=["entrypoint"])
        for ep, h in sorted(hists.items()):
            family.add_metric([ep], h.cumulative(), sum_value=h.total)
        return family


class DatabaseCollector(Collector):
    """A prometheus-client collector that reads ``metrics`` on ``loop`` for each scrape.

    prometheus-client collects from its own (server) thread; the read runs on the event loop
    that owns the connection and the scrape waits for it, at most ``timeout`` seconds.
    """

    def __init__(
        self, metrics: DatabaseMetrics, loop: asyncio.AbstractEventLoop, timeout: float = 10.0
    ) -> None:
        self.metrics = metrics
        self.loop = loop
        self.timeout = timeout

    def describe(self) -> Iterable[Metric]:
        return []  # registering must not query the database

    def collect(self) -> Iterator[Metric]:
        future = asyncio.run_coroutine_threadsafe(self.metrics.read(), self.loop)
        yield from future.result(self.timeout)


class _Static(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families


async def scrape(metrics: DatabaseMetrics) -> bytes:
    """One read of ``metrics`` as Prometheus exposition text (HELP, TYPE, escaped labels)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Static(await metrics.read()))
    return generate_latest(registry)


async def serve_database_metrics(
    metrics: DatabaseMetrics,
    shutdown: asyncio.Event,
    *,
    host: str = "127.0.0.1",
    port: int = 9464,
    ready: Callable[[int], None] | None = None,
) -> None:
    """Serve ``metrics`` on http://host:port/metrics until ``shutdown`` is set.

    ``ready`` is called with the bound port (useful with ``port=0``).
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(metrics, asyncio.get_running_loop()))
    server, thread = start_http_server(port, addr=host, registry=registry)
    try:
        if ready is not None:
            ready(server.server_port)
        await shutdown.wait()
    finally:
        server.shutdown()
        server.server_close()
        await asyncio.to_thread(thread.join, 5)
