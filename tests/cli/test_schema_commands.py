"""pgq schema commands driven as a user would: arguments in, exit code and streams out."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import pgqueuer_schema as schema
from pgqueuer.names import Names
from pgqueuer_cli.main import cli

SNAPSHOTS = Path(__file__).parent.parent / "schema" / "snapshots"


@pytest.fixture
def pgq(server):
    """Run ``pgq ARGS`` in-process against the test server; returns click's Result."""

    def run(*args: str, env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), env={**server.env(), **(env or {})})

    return run


def test_install_verify_uninstall_cycle(pgq, empty_schema):
    r = pgq("--schema", empty_schema, "install")
    assert r.exit_code == 0, r.output
    assert "Installed PgQueuer schema (durability=durable)." in r.stderr
    r = pgq("--schema", empty_schema, "verify")
    assert r.exit_code == 0, r.output
    assert r.stdout == "All required PgQueuer database objects are present.\n"
    r = pgq("--schema", empty_schema, "uninstall")
    assert r.exit_code == 0 and "Uninstalled PgQueuer schema." in r.stderr
    r = pgq("--schema", empty_schema, "verify", "--expect", "absent")
    assert r.exit_code == 0 and "No PgQueuer database objects found." in r.stdout
    r = pgq("--schema", empty_schema, "uninstall")
    assert r.exit_code == 0
    assert "Nothing to uninstall: PgQueuer is not installed" in r.stderr
    assert "Uninstalled" not in r.stderr


def test_upgrade_of_an_empty_database_says_it_installed(pgq, empty_schema):
    r = pgq("--schema", empty_schema, "upgrade")
    assert r.exit_code == 0, r.output
    assert "Installed PgQueuer schema (1 statement): nothing was installed" in r.stderr
    r = pgq("--schema", empty_schema, "verify")
    assert r.exit_code == 0, r.output
    r = pgq("--schema", empty_schema, "upgrade")
    assert r.exit_code == 0 and "already up to date" in r.stderr


def test_second_install_exits_1_and_says_upgrade(pgq, names):
    r = pgq("--schema", names.schema, "install")
    assert r.exit_code == 1
    assert "already installed" in r.stderr and "pgq upgrade" in r.stderr
    assert "Traceback" not in r.output


async def test_install_with_prefix_and_env_schema(pgq, conn, empty_schema):
    r = await asyncio.to_thread(
        pgq, "--prefix", "foo_", "install", env={"PGQUEUER_SCHEMA": empty_schema}
    )
    assert r.exit_code == 0, r.output
    rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = $1", empty_schema)
    assert {r["tablename"] for r in rows} == {
        "foo_pgqueuer",
        "foo_pgqueuer_log",
        "foo_pgqueuer_statistics",
        "foo_pgqueuer_schedules",
        "foo_pgqueuer_workers",
    }
    r = await asyncio.to_thread(pgq, "--prefix", "foo_", "--schema", empty_schema, "verify")
    assert r.exit_code == 0, r.output
    r = await asyncio.to_thread(pgq, "--schema", empty_schema, "verify")  # no unprefixed install
    assert r.exit_code == 1 and "missing table 'pgqueuer'" in r.stdout


def test_install_volatile_then_verify_against_level(pgq, empty_schema):
    assert pgq("--schema", empty_schema, "install", "-d", "volatile").exit_code == 0
    assert pgq("--schema", empty_schema, "verify", "--durability", "volatile").exit_code == 0
    r = pgq("--schema", empty_schema, "verify", "--durability", "durable")
    assert r.exit_code == 1
    assert "table 'pgqueuer' is UNLOGGED, expected logged for durability 'durable'" in r.stdout


def test_verify_lists_each_difference_and_exits_1(pgq, conn_sync_drop_index, names):
    r = pgq("--schema", names.schema, "verify")
    assert r.exit_code == 1
    assert r.stdout.splitlines() == ["missing index 'pgqueuer_picked_heartbeat_idx'"]


