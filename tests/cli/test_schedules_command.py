"""pgq schedules: list, remove by id and by name, JSON, empty and missing schema."""

from __future__ import annotations

import asyncio
import json

from click.testing import CliRunner

from pgqueuer.db import AsyncpgDriver
from pgqueuer.sm import ScheduleQueries
from pgqueuer_cli.main import cli


async def test_list_remove_and_json(server, conn, names) -> None:
    def pgq(*args: str):
        return CliRunner().invoke(cli, ["--schema", names.schema, *args], env=server.env())

    r = await asyncio.to_thread(pgq, "schedules")
    assert r.exit_code == 0 and "No schedules." in r.stdout
    queries = ScheduleQueries(AsyncpgDriver(conn), names)
    now = await queries.db_now()
    await queries.rows(
        "insert_schedules", ["* * * * *", "0 3 * * *", "0 4 * * *"], ["a", "b", "b"], [now] * 3
    )
    r = await asyncio.to_thread(pgq, "schedules")
    assert r.exit_code == 0 and "0 3 * * *" in r.stdout and "Next run" in r.stdout
    data = json.loads((await asyncio.to_thread(pgq, "schedules", "--json")).stdout)
    ids = {d["entrypoint"]: d["id"] for d in data}
    r = await asyncio.to_thread(pgq, "schedules", "-r", str(ids["a"]), "--remove", "b", "--json")
    assert r.exit_code == 0 and "Removed 3 schedule(s)." in r.stderr
    assert json.loads(r.stdout) == []


def test_missing_schema_is_one_line(server) -> None:
    r = CliRunner().invoke(cli, ["--schema", "pgq_sched_absent", "schedules"], env=server.env())
    assert r.exit_code == 1
    assert "pgq --schema pgq_sched_absent install" in r.stderr and "Traceback" not in r.output


async def test_schedules_and_dashboard_show_the_same_columns_and_renderings(
    server, conn, names
) -> None:
    def pgq(*args: str):
        return CliRunner().invoke(
            cli,
            ["--schema", names.schema, *args],
            env={**server.env(), "PGQUEUER_TABLEFMT": "plain"},
        )

    queries = ScheduleQueries(AsyncpgDriver(conn), names)
    now = await queries.db_now()
    await queries.rows("insert_schedules", ["0 3 * * *", "*/5 * * * *"], ["n", "m"], [now] * 2)
    listed = (await asyncio.to_thread(pgq, "schedules")).stdout.splitlines()
    board = (await asyncio.to_thread(pgq, "dashboard", "--table-format", "plain")).stdout
    section = board.split("Schedules\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert listed[0].split() == [
        "ID",
        "Entrypoint",
        "Expression",
        "Status",
        "Next",
        "run",
        "Last",
        "run",
    ]
    assert section == listed  # same order, same widths, same rendering of every cell
    assert all(line.rstrip().endswith("-") for line in listed[1:])  # never ran: "-" in both
