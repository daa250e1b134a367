"""A real ``pgq web`` server on a free local port, in a thread, and a small HTTP client."""

from __future__ import annotations

import asyncio
import base64
import socket
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field

import uvicorn

from pgqueuer.names import Names
from pgqueuer_dashboard.web import WebAuth, create_web_app

USER, PASSWORD = "admin", "s3cret"
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    text: str


@dataclass
class WebServer:
    url: str
    server: uvicorn.Server
    thread: threading.Thread
    auth: WebAuth = field(default_factory=WebAuth)

    def request(
        self,
        path: str,
        *,
        method: str = "GET",
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10,
    ) -> Reply:
        req = urllib.request.Request(
            self.url + path, data=data, method=method, headers=headers or {}
        )

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: object, **kwargs: object) -> None:
                return None

        opener = urllib.request.build_opener(NoRedirect)
        try:
            with opener.open(req, timeout=timeout) as resp:
                return Reply(
                    resp.status,
                    {k.lower(): v for k, v in resp.headers.items()},
                    resp.read().decode(),
                )
        except urllib.error.HTTPError as err:
            body = err.read().decode()
            return Reply(err.code, {k.lower(): v for k, v in err.headers.items()}, body)

    def get(self, path: str, **kwargs: object) -> Reply:
        return self.request(path, **kwargs)  # type: ignore[arg-type]

    def post(self, path: str, form: str = "", **kwargs: object) -> Reply:
        headers = {"Content-Type": "application/x-www-form-urlencoded", **kwargs.pop("headers", {})}  # type: ignore[dict-item]
        return self.request(path, method="POST", data=form.encode(), headers=headers, **kwargs)  # type: ignore[arg-type]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(dsn: str | None, names: Names, auth: WebAuth, **options: object) -> WebServer:
    app = create_web_app(dsn, names=names, auth=auth)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        if not thread.is_alive():
            raise RuntimeError("the web server did not start")
        threading.Event().wait(0.05)
    else:
        raise RuntimeError("the web server did not start within 10 s")
    return WebServer(f"http://127.0.0.1:{port}", server, thread, auth)


def stop_server(web: WebServer) -> None:
    web.server.should_exit = True
    web.thread.join(timeout=15)
    assert not web.thread.is_alive(), "the web server did not stop"