@pytest.fixture
async def conn_sync_drop_index(conn, names):
    await conn.execute(f'DROP INDEX "{names.schema}".pgqueuer_picked_heartbeat_idx')


@pytest.fixture
async def legacy_schema(conn, empty_schema):
    sql = (SNAPSHOTS / "pgqueuer_1_6.sql").read_text()
    async with conn.transaction():
        await conn.execute(f'SET LOCAL search_path TO "{empty_schema}"')
        await conn.execute(sql)
    return empty_schema


def test_upgrade_plan_prints_and_changes_nothing(pgq, legacy_schema):
    before = pgq("--schema", legacy_schema, "verify").stdout
    r = pgq("--schema", legacy_schema, "upgrade", "--plan")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("-- Upgrade plan for this database only")
    assert "DROP INDEX" in r.stdout and "CREATE" in r.stdout
    assert "Would apply" in r.stderr
    assert pgq("--schema", legacy_schema, "verify").stdout == before


def test_upgrade_applies_then_reports_up_to_date(pgq, legacy_schema):
    r = pgq("--schema", legacy_schema, "upgrade")
    assert r.exit_code == 0, r.output
    assert "Applied" in r.stderr
    assert pgq("--schema", legacy_schema, "verify").exit_code == 0
    r = pgq("--schema", legacy_schema, "upgrade")
    assert r.exit_code == 0 and "already up to date" in r.stderr
    r = pgq("--schema", legacy_schema, "upgrade", "--plan")
    assert r.exit_code == 0 and r.stdout == "" and "already up to date" in r.stderr


async def test_upgrade_refuses_unconvertible_type(conn, names, server):
    q = names.qualify(names.queue_table)
    await conn.execute(
        f"ALTER TABLE {q} ALTER COLUMN entrypoint TYPE bytea USING entrypoint::bytea"
    )
    r = await asyncio.to_thread(
        CliRunner().invoke, cli, ["--schema", names.schema, "upgrade"], env=server.env()
    )
    assert r.exit_code == 1
    assert "entrypoint is bytea, expected text" in r.stderr
    assert "Traceback" not in r.output
    r = await asyncio.to_thread(
        CliRunner().invoke, cli, ["--schema", names.schema, "upgrade", "--plan"], env=server.env()
    )
    assert r.exit_code == 1


def test_durability_round_trip_and_dry_run(pgq, names):
    r = pgq("--schema", names.schema, "durability", "balanced", "--dry-run")
    assert r.exit_code == 0
    assert "SET UNLOGGED" in r.stdout and "pgqueuer_log" in r.stdout
    assert pgq("--schema", names.schema, "verify", "-d", "durable").exit_code == 0  # unchanged
    r = pgq("--schema", names.schema, "alter-durability", "balanced")
    assert r.exit_code == 0 and "Set PgQueuer durability to balanced." in r.stderr
    assert pgq("--schema", names.schema, "verify", "-d", "balanced").exit_code == 0
    r = pgq("--schema", names.schema, "durability", "balanced")
    assert r.exit_code == 0 and "already balanced" in r.stderr
    assert pgq("--schema", names.schema, "durability", "durable").exit_code == 0


def test_autovac_apply_dry_run_and_rollback(pgq, names):
    r = pgq("--schema", names.schema, "autovac", "--dry-run")
    assert r.exit_code == 0 and "fillfactor = 70" in r.stdout
    r = pgq("--schema", names.schema, "autovac")
    assert r.exit_code == 0 and "Applied autovacuum settings." in r.stderr
    r = pgq("--schema", names.schema, "autovac", "--rollback")
    assert r.exit_code == 0 and "Reset" in r.stderr


def test_commands_on_missing_schema_say_install(pgq, empty_schema):
    for args in (["durability", "volatile"], ["autovac"]):
        r = pgq("--schema", empty_schema, *args)
        assert r.exit_code == 1, args
        assert f"pgq --schema {empty_schema} install" in r.stderr, r.stderr
        assert "pip install pgqueuer-schema" in r.stderr  # the way without the CLI


