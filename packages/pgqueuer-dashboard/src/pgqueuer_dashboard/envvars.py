"""The environment variables the dashboard package reads, in one place.

Kept free of optional imports (FastAPI, uvicorn, mcp) so ``pgq`` can import the names on every
call without the web extra. The DSN variable is core's (``pgqueuer.connection.DSN_ENV``).
"""

from __future__ import annotations

WEB_HOST = "PGQUEUER_WEB_HOST"  # python -m pgqueuer_dashboard.web / pgq web --host
WEB_PORT = "PGQUEUER_WEB_PORT"  # python -m pgqueuer_dashboard.web / pgq web --port
WEB_USER = "PGQUEUER_WEB_USER"  # pgq web: basic auth user
WEB_PASSWORD = "PGQUEUER_WEB_PASSWORD"  # pgq web: basic auth password
WEB_TOKEN = "PGQUEUER_WEB_TOKEN"  # pgq web: bearer token
POOL_MIN_SIZE = "PGQUEUER_POOL_MIN_SIZE"  # the web app's pool (default 0)
POOL_MAX_SIZE = "PGQUEUER_POOL_MAX_SIZE"  # the web app's pool (default 5)

__all__ = [
    "POOL_MAX_SIZE",
    "POOL_MIN_SIZE",
    "WEB_HOST",
    "WEB_PASSWORD",
    "WEB_PORT",
    "WEB_TOKEN",
    "WEB_USER",
]
