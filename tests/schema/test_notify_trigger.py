"""The queue table's triggers: who gets woken, and with what payload."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest

from pgqueuer.names import Names


@pytest.fixture
async def heard(dsn, names):
    """Notifications from this test's installation, as parsed JSON, in arrival order.

    The channel is shared by every installation with the same prefix (PgQueuer's name), so
    events from other schemas (other tests, other processes on the server) are left out.
    """
    listener = await asyncpg.connect(dsn)
    events: asyncio.Queue[dict[str, object]] = asyncio.Queue()

    def on_event(*args: object) -> None:
        event = json.loads(str(args[3]))
        if event.get("schema") == names.schema:  # events without one are not ours to judge
            events.put_nowait(event)

    await listener.add_listener(names.channel, on_event)
    yield events
    await listener.close()


async def drain(
    events: asyncio.Queue[dict[str, object]], settle: float = 0.3
) -> list[dict[str, object]]:
    """Everything delivered within ``settle`` seconds of the last commit."""
    await asyncio.sleep(settle)
    out = []
    while not events.empty():
        out.append(events.get_nowait())
    return out


def q(names: Names) -> str:
    return names.qualify(names.queue_table)


async def test_insert_notifies_once_per_statement_with_entrypoint_counts(conn, names, heard):
    await conn.execute(
        f"INSERT INTO {q(names)} (priority, status, entrypoint) "
        "SELECT 0, 'queued', ep FROM unnest(ARRAY['a', 'a', 'b']) AS ep"
    )
    events = await drain(heard)
    assert len(events) == 1
    event = events[0]
    assert event["type"] == "table_changed_event" and event["operation"] == "insert"
    assert event["channel"] == names.channel and event["table"] == "pgqueuer"
    assert event["schema"] == names.schema
    assert event["entrypoints"] == {"a": 2, "b": 1}


async def test_insert_of_nothing_notifies_nobody(conn, names, heard):
    await conn.execute(
        f"INSERT INTO {q(names)} (priority, status, entrypoint, dedupe_key) VALUES (0, 'queued', 'a', 'k')"
    )
    await drain(heard)
    await conn.execute(
        f"INSERT INTO {q(names)} (priority, status, entrypoint, dedupe_key) VALUES (0, 'queued', 'a', 'k') "
        "ON CONFLICT (dedupe_key) WHERE status IN ('queued', 'picked') AND dedupe_key IS NOT NULL "
        "DO NOTHING"
    )
    assert await drain(heard) == []


async def test_claim_and_heartbeat_updates_are_silent(conn, names, heard):
    await conn.execute(
        f"INSERT INTO {q(names)} (priority, status, entrypoint) VALUES (0, 'queued', 'a')"
    )
    await drain(heard)
    await conn.execute(f"UPDATE {q(names)} SET status = 'picked'")
    await conn.execute(f"UPDATE {q(names)} SET heartbeat = now()")
    await conn.execute(f"DELETE FROM {q(names)}")  # completion of an unlimited job
    assert await drain(heard) == []


async def test_job_becoming_queued_again_notifies(conn, names, heard):
    await conn.execute(
        f"INSERT INTO {q(names)} (priority, status, entrypoint) VALUES (0, 'picked', 'a'), (0, 'picked', 'a')"
    )
    await drain(heard)  # inserted as picked: nothing to claim, no wake-up
    await conn.execute(f"UPDATE {q(names)} SET status = 'queued'")  # retry / release
    events = await drain(heard)
    assert len(events) == 1  # identical payloads in one transaction fold into one
    assert events[0]["operation"] == "update" and events[0]["entrypoints"] == {"a": 1}


async def test_freeing_a_concurrency_seat_notifies(conn, names, heard):
    await conn.execute(
        f"INSERT INTO {q(names)} (priority, status, entrypoint, slot) VALUES (0, 'picked', 'lim', 0)"
    )
    await drain(heard)
    await conn.execute(f"DELETE FROM {q(names)}")
    events = await drain(heard)
    assert [e["operation"] for e in events] == ["delete"]
    assert events[0]["entrypoints"] == {"lim": 1}


async def test_other_installations_do_not_hear_each_other(conn, names, heard, empty_schema):
    from pgqueuer_schema import install_sql

    other = Names.create(prefix="other_", schema=empty_schema)
    await conn.execute(install_sql(other))
    await conn.execute(
        f"INSERT INTO {other.qualify(other.queue_table)} (priority, status, entrypoint) VALUES (0, 'queued', 'a')"
    )
    assert await drain(heard) == []