# -- sql: printed without connecting -------------------------------------------------------

UNREACHABLE = {"PGQUEUER_DSN": "postgresql://nobody:pw@127.0.0.1:1/none"}


@pytest.mark.parametrize(
    "args",
    [
        ["sql", "install"],
        ["sql", "install", "-d", "volatile", "--no-create-schema"],
        ["sql", "uninstall"],
        ["sql", "upgrade"],
        ["sql", "upgrade", "--no-widen-id"],
        ["sql", "durability", "balanced"],
        ["sql", "autovac"],
        ["sql", "autovac", "--rollback"],
    ],
)
def test_sql_commands_print_without_connecting(args):
    r = CliRunner().invoke(cli, ["--schema", "jobs", "--prefix", "x_", *args], env=UNREACHABLE)
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("-- pgqueuer ")
    assert '"jobs"."x_pgqueuer' in r.stdout
    again = CliRunner().invoke(cli, ["--schema", "jobs", "--prefix", "x_", *args], env=UNREACHABLE)
    assert again.stdout == r.stdout  # deterministic


def test_sql_install_create_schema_flag(pgq):
    r = pgq("--schema", "jobs", "sql", "install")
    assert r.exit_code == 0
    assert 'CREATE SCHEMA IF NOT EXISTS "jobs"' in r.stdout
    r = pgq("--schema", "jobs", "sql", "install", "--no-create-schema")
    assert "CREATE SCHEMA" not in r.stdout


async def test_sql_install_script_really_installs(conn, empty_schema, server):
    r = CliRunner().invoke(cli, ["--schema", empty_schema, "sql", "install"])
    await conn.execute(r.stdout)
    assert await schema.verify(conn, Names.create(schema=empty_schema)) == []
    r = CliRunner().invoke(cli, ["--schema", empty_schema, "sql", "uninstall"])
    await conn.execute(r.stdout)
    assert await schema.verify(conn, Names.create(schema=empty_schema), expect="absent") == []


# -- bad input --------------------------------------------------------------------------------

HOSTILE = ["Robert'); DROP TABLE x; --", 'a"b', "a b", "x;y", "1abc", "é", "a" * 64, "sch.ema"]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("option", ["--prefix", "--schema"])
def test_invalid_names_exit_2_before_any_sql(option, value):
    r = CliRunner().invoke(cli, [option, value, "install"], env=UNREACHABLE)
    assert r.exit_code == 2, r.output
    assert "invalid" in r.stderr and "Traceback" not in r.output
    # exit 2 came from validation, not from a failed connection (which would be exit 1)
    assert "cannot connect" not in r.stderr


@pytest.mark.parametrize(
    "var", ["PGQUEUER_QUEUE_TABLE", "PGQUEUER_TRIGGER", "PGQUEUER_CHANNEL", "PGQUEUER_PREFIX"]
)
def test_invalid_env_override_exits_2(var):
    r = CliRunner().invoke(cli, ["sql", "install"], env={var: "bad name;"})
    assert r.exit_code == 2
    assert "invalid" in r.stderr


def test_prefix_too_long_for_derived_names_exits_2():
    r = CliRunner().invoke(cli, ["--prefix", "p" * 40, "sql", "install"])
    assert r.exit_code == 2
    assert "derived name" in r.stderr and "63" in r.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["install", "--durability", "forever"],
        ["durability", "sometimes"],
        ["sql", "durability", "x"],
        ["verify", "--expect", "maybe"],
        ["install", "--no-such-option"],
        ["no-such-command"],
        [],
    ],
)
def test_usage_errors_exit_2(args):
    r = CliRunner().invoke(cli, args, env=UNREACHABLE)
    assert r.exit_code == 2, r.output


