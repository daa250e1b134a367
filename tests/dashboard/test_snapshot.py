"""pgqueuer_dashboard against a real database with jobs in every state."""

from __future__ import annotations

import json
from datetime import timedelta

import asyncpg
import pytest
from queue_states import States, populate

from pgqueuer.errors import SchemaNotInstalledError
from pgqueuer.names import Names
from pgqueuer_dashboard import (
    Dashboard,
    Percentiles,
    SchemaOutdatedError,
    Snapshot,
    as_dict,
    render_text,
    snapshot,
)
from pgqueuer_dashboard.render import TABLE_FORMATS, format_duration


@pytest.fixture
async def states(conn: asyncpg.Connection, names: Names) -> States:
    return await populate(conn, names)


async def test_entrypoints_count_every_state_and_measure_the_window(
    conn: asyncpg.Connection, names: Names, states: States
) -> None:
    email, report = await Dashboard(conn, names).entrypoints()
    assert (email.entrypoint, email.queued, email.running, email.failed) == ("email", 3, 2, 0)
    assert (report.entrypoint, report.queued, report.running, report.failed) == (
        "report",
        0,
        2 - 1,
        1,
    )
    assert email.oldest_queued_age == pytest.approx(120, abs=5)
    assert report.oldest_queued_age is None and report.next_due is None
    assert (email.completed, email.errored, email.retried) == (3, 1, 0)
    assert (report.completed, report.errored) == (0, 1)
    assert email.window_seconds == 60
    assert email.completed_per_second == pytest.approx(3 / 60)
    assert email.failed_per_second == pytest.approx(1 / 60)
    for p in (email.queue_time.p50, email.queue_time.p95, email.queue_time.p99):
        assert p == pytest.approx(3, abs=0.5)
    for p in (email.run_time.p50, email.run_time.p99):
        assert p == pytest.approx(1, abs=0.5)


async def test_a_deferred_only_entrypoint_has_no_age_but_a_next_due(
    conn: asyncpg.Connection, names: Names
) -> None:
    from pgqueuer.db import AsyncpgDriver
    from pgqueuer.queries import Queries

    await Queries(AsyncpgDriver(conn), names).enqueue(
        "later", None, execute_after=timedelta(hours=1)
    )
    (later,) = await Dashboard(conn, names).entrypoints()
    assert later.queued == 1 and later.oldest_queued_age is None
    assert later.next_due is not None and later.queue_time == Percentiles()


async def test_workers_stale_jobs_schedules_and_log_tail(
    conn: asyncpg.Connection, names: Names, states: States
) -> None:
    dashboard = Dashboard(conn, names)
    workers = {w.queue_manager_id: w for w in await dashboard.workers()}
    assert set(workers) == {states.worker_a, states.worker_b}
    assert workers[states.worker_a].running_jobs == 2
    assert workers[states.worker_a].entrypoints == ("email",)
    assert workers[states.worker_b].running_jobs == 1
    assert workers[states.worker_b].last_heartbeat < workers[states.worker_a].last_heartbeat

    (stale,) = await dashboard.stale_jobs(timedelta(minutes=5))
    assert stale.id == states.stale and stale.seconds_since_heartbeat == pytest.approx(600, abs=5)
    assert await dashboard.stale_jobs(timedelta(minutes=20)) == []

    (schedule,) = await dashboard.schedules()
    assert (schedule.entrypoint, schedule.expression) == ("nightly", "0 3 * * *")

    log = await dashboard.recent_log(10)
    assert [g.job_id for g in log] == [states.held, *reversed(states.finished)]
    assert [g.status for g in log] == ["failed", "exception"] + ["successful"] * 3
    assert log[0].exception == "RuntimeError: disk full"
    assert log[1].exception == "ValueError: boom"  # the first line only
    assert log[2].exception is None
    assert log[1].queue_seconds == pytest.approx(3, abs=0.5)
    assert log[1].run_seconds == pytest.approx(1, abs=0.5)
    assert [g.job_id for g in await dashboard.recent_log(2)] == [
        states.held,
        states.finished[3],
    ]


