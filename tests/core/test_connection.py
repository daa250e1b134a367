"""Unit tests of pgqueuer.connection: DSN precedence, connect timeout, safe target description."""

from __future__ import annotations

import getpass

import pytest

from pgqueuer.connection import connect_timeout, describe_target, resolve_dsn
from pgqueuer.errors import ConfigurationError

EXPLICIT = "postgresql://explicit@h1/db1"
PGQUEUER_DSN = "postgresql://pgqueuer@h2/db2"
PGDSN = "postgresql://pgdsn@h3/db3"
SECRET = "s3cr3t-pw"

# -- resolve_dsn -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("explicit", "environ", "expected"),
    [
        (EXPLICIT, {"PGQUEUER_DSN": PGQUEUER_DSN, "PGDSN": PGDSN}, EXPLICIT),
        (None, {"PGQUEUER_DSN": PGQUEUER_DSN, "PGDSN": PGDSN}, PGQUEUER_DSN),
        (None, {"PGDSN": PGDSN}, PGDSN),
        (None, {}, None),
        ("", {"PGQUEUER_DSN": PGQUEUER_DSN}, PGQUEUER_DSN),  # empty --pg-dsn means unset
        (None, {"PGQUEUER_DSN": "", "PGDSN": PGDSN}, PGDSN),  # empty variable means unset
        (None, {"PGQUEUER_DSN": "", "PGDSN": ""}, None),
        # libpq variables are left to asyncpg: they never become a DSN here.
        (None, {"PGHOST": "h", "PGUSER": "u", "PGPASSWORD": SECRET, "PGDATABASE": "d"}, None),
        (EXPLICIT, {}, EXPLICIT),
    ],
    ids=[
        "explicit-wins",
        "pgqueuer_dsn-over-pgdsn",
        "pgdsn",
        "none",
        "empty-explicit",
        "empty-pgqueuer_dsn",
        "all-empty",
        "libpq-vars-only",
        "explicit-no-env",
    ],
)
def test_resolve_dsn_precedence(
    explicit: str | None, environ: dict[str, str], expected: str | None
) -> None:
    assert resolve_dsn(explicit, environ) == expected


def test_resolve_dsn_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGDSN", PGDSN)
    assert resolve_dsn() == PGDSN
    monkeypatch.setenv("PGQUEUER_DSN", PGQUEUER_DSN)
    assert resolve_dsn() == PGQUEUER_DSN
    assert resolve_dsn(EXPLICIT) == EXPLICIT


def test_resolve_dsn_explicit_environ_ignores_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGQUEUER_DSN", PGQUEUER_DSN)
    assert resolve_dsn(None, {}) is None


# -- connect_timeout ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, 10.0),
        ({"PGCONNECT_TIMEOUT": "3"}, 3.0),
        ({"PGQUEUER_CONNECT_TIMEOUT": "2.5"}, 2.5),
        ({"PGQUEUER_CONNECT_TIMEOUT": "7", "PGCONNECT_TIMEOUT": "3"}, 7.0),
        ({"PGQUEUER_CONNECT_TIMEOUT": "", "PGCONNECT_TIMEOUT": "3"}, 3.0),
        ({"PGQUEUER_CONNECT_TIMEOUT": " 4 "}, 4.0),
        ({"PGQUEUER_CONNECT_TIMEOUT": "0.001"}, 0.001),
    ],
)
def test_connect_timeout(environ: dict[str, str], expected: float) -> None:
    value = connect_timeout(environ)
    assert isinstance(value, float)
    assert value == expected


def test_connect_timeout_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
    assert connect_timeout() == 10.0
    monkeypatch.setenv("PGCONNECT_TIMEOUT", "6")
    assert connect_timeout() == 6.0
    monkeypatch.setenv("PGQUEUER_CONNECT_TIMEOUT", "8")
    assert connect_timeout() == 8.0