def test_unreachable_server_is_one_line_exit_1_without_password():
    r = CliRunner().invoke(cli, ["--pg-dsn", "postgresql://me:s3cret@127.0.0.1:1/db", "verify"])
    assert r.exit_code == 1
    assert r.stderr.startswith("Error: cannot connect to PostgreSQL at 127.0.0.1:1/db")
    assert len(r.stderr.strip().splitlines()) == 1
    assert "s3cret" not in r.output


def _with(dsn: str, **parts: str) -> str:
    """The DSN with its user or database replaced (host and query kept)."""
    from urllib.parse import urlsplit, urlunsplit

    u = urlsplit(dsn)
    user = parts.get("user", u.username or "")
    host = u.netloc.rpartition("@")[2]
    return urlunsplit(
        (u.scheme, f"{user}@{host}", "/" + parts.get("db", u.path.lstrip("/")), u.query, "")
    )


def test_failed_authentication_is_one_line(server):
    if server.dsn:
        dsn = _with(server.dsn, user="no_such_role_pgq:s3cret")
        r = CliRunner().invoke(cli, ["--pg-dsn", dsn, "verify"])
    else:
        env = {"PGUSER": "no_such_role_pgq", "PGPASSWORD": "s3cret"}
        r = CliRunner().invoke(cli, ["verify"], env=env)
    assert r.exit_code == 1
    assert r.stderr.startswith("Error: ") and "no_such_role_pgq" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert "s3cret" not in r.output and "Traceback" not in r.output


def test_missing_database_is_one_line(server):
    if server.dsn:
        r = CliRunner().invoke(cli, ["--pg-dsn", _with(server.dsn, db="no_such_db_pgq"), "verify"])
    else:
        r = CliRunner().invoke(cli, ["verify"], env={"PGDATABASE": "no_such_db_pgq"})
    assert r.exit_code == 1
    assert r.stderr.startswith("Error: database does not exist")
    assert "Traceback" not in r.output


# -- help, version, entry points ------------------------------------------------------------------


def _all_commands():
    out = []
    for name, command in cli.commands.items():
        out.append([name])
        if hasattr(command, "commands"):
            out.extend([name, sub] for sub in command.commands)
    return out


@pytest.mark.parametrize("path", _all_commands(), ids=lambda p: " ".join(p))
def test_every_command_has_help_with_an_example_or_summary(path):
    r = CliRunner().invoke(cli, [*path, "-h"])
    assert r.exit_code == 0
    assert "Usage: " in r.stdout
    summary = r.stdout.split("\n\n")[1].strip()
    assert summary and summary[0].isupper()


def test_version():
    r = CliRunner().invoke(cli, ["--version"])
    assert r.exit_code == 0 and r.stdout.startswith("pgq, version ")


@pytest.mark.parametrize("argv", [["pgq"], [sys.executable, "-m", "pgqueuer"]])
def test_entry_points_run_the_same_cli(argv):
    import shutil

    if argv[0] == "pgq":
        found = shutil.which("pgq", path=str(Path(sys.executable).parent))
        assert found, "pgq console script is not installed next to this Python"
        argv = [found]
    out = subprocess.run([*argv, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "install" in out.stdout and "verify" in out.stdout


def test_bare_pgq_prints_help_and_exits_2():
    out = subprocess.run(
        [sys.executable, "-m", "pgqueuer"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2
    assert "Usage:" in out.stdout + out.stderr


@pytest.mark.parametrize(
    "dsn",
    [
        "host=127.0.0.1 port=1 password=s3cret dbname=x",
        "me:s3cret@127.0.0.1:1/db",
        "postgresql://me:s3cret@127.0.0.1:1/db?sslmode=bogus",
    ],
)
def test_malformed_dsn_never_prints_the_password(dsn):
    r = CliRunner().invoke(cli, ["--pg-dsn", dsn, "verify"])
    assert r.exit_code in (1, 2)
    assert r.stderr.startswith("Error:") and "Traceback" not in r.output
    assert "s3cret" not in r.output
