"""queue, listen, failed, requeue, cancel, stale, workers, backlog, prune: the job commands."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from pgqueuer_cli.commands.options import Seconds
from pgqueuer_cli.db import run_db
from pgqueuer_cli.settings import Settings

if TYPE_CHECKING:
    import asyncpg

    from pgqueuer.queries import Queries

TABLEFMT_ENV = ("PGQUEUER_TABLEFMT", "TABLEFMT")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _queries(conn: asyncpg.Connection, settings: Settings) -> Queries:
    from pgqueuer.db import AsyncpgDriver
    from pgqueuer.queries import Queries

    return Queries(AsyncpgDriver(conn), settings.names)


def _table(rows: list[list[Any]], headers: list[str]) -> str:
    from pgqueuer_dashboard.render import table

    # PGQUEUER_TABLEFMT, then the legacy TABLEFMT; "pretty" is PgQueuer's default.
    fmt = next((os.environ[v] for v in TABLEFMT_ENV if os.environ.get(v)), "pretty")
    return table(rows, headers, fmt)


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return len(value)
    return value


def _print_json(value: Any) -> None:
    click.echo(json.dumps(_jsonable(value), indent=2))


def _when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _text(value: str, hint: str) -> str:
    """A value for a text column: not empty, no NUL, encodable as UTF-8 (exit 2 otherwise)."""
    if not value:
        raise click.BadParameter("must not be empty", param_hint=hint)
    if "\x00" in value:
        raise click.BadParameter("must not contain a NUL character", param_hint=hint)
    try:
        value.encode()
    except UnicodeEncodeError:
        raise click.BadParameter("is not valid UTF-8", param_hint=hint) from None
    return value


def _payload_bytes(payload: str) -> bytes:
    """The payload's bytes: UTF-8, and bytes of the command line that were not UTF-8 as they
    were (Python hands them over as surrogate escapes)."""
    try:
        return payload.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise click.BadParameter("is not valid UTF-8", param_hint="PAYLOAD") from None


def parse_duration(text: str) -> timedelta:
    """``90``, ``90s``, ``15m``, ``12h``, ``7d``, ``2w`` to a timedelta."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration: use e.g. 3600, 90s, 15m, 12h, 7d or 2w")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


class Duration(click.ParamType):  # type: ignore[type-arg]
    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, timedelta):
            return value
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


# -- producing ----------------------------------------------------------------------------


@click.command()
@click.argument("entrypoint")
@click.argument("payload", required=False)
@click.option(
    "--priority",
    type=click.IntRange(-(2**31), 2**31 - 1),
    default=0,
    show_default=True,
    help="Higher runs first.",
)
@click.option(
    "--delay",
    type=Seconds(min=0),
    default=None,
    help="Run no earlier than this many seconds from now.",
)
@click.option(
    "--execute-after",
    type=click.DateTime(),
    default=None,
    help="Run no earlier than this time (local time unless it has an offset).",
)
@click.option("--dedupe-key", default=None, help="At most one queued or running job per key.")
@click.option(
    "--on-conflict",
    type=click.Choice(["raise", "skip"]),
    default="raise",
    show_default=True,
    help="What a duplicate dedupe key does: exit 1, or skip (exit 0).",
)
@click.option("--headers", default=None, metavar="JSON", help="A JSON object stored with the job.")
@click.pass_obj
def queue(
    settings: Settings,
    entrypoint: str,
    payload: str | None,
    priority: int,
    delay: float | None,
    execute_after: datetime | None,
    dedupe_key: str | None,
    on_conflict: str,
    headers: str | None,
) -> None:
    """Enqueue one job for ENTRYPOINT; PAYLOAD is stored as UTF-8 bytes. Prints its id.

    \b
    Example:
      pgq queue send_email '{"to": "ada@example.com"}'
      pgq queue report --priority 5 --delay 60 --dedupe-key daily-report
    """
    from pgqueuer.errors import DuplicateJobError

    if delay is not None and execute_after is not None:
        raise click.UsageError("use either --delay or --execute-after, not both")
    _text(entrypoint, "ENTRYPOINT")
    if dedupe_key is not None:
        _text(dedupe_key, "--dedupe-key")
    data = _payload_bytes(payload) if payload is not None else None
    header_dict = None
    if headers is not None:
        try:
            header_dict = json.loads(headers)
        except ValueError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="--headers") from None
        if not isinstance(header_dict, dict):
            raise click.BadParameter("must be a JSON object", param_hint="--headers")
    wait = timedelta(seconds=delay) if delay is not None else None
    if execute_after is not None:
        when = execute_after if execute_after.tzinfo else execute_after.astimezone()
        wait = when - datetime.now(UTC)

    async def work(conn: asyncpg.Connection) -> int | None:
        try:
            ids = await _queries(conn, settings).enqueue(
                entrypoint,
                data,
                priority,
                wait,
                dedupe_key,
                header_dict,
                on_conflict="skip" if on_conflict == "skip" else "raise",
            )
        except DuplicateJobError:
            raise click.ClickException(f"duplicate dedupe_key {dedupe_key!r}.") from None
        first: int | None = ids[0]
        return first

    job_id = run_db(settings, work)
    if job_id is None:
        click.echo(f"Skipped: duplicate dedupe_key {dedupe_key!r}.")
    else:
        click.echo(f"Enqueued job {job_id}.")


