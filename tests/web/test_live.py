"""Live updates and outages: NOTIFY -> debounced server-sent events; the database going away."""

from __future__ import annotations

import asyncio
import http.client
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import asyncpg
import pytest
from web.webserver import Proxy, WebServer, start_server, stop_server

from pgqueuer.db import AsyncpgDriver
from pgqueuer.names import Names
from pgqueuer.queries import Queries
from pgqueuer_dashboard.web import WebAuth
from pgqueuer_dashboard.web.events import Broadcaster


class EventStream:
    """GET /events, read line by line (in a thread: http.client blocks)."""

    def __init__(self, web: WebServer) -> None:
        url = urlsplit(web.url)
        self.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        self.conn.request("GET", "/events")
        self.response = self.conn.getresponse()

    def until(self, wanted: str, timeout: float = 10) -> list[str]:
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.response.readline().decode().rstrip("\n")
            seen.append(line)
            if line == wanted:
                return seen
        raise AssertionError(f"no {wanted!r} within {timeout} s: {seen}")

    def close(self) -> None:
        self.conn.close()


async def wait_for(predicate: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_a_change_in_the_queue_arrives_as_one_event(
    web: WebServer, conn: asyncpg.Connection, names: Names
) -> None:
    stream = await asyncio.to_thread(EventStream, web)
    try:
        assert stream.response.status == 200
        assert stream.response.getheader("content-type").startswith("text/event-stream")
        await asyncio.to_thread(stream.until, ": connected")
        broadcaster: Broadcaster = web.app.state.pgq_web_broadcaster
        await wait_for(broadcaster.connected.is_set)
        # a burst of 20 enqueues (20 notifications) is debounced into one event
        q = Queries(AsyncpgDriver(conn), names)
        for _ in range(20):
            await q.enqueue("burst", None)
        seen = await asyncio.to_thread(stream.until, "event: queue-change")
        assert seen[-1] == "event: queue-change"
        await asyncio.sleep(1)
        assert len(broadcaster.subscribers) == 1
        queue = next(iter(broadcaster.subscribers))
        assert queue.qsize() == 0  # nothing more was queued after the one event
    finally:
        stream.close()
    # the client left: its subscription ends (the stream notices on its next write)
    broadcaster.publish("queue-change")
    await wait_for(lambda: not broadcaster.subscribers)


async def test_keepalive_and_bounded_buffers(names: Names, dsn: str | None) -> None:
    async def connect() -> asyncpg.Connection:
        return await asyncpg.connect(dsn)

    board = Broadcaster(connect, names, keepalive=0.1, buffer=3)
    await board.start()
    try:
        stream = board.stream()
        assert await anext(stream) == "retry: 2000\n: connected\n\n"
        assert await anext(stream) == ": keepalive\n\n"
        for _ in range(50):  # a client that does not read keeps at most `buffer` events
            board.publish("queue-change")
        (queue,) = board.subscribers
        assert queue.qsize() == 3
        assert await anext(stream) == "event: queue-change\ndata: {}\n\n"
        await stream.aclose()
        assert not board.subscribers
    finally:
        await board.stop()


async def test_database_down_page_says_so_and_recovers(
    conn: asyncpg.Connection, names: Names
) -> None:
    port = int(await conn.fetchval("SHOW port"))
    user = await conn.fetchval("SELECT current_user")
    database = await conn.fetchval("SELECT current_database()")
    proxy = Proxy(("127.0.0.1", port))
    web = start_server(f"postgresql://{user}@127.0.0.1:{proxy.port}/{database}", names, WebAuth())
    try:
        assert (await asyncio.to_thread(web.get, "/")).status == 200
        broadcaster: Broadcaster = web.app.state.pgq_web_broadcaster
        await wait_for(broadcaster.connected.is_set)
        proxy.down()
        await wait_for(lambda: not broadcaster.connected.is_set())
        reply = await asyncio.to_thread(web.get, "/")
        assert reply.status == 503
        assert "Database unavailable" in reply.text and 'http-equiv="refresh"' in reply.text
        assert (await asyncio.to_thread(web.get, "/healthz")).status == 200  # the process lives
        proxy.up()
        deadline = time.monotonic() + 15
        while (await asyncio.to_thread(web.get, "/")).status != 200:
            assert time.monotonic() < deadline, "the page did not recover"
            await asyncio.sleep(0.2)
        await wait_for(broadcaster.connected.is_set, timeout=15)  # LISTEN is back too
    finally:
        stop_server(web)
        proxy.close()


@pytest.mark.parametrize("path", ["/", "/jobs", "/system"])
async def test_schema_missing_is_a_503_page(
    dsn: str | None, conn: asyncpg.Connection, empty_schema: str, path: str
) -> None:
    web = start_server(dsn, Names.from_env(schema=empty_schema), WebAuth())
    try:
        reply = await asyncio.to_thread(web.get, path)
        assert reply.status == 503 and "pgq" in reply.text
    finally:
        stop_server(web)
