"""``collect_metrics`` for PgQueuer's ``pgqueuer.metrics.prometheus`` (which calls it).

It works as in PgQueuer 1.6, with three differences: the output has ``# HELP`` and ``# TYPE``
lines and escaped label values (rendered by prometheus-client), and it never writes (1.6 ran
the log aggregation first; here the log counts come from the read-only ``throughput_summary``,
over at most its newest ``sample`` log rows).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pgqueuer.metrics.prometheus import MetricNames, sums

if TYPE_CHECKING:
    from pgqueuer.inmemory import InMemoryQueries
    from pgqueuer.queries import Queries

__all__ = ["collect_metrics"]


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families


async def collect_metrics(
    repository: Queries | InMemoryQueries,
    *,
    metric_names: MetricNames | None = None,
    last: timedelta = timedelta(seconds=300),
) -> str:
    """Queue counts now and log counts over ``last``, as Prometheus exposition text."""
    names = metric_names or MetricNames()
    queue = GaugeMetricFamily(
        names.queue_count,
        "Jobs in the queue table, by entrypoint and status.",
        labels=["aggregation", "entrypoint", "status"],
    )
    for (ep, status), n in sorted(sums(await repository.queue_size()).items()):
        queue.add_metric(["sum", ep, status], n)
    logs = GaugeMetricFamily(
        names.log_count,
        f"Jobs that ended in the last {last.total_seconds():g} s, by entrypoint and status.",
        labels=["aggregation", "entrypoint", "status"],
    )
    for (ep, status), n in sorted(sums(await repository.throughput_summary(last)).items()):
        logs.add_metric(["sum", ep, status], n)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families([queue, logs]))
    return generate_latest(registry).decode()