@click.command()
@click.option("--channel", default=None, help="Channel to listen on [default: the queue's].")
@json_option
@click.option("--max-events", type=click.IntRange(min=1), default=None, hidden=True)
@click.pass_obj
def listen(settings: Settings, channel: str | None, as_json: bool, max_events: int | None) -> None:
    """Print the queue's notifications as they arrive, one line each, until Ctrl-C.

    \b
    Example:
      pgq listen
      pgq --prefix billing_ listen --json
    """
    from pgqueuer.models import parse_event
    from pgqueuer.names import Names

    target = channel or settings.names.channel
    if channel is not None:
        try:
            Names.create(channel=channel)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--channel") from None

    async def work(conn: asyncpg.Connection) -> None:
        events: asyncio.Queue[str] = asyncio.Queue()
        await conn.add_listener(target, lambda *args: events.put_nowait(str(args[3])))
        click.echo(f"Listening on {target!r} (Ctrl-C to stop).", err=True)
        seen = 0
        while max_events is None or seen < max_events:
            payload = await events.get()
            seen += 1
            event = parse_event(payload)
            if as_json:
                click.echo(payload if event is None else json.dumps(_jsonable(event)))
            else:
                click.echo(repr(event) if event is not None else payload)

    try:
        run_db(settings, work)
    except KeyboardInterrupt:
        pass


# -- inspecting and repairing -------------------------------------------------------------


@click.command()
@click.option("-n", "--limit", type=click.IntRange(min=1), default=25, show_default=True)
@json_option
@click.pass_obj
def failed(settings: Settings, limit: int, as_json: bool) -> None:
    """List held jobs (status failed), newest first.

    \b
    Example:
      pgq failed -n 50
      pgq failed --json
    """

    async def work(conn: asyncpg.Connection) -> list[Any]:
        return await _queries(conn, settings).list_failed_jobs(limit=limit)

    jobs = run_db(settings, work)
    if as_json:
        _print_json(
            [
                {**_jsonable(j), "payload_bytes": len(j.payload or b""), "payload": None}
                for j in jobs
            ]
        )
        return
    if not jobs:
        click.echo("No failed jobs.")
        return
    rows = [[j.id, j.entrypoint, j.attempts, _when(j.created), len(j.payload or b"")] for j in jobs]
    click.echo(_table(rows, ["ID", "Entrypoint", "Attempts", "Created", "Payload bytes"]))


@click.command()
@click.argument("ids", nargs=-1, required=True, type=click.IntRange(min=1))
@click.pass_obj
def requeue(settings: Settings, ids: tuple[int, ...]) -> None:
    """Queue held (failed) jobs IDS again, due now, with their attempts reset.

    \b
    Example:
      pgq requeue 17 18 42
    """
    from pgqueuer.errors import DuplicateJobError

    async def work(conn: asyncpg.Connection) -> list[int]:
        try:
            return list(await _queries(conn, settings).requeue_jobs(ids))
        except DuplicateJobError as exc:
            raise click.ClickException(
                f"cannot re-queue: another job with dedupe key {exc.dedupe_key!r} is queued or "
                "running; cancel it or wait for it"
            ) from None

    done = run_db(settings, work)
    click.echo(f"Re-queued {len(done)} job(s).")
    missed = [i for i in ids if i not in set(done)]
    if missed:
        click.echo(f"Not re-queued (no such failed job): {', '.join(map(str, missed))}", err=True)


@click.command()
@click.argument("ids", nargs=-1, required=True, type=click.IntRange(min=1))
@click.pass_obj
def cancel(settings: Settings, ids: tuple[int, ...]) -> None:
    """Cancel queued or running jobs IDS (running handlers are interrupted where they allow it).

    \b
    Example:
      pgq cancel 17 18
    """

    async def work(conn: asyncpg.Connection) -> list[int]:
        return list(await _queries(conn, settings).mark_job_as_cancelled(ids))

    done = run_db(settings, work)
    click.echo(f"Cancelled {len(done)} job(s).")
    missed = [i for i in ids if i not in set(done)]
    if missed:
        click.echo(
            f"Not cancelled (not queued or running): {', '.join(map(str, missed))}", err=True
        )


@click.command()
@click.option(
    "-t",
    "--threshold",
    type=Duration(),
    default="300",
    show_default=True,
    help="How long without a heartbeat (e.g. 300, 5m).",
)
@click.option("-n", "--limit", type=click.IntRange(min=1), default=25, show_default=True)
@json_option
@click.pass_obj
def stale(settings: Settings, threshold: timedelta, limit: int, as_json: bool) -> None:
    """List running jobs whose worker has not sent a heartbeat for THRESHOLD.

    \b
    Example:
      pgq stale -t 2m
    """

    async def work(conn: asyncpg.Connection) -> list[Any]:
        return await _queries(conn, settings).stale_jobs(threshold, limit)

    jobs = run_db(settings, work)
    if as_json:
        _print_json(jobs)
        return
    if not jobs:
        click.echo("No stale jobs.")
        return
    rows = [
        [
            j.id,
            j.entrypoint,
            j.queue_manager_id,
            _when(j.heartbeat),
            round(j.seconds_since_heartbeat),
        ]
        for j in jobs
    ]
    click.echo(
        _table(rows, ["ID", "Entrypoint", "Queue manager", "Heartbeat", "Seconds since heartbeat"])
    )


