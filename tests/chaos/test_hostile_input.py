"""Hostile input, property-based: CLI arguments, prefixes, schema names, entrypoints, channels.

For every input hypothesis draws: no traceback and no exception escaping the command (exit
0, 1 or 2 only); exit 2 where a name is refused, before anything is sent to the server; and no
SQL is ever built from an unvalidated identifier.

The last one is checked on the statements themselves. ``pgq sql install`` prints its SQL, and
for the commands that connect every statement the client sends is recorded with asyncpg's
query logger (``Connection.add_query_logger``, asyncpg 0.29+), added to each connection the CLI
opens in-process. A server-side statement log (log_statement, pg_stat_statements) would need
the server's configuration and log files, which neither the shared server nor an embedded
one gives to a test. Each statement is then reduced to its skeleton: comments dropped,
string literals and double-quoted identifiers masked. The skeleton must be the same for every
accepted input (the names cannot change the statement's structure), every quoted identifier
must be a validated name (lower case, ``[a-z_][a-z0-9_]*``), every literal plain, and values
(entrypoints, payloads) must never appear in the SQL text, only among the parameters.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from click.testing import CliRunner, Result
from conftest import Server
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from pgqueuer.errors import InvalidIdentifierError
from pgqueuer.names import Names
from pgqueuer_cli.main import cli

pytestmark = pytest.mark.slow

FAST = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
WITH_DB = settings(FAST, max_examples=100)

HOSTILE = [
    "",
    " ",
    "a b",
    "x;DROP TABLE t",
    'x"; DROP SCHEMA public CASCADE; --',
    "x'); DROP TABLE t; --",
    "$$",
    "$1",
    "/*",
    "*/",
    "--",
    "a.b",
    "a.b.c",
    ".",
    "é",
    "ünïcode",
    "Ωmega",
    "x\\y",
    "x\ny",
    "x\ty",
    "%s",
    "{x}",
    "a" * 64,
    "A" * 50,
    "1abc",
    "_",
    "pg_catalog",
    "public",
    "\u200b",
    "x\udcff",
]

names_text = st.one_of(
    st.sampled_from(HOSTILE),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,24}", fullmatch=True),
    st.text(max_size=30),
    st.text(alphabet="aZ_9.-;'\" $\\", max_size=20),
)
value_text = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(min_size=1, max_size=60),  # NUL and lone surrogates included
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=200),
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=200),
)

_COMMENT = re.compile(r"--[^\n]*")
_LITERAL = re.compile(r"'(?:[^']|'')*'")
_QUOTED = re.compile(r'"(?:[^"]|"")*"')
_VALID_QUOTED = re.compile(r'"[a-z_][a-z0-9_]*"')
_NAME_LITERAL = re.compile(r"'[A-Za-z0-9_.\-\"]*'")  # a (validated) name as a string


def skeleton(sql: str) -> str:
    """The statement with comments dropped and literals and quoted identifiers masked."""
    text = _COMMENT.sub("", sql)
    text = _LITERAL.sub("'L'", text)
    return _QUOTED.sub('"I"', text)


def literals(statements: list[str]) -> set[str]:
    return {lit for sql in statements for lit in _LITERAL.findall(_COMMENT.sub("", sql))}


def check_sql(sql: str, known_literals: set[str]) -> None:
    """Every literal is one the reference statements have, or a plain name; every quoted
    identifier a validated name."""
    body = _COMMENT.sub("", sql)
    for literal in _LITERAL.findall(body):
        assert literal in known_literals or _NAME_LITERAL.fullmatch(literal), (
            f"literal {literal!r} in {sql[:200]!r}"
        )
    for quoted in _QUOTED.findall(_LITERAL.sub("''", body)):
        assert _VALID_QUOTED.fullmatch(quoted), f"identifier {quoted!r} in {sql[:200]!r}"


def accepted(prefix: str = "", schema: str | None = None, **overrides: str) -> Names | None:
    try:
        return Names.create(prefix=prefix, schema=schema, **overrides)
    except (InvalidIdentifierError, ValueError):
        return None


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(cli, list(args), env=env)
    assert result.exit_code in (0, 1, 2), (args, result.exit_code, result.output)
    assert "Traceback" not in result.output, (args, result.output)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"pgq {args!r} raised {result.exception!r}") from result.exception
    return result


class StatementLog:
    """Every SQL text sent on the connections the CLI opens in this process."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self._real = asyncpg.connect
        self.real_connect = asyncpg.connect  # for the test's own connections

    async def _connect(self, *args: Any, **kwargs: Any) -> asyncpg.Connection:
        conn = await self._real(*args, **kwargs)
        conn.add_query_logger(lambda record: self.statements.append(record.query))
        return conn

    @contextlib.contextmanager
    def recording(self) -> Iterator[list[str]]:
        self.statements = []
        asyncpg.connect = self._connect  # type: ignore[assignment]
        try:
            yield self.statements
        finally:
            asyncpg.connect = self._real  # type: ignore[assignment]


