"""pgqueuer: a PostgreSQL-backed job queue for Python, a drop-in for PgQueuer."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from pgqueuer import _aliases
from pgqueuer.applications import PgQueuer
from pgqueuer.completion import CompletionWatcher
from pgqueuer.db import AsyncpgDriver, AsyncpgPoolDriver, Driver, PsycopgDriver
from pgqueuer.errors import DuplicateJobError, PgQueuerError, RetryRequested
from pgqueuer.executors import DatabaseRetryEntrypointExecutor, EntrypointExecutor
from pgqueuer.inmemory import InMemoryDriver, InMemoryQueries
from pgqueuer.models import Context, Job
from pgqueuer.names import Names
from pgqueuer.qm import QueueManager
from pgqueuer.queries import Queries
from pgqueuer.sm import SchedulerManager
from pgqueuer.supervisor import run
from pgqueuer.types import JobId, QueueExecutionMode

_aliases.install()  # PgQueuer's deeper paths (pgqueuer.core.logconfig, ...): see _aliases.py

try:
    __version__ = version("pgqueuer-core")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"

__all__ = [
    "AsyncpgDriver",
    "AsyncpgPoolDriver",
    "CompletionWatcher",
    "Context",
    "DatabaseRetryEntrypointExecutor",
    "Driver",
    "DuplicateJobError",
    "EntrypointExecutor",
    "InMemoryDriver",
    "InMemoryQueries",
    "Job",
    "JobId",
    "Names",
    "PgQueuer",
    "PgQueuerError",
    "PsycopgDriver",
    "Queries",
    "QueueExecutionMode",
    "QueueManager",
    "RetryRequested",
    "SchedulerManager",
    "__version__",
    "run",
]