async def test_snapshot_has_every_section_and_leaves_the_session_as_it_was(
    conn: asyncpg.Connection, names: Names, states: States
) -> None:
    settings = "SELECT current_setting('jit'), current_setting('jit_above_cost')"
    before = tuple(await conn.fetchrow(settings))
    snap = await snapshot(conn, names, tail=3, stale_after=timedelta(minutes=5))
    assert [e.entrypoint for e in snap.entrypoints] == ["email", "report"]
    assert len(snap.workers) == 2 and len(snap.stale) == 1 and len(snap.schedules) == 1
    assert len(snap.log) == 3 and not snap.empty
    assert snap.sampled_log_rows == 5 and snap.window_seconds == 60
    assert snap.stale_after_seconds == 300
    assert not conn.is_in_transaction()
    assert tuple(await conn.fetchrow(settings)) == before


async def test_snapshot_inside_the_callers_transaction_uses_it(
    conn: asyncpg.Connection, names: Names, states: States
) -> None:
    async with conn.transaction():
        snap = await Dashboard(conn, names).snapshot()
        assert conn.is_in_transaction() and await conn.fetchval("SHOW jit_above_cost") == "-1"
    assert len(snap.entrypoints) == 2


async def test_the_snapshot_transaction_is_read_only(
    conn: asyncpg.Connection, names: Names, states: States
) -> None:
    dashboard = Dashboard(conn, names)
    dashboard.sql["db_now"] = names.substitute(
        "UPDATE /*@queue_table*/pgqueuer SET priority = 1 RETURNING now()"
    )
    with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
        await dashboard.snapshot()


async def test_a_small_sample_shrinks_the_window_and_a_cap_bounds_the_counts(
    conn: asyncpg.Connection, names: Names, states: States
) -> None:
    snap = await Dashboard(conn, names).snapshot(sample=2, count_cap=2)
    assert snap.sampled_log_rows == 2 and snap.window_seconds < 60
    email = snap.entrypoints[0]
    assert email.queued == 2 and email.running == 2  # stopped at the cap
    assert "≥2" in render_text(snap)


async def test_an_installed_but_empty_queue_is_an_empty_snapshot(
    conn: asyncpg.Connection, names: Names
) -> None:
    snap = await snapshot(conn, names)
    assert snap.empty and snap.entrypoints == () and snap.log == ()
    assert "The queue is empty" in render_text(snap)


async def test_a_missing_schema_raises_schema_not_installed(
    conn: asyncpg.Connection, empty_schema: str
) -> None:
    with pytest.raises(SchemaNotInstalledError, match=f"pgq --schema {empty_schema} install"):
        await snapshot(conn, Names.create(schema=empty_schema))


async def test_a_schema_without_the_log_columns_says_upgrade(
    conn: asyncpg.Connection, names: Names
) -> None:
    await conn.execute(
        names.substitute("ALTER TABLE /*@queue_table_log*/pgqueuer_log DROP COLUMN picked_at")
    )
    with pytest.raises(SchemaOutdatedError, match=f"pgq --schema {names.schema} upgrade"):
        await snapshot(conn, names)


@pytest.mark.parametrize("fmt", TABLE_FORMATS)
async def test_every_section_renders_in_every_table_format(
    conn: asyncpg.Connection, names: Names, states: States, fmt: str
) -> None:
    text = render_text(await snapshot(conn, names), fmt, where="here")
    for expected in (
        "Entrypoints",
        "Workers",
        "Stale jobs",
        "Schedules",
        "Newest log entries",
        "email",
        "report",
        str(states.worker_a),
        str(states.stale),
        "0 3 * * *",
        "RuntimeError: disk full",
        "ValueError: boom",
        "2m00s",  # the oldest queued email has been due for 120 s
    ):
        assert expected in text, (fmt, expected, text)
    if fmt in ("html", "unsafehtml"):
        assert text.count("<table>") == 5 and "<h3>Workers</h3>" in text


async def test_as_dict_is_json_with_every_field(
    conn: asyncpg.Connection, names: Names, states: States
) -> None:
    snap = await snapshot(conn, names)
    data = json.loads(json.dumps(as_dict(snap)))
    assert set(data) == set(Snapshot.__dataclass_fields__)
    email = data["entrypoints"][0]
    assert email["queued"] == 3 and email["run_time"]["p50"] == pytest.approx(1, abs=0.5)
    assert data["workers"][0]["queue_manager_id"] == str(states.worker_a)
    assert data["stale"][0]["id"] == states.stale
    assert data["schedules"][0]["entrypoint"] == "nightly"
    assert data["log"][0]["exception"] == "RuntimeError: disk full"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (0.0004, "400µs"),
        (0.012, "12ms"),
        (3.44, "3.4s"),
        (245, "4m05s"),
        (7380, "2h03m"),
    ],
)
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text
