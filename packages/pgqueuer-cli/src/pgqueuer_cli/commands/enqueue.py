"""Producing and watching: ``pgq queue`` and ``pgq listen``."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import click

from pgqueuer_cli.commands.options import Seconds
from pgqueuer_cli.db import run_db
from pgqueuer_cli.settings import Settings

if TYPE_CHECKING:
    import asyncpg

from pgqueuer_cli.commands.output import (
    json_option,
    jsonable,
    payload_bytes,
    queries_for,
    text_value,
)


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
    text_value(entrypoint, "ENTRYPOINT")
    if dedupe_key is not None:
        text_value(dedupe_key, "--dedupe-key")
    data = payload_bytes(payload) if payload is not None else None
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
            ids = await queries_for(conn, settings).enqueue(
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
                click.echo(payload if event is None else json.dumps(jsonable(event)))
            else:
                click.echo(repr(event) if event is not None else payload)

    try:
        run_db(settings, work)
    except KeyboardInterrupt:
        pass


COMMANDS = [queue, listen]
