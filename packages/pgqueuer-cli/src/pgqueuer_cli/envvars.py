"""Every environment variable the pgq command line reads for its own options, in one place.

The library reads its own (``PGQUEUER_DSN``, name overrides, ...) in pgqueuer.connection and
pgqueuer.names; libpq's ``PG*`` variables are read by asyncpg itself.
"""

from __future__ import annotations

PGDSN = "PGDSN"
LIBRARY_DSN = "PGQUEUER_DSN"  # handed to a factory by pgq run (pgqueuer.connection reads it)
PREFIX = "PGQUEUER_PREFIX"
SCHEMA = "PGQUEUER_SCHEMA"
DURABILITY = "PGQUEUER_DURABILITY"
WIDEN_ID = "PGQUEUER_WIDEN_ID"
DEBUG = "PGQUEUER_DEBUG"
TABLEFMT = "PGQUEUER_TABLEFMT"  # default table format of pgq dashboard
LEGACY_TABLEFMT = "TABLEFMT"  # PgQueuer 1.6 also reads this one
METRICS_HOST = "PGQUEUER_METRICS_HOST"  # pgq metrics --host
METRICS_PORT = "PGQUEUER_METRICS_PORT"  # pgq metrics --port
WORKER_METRICS_HOST = "PGQUEUER_WORKER_METRICS_HOST"  # pgq run --metrics-host
WORKER_METRICS_PORT = "PGQUEUER_WORKER_METRICS_PORT"  # pgq run --metrics-port
WORKER_HOST = "PGQUEUER_WORKER_HOST"  # pgq run --worker-host (pgqueuer.registry reads it too)
WEB_HOST = "PGQUEUER_WEB_HOST"  # pgq web --host
WEB_PORT = "PGQUEUER_WEB_PORT"  # pgq web --port
