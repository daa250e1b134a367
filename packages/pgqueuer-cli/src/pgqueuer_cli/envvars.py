"""Every environment variable the pgq command line reads for its own options, in one place.

A variable the library also reads is imported from the module that owns it, so each name is
written once: the DSN in pgqueuer.connection, the name overrides in pgqueuer.names, the
durability in pgqueuer.backends.sql_schema. libpq's other ``PG*`` variables are read by asyncpg.
``tests/cli/test_envvars.py`` fails on a variable name written anywhere else in the CLI.
"""

from __future__ import annotations

from pgqueuer.backends.sql_schema import DURABILITY_ENV as DURABILITY
from pgqueuer.connection import DSN_ENV, PGBOUNCER_ENV
from pgqueuer.names import PREFIX_ENV as PREFIX
from pgqueuer.names import SCHEMA_ENV as SCHEMA
from pgqueuer.registry import WORKER_HOST_ENV

# pgq web --host/--port: the dashboard's names (its envvars module imports nothing optional).
from pgqueuer_dashboard.envvars import WEB_HOST, WEB_PORT

LIBRARY_DSN, PGDSN = DSN_ENV  # pgq run hands the DSN to a factory in LIBRARY_DSN
WIDEN_ID = "PGQUEUER_WIDEN_ID"
DEBUG = "PGQUEUER_DEBUG"
TABLEFMT = "PGQUEUER_TABLEFMT"  # default table format of pgq dashboard
LEGACY_TABLEFMT = "TABLEFMT"  # PgQueuer 1.6 also reads this one
METRICS_HOST = "PGQUEUER_METRICS_HOST"  # pgq metrics --host
METRICS_PORT = "PGQUEUER_METRICS_PORT"  # pgq metrics --port
WORKER_METRICS_HOST = "PGQUEUER_WORKER_METRICS_HOST"  # pgq run --metrics-host
WORKER_METRICS_PORT = "PGQUEUER_WORKER_METRICS_PORT"  # pgq run --metrics-port
PGBOUNCER = PGBOUNCER_ENV  # pgq run --pgbouncer (the library's connection helpers read it too)
LISTEN_DSN = "PGQUEUER_LISTEN_DSN"  # pgq run --listen-dsn
WORKER_HOST = WORKER_HOST_ENV  # pgq run --worker-host (pgqueuer.registry reads it too)

__all__ = [
    "DEBUG",
    "DURABILITY",
    "LEGACY_TABLEFMT",
    "LIBRARY_DSN",
    "LISTEN_DSN",
    "METRICS_HOST",
    "METRICS_PORT",
    "PGBOUNCER",
    "PGDSN",
    "PREFIX",
    "SCHEMA",
    "TABLEFMT",
    "WEB_HOST",
    "WEB_PORT",
    "WIDEN_ID",
    "WORKER_HOST",
    "WORKER_METRICS_HOST",
    "WORKER_METRICS_PORT",
]