# -- without a database ----------------------------------------------------------------------


@FAST
@given(prefix=names_text, schema=names_text)
def test_prefix_and_schema_are_validated_or_refused_with_exit_2(prefix: str, schema: str) -> None:
    result = invoke(f"--prefix={prefix}", f"--schema={schema}", "sql", "install")
    names = accepted(prefix, schema or None)
    if names is None:
        assert result.exit_code == 2 and result.stdout == "", result.output
        assert "invalid" in result.stderr
        return
    assert result.exit_code == 0, result.output
    reference = invoke("--prefix=ref_", f"--schema={'ref' if schema else ''}", "sql", "install")
    assert skeleton(result.stdout) == skeleton(reference.stdout)
    check_sql(result.stdout, literals([reference.stdout]))


@FAST
@given(field=st.sampled_from(["QUEUE_TABLE", "QUEUE_TABLE_LOG", "FUNCTION", "TRIGGER", "CHANNEL"]),
       value=names_text)  # fmt: skip
def test_name_overrides_from_the_environment_are_validated(field: str, value: str) -> None:
    if "\x00" in value:
        return  # an environment variable cannot hold NUL
    result = invoke("sql", "install", env={f"PGQUEUER_{field}": value})
    names = accepted(**{field.lower(): value or None})  # type: ignore[arg-type]
    if names is None:
        assert result.exit_code == 2, result.output
        return
    assert result.exit_code == 0, result.output
    check_sql(result.stdout, literals([invoke("sql", "install").stdout]))


OFFLINE = {"PGQUEUER_DSN": "postgresql://nobody@127.0.0.1:1/none", "PGCONNECT_TIMEOUT": "2"}
COMMANDS = ["install", "uninstall", "verify", "upgrade", "queue", "failed", "requeue", "cancel",
            "stale", "workers", "backlog", "prune", "schedules", "sql", "autovac", "durability",
            "alter-durability", "listen"]  # fmt: skip
OPTIONS = ["--prefix", "--schema", "--pg-dsn", "--json", "--priority", "--delay", "--limit",
           "-n", "--headers", "--dedupe-key", "--on-conflict", "--channel", "--durability",
           "-d", "--older-than", "--threshold", "--execute-after", "--remove", "--help", "-h",
           "--", "--max-events", "--expect", "--widen-id", "--no-create-schema"]  # fmt: skip


@FAST
@given(st.lists(st.one_of(st.sampled_from(COMMANDS), st.sampled_from(OPTIONS), value_text),
                max_size=6))  # fmt: skip
def test_any_arguments_end_in_a_clean_exit(argv: list[str]) -> None:
    """Random argument lists against a server that does not exist: usage errors exit 2,
    connection failures exit 1, nothing escapes ('run' is left out: it imports modules)."""
    invoke(*argv, env=OFFLINE)


# -- against the database, with the statement log -----------------------------------------


@pytest.fixture(scope="module")
def statement_log() -> StatementLog:
    return StatementLog()


@pytest.fixture(scope="module")
def tag() -> str:
    return uuid.uuid4().hex[:6]


def _drop(server: Server, schema: str) -> None:
    async def drop() -> None:
        conn = await asyncpg.connect(server.dsn)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()

    asyncio.run(drop())