@click.command()
@json_option
@click.pass_obj
def workers(settings: Settings, as_json: bool) -> None:
    """List the workers holding running jobs.

    \b
    Example:
      pgq workers --json
    """

    async def work(conn: asyncpg.Connection) -> list[Any]:
        return await _queries(conn, settings).active_workers()

    found = run_db(settings, work)
    if as_json:
        _print_json(found)
        return
    if not found:
        click.echo("No workers are holding picked jobs.")
        return
    rows = [
        [
            w.queue_manager_id,
            w.jobs,
            _when(w.oldest_heartbeat),
            _when(w.newest_heartbeat),
            ", ".join(w.entrypoints),
        ]
        for w in found
    ]
    click.echo(
        _table(
            rows,
            ["Queue manager", "Picked jobs", "Oldest heartbeat", "Newest heartbeat", "Entrypoints"],
        )
    )


@click.command()
@json_option
@click.pass_obj
def backlog(settings: Settings, as_json: bool) -> None:
    """Queued jobs per entrypoint: how many, how many are due, how old.

    \b
    Example:
      pgq backlog
    """

    async def work(conn: asyncpg.Connection) -> list[Any]:
        return await _queries(conn, settings).backlog()

    found = run_db(settings, work)
    if as_json:
        _print_json(found)
        return
    if not found:
        click.echo("No queued jobs.")
        return
    rows = [
        [
            b.entrypoint,
            b.queued,
            b.due,
            _when(b.oldest_created),
            round(b.oldest_age_seconds, 1),
            round(b.average_age_seconds, 1),
        ]
        for b in found
    ]
    click.echo(
        _table(
            rows,
            ["Entrypoint", "Queued", "Due", "Oldest created", "Oldest age (s)", "Average age (s)"],
        )
    )


@click.command()
@click.option(
    "--older-than",
    type=Duration(),
    required=True,
    help="Delete log and statistics rows older than this (e.g. 7d, 12h, 3600).",
)
@click.pass_obj
def prune(settings: Settings, older_than: timedelta) -> None:
    """Delete old rows from the job log and the statistics (workers also prune after 7 days).

    \b
    Example:
      pgq prune --older-than 30d
    """

    async def work(conn: asyncpg.Connection) -> tuple[int, int]:
        queries = _queries(conn, settings)
        await queries.aggregate_logs()
        log_total = stats_total = 0
        while True:
            log_rows, stats_rows = await queries.prune(older_than)
            log_total += log_rows
            stats_total += stats_rows
            if not log_rows and not stats_rows:
                return log_total, stats_total

    log_rows, stats_rows = run_db(settings, work)
    click.echo(f"Deleted {log_rows} log row(s) and {stats_rows} statistics row(s).")


@click.command()
@click.option(
    "-r",
    "--remove",
    multiple=True,
    metavar="ID|NAME",
    help="Delete the schedule with this id, or every schedule of this entrypoint "
    "(repeatable); then list what is left.",
)
@json_option
@click.pass_obj
def schedules(settings: Settings, remove: tuple[str, ...], as_json: bool) -> None:
    """List the cron schedules, with their next and last run.

    \b
    Example:
      pgq schedules
      pgq schedules --remove 3 --remove nightly_report
    """
    from pgqueuer.db import AsyncpgDriver
    from pgqueuer.sm import ScheduleQueries

    ids = [int(r) for r in remove if r.isdigit()]
    names = [r for r in remove if not r.isdigit()]

    async def work(conn: asyncpg.Connection) -> tuple[list[int], list[Any]]:
        queries = ScheduleQueries(AsyncpgDriver(conn), settings.names)
        try:
            gone = await queries.delete(ids, names) if remove else []
            return gone, await queries.list_all()
        except asyncpg_errors() as exc:
            raise _queries(conn, settings)._missing(exc) from exc

    gone, found = run_db(settings, work)
    if remove:
        click.echo(f"Removed {len(gone)} schedule(s).", err=True)
    if as_json:
        _print_json(found)
        return
    from pgqueuer_dashboard.render import NO_SCHEDULES, SCHEDULE_HEADERS, schedule_rows

    if not found:
        click.echo(NO_SCHEDULES)
        return
    click.echo(_table(schedule_rows(found), SCHEDULE_HEADERS))


def asyncpg_errors() -> tuple[type[Exception], ...]:
    import asyncpg

    return (asyncpg.UndefinedTableError, asyncpg.UndefinedObjectError)


COMMANDS = [queue, listen, failed, requeue, cancel, stale, workers, backlog, prune, schedules]