@pytest.mark.parametrize("var", ["PGQUEUER_CONNECT_TIMEOUT", "PGCONNECT_TIMEOUT"])
@pytest.mark.parametrize("raw", ["abc", "5s", "1,5", "0x10", "ten", " ", "--1"])
def test_connect_timeout_not_a_number(var: str, raw: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        connect_timeout({var: raw})
    assert var in str(info.value)
    assert repr(raw) in str(info.value)


@pytest.mark.parametrize("var", ["PGQUEUER_CONNECT_TIMEOUT", "PGCONNECT_TIMEOUT"])
@pytest.mark.parametrize("raw", ["0", "0.0", "-1", "-0.5", "-inf"])
def test_connect_timeout_not_positive(var: str, raw: str) -> None:
    with pytest.raises(ConfigurationError, match="greater than 0") as info:
        connect_timeout({var: raw})
    assert var in str(info.value)


def test_bad_pgqueuer_timeout_is_reported_even_when_pgconnect_timeout_is_fine() -> None:
    with pytest.raises(ConfigurationError, match="PGQUEUER_CONNECT_TIMEOUT"):
        connect_timeout({"PGQUEUER_CONNECT_TIMEOUT": "x", "PGCONNECT_TIMEOUT": "3"})


def test_configuration_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        connect_timeout({"PGCONNECT_TIMEOUT": "nope"})


def test_connect_timeout_nan_is_rejected() -> None:
    with pytest.raises(ConfigurationError):
        connect_timeout({"PGQUEUER_CONNECT_TIMEOUT": "nan"})


# -- describe_target ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dsn", "environ", "expected"),
    [
        (f"postgresql://user:{SECRET}@db.example:6543/app", {}, "db.example:6543/app"),
        (f"postgres://user:{SECRET}@db.example/app", {}, "db.example:5432/app"),
        ("postgresql://db.example/app", {}, "db.example:5432/app"),
        (f"postgresql://user:{SECRET}@[::1]:5433/app", {}, "::1:5433/app"),
        # Missing parts come from the libpq variables, as asyncpg would take them.
        ("postgresql:///app", {"PGHOST": "envhost", "PGPORT": "6000"}, "envhost:6000/app"),
        ("postgresql://h", {"PGDATABASE": "envdb"}, "h:5432/envdb"),
        ("postgresql://h/", {"PGUSER": "bob"}, "h:5432/bob"),
        (None, {"PGHOST": "envhost", "PGPORT": "6000", "PGDATABASE": "d"}, "envhost:6000/d"),
        # With nothing set, libpq's defaults: the local socket and a database named after
        # the user (never a guessed "localhost:5432/postgres").
        (None, {"PGUSER": "bob"}, "local socket, port 5432, database bob"),
        (None, {}, f"local socket, port 5432, database {getpass.getuser()}"),
    ],
)
def test_describe_target_shows_host_port_database(
    dsn: str | None, environ: dict[str, str], expected: str
) -> None:
    assert describe_target(dsn, environ) == expected


@pytest.mark.parametrize(
    "dsn",
    [
        f"postgresql://user:{SECRET}@db.example:5432/app",
        f"postgresql://user:{SECRET}@db.example/app?sslmode=require",
        f"postgresql://user:{SECRET}@/app?host=/var/run/postgresql",
        f"postgresql://user:{SECRET}@/app?host=%2Fvar%2Frun%2Fpostgresql&port=5433",
        f"postgresql://db.example/app?user=u&password={SECRET}",
        f"postgresql://user:{SECRET}@db.example:notaport/app",
        f"postgresql://user:{SECRET}@db.example:99999/app",
        f"postgresql://user:{SECRET}@[::1/app",
        f"postgresql://user:a@{SECRET}@db.example/app",
        f"postgresql://user:{SECRET}@h1:5432,h2:5433/app",
    ],
    ids=[
        "plain",
        "query",
        "socket-host-param",
        "socket-host-param-encoded",
        "password-param",
        "bad-port",
        "port-out-of-range",
        "bad-ipv6",
        "unquoted-at",
        "multi-host",
    ],
)
def test_describe_target_never_shows_the_password(dsn: str) -> None:
    described = describe_target(dsn, {"PGPASSWORD": SECRET})
    assert SECRET not in described
    assert "user:" not in described


def test_describe_target_socket_dsn_keeps_database() -> None:
    described = describe_target(f"postgresql://user:{SECRET}@/app?host=/var/run/postgresql", {})
    assert described.endswith("/app")


def test_describe_target_malformed_dsn_is_generic() -> None:
    assert describe_target(f"postgresql://u:{SECRET}@h:notaport/app", {}) == "the configured DSN"


def test_describe_target_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGHOST", "oshost")
    monkeypatch.setenv("PGPORT", "7777")
    monkeypatch.setenv("PGDATABASE", "osdb")
    monkeypatch.setenv("PGPASSWORD", SECRET)
    assert describe_target(None) == "oshost:7777/osdb"


@pytest.mark.parametrize(
    "dsn",
    [
        f"user:{SECRET}@db.example/app",
        f"host=/tmp user=u password={SECRET} dbname=app",
        f"postgresql://user:12/{SECRET}@db.example/app",
    ],
    ids=["no-scheme", "libpq-keywords", "slash-in-password"],
)
def test_describe_target_never_shows_the_password_of_odd_dsns(dsn: str) -> None:
    assert SECRET not in describe_target(dsn, {})


def test_describe_target_uses_host_query_parameter() -> None:
    described = describe_target("postgresql://user@/app?host=/var/run/postgresql&port=5433", {})
    assert described == "/var/run/postgresql:5433/app"


# -- describe_connection: from the server, not from settings ----------------------------------


async def test_describe_connection_asks_the_server(conn) -> None:  # type: ignore[no-untyped-def]
    from pgqueuer.connection import describe_connection

    row = await conn.fetchrow(
        "SELECT host(inet_server_addr()) AS a, inet_server_port() AS p, "
        "current_database() AS d, current_user AS u"
    )
    described = await describe_connection(conn)
    assert described.endswith(f", database {row['d']}, user {row['u']}")
    if row["a"]:
        assert described.startswith(f"{row['a']}:{row['p']}, ")
    else:
        assert described.startswith("unix socket ")


def test_describe_identity_over_a_socket_names_the_socket_file() -> None:
    from pgqueuer.connection import describe_identity

    row = {
        "address": None,
        "port": 5433,
        "sockets": "/var/run/postgresql, /tmp",
        "database": "root",
        "username": "root",
    }
    assert describe_identity(row) == (
        "unix socket /var/run/postgresql/.s.PGSQL.5433, database root, user root"
    )
