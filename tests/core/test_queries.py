"""Queries against a real, freshly installed schema: SQL semantics one statement at a time."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import asyncpg
import pytest

from pgqueuer.db import AsyncpgDriver
from pgqueuer.errors import DuplicateJobError, SchemaNotInstalledError
from pgqueuer.models import TracebackRecord
from pgqueuer.names import Names
from pgqueuer.queries import Finished, Queries


async def rows(conn: asyncpg.Connection, names: Names, sql: str) -> list[asyncpg.Record]:
    return await conn.fetch(names.substitute(sql))


async def test_every_block_prepares(conn: asyncpg.Connection, queries: Queries) -> None:
    for name, sql in queries.sql.items():
        try:
            await conn.prepare(sql)
        except asyncpg.PostgresError as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"block {name} does not prepare: {exc}")


async def test_enqueue_one_and_a_batch_return_ids_in_input_order(
    conn: asyncpg.Connection, names: Names, queries: Queries
) -> None:
    one = await queries.enqueue("fetch", b"a")
    batch = await queries.enqueue(["x", "y", "z"], [b"1", None, b"3"], [1, 2, 3])
    assert len(one) == 1 and len(batch) == 3
    got = await rows(
        conn,
        names,
        ("SELECT id, entrypoint, payload, priority FROM /*@queue_table*/pgqueuer ORDER BY id"),
    )
    assert [(r["entrypoint"], r["payload"], r["priority"]) for r in got] == [
        ("fetch", b"a", 0),
        ("x", b"1", 1),
        ("y", None, 2),
        ("z", b"3", 3),
    ]
    assert [r["id"] for r in got] == one + batch


async def test_headers_none_is_sql_null_and_dict_is_json(
    conn: asyncpg.Connection, names: Names, queries: Queries
) -> None:
    await queries.enqueue(["a", "b"], [None, None], headers=[None, {"k": 1}])
    got = await rows(
        conn,
        names,
        (
            "SELECT headers IS NULL AS null, headers->>'k' AS k "
            "FROM /*@queue_table*/pgqueuer ORDER BY id"
        ),
    )
    assert [(r["null"], r["k"]) for r in got] == [(True, None), (False, "1")]


@pytest.mark.parametrize(
    ("kwargs", "error", "text"),
    [
        ({"entrypoint": "a", "payload": "text"}, TypeError, "payload.encode()"),
        ({"entrypoint": ["a", "b"], "payload": [b"1"]}, ValueError, "same length"),
        ({"entrypoint": "a", "priority": 2**31}, ValueError, "priority"),
        ({"entrypoint": "a", "priority": "high"}, TypeError, "priority"),
        ({"entrypoint": "", "payload": None}, TypeError, "entrypoint"),
        ({"entrypoint": "a", "execute_after": "soon"}, TypeError, "execute_after"),
        ({"entrypoint": "a", "headers": {"x": object()}}, TypeError, "JSON"),
        ({"entrypoint": "a", "on_conflict": "ignore"}, ValueError, "on_conflict"),
    ],
)
async def test_bad_enqueue_input_is_refused_and_nothing_is_written(
    conn: asyncpg.Connection,
    names: Names,
    queries: Queries,
    kwargs: dict[str, object],
    error: type[Exception],
    text: str,
) -> None:
    with pytest.raises(error, match=text):
        await queries.enqueue(**kwargs)  # type: ignore[arg-type]
    assert (await rows(conn, names, "SELECT count(*) FROM /*@queue_table*/pgqueuer"))[0][0] == 0


async def test_duplicate_key_raises_and_rejects_the_whole_batch(
    conn: asyncpg.Connection, names: Names, queries: Queries
) -> None:
    await queries.enqueue("a", None, dedupe_key="k1")
    with pytest.raises(DuplicateJobError) as info:
        await queries.enqueue(["a", "a"], [None, None], dedupe_key=["k2", "k1"])
    assert info.value.dedupe_key == "k1"
    assert (await rows(conn, names, "SELECT count(*) FROM /*@queue_table*/pgqueuer"))[0][0] == 1


async def test_skip_returns_none_for_active_keys_and_first_occurrence_wins(
    queries: Queries,
) -> None:
    first = await queries.enqueue("a", None, dedupe_key="k1")
    got = await queries.enqueue(
        ["a", "a", "a", "a"], [None] * 4, dedupe_key=["k1", None, "k2", "k2"], on_conflict="skip"
    )
    assert got[0] is None and got[3] is None
    assert got[1] is not None and got[2] is not None and got[1] < got[2]
    assert first[0] not in got


async def test_update_priority_keeps_the_id_and_the_higher_priority(
    conn: asyncpg.Connection, names: Names, queries: Queries
) -> None:
    (job,) = await queries.enqueue("a", None, priority=5, dedupe_key="k")
    again = await queries.enqueue(
        ["a", "a"], [None, None], [9, 1], dedupe_key=["k", "other"], on_conflict="update_priority"
    )
    assert again[0] == job and again[1] != job
    assert (
        await rows(
            conn, names, ("SELECT priority FROM /*@queue_table*/pgqueuer WHERE dedupe_key = 'k'")
        )
    )[0][0] == 9
    with pytest.raises(ValueError, match="distinct"):
        await queries.enqueue(
            ["a", "a"], [None, None], dedupe_key=["d", "d"], on_conflict="update_priority"
        )


async def test_a_held_jobs_key_can_be_used_again(queries: Queries) -> None:
    me = uuid.uuid4()
    await queries.enqueue("a", None, dedupe_key="k")
    (job,) = await queries.finish_and_claim([], me, ["a"], [0], 1)
    await queries.finish_and_claim([Finished(job.id, "failed", None)], me, [], [], 0)
    assert await queries.enqueue("a", None, dedupe_key="k")


async def test_claim_order_priority_then_id_and_execute_after(queries: Queries) -> None:
    me = uuid.uuid4()
    ids = await queries.enqueue(
        ["a"] * 4,
        [None] * 4,
        [0, 5, 5, 9],
        [None, None, None, timedelta(hours=1)],
    )
    claimed = await queries.finish_and_claim([], me, ["a"], [0], 10)
    assert [j.id for j in claimed] == [ids[1], ids[2], ids[0]]
    assert all(j.status == "picked" and j.queue_manager_id == me for j in claimed)
    wait = await queries.next_due(["a"])
    assert wait is not None and timedelta(minutes=59) < wait <= timedelta(hours=1)
    assert await queries.queued_work(["a"]) == 1
    assert await queries.eligible_queued_work(["a"]) == 0


async def test_claim_takes_only_the_given_entrypoints_and_at_most_the_batch(
    queries: Queries,
) -> None:
    me = uuid.uuid4()
    await queries.enqueue(["a"] * 5 + ["b"] * 5, [None] * 10)
    claimed = await queries.finish_and_claim([], me, ["a"], [0], 3)
    assert len(claimed) == 3 and {j.entrypoint for j in claimed} == {"a"}


async def test_outcomes_delete_hold_retry_release_and_log_only_what_ended(
    conn: asyncpg.Connection, names: Names, queries: Queries
) -> None:
    me = uuid.uuid4()
    ids = await queries.enqueue(["a"] * 5, [None] * 5)
    await queries.finish_and_claim([], me, ["a"], [0], 5)
    tb = TracebackRecord.from_exception(ValueError("boom"), ids[1]).to_json()
    done = [
        Finished(ids[0], "successful"),
        Finished(ids[1], "exception", tb),
        Finished(ids[2], "failed", tb),
        Finished(ids[3], "queued", tb, timedelta(minutes=5)),
        Finished(ids[4], "release"),
    ]
    await queries.finish_and_claim(done, me, [], [], 0)
    left = {
        r["id"]: r
        for r in await rows(
            conn,
            names,
            (
                "SELECT id, status::text, attempts, queue_manager_id, execute_after > now() AS later "
                "FROM /*@queue_table*/pgqueuer"
            ),
        )
    }
    assert set(left) == {ids[2], ids[3], ids[4]}
    assert left[ids[2]]["status"] == "failed" and left[ids[2]]["queue_manager_id"] is None
    assert (
        left[ids[3]]["status"] == "queued"
        and left[ids[3]]["attempts"] == 1
        and left[ids[3]]["later"]
    )
    assert left[ids[4]]["status"] == "queued" and left[ids[4]]["attempts"] == 0
    log = await rows(
        conn,
        names,
        (
            "SELECT job_id, status::text, traceback->>'exception_type' AS t "
            "FROM /*@queue_table_log*/pgqueuer_log ORDER BY job_id"
        ),
    )
    assert [(r["job_id"], r["status"], r["t"]) for r in log] == [
        (ids[0], "successful", None),
        (ids[1], "exception", "ValueError"),
        (ids[2], "failed", "ValueError"),
        (ids[3], "queued", "ValueError"),
    ]


async def test_a_worker_cannot_finish_a_job_it_no_longer_holds(
    conn: asyncpg.Connection, names: Names, queries: Queries
) -> None:
    me, other = uuid.uuid4(), uuid.uuid4()
    (job,) = await queries.enqueue("a", None)
    await queries.finish_and_claim([], other, ["a"], [0], 1)
    await queries.finish_and_claim([Finished(job, "successful")], me, [], [], 0)
    assert (await rows(conn, names, "SELECT count(*) FROM /*@queue_table*/pgqueuer"))[0][0] == 1
    assert (await rows(conn, names, ("SELECT count(*) FROM /*@queue_table_log*/pgqueuer_log")))[0][
        0
    ] == 0


async def test_concurrency_seats_limit_claims_and_are_freed_on_completion(queries: Queries) -> None:
    me = uuid.uuid4()
    await queries.enqueue(["lim"] * 5 + ["free"] * 5, [None] * 10)
    claimed = await queries.finish_and_claim([], me, ["lim", "free"], [2, 0], 10)
    limited = [j for j in claimed if j.entrypoint == "lim"]
    assert len(limited) == 2 and sorted(j.slot for j in limited) == [0, 1]
    assert len(claimed) == 7
    assert await queries.finish_and_claim([], me, ["lim"], [2], 10) == []
    await queries.finish_and_claim([Finished(limited[0].id, "successful")], me, [], [], 0)
    again = await queries.finish_and_claim([], me, ["lim"], [2], 10)
    assert len(again) == 1 and again[0].slot == limited[0].slot


async def test_concurrent_claims_never_overshoot_a_limit(dsn: str | None, names: Names) -> None:
    setup = await asyncpg.connect(dsn)
    try:
        await Queries(AsyncpgDriver(setup), names).enqueue(["lim"] * 50, [None] * 50)
        conns = [await asyncpg.connect(dsn) for _ in range(6)]
        try:

            async def claim(c: asyncpg.Connection) -> int:
                q = Queries(AsyncpgDriver(c), names)
                got = 0
                for _ in range(5):
                    got += len(await q.dequeue(10, {"lim": _limit(3)}, uuid.uuid4()))
                return got

            results = await asyncio.gather(*(claim(c) for c in conns))
        finally:
            for c in conns:
                await c.close()
        picked = await setup.fetchval(
            names.substitute(
                "SELECT count(*) FROM /*@queue_table*/pgqueuer WHERE status = 'picked'"
            )
        )
        assert picked == sum(results) == 3
    finally:
        await setup.close()


def _limit(n: int) -> object:
    from pgqueuer.queries import EntrypointExecutionParameter

    return EntrypointExecutionParameter(concurrency_limit=n)


async def test_stale_jobs_are_queued_again_then_held_after_max_attempts(
    conn: asyncpg.Connection, names: Names, queries: Queries
) -> None:
    me = uuid.uuid4()
    (job,) = await queries.enqueue("a", None)
    for attempt in (1, 2):
        await queries.finish_and_claim([], me, ["a"], [0], 1)
        await conn.execute(
            names.substitute(
                "UPDATE /*@queue_table*/pgqueuer SET heartbeat = now() - interval '1 hour'"
            )
        )
        assert await queries.rescue_stale(["a"], timedelta(seconds=30), 3) == [(job, "queued")]
        attempts = await conn.fetchval(
            names.substitute("SELECT attempts FROM /*@queue_table*/pgqueuer")
        )
        assert attempts == attempt
    await queries.finish_and_claim([], me, ["a"], [0], 1)
    await conn.execute(
        names.substitute(
            "UPDATE /*@queue_table*/pgqueuer SET heartbeat = now() - interval '1 hour'"
        )
    )
    assert await queries.rescue_stale(["a"], timedelta(seconds=30), 3) == [(job, "failed")]
    assert await queries.job_status([job]) == [(job, "failed")]
    # a fresh heartbeat is not stale
    (other,) = await queries.enqueue("a", None)
    await queries.finish_and_claim([], me, ["a"], [0], 1)
    assert await queries.rescue_stale(["a"], timedelta(seconds=30), 3) == []
    await queries.heartbeat([other], me)


async def test_cancel_deletes_logs_and_notifies_running_jobs(
    dsn: str | None, conn: asyncpg.Connection, names: Names, queries: Queries
) -> None:
    me = uuid.uuid4()
    ids = await queries.enqueue(["a"] * 3, [None] * 3)
    await queries.finish_and_claim([], me, ["a"], [0], 1)  # ids[0] picked
    listener = await asyncpg.connect(dsn)
    heard: asyncio.Queue[str] = asyncio.Queue()
    await listener.add_listener(names.channel, lambda *a: heard.put_nowait(a[3]))
    try:
        cancelled = await queries.mark_job_as_cancelled([ids[0], ids[1], 999999])
        assert cancelled == [ids[0], ids[1]]
        payload = await asyncio.wait_for(heard.get(), 5)
        assert '"cancellation_event"' in payload and str(ids[0]) in payload
    finally:
        await listener.close()
    statuses = dict(await queries.job_status(ids))
    assert statuses == {ids[0]: "canceled", ids[1]: "canceled"}


async def test_requeue_only_touches_held_jobs_and_reports_them(queries: Queries) -> None:
    me = uuid.uuid4()
    ids = await queries.enqueue(["a"] * 2, [None] * 2)
    await queries.finish_and_claim([], me, ["a"], [0], 2)
    await queries.finish_and_claim([Finished(ids[0], "failed")], me, [], [], 0)
    assert [j.id for j in await queries.list_failed_jobs()] == [ids[0]]
    assert await queries.requeue_jobs([ids[0], ids[1], 424242]) == [ids[0]]
    assert await queries.list_failed_jobs() == []


async def test_requeue_of_a_job_whose_key_is_taken_again_is_a_duplicate(queries: Queries) -> None:
    me = uuid.uuid4()
    (job,) = await queries.enqueue("a", None, dedupe_key="k")
    await queries.finish_and_claim([], me, ["a"], [0], 1)
    await queries.finish_and_claim([Finished(job, "failed")], me, [], [], 0)
    await queries.enqueue("a", None, dedupe_key="k")
    with pytest.raises(DuplicateJobError):
        await queries.requeue_jobs([job])


async def test_aggregation_counts_each_log_row_once_even_when_run_concurrently(
    dsn: str | None, names: Names, queries: Queries
) -> None:
    me = uuid.uuid4()
    ids = await queries.enqueue(["a"] * 200, [None] * 200)
    await queries.finish_and_claim([], me, ["a"], [0], 200)
    await queries.finish_and_claim([Finished(i, "successful") for i in ids], me, [], [], 0)
    conns = [await asyncpg.connect(dsn) for _ in range(4)]
    try:

        async def fold(c: asyncpg.Connection) -> None:
            q = Queries(AsyncpgDriver(c), names)
            for _ in range(3):
                await q.aggregate_logs(limit=50)

        await asyncio.gather(*(fold(c) for c in conns))
    finally:
        for c in conns:
            await c.close()
    await queries.aggregate_logs()
    stats = await queries.log_statistics()
    assert sum(s.count for s in stats if s.status == "successful") == 200


async def test_prune_removes_old_log_and_statistics_rows(
    conn: asyncpg.Connection, names: Names, queries: Queries
) -> None:
    me = uuid.uuid4()
    ids = await queries.enqueue(["a"] * 3, [None] * 3)
    await queries.finish_and_claim([], me, ["a"], [0], 3)
    await queries.finish_and_claim([Finished(i, "successful") for i in ids], me, [], [], 0)
    await queries.aggregate_logs()
    await conn.execute(
        names.substitute(
            "UPDATE /*@queue_table_log*/pgqueuer_log "
            "SET created = now() - interval '10 days' WHERE job_id = ANY($1)"
        ),
        ids[:2],
    )
    await conn.execute(
        names.substitute(
            "UPDATE /*@statistics_table*/pgqueuer_statistics "
            "SET created = now() - interval '10 days'"
        )
    )
    assert await queries.prune(timedelta(days=7)) == (2, 1)
    assert len(await queries.queue_log()) == 1


async def test_queue_size_and_clear(queries: Queries) -> None:
    await queries.enqueue(["a", "a", "b"], [None] * 3, [1, 1, 0])
    sizes = {(s.entrypoint, s.priority, s.status): s.count for s in await queries.queue_size()}
    assert sizes == {("a", 1, "queued"): 2, ("b", 0, "queued"): 1}
    await queries.clear_queue("a")
    assert [(s.entrypoint, s.count) for s in await queries.queue_size()] == [("b", 1)]
    await queries.clear_queue()
    assert await queries.queue_size() == []


async def test_missing_schema_is_one_error_naming_pgq_install(conn: asyncpg.Connection) -> None:
    queries = Queries(AsyncpgDriver(conn), Names.create(schema="pgq_nowhere_to_be_found"))
    with pytest.raises(
        SchemaNotInstalledError, match="pgq --schema pgq_nowhere_to_be_found install"
    ):
        await queries.enqueue("a", None)
    assert await queries.table_schema() is None


async def test_schema_methods_delegate_to_pgqueuer_schema(
    conn: asyncpg.Connection, empty_schema: str
) -> None:
    queries = Queries(AsyncpgDriver(conn), Names.create(schema=empty_schema))
    assert not await queries.schema_is_installed()
    await queries.install()
    assert await queries.schema_is_installed()
    assert await queries.has_table(f"{empty_schema}.pgqueuer")
    assert await queries.table_has_column(f"{empty_schema}.pgqueuer", "slot")
    assert await queries.has_user_defined_enum("failed", f"{empty_schema}.pgqueuer_status")
    plan = await queries.plan_upgrade()
    assert not plan.steps
    await queries.uninstall()
    assert not await queries.schema_is_installed()


ME = uuid.uuid4()


async def _commit_mode_after(
    conn: asyncpg.Connection, queries: Queries, finished: list[Finished], async_claim: bool
) -> str:
    """synchronous_commit as finish_and_claim left it in its transaction (read before commit)."""
    async with conn.transaction():
        await queries.finish_and_claim(
            finished, uuid.uuid4() if not finished else ME, ["a"], [0], 1, async_claim=async_claim
        )
        mode: str = await conn.fetchval("SELECT current_setting('synchronous_commit')")
    return mode


async def test_only_a_claim_only_statement_commits_asynchronously(
    conn: asyncpg.Connection, queries: Queries
) -> None:
    await queries.enqueue(["a"] * 4, [None] * 4)
    assert await conn.fetchval("SELECT current_setting('synchronous_commit')") == "on"
    assert await _commit_mode_after(conn, queries, [], async_claim=True) == "off"
    assert await _commit_mode_after(conn, queries, [], async_claim=False) == "on"
    # A statement that finishes a job waits for its flush, even when it also claims.
    (job,) = await queries.finish_and_claim([], ME, ["a"], [0], 1)
    done = [Finished(job.id, "successful")]
    assert await _commit_mode_after(conn, queries, done, async_claim=True) == "on"
    # The setting is the transaction's own: the session keeps its default afterwards.
    assert await conn.fetchval("SELECT current_setting('synchronous_commit')") == "on"
    assert (
        await conn.fetchval(
            queries.names.substitute(
                "SELECT count(*) FROM /*@queue_table_log*/pgqueuer_log WHERE status = 'successful'"
            )
        )
        == 1
    )
