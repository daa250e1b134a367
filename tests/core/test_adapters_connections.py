"""pgqueuer.adapters.connections: PgQueuer's connection helpers, on a real server."""

from __future__ import annotations

import psycopg
import pytest

from pgqueuer.adapters.connections import (
    ConnectionSettings,
    connect_asyncpg,
    connect_psycopg,
    create_asyncpg_pool,
    create_psycopg_pool,
)
from pgqueuer.errors import ConfigurationError


def test_settings_come_from_the_environment_with_pgqueuers_names() -> None:
    env = {
        "PGQUEUER_DSN": "postgresql://u@h:6543/db",
        "PGDSN": "postgresql://ignored",
        "PGCONNECT_TIMEOUT": "3.5",
        "PGQUEUER_APPLICATION_NAME": "billing",
        "PGQUEUER_POOL_MIN_SIZE": "2",
        "PGQUEUER_POOL_MAX_SIZE": "8",
    }
    settings = ConnectionSettings.from_env(environ=env)
    assert settings == ConnectionSettings("postgresql://u@h:6543/db", 3.5, "billing", 2, 8)
    assert settings.asyncpg_kwargs() == {
        "dsn": "postgresql://u@h:6543/db",
        "timeout": 3.5,
        "server_settings": {"application_name": "billing"},
    }
    assert settings.psycopg_kwargs() == {
        "conninfo": "postgresql://u@h:6543/db",
        "autocommit": True,
        "connect_timeout": 4,
        "application_name": "billing",
    }
    # An explicit DSN wins over the environment; nothing set: libpq decides.
    assert ConnectionSettings.from_env("host=x", environ=env).dsn == "host=x"
    assert ConnectionSettings.from_env(environ={}) == ConnectionSettings()


@pytest.mark.parametrize(
    ("env", "text"),
    [
        ({"PGQUEUER_POOL_MAX_SIZE": "many"}, "whole number"),
        ({"PGQUEUER_POOL_MIN_SIZE": "4", "PGQUEUER_POOL_MAX_SIZE": "2"}, "at least"),
        ({"PGQUEUER_CONNECT_TIMEOUT": "0"}, "greater than 0"),
    ],
)
def test_bad_settings_are_one_clear_error(env: dict[str, str], text: str) -> None:
    with pytest.raises(ConfigurationError, match=text):
        ConnectionSettings.from_env(environ=env)


async def test_each_helper_connects_and_closes_what_it_opened(
    dsn: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGQUEUER_APPLICATION_NAME", "pgq-adapters-test")
    async with connect_asyncpg(dsn) as aconn:
        assert await aconn.fetchval("SHOW application_name") == "pgq-adapters-test"
    assert aconn.is_closed()

    async with connect_psycopg(dsn) as pconn:
        assert pconn.autocommit  # ready for PsycopgDriver
        cur = await pconn.execute("SHOW application_name")
        assert await cur.fetchone() == ("pgq-adapters-test",)
    assert pconn.closed

    settings = ConnectionSettings(dsn, pool_min_size=1, pool_max_size=2)
    async with create_asyncpg_pool(settings=settings) as apool:
        assert apool.get_max_size() == 2
        assert await apool.fetchval("SELECT 1") == 1
    assert apool.is_closing()

    async with create_psycopg_pool(settings=settings) as ppool:
        assert ppool.max_size == 2
        async with ppool.connection() as conn:
            assert conn.autocommit
            assert await (await conn.execute("SELECT 1")).fetchone() == (1,)
    assert ppool.closed


async def test_a_server_that_does_not_answer_fails_within_the_timeout() -> None:
    settings = ConnectionSettings("postgresql://postgres@127.0.0.1:1/postgres", 2.0)
    with pytest.raises((OSError, psycopg.OperationalError)):
        async with connect_psycopg(settings=settings):
            pass  # pragma: no cover


async def test_settings_give_the_drivers_connect_callable(dsn: str | None) -> None:
    from pgqueuer.adapters.connections import ConnectionSettings
    from pgqueuer.db import AsyncpgDriver

    settings = ConnectionSettings(dsn=dsn, application_name="pgq-seam-settings")
    connect = settings.asyncpg_connect()
    async with AsyncpgDriver(await connect(), connect=connect) as driver:
        second = await (await driver.connect_factory())()
        try:
            assert await second.fetchval("SHOW application_name") == "pgq-seam-settings"
        finally:
            await second.close()
        await driver.connection.close()
