"""queue, listen, failed, requeue, cancel, stale, workers, backlog, prune: as a user runs them."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest
from click.testing import CliRunner, Result

from pgqueuer.db import AsyncpgDriver
from pgqueuer.names import Names
from pgqueuer.queries import Finished, Queries
from pgqueuer_cli.main import cli

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def pgq(server, names):
    """``pgq --schema <test schema> ARGS`` in-process (called from a thread in async tests)."""

    def run(*args: str) -> Result:
        return CliRunner().invoke(
            cli, ["--schema", names.schema, *args], env={**server.env(), "PGQUEUER_TABLEFMT": ""}
        )

    run.schema = names.schema  # type: ignore[attr-defined]
    run.env = server.env()  # type: ignore[attr-defined]
    return run


async def call(pgq, *args: str) -> Result:
    return await asyncio.to_thread(pgq, *args)


async def test_queue_prints_the_id_and_stores_every_option(pgq, conn, names) -> None:
    r = await call(
        pgq,
        "queue",
        "email",
        "hello",
        "--priority",
        "5",
        "--delay",
        "60",
        "--dedupe-key",
        "k1",
        "--headers",
        '{"trace": "abc"}',
    )
    assert r.exit_code == 0, r.output
    job_id = int(r.stdout.split()[2].rstrip("."))
    row = await conn.fetchrow(
        names.substitute(
            "SELECT entrypoint, payload, priority, dedupe_key, headers->>'trace' AS trace, "
            "execute_after > now() + interval '50 seconds' AS later "
            "FROM /*@queue_table*/pgqueuer WHERE id = $1"
        ),
        job_id,
    )
    assert tuple(row) == ("email", b"hello", 5, "k1", "abc", True)


async def test_queue_duplicate_raise_exits_1_and_skip_exits_0(pgq) -> None:
    assert (await call(pgq, "queue", "email", "--dedupe-key", "k")).exit_code == 0
    r = await call(pgq, "queue", "email", "--dedupe-key", "k")
    assert r.exit_code == 1 and "Error: duplicate dedupe_key 'k'." in r.stderr
    r = await call(pgq, "queue", "email", "--dedupe-key", "k", "--on-conflict", "skip")
    assert r.exit_code == 0 and "Skipped: duplicate dedupe_key 'k'." in r.stdout


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["--headers", "{nope"], "not JSON"),
        (["--headers", "[1, 2]"], "must be a JSON object"),
        (["--delay", "-5"], "--delay"),
        (["--delay", "nan"], "not a finite number of seconds"),
        (["--delay", "inf"], "not a finite number of seconds"),
        (["--delay", "1e300"], "--delay"),
        (["--delay", "5", "--execute-after", "2030-01-01"], "either --delay or --execute-after"),
        (["--on-conflict", "ignore"], "--on-conflict"),
        (["--priority", "high"], "--priority"),
    ],
)
async def test_queue_bad_input_exits_2_with_one_line(pgq, conn, names, args, text) -> None:
    r = await call(pgq, "queue", "email", *args)
    assert r.exit_code == 2 and text in r.stderr and "Traceback" not in r.output
    count = await conn.fetchval(names.substitute("SELECT count(*) FROM /*@queue_table*/pgqueuer"))
    assert count == 0


async def test_failed_requeue_and_cancel(pgq, queries) -> None:
    me = uuid.uuid4()
    ids = await queries.enqueue(["a"] * 3, [b"xyz", None, None])
    await queries.finish_and_claim([], me, ["a"], [0], 1)
    await queries.finish_and_claim([Finished(ids[0], "failed")], me, [], [], 0)

    r = await call(pgq, "failed")
    assert r.exit_code == 0 and f"{ids[0]}" in r.stdout and "Payload bytes" in r.stdout
    assert r.stdout.startswith("+-"), r.stdout  # PgQueuer's default table format, "pretty"
    for env in ({"PGQUEUER_TABLEFMT": "plain"}, {"PGQUEUER_TABLEFMT": "", "TABLEFMT": "plain"}):
        r = await asyncio.to_thread(
            CliRunner().invoke, cli, ["--schema", pgq.schema, "failed"], env={**pgq.env, **env}
        )
        assert r.exit_code == 0 and r.stdout.split()[0] == "ID" and "+-" not in r.stdout, env
    data = json.loads((await call(pgq, "failed", "--json")).stdout)
    assert [(j["id"], j["payload_bytes"]) for j in data] == [(ids[0], 3)]

    r = await call(pgq, "requeue", str(ids[0]), str(ids[1]), "999999")
    assert r.exit_code == 0
    assert "Re-queued 1 job(s)." in r.stdout
    assert f"{ids[1]}, 999999" in r.stderr
    assert "No failed jobs." in (await call(pgq, "failed")).stdout

    r = await call(pgq, "cancel", str(ids[0]), str(ids[2]))
    assert r.exit_code == 0 and "Cancelled 2 job(s)." in r.stdout
    assert dict(await queries.job_status([ids[0], ids[2]])) == {
        ids[0]: "canceled",
        ids[2]: "canceled",
    }
    r = await call(pgq, "requeue", "abc")
    assert r.exit_code == 2


async def test_requeue_collision_is_one_line_exit_1(pgq, queries) -> None:
    me = uuid.uuid4()
    (job,) = await queries.enqueue("a", None, dedupe_key="k")
    await queries.finish_and_claim([], me, ["a"], [0], 1)
    await queries.finish_and_claim([Finished(job, "failed")], me, [], [], 0)
    await queries.enqueue("a", None, dedupe_key="k")
    r = await call(pgq, "requeue", str(job))
    assert r.exit_code == 1 and "dedupe key 'k'" in r.stderr and "Traceback" not in r.output


async def test_stale_workers_backlog(pgq, conn, names, queries) -> None:
    me = uuid.uuid4()
    assert "No stale jobs." in (await call(pgq, "stale")).stdout
    assert "No workers are holding picked jobs." in (await call(pgq, "workers")).stdout
    assert "No queued jobs." in (await call(pgq, "backlog")).stdout

    ids = await queries.enqueue(["a"] * 3 + ["b"], [None] * 4)
    await queries.finish_and_claim([], me, ["a"], [0], 2)
    await conn.execute(
        names.substitute(
            "UPDATE /*@queue_table*/pgqueuer SET heartbeat = now() - interval '10 minutes' "
            "WHERE id = $1"
        ),
        ids[0],
    )
    stale = json.loads((await call(pgq, "stale", "--json", "-t", "5m")).stdout)
    assert [s["id"] for s in stale] == [ids[0]] and stale[0]["seconds_since_heartbeat"] > 590
    assert str(ids[0]) in (await call(pgq, "stale")).stdout

    workers = json.loads((await call(pgq, "workers", "--json")).stdout)
    assert workers == [
        {
            "queue_manager_id": str(me),
            "host": None,  # holds jobs without a registry row (as a PgQueuer 1.6 worker)
            "pid": None,
            "jobs": 2,
            "oldest_heartbeat": workers[0]["oldest_heartbeat"],
            "newest_heartbeat": workers[0]["newest_heartbeat"],
            "started_at": None,
            "last_seen": None,
            "entrypoints": ["a"],
        }
    ]
    assert str(me) in (await call(pgq, "workers")).stdout

    backlog = json.loads((await call(pgq, "backlog", "--json")).stdout)
    assert [(b["entrypoint"], b["queued"], b["due"]) for b in backlog] == [("a", 1, 1), ("b", 1, 1)]
    assert "Oldest age (s)" in (await call(pgq, "backlog")).stdout


async def test_prune_deletes_old_rows_and_reports_them(pgq, conn, names, queries) -> None:
    me = uuid.uuid4()
    ids = await queries.enqueue(["a"] * 2, [None] * 2)
    await queries.finish_and_claim([], me, ["a"], [0], 2)
    await queries.finish_and_claim([Finished(i, "successful") for i in ids], me, [], [], 0)
    await queries.aggregate_logs()
    await conn.execute(
        names.substitute(
            "UPDATE /*@queue_table_log*/pgqueuer_log SET created = now() - interval '40 days'"
        )
    )
    r = await call(pgq, "prune", "--older-than", "30d")
    assert r.exit_code == 0 and "Deleted 2 log row(s)" in r.stdout
    r = await call(pgq, "prune", "--older-than", "soon")
    assert r.exit_code == 2 and "not a duration" in r.stderr


def test_missing_schema_is_one_line_naming_install(server) -> None:
    r = CliRunner().invoke(cli, ["--schema", "pgq_jobs_absent", "backlog"], env=server.env())
    assert r.exit_code == 1
    assert "pgq --schema pgq_jobs_absent install" in r.stderr and "Traceback" not in r.output


async def test_listen_prints_events_for_the_configured_prefix(
    server, conn: asyncpg.Connection, empty_schema: str
) -> None:
    names = Names.create(prefix="lsn_", schema=empty_schema)
    await Queries(AsyncpgDriver(conn), names).install()
    import os

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pgqueuer",
            "--prefix",
            "lsn_",
            "--schema",
            empty_schema,
            "listen",
            "--json",
            "--max-events",
            "1",
        ],
        cwd=REPO,
        env={**os.environ, **server.env()},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = await asyncio.to_thread(proc.stderr.readline)  # "Listening on ..."
        assert "lsn_ch_pgqueuer" in line
        await Queries(AsyncpgDriver(conn), names).enqueue("hello", None)
        out, _ = await asyncio.to_thread(proc.communicate, timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    event = json.loads(out.strip())
    assert event["type"] == "table_changed_event" and event["entrypoints"] == {"hello": 1}
    assert proc.returncode == 0


def test_listen_rejects_a_bad_channel(server, names) -> None:
    r = CliRunner().invoke(
        cli, ["--schema", names.schema, "listen", "--channel", "bad channel!"], env=server.env()
    )
    assert r.exit_code == 2 and "--channel" in r.stderr


def test_durations_parse() -> None:
    from pgqueuer_cli.commands.output import parse_duration

    assert parse_duration("90") == timedelta(seconds=90)
    assert parse_duration("15m") == timedelta(minutes=15)
    assert parse_duration("7d") == timedelta(days=7)
    with pytest.raises(ValueError):
        parse_duration("1y")
