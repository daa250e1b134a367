"""A queue that lives in this process: ``PgQueuer.in_memory()`` for unit tests and batches.

``InMemoryQueries`` has every method of ``Queries`` with the same semantics as the SQL (priority
then id order, due times, dedupe keys, concurrency seats, outcomes, retries, rescue of stale
jobs, cancellation, statistics, insights, schedules); schema methods are no-ops and its probes
answer True. ``InMemoryDriver`` runs no SQL and delivers notifications in-process. The parts
live in ``pgqueuer.backends.memory_*``; tests/contract runs one suite against both backends.
"""

from __future__ import annotations

from pgqueuer.backends.memory_admin import MemoryAdmin
from pgqueuer.backends.memory_base import InMemoryDriver
from pgqueuer.backends.memory_insights import MemoryInsights
from pgqueuer.backends.memory_queue import MemoryQueue
from pgqueuer.backends.memory_schedules import MemorySchedules
from pgqueuer.backends.memory_schema import MemorySchema

__all__ = ["InMemoryDriver", "InMemoryQueries"]


class InMemoryQueries(MemoryQueue, MemoryAdmin, MemoryInsights, MemorySchedules, MemorySchema):
    """The ``Queries`` API over dicts, for one process."""
