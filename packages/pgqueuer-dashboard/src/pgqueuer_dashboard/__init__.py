"""pgqueuer-dashboard: queue statistics as data and as live views.

``await snapshot(connection, names)`` returns a :class:`Snapshot` (per-entrypoint counts, rates
and percentiles, workers, stale jobs, schedules, the newest log entries); :func:`render_text`
and :func:`as_dict` turn one into tables or JSON. Nothing here prints or writes to the database.
"""

from __future__ import annotations

from pgqueuer.errors import SchemaNotInstalledError
from pgqueuer_dashboard.models import EntrypointStats, LogEntry, Percentiles, Snapshot, Worker
from pgqueuer_dashboard.queries import (
    DEFAULT_COUNT_CAP,
    DEFAULT_SAMPLE,
    Dashboard,
    SchemaOutdatedError,
    snapshot,
)
from pgqueuer_dashboard.render import as_dict, render_text

__all__ = [
    "DEFAULT_COUNT_CAP",
    "DEFAULT_SAMPLE",
    "Dashboard",
    "EntrypointStats",
    "LogEntry",
    "Percentiles",
    "SchemaNotInstalledError",
    "SchemaOutdatedError",
    "Snapshot",
    "Worker",
    "as_dict",
    "render_text",
    "snapshot",
]
