"""The routes: PgQueuer's paths (bookmarks and scripts keep working) plus a few more.

Pages read through :class:`Source` in one snapshot; a page asked for with the
``X-PGQ-Partial`` header returns only its live region (what the page's script swaps in when
``/events`` says the queue changed). Actions answer 403 unless credentials are configured and
given (see :mod:`pgqueuer_dashboard.web.auth`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.params import Depends
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from jinja2 import Environment, PackageLoader, select_autoescape

from pgqueuer.errors import SchemaNotInstalledError
from pgqueuer.sql import load_blocks
from pgqueuer_dashboard.queries import SchemaOutdatedError
from pgqueuer_dashboard.web import pages
from pgqueuer_dashboard.web.auth import WebAuth, cross_site
from pgqueuer_dashboard.web.events import Broadcaster
from pgqueuer_dashboard.web.source import UNAVAILABLE, Reader, Source
from pgqueuer_dashboard.web.views import FILTERS

logger = logging.getLogger("pgqueuer.web")

STATIC = {"app.css": "text/css; charset=utf-8", "live.js": "text/javascript; charset=utf-8"}
MAX_IDS = 1000
REQUEUE_ALL_CAP = 1000


class BadRequest(Exception):
    """A query parameter or form field the page cannot use (answered with 400)."""


def _templates() -> Environment:
    env = Environment(
        loader=PackageLoader("pgqueuer_dashboard.web", "templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    return env


def _int(value: str | None, name: str, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    if not re.fullmatch(r"\d{1,12}", value.strip()):
        raise BadRequest(f"{name} must be a whole number from {low} to {high}, not {value!r}")
    number = int(value)
    if not low <= number <= high:
        raise BadRequest(f"{name} must be from {low} to {high}, not {number}")
    return number


def _ids(values: Sequence[str]) -> list[int]:
    ids = [v for value in values for v in re.split(r"[\s,]+", value.strip()) if v]
    if not ids or len(ids) > MAX_IDS:
        raise BadRequest(f"ids: give 1 to {MAX_IDS} job ids")
    return [_int(v, "ids", 0, 1, 2**63 - 1) for v in ids]


async def _form(request: Request) -> dict[str, list[str]]:
    body = (await request.body())[:65536].decode("utf-8", "replace")
    return parse_qs(body, keep_blank_values=False)


def _local(target: str | None) -> str | None:
    """A same-site path to go back to (never another host)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


