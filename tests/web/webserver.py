"""A real ``pgq web`` server on a free local port, in a thread, and a small HTTP client."""

from __future__ import annotations

import asyncio
import base64
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from localpg import free_port

from pgqueuer.names import Names
from pgqueuer_dashboard.web import WebAuth, create_web_app
from pgqueuer_dashboard.web.serve import Server
from pgqueuer_dashboard.web.serve import server as web_server

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
    server: Server
    thread: threading.Thread
    app: Any
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


def start_server(dsn: str | None, names: Names, auth: WebAuth) -> WebServer:
    return serve_app(create_web_app(dsn, names=names, auth=auth), auth)


def serve_app(app: Any, auth: WebAuth | None = None) -> WebServer:
    """Serve any ASGI app with uvicorn on a free port, in a thread."""
    auth = auth or WebAuth()
    port = free_port()
    server = web_server(app, "127.0.0.1", port, log_level="warning")
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
    return WebServer(f"http://127.0.0.1:{port}", server, thread, app, auth)


def stop_server(web: WebServer) -> None:
    web.server.should_exit = True
    web.thread.join(timeout=15)
    assert not web.thread.is_alive(), "the web server did not stop"


class Proxy:
    """A TCP proxy to PostgreSQL that can be cut (every connection dropped, new ones refused)
    and restored, on the same port: the database "going down" for one client only."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.up()

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        self.writers -= {writer, up_writer}

    async def _up(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", self.port)

    async def _down(self) -> None:
        if self.server is not None:
            self.server.close()
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()
        if self.server is not None:
            await self.server.wait_closed()
            self.server = None

    def up(self) -> None:
        self._call(self._up())

    def down(self) -> None:
        self._call(self._down())

    def close(self) -> None:
        self.down()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()
