"""pgq web over HTTP: every page on a queue in every state, bad input, auth, actions."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import quote

import asyncpg
import pytest
from queue_states import States, populate
from web.webserver import BASIC, WebServer

from pgqueuer.db import AsyncpgDriver
from pgqueuer.names import Names
from pgqueuer.queries import Queries

PAGES = [
    "/",
    "/entrypoints",
    "/entrypoints?window=24h",
    "/jobs",
    "/jobs?status=queued",
    "/jobs?status=picked&entrypoint=email",
    "/failures",
    "/workers",
    "/workers?stale_after=60",
    "/schedules",
    "/system",
]


@pytest.fixture
async def states(conn: asyncpg.Connection, names: Names) -> States:
    return await populate(conn, names)


def off_thread(func, *args, **kwargs):  # type: ignore[no-untyped-def]
    return asyncio.to_thread(func, *args, **kwargs)


async def test_every_page_renders_the_queue(web: WebServer, states: States) -> None:
    for path in PAGES:
        reply = await off_thread(web.get, path)
        assert reply.status == 200, (path, reply.text[:500])
        assert reply.headers["content-type"].startswith("text/html")
    overview = (await off_thread(web.get, "/")).text
    # email: 3 queued; running: 2 email + 1 report; held: 1 report
    assert re.search(r'id="total-queued">3<', overview)
    assert re.search(r'id="total-picked">3<', overview)
    assert re.search(r'id="total-failed">1<', overview)
    assert re.search(r'id="total-workers">2<', overview)
    assert re.search(r'id="total-exceptions">2<', overview)  # one exception, one held
    assert "email" in overview
    assert "nightly" in (await off_thread(web.get, "/schedules")).text
    failures = (await off_thread(web.get, "/failures")).text
    assert f'data-job="{states.held}"' in failures and "ValueError: boom" in failures
    workers = (await off_thread(web.get, "/workers")).text
    assert str(states.worker_a) in workers and f"/jobs/{states.stale}" in workers
    jobs = (await off_thread(web.get, "/jobs?status=queued")).text
    assert all(f'data-job="{i}"' in jobs for i in states.queued)
    assert f'data-job="{states.held}"' not in jobs
    held = (await off_thread(web.get, "/jobs?status=failed")).text
    assert re.findall(r'data-job="(\d+)"', held) == [str(states.held)]
    running = (await off_thread(web.get, "/jobs?status=picked")).text
    assert re.findall(r'data-job="(\d+)"', running) == [
        str(i) for i in [*states.running, states.stale]
    ]
    running = (await off_thread(web.get, "/jobs?status=picked&entrypoint=report")).text
    assert re.findall(r'data-job="(\d+)"', running) == [str(states.stale)]
    system = (await off_thread(web.get, "/system")).text
    assert "pgqueuer_log" in system and 'id="schema-ok"' in system


async def test_job_page_shows_fields_history_and_traceback(web: WebServer, states: States) -> None:
    held = (await off_thread(web.get, f"/jobs/{states.held}")).text
    assert 'id="job-status">failed<' in held and "RuntimeError" in held and "disk full" in held
    ended = (await off_thread(web.get, f"/jobs/{states.finished[0]}")).text
    assert "successful" in ended and "only its log rows remain" in ended
    goto = await off_thread(web.get, f"/jobs/goto?id={states.held}")
    assert goto.status == 303 and goto.headers["location"] == f"/jobs/{states.held}"


async def test_payload_preview_never_breaks(
    web: WebServer, conn: asyncpg.Connection, names: Names
) -> None:
    q = Queries(AsyncpgDriver(conn), names)
    binary, text, data = await q.enqueue(
        ["p", "p", "p"], [bytes(range(256)) * 40, "héllo\nworld".encode(), b'{"a": [1, 2]}']
    )
    page = (await off_thread(web.get, f"/jobs/{binary}")).text
    assert "binary, 10,240 bytes" in page and "00000000  00 01 02 03" in page
    page = (await off_thread(web.get, f"/jobs/{text}")).text
    assert "héllo\nworld" in page
    page = (await off_thread(web.get, f"/jobs/{data}")).text
    assert "json" in page and "&#34;a&#34;: [" in page


async def test_markup_in_data_is_escaped(
    web: WebServer, conn: asyncpg.Connection, names: Names
) -> None:
    q = Queries(AsyncpgDriver(conn), names)
    (job,) = await q.enqueue(["<script>x</script>"], [b"<b>bold</b>"])
    page = (await off_thread(web.get, f"/jobs/{job}")).text
    assert "<script>x</script>" not in page and "&lt;script&gt;x&lt;/script&gt;" in page
    assert "<b>bold</b>" not in page


@pytest.mark.parametrize(
    "path",
    [
        "/jobs?status=nope",
        "/jobs?page=0",
        "/jobs?page=abc",
        "/jobs?page=99999",
        "/entrypoints?window=7d",
        "/workers?stale_after=-1",
        "/jobs/abc",
        "/jobs/goto?id=x",
        "/jobs/goto",
    ],
)
async def test_bad_parameters_are_400_with_a_message(
    web: WebServer, names: Names, path: str
) -> None:
    reply = await off_thread(web.get, path)
    assert reply.status == 400, reply.text[:300]
    assert 'role="alert"' in reply.text


async def test_unknown_job_is_a_404_page(web: WebServer, names: Names) -> None:
    reply = await off_thread(web.get, "/jobs/987654321")
    assert reply.status == 404 and "No such job" in reply.text


async def test_healthz_static_and_partial(web: WebServer, names: Names) -> None:
    assert (await off_thread(web.get, "/healthz")).text == '{"status":"ok"}'
    css = await off_thread(web.get, "/static/app.css")
    assert css.status == 200 and css.headers["content-type"].startswith("text/css")
    assert (await off_thread(web.get, "/static/../routes.py")).status == 404
    partial = await off_thread(web.get, "/", headers={"X-PGQ-Partial": "1"})
    assert partial.status == 200 and "<html" not in partial.text and "total-queued" in partial.text


async def test_read_only_by_default(
    web: WebServer, states: States, conn: asyncpg.Connection, names: Names
) -> None:
    page = (await off_thread(web.get, f"/jobs/{states.held}")).text
    assert 'id="requeue"' not in page and "read-only" in page
    for path, form in [
        ("/jobs/requeue", f"ids={states.held}"),
        (f"/jobs/{states.queued[0]}/cancel", ""),
        ("/entrypoints/report/requeue-failed", ""),
        ("/schedules/1/remove", ""),
    ]:
        reply = await off_thread(web.post, path, form, headers={"Authorization": BASIC})
        assert reply.status == 403, path
    q = Queries(AsyncpgDriver(conn), names)
    assert [j.id for j in await q.list_failed_jobs()] == [states.held]
    assert await q.queue_job_by_id(states.queued[0]) is not None


async def test_credentials_required_everywhere_but_healthz(
    admin_web: WebServer, names: Names
) -> None:
    assert (await off_thread(admin_web.get, "/healthz")).status == 200
    for path in ["/", "/jobs", "/events"]:
        reply = await off_thread(admin_web.get, path)
        assert reply.status == 401 and reply.headers["www-authenticate"].startswith("Basic")
    wrong = "Basic " + __import__("base64").b64encode(b"admin:nope").decode()
    assert (await off_thread(admin_web.get, "/", headers={"Authorization": wrong})).status == 401
    assert (await off_thread(admin_web.get, "/", headers={"Authorization": BASIC})).status == 200
    assert (
        await off_thread(admin_web.get, "/", headers={"Authorization": "Bearer tok"})
    ).status == 200
    assert (
        await off_thread(admin_web.get, "/", headers={"Authorization": "Bearer no"})
    ).status == 401
    assert (await off_thread(admin_web.post, "/jobs/requeue", "ids=1")).status == 401


async def test_requeue_cancel_and_remove_with_credentials(
    admin_web: WebServer, states: States, conn: asyncpg.Connection, names: Names
) -> None:
    q = Queries(AsyncpgDriver(conn), names)
    auth = {"Authorization": BASIC}
    page = (await off_thread(admin_web.get, f"/jobs/{states.held}", headers=auth)).text
    assert 'id="requeue"' in page
    form = f"ids={states.held}&next=/jobs/{states.held}"
    reply = await off_thread(admin_web.post, "/jobs/requeue", form, headers=auth)
    assert reply.status == 303 and reply.headers["location"] == f"/jobs/{states.held}"
    job = await q.queue_job_by_id(states.held)
    assert job is not None and job.status == "queued"

    reply = await off_thread(admin_web.post, f"/jobs/{states.queued[0]}/cancel", "", headers=auth)
    assert reply.status == 204 and reply.headers["hx-refresh"] == "true"
    assert await q.queue_job_by_id(states.queued[0]) is None

    # a "next" that leaves the site is ignored
    reply = await off_thread(
        admin_web.post, "/schedules/999999/remove", "next=//evil.example", headers=auth
    )
    assert reply.status == 204 and "location" not in reply.headers
    (schedule,) = await q.peek_schedule()
    reply = await off_thread(admin_web.post, f"/schedules/{schedule.id}/remove", "", headers=auth)
    assert reply.status in (204, 303)
    assert await q.peek_schedule() == []

    reply = await off_thread(admin_web.post, "/jobs/requeue", "ids=", headers=auth)
    assert reply.status == 400


async def test_requeue_all_failed_of_an_entrypoint(
    admin_web: WebServer, states: States, conn: asyncpg.Connection, names: Names
) -> None:
    q = Queries(AsyncpgDriver(conn), names)
    reply = await off_thread(
        admin_web.post,
        f"/entrypoints/{quote('report')}/requeue-failed",
        "",
        headers={"Authorization": "Bearer tok"},
    )
    assert reply.status in (204, 303)
    assert await q.list_failed_jobs() == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
    ],
)
async def test_cross_site_actions_are_refused(
    admin_web: WebServer,
    states: States,
    conn: asyncpg.Connection,
    names: Names,
    headers: dict[str, str],
) -> None:
    reply = await off_thread(
        admin_web.post,
        "/jobs/requeue",
        f"ids={states.held}",
        headers={"Authorization": BASIC, **headers},
    )
    assert reply.status == 403
    q = Queries(AsyncpgDriver(conn), names)
    assert [j.id for j in await q.list_failed_jobs()] == [states.held]
    same = {"Authorization": BASIC, "Sec-Fetch-Site": "same-origin", "Origin": admin_web.url}
    reply = await off_thread(admin_web.post, "/jobs/requeue", f"ids={states.held}", headers=same)
    assert reply.status == 204
