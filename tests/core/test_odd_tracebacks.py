"""Log rows whose traceback JSON another tool or an older release wrote (keys missing, not an
object, odd timestamps) are read, never fatal: the log reads and the pages built on them must
not break on one odd row."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import asyncpg
import pytest

from pgqueuer.models import TracebackRecord
from pgqueuer.names import Names
from pgqueuer.queries import Queries

ODD = [
    {"exception_type": "ValueError", "exception_message": "boom"},  # no job_id, no traceback
    {"job_id": "seven", "timestamp": "yesterday", "traceback": "tb"},
    {"additional_context": [1, 2], "exception_message": None},
    ["not", "an", "object"],
    "just a string",
]


@pytest.mark.parametrize("value", ODD, ids=range(len(ODD)))
def test_from_json_reads_whatever_was_stored(value: object) -> None:
    when = datetime(2026, 1, 2, tzinfo=UTC)
    record = TracebackRecord.from_json(json.dumps(value), job_id=42, when=when)
    assert record.job_id == 42
    assert record.timestamp == when
    assert isinstance(record.exception_type, str) and isinstance(record.traceback, str)
    assert record.additional_context is None or isinstance(record.additional_context, dict)


def test_a_complete_record_round_trips() -> None:
    try:
        raise RuntimeError("disk full")
    except RuntimeError as exc:
        record = TracebackRecord.from_exception(exc, 5, {"entrypoint": "e"})
    assert TracebackRecord.from_json(record.model_dump_json()) == record


async def test_log_reads_survive_odd_rows(
    conn: asyncpg.Connection, names: Names, queries: Queries
) -> None:
    for i, value in enumerate(ODD):
        await conn.execute(
            names.substitute(
                "INSERT INTO /*@queue_table_log*/pgqueuer_log "
                "(job_id, status, priority, entrypoint, traceback) "
                "VALUES ($1, 'exception', 0, 'odd', $2::jsonb)"
            ),
            100 + i,
            json.dumps(value),
        )
    logs = await queries.exception_logs()
    assert sorted(log.job_id for log in logs) == [100 + i for i in range(len(ODD))]
    assert all(log.traceback is not None and log.traceback.job_id == log.job_id for log in logs)
    assert len(await queries.queue_log()) == len(ODD)
    history = await queries.job_log_history(100)
    assert history[0].traceback is not None
    assert history[0].traceback.exception_message == "boom"
