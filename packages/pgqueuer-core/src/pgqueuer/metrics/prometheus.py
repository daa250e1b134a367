"""PgQueuer's ``pgqueuer.metrics.prometheus``: queue and log counts as Prometheus text.

``MetricNames``, ``prometheus_format`` and the ``aggregated_*`` generators are plain functions
here (label values are escaped, unlike PgQueuer 1.6). ``collect_metrics`` is served by
pgqueuer-dashboard (install ``pgqueuer-dashboard[metrics]``), imported when it is first called:
core never imports the dashboard.
"""

from __future__ import annotations

import importlib
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pgqueuer.models import LogStatistics, QueueStatistics

if TYPE_CHECKING:
    from pgqueuer.inmemory import InMemoryQueries
    from pgqueuer.queries import Queries

__all__ = [
    "MetricNames",
    "aggregated_log_statistics",
    "aggregated_queue_statistics",
    "aggregated_statistics",
    "collect_metrics",
    "prometheus_format",
    "sums",
]


@dataclass
class MetricNames:
    """The names of the two series (PgQueuer's defaults)."""

    queue_count: str = "pgqueuer_queue_count"
    log_count: str = "pgqueuer_logs_count"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def prometheus_format(metric_name: str, labels: dict[str, str], value: float | int) -> str:
    """One sample line, ``name{label="value",...} value``, with label values escaped."""
    text = ",".join(f'{k}="{_escape(str(v))}"' for k, v in sorted(labels.items()))
    return f"{metric_name}{{{text}}} {value}"


def sums(rows: Iterable[Any]) -> dict[tuple[str, str], int]:
    sums: dict[tuple[str, str], int] = {}
    for r in rows:
        key = (r.entrypoint, r.status)
        sums[key] = sums.get(key, 0) + r.count
    return sums


def aggregated_queue_statistics(
    queue_statistics: list[QueueStatistics], metric_names: MetricNames
) -> Generator[str, None, None]:
    """Queue counts summed per entrypoint and status, one line each."""
    for (ep, status), n in sorted(sums(queue_statistics).items()):
        labels = {"aggregation": "sum", "entrypoint": ep, "status": status}
        yield prometheus_format(metric_names.queue_count, labels, n)


def aggregated_log_statistics(
    log_statistics: list[LogStatistics], metric_names: MetricNames
) -> Generator[str, None, None]:
    """Log counts summed per entrypoint and status, one line each."""
    for (ep, status), n in sorted(sums(log_statistics).items()):
        labels = {"aggregation": "sum", "entrypoint": ep, "status": status}
        yield prometheus_format(metric_names.log_count, labels, n)


def aggregated_statistics(
    queue_statistics: list[QueueStatistics],
    log_statistics: list[LogStatistics],
    metric_names: MetricNames,
) -> Generator[str, None, None]:
    """The queue lines, then the log lines."""
    yield from aggregated_queue_statistics(queue_statistics, metric_names)
    yield from aggregated_log_statistics(log_statistics, metric_names)


async def collect_metrics(
    repository: Queries | InMemoryQueries,
    *,
    metric_names: MetricNames | None = None,
    last: timedelta = timedelta(seconds=300),
) -> str:
    """Queue counts now and log counts over ``last``, as Prometheus exposition text with HELP
    and TYPE lines; read-only (PgQueuer 1.6 ran the log aggregation first)."""
    try:
        module = importlib.import_module("pgqueuer_dashboard.prometheus")
    except ImportError as exc:
        raise ImportError(
            "collect_metrics needs pgqueuer-dashboard with prometheus-client: "
            f"pip install 'pgqueuer-dashboard[metrics]' ({exc})"
        ) from exc
    text: str = await module.collect_metrics(repository, metric_names=metric_names, last=last)
    return text
