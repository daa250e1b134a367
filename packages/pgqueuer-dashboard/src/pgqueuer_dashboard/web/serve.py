"""Serve the pages with uvicorn: what ``pgq web`` and ``python -m pgqueuer_dashboard.web`` run."""

from __future__ import annotations

import os
import socket
from typing import Any

import uvicorn
from fastapi import FastAPI

from pgqueuer.names import Names
from pgqueuer_dashboard import envvars
from pgqueuer_dashboard.web.app import create_web_app
from pgqueuer_dashboard.web.events import Broadcaster

HOST_ENV, PORT_ENV = envvars.WEB_HOST, envvars.WEB_PORT
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8080
GRACE = 5  # seconds a request still running at shutdown may take


class Server(uvicorn.Server):
    """uvicorn, ending the app's event streams first when it shuts down.

    uvicorn waits for every response in flight before it stops, and an event stream never
    ends by itself: without this, Ctrl-C with a browser tab open would wait for the grace
    period and then cancel the streams with an error in the log.
    """

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        app: Any = self.config.app
        broadcaster: Broadcaster | None = getattr(
            getattr(app, "state", None), "pgq_web_broadcaster", None
        )
        if broadcaster is not None:
            broadcaster.end_streams()
        await super().shutdown(sockets)


def server(app: FastAPI, host: str, port: int, *, log_level: str = "info") -> Server:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=GRACE,
    )
    return Server(config)


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    dsn: str | None = None,
    names: Names | None = None,
    log_level: str = "info",
) -> None:
    """Run until interrupted (Ctrl-C, SIGTERM)."""
    server(create_web_app(dsn, names=names), host, port, log_level=log_level).run()


def main() -> None:
    """``python -m pgqueuer_dashboard.web`` (and ``pgqueuer.adapters.web``): Ctrl-C exits 0."""
    try:
        serve(
            os.environ.get(HOST_ENV) or DEFAULT_HOST,
            int(os.environ.get(PORT_ENV) or DEFAULT_PORT),
        )
    except KeyboardInterrupt:
        pass