def _session(server: Server, log: StatementLog, schema_arg: str, prefix: str,
             entrypoint: str, payload: str) -> tuple[list[Result], list[str]]:  # fmt: skip
    env = server.env()
    with log.recording() as statements:
        common = (f"--schema={schema_arg}", f"--prefix={prefix}")
        steps = [
            invoke(*common, "install", env=env),
            invoke(*common, "verify", env=env),
            invoke(*common, "queue", "--", entrypoint, payload, env=env),
            invoke(*common, "uninstall", env=env),
        ]
    return steps, list(statements)


@pytest.fixture(scope="module")
def reference(server: Server, statement_log: StatementLog, tag: str) -> list[str]:
    """The statements of one session with plain names (their skeletons and literals)."""
    schema = f"h{tag}_reference"
    try:
        steps, statements = _session(server, statement_log, schema, "ref_", "ep", "payload")
    finally:
        _drop(server, schema)
    assert [s.exit_code for s in steps] == [0, 0, 0, 0], [s.output for s in steps]
    assert statements, "the statement log recorded nothing"
    return statements


@WITH_DB
@given(suffix=names_text, prefix=names_text, entrypoint=value_text, payload=value_text)
def test_commands_send_sql_only_with_validated_names(
    server: Server,
    statement_log: StatementLog,
    reference: list[str],
    tag: str,
    suffix: str,
    prefix: str,
    entrypoint: str,
    payload: str,
) -> None:
    schema_arg = f"h{tag}_{suffix}"  # unique to this run, whatever hypothesis draws
    entrypoint = f"zqx{entrypoint}" if entrypoint else ""  # a marker no SQL text contains
    names = accepted(prefix, schema_arg)
    try:
        steps, statements = _session(server, statement_log, schema_arg, prefix, entrypoint, payload)
    finally:
        if names is not None and names.schema:
            _drop(server, names.schema)
    event("names refused" if names is None else "names accepted")
    if names is None:
        assert all(s.exit_code == 2 for s in steps), [s.output for s in steps]
        assert statements == [], "SQL was sent although a name was refused"
        return
    install, verify, queue, uninstall = steps
    assert (install.exit_code, verify.exit_code, uninstall.exit_code) == (0, 0, 0), install.output
    surrogate = any(0xD800 <= ord(c) <= 0xDFFF for c in entrypoint) or any(
        0xD800 <= ord(c) < 0xDC80 or 0xDD00 <= ord(c) <= 0xDFFF for c in payload
    )
    event(f"queue exit {queue.exit_code}")
    if entrypoint and "\x00" not in entrypoint and not surrogate:
        assert queue.exit_code == 0, queue.output
    else:  # empty, NUL (text cannot hold it) or not UTF-8: refused before connecting
        assert queue.exit_code == 2 and "Traceback" not in queue.stderr, queue.output
    known = literals(reference)
    for sql in statements:
        check_sql(sql, known)
        if entrypoint:
            assert entrypoint not in sql, "an entrypoint reached the SQL text"
    if queue.exit_code == 0:
        assert [skeleton(s) for s in statements] == [skeleton(s) for s in reference]


@WITH_DB
@given(channel=names_text)
def test_listen_channels_are_validated(
    server: Server, statement_log: StatementLog, channel: str
) -> None:
    assume(channel != "")  # empty means the default channel (other people's workers hear it)
    valid = accepted(channel=channel) is not None
    if not valid:
        with statement_log.recording() as statements:
            result = invoke("listen", f"--channel={channel}", "--max-events", "1", env=server.env())
        assert result.exit_code == 2, result.output
        assert statements == []
        return
    stop = threading.Event()

    def notify() -> None:  # keep notifying until the listener got one
        async def send() -> None:
            conn = await statement_log.real_connect(server.dsn)
            try:
                while not stop.is_set():
                    await conn.execute("SELECT pg_notify($1, 'ping')", channel)
                    await asyncio.sleep(0.02)
            finally:
                await conn.close()

        asyncio.run(send())

    sender = threading.Thread(target=notify, daemon=True)
    sender.start()
    try:
        with statement_log.recording() as statements:
            result = invoke("listen", f"--channel={channel}", "--max-events", "1", env=server.env())
    finally:
        stop.set()
        sender.join(10)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "ping"
    assert statements == [f'LISTEN "{channel}"']
