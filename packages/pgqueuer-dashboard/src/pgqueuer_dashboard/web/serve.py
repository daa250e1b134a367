"""Serve the pages with uvicorn: what ``pgq web`` and ``python -m pgqueuer_dashboard.web`` run."""

from __future__ import annotations

import os

from pgqueuer.names import Names
from pgqueuer_dashboard.web.app import create_web_app

HOST_ENV, PORT_ENV = "PGQUEUER_WEB_HOST", "PGQUEUER_WEB_PORT"
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8080


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    dsn: str | None = None,
    names: Names | None = None,
    log_level: str = "info",
) -> None:
    """Run until interrupted (Ctrl-C, SIGTERM)."""
    import uvicorn

    app = create_web_app(dsn, names=names)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)


def main() -> None:
    serve(
        os.environ.get(HOST_ENV) or DEFAULT_HOST,
        int(os.environ.get(PORT_ENV) or DEFAULT_PORT),
    )