def create_web_router(
    *,
    dependencies: Sequence[Depends] | None = None,
    include_sse: bool = True,
    auth: WebAuth | None = None,
) -> APIRouter:
    """The pages and actions, to mount on your own FastAPI app.

    The app provides the data: ``app.state.pgq_pool`` (an asyncpg pool) or
    ``app.state.pgq_queries`` (a ``Queries`` over asyncpg), and for live updates
    ``app.state.pgq_web_broadcaster`` (``create_web_app`` sets all of them). ``auth`` defaults
    to ``PGQUEUER_WEB_USER``/``PGQUEUER_WEB_PASSWORD``/``PGQUEUER_WEB_TOKEN``.
    """
    router = APIRouter(dependencies=list(dependencies or ()))
    creds = auth or WebAuth.from_env()
    if not creds.configured:
        logger.info("pgq web: no credentials configured, the pages are read-only")
    templates = _templates()

    def source(request: Request) -> Source:
        state = request.app.state
        found: Source | None = getattr(state, "pgq_web_source", None)
        if found is None:
            pool = getattr(state, "pgq_pool", None)
            queries = getattr(state, "pgq_queries", None)
            if pool is not None:
                found = Source(pool=pool)
            elif queries is not None:
                found = Source.from_queries(queries)
            else:
                raise RuntimeError("set app.state.pgq_pool or app.state.pgq_queries first")
            state.pgq_web_source = found
        return found

    def allowed(request: Request) -> bool:
        return creds.configured and creds.accepts(request.headers.get("authorization"))

    def page(
        request: Request, name: str, context: dict[str, Any], status: int = 200
    ) -> HTMLResponse:
        partial = request.headers.get("x-pgq-partial") is not None
        html = templates.get_template(name).render(
            request=request,
            path=request.url.path,
            can_act=allowed(request),
            read_only=not creds.configured,
            partial=partial,
            **context,
        )
        return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})

    def problem(
        request: Request, status: int, title: str, message: str, retry: bool = False
    ) -> HTMLResponse:
        return page(
            request, "problem.html", {"title": title, "message": message, "retry": retry}, status
        )

    async def gate(request: Request) -> Response | None:
        if creds.configured and not allowed(request):
            return Response(
                "authentication required\n",
                status_code=401,
                headers={"WWW-Authenticate": 'Basic realm="pgqueuer", charset="UTF-8"'},
            )
        return None

    async def show(
        request: Request, name: str, load: Callable[[Reader], Awaitable[dict[str, Any] | None]]
    ) -> Response:
        if (denied := await gate(request)) is not None:
            return denied
        try:
            async with source(request).reading() as reader:
                context = await load(reader)
        except BadRequest as exc:
            return problem(request, 400, "Bad request", str(exc))
        except (SchemaNotInstalledError, SchemaOutdatedError) as exc:
            return problem(request, 503, "Schema not ready", str(exc), retry=True)
        except UNAVAILABLE as exc:
            logger.warning("pgq web: database unavailable: %s", exc)
            return problem(
                request,
                503,
                "Database unavailable",
                f"The database cannot be reached ({type(exc).__name__}). "
                "This page retries by itself.",
                retry=True,
            )
        if context is None:
            return problem(
                request,
                404,
                "Not found",
                "No such job: it never existed, or its log rows have been pruned.",
            )
        return page(request, name, context)

    @router.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @router.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        if name not in STATIC:
            return Response("not found\n", status_code=404)
        data = resources.files("pgqueuer_dashboard.web").joinpath("static", name).read_bytes()
        return Response(data, media_type=STATIC[name], headers={"Cache-Control": "max-age=300"})

    @router.get("/", response_class=HTMLResponse)
    async def overview(request: Request) -> Response:
        return await show(request, "overview.html", pages.overview)

    @router.get("/entrypoints", response_class=HTMLResponse)
    async def entrypoints(request: Request) -> Response:
        window = request.query_params.get("window") or "1h"

        async def load(r: Reader) -> dict[str, Any]:
            if window not in pages.WINDOWS:
                raise BadRequest(
                    f"window must be one of {', '.join(pages.WINDOWS)}, not {window!r}"
                )
            return await pages.entrypoints(r, window)

        return await show(request, "entrypoints.html", load)

    @router.get("/jobs", response_class=HTMLResponse)
    async def jobs(request: Request) -> Response:
        q = request.query_params

        async def load(r: Reader) -> dict[str, Any]:
            status = q.get("status") or None
            if status is not None and status not in pages.STATUSES:
                raise BadRequest(
                    f"status must be one of {', '.join(pages.STATUSES)}, not {status!r}"
                )
            entrypoint = q.get("entrypoint") or None
            page_no = _int(q.get("page"), "page", 1, 1, pages.MAX_PAGE)
            return await pages.jobs(r, status, entrypoint, page_no)

        return await show(request, "jobs.html", load)

    @router.get("/jobs/goto", response_class=HTMLResponse)
    async def goto(request: Request) -> Response:
        if (denied := await gate(request)) is not None:
            return denied
        try:
            job_id = _int(request.query_params.get("id"), "id", 0, 1, 2**63 - 1)
        except BadRequest as exc:
            return problem(request, 400, "Bad request", str(exc))
        if not job_id:
            return problem(request, 400, "Bad request", "id: give a job id")
        return RedirectResponse(f"/jobs/{job_id}", status_code=303)

    @router.get("/jobs/{job_id}", response_class=HTMLResponse)
    async def job(request: Request, job_id: str) -> Response:
        async def load(r: Reader) -> dict[str, Any] | None:
            return await pages.job(r, _int(job_id, "job id", 0, 1, 2**63 - 1))

        return await show(request, "job.html", load)

    @router.get("/failures", response_class=HTMLResponse)
    async def failures(request: Request) -> Response:
        return await show(request, "failures.html", pages.failures)

    @router.get("/workers", response_class=HTMLResponse)
    async def workers(request: Request) -> Response:
        raw = request.query_params.get("stale_after")

        async def load(r: Reader) -> dict[str, Any]:
            return await pages.workers(r, _int(raw, "stale_after", 300, 1, 7 * 86400))

        return await show(request, "workers.html", load)

    @router.get("/schedules", response_class=HTMLResponse)
    async def schedules(request: Request) -> Response:
        return await show(request, "schedules.html", pages.schedules)

    @router.get("/system", response_class=HTMLResponse)
    async def system(request: Request) -> Response:
        async def load(r: Reader) -> dict[str, Any]:
            context = await pages.system(r)
            try:
                async with source(request).writing() as (queries, _):
                    plan = await queries.plan_upgrade()
                context["differences"] = plan.differences
            except UNAVAILABLE:
                raise
            except Exception as exc:  # the page still shows the tables
                context["verify_error"] = f"{type(exc).__name__}: {exc}"
            return context

        return await show(request, "system.html", load)

    # -- actions ---------------------------------------------------------------------------

    async def act(
        request: Request, run: Callable[[dict[str, list[str]]], Awaitable[None]]
    ) -> Response:
        if not creds.configured:
            return problem(
                request,
                403,
                "Read-only",
                "Actions are off: set PGQUEUER_WEB_USER "
                "and PGQUEUER_WEB_PASSWORD (or PGQUEUER_WEB_TOKEN) to allow them.",
            )
        if (denied := await gate(request)) is not None:
            return denied
        if cross_site(request.headers, request.headers.get("host")):
            return problem(request, 403, "Refused", "Cross-site request refused.")
        try:
            form = await _form(request)
            await run(form)
        except BadRequest as exc:
            return problem(request, 400, "Bad request", str(exc))
        except UNAVAILABLE as exc:
            return problem(
                request, 503, "Database unavailable", f"Nothing was changed ({type(exc).__name__})."
            )
        # PgQueuer's answer (scripts, htmx) unless the page's own form names where to go back
        target = _local((form.get("next") or [""])[0])
        if request.headers.get("hx-request") or not target:
            return Response(status_code=204, headers={"HX-Refresh": "true"})
        return RedirectResponse(target, status_code=303)

    @router.post("/jobs/requeue")
    async def requeue(request: Request) -> Response:
        async def run(form: dict[str, list[str]]) -> None:
            ids = _ids(form.get("ids", []))
            async with source(request).writing() as (queries, _):
                done = await queries.requeue_jobs(ids)
            logger.info("pgq web: requeued %s", done)

        return await act(request, run)

    @router.post("/jobs/{job_id}/cancel")
    async def cancel(request: Request, job_id: str) -> Response:
        async def run(form: dict[str, list[str]]) -> None:
            number = _int(job_id, "job id", 0, 1, 2**63 - 1)
            async with source(request).writing() as (queries, _):
                await queries.mark_job_as_cancelled([number])

        return await act(request, run)

    @router.post("/entrypoints/{entrypoint}/requeue-failed")
    async def requeue_failed(request: Request, entrypoint: str) -> Response:
        async def run(form: dict[str, list[str]]) -> None:
            src = source(request)
            sql = src.names.substitute(
                load_blocks("pgqueuer_dashboard.sql", "web.sql")["failed_ids"]
            )
            async with src.writing() as (queries, conn):
                ids = [r["id"] for r in await conn.fetch(sql, entrypoint, REQUEUE_ALL_CAP)]
                if ids:
                    await queries.requeue_jobs(ids)

        return await act(request, run)

    @router.post("/schedules/{schedule_id}/remove")
    async def remove_schedule(request: Request, schedule_id: str) -> Response:
        async def run(form: dict[str, list[str]]) -> None:
            number = _int(schedule_id, "schedule id", 0, 1, 2**63 - 1)
            async with source(request).writing() as (queries, _):
                await queries.delete_schedule({number}, set())

        return await act(request, run)

    if include_sse:

        @router.get("/events", include_in_schema=False)
        async def events(request: Request) -> Response:
            if (denied := await gate(request)) is not None:
                return denied
            broadcaster: Broadcaster | None = getattr(
                request.app.state, "pgq_web_broadcaster", None
            )
            if broadcaster is None:
                return Response("live updates are not running\n", status_code=404)
            return StreamingResponse(
                broadcaster.stream(),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
            )

    return router
