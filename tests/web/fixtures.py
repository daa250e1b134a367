"""Fixtures: a real ``pgq web`` server (read-only, or with credentials) over the test's queue."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from web.webserver import PASSWORD, USER, WebServer, start_server, stop_server

from pgqueuer.names import Names
from pgqueuer_dashboard.web import WebAuth


@pytest.fixture
def web_factory(dsn: str | None, names: Names) -> Iterator[Callable[..., WebServer]]:
    started: list[WebServer] = []

    def make(auth: WebAuth | None = None) -> WebServer:
        web = start_server(dsn, names, auth or WebAuth())
        started.append(web)
        return web

    yield make
    for web in started:
        stop_server(web)


@pytest.fixture
def web(web_factory: Callable[..., WebServer]) -> WebServer:
    """Read-only: no credentials configured."""
    return web_factory()


@pytest.fixture
def admin_web(web_factory: Callable[..., WebServer]) -> WebServer:
    """Credentials configured: Basic admin/s3cret or the bearer token 'tok'."""
    return web_factory(WebAuth(USER, PASSWORD, "tok"))
