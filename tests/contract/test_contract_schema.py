"""Schema management and probes through the repository, on every backend.

The SQL backends manage real tables through whatever driver they run on (one connection or a
pool); the in-memory backend has no tables, so its DDL methods are no-ops and its probes
answer True (PgQueuer's InMemoryQueries does the same). The tests say which is which.
"""

from __future__ import annotations

import uuid

import pytest
from contract_backend import Backend

from pgqueuer.errors import SchemaAlreadyInstalledError
from pgqueuer.names import Names
from pgqueuer.queries import Queries


async def test_probes_find_the_installed_objects(backend: Backend) -> None:
    q = backend.queries
    n = q.names
    table = n.qualify(n.queue_table)
    assert await q.schema_is_installed()
    assert await q.has_table(table)
    assert await q.table_has_column(table, "slot")
    assert await q.table_has_index(table, n.derived(n.queue_table, "_picked_slot_idx"))
    assert await q.has_user_defined_enum("failed", n.qualify(n.queue_status_type))
    assert await q.has_function(f"{n.schema}.{n.bare(n.function)}")
    assert await q.has_trigger(n.trigger_names[0])


async def test_probes_of_missing_objects_say_no_except_in_memory(backend: Backend) -> None:
    q = backend.queries
    table = q.names.qualify(q.names.queue_table)
    expected = backend.memory  # in memory every probe answers True: there are no tables
    assert await q.has_table(f"{q.names.schema}.no_such_table") is expected
    assert await q.table_has_column(table, "no_such_column") is expected
    assert await q.table_has_index(table, "no_such_index") is expected
    assert (
        await q.has_user_defined_enum("no_such_label", q.names.qualify(q.names.queue_status_type))
        is expected
    )
    assert await q.has_function("no_such_function") is expected
    assert await q.has_trigger("no_such_trigger") is expected


async def test_install_upgrade_tune_and_uninstall_through_the_repository(
    backend: Backend,
) -> None:
    if backend.memory:
        # No tables in memory: every DDL method is a no-op and the queue counts as installed.
        q = backend.queries
        await q.install()
        async with q.schema_lock():
            await q.alter_durability("volatile")
        await q.optimize_autovacuum()
        await q.optimize_autovacuum_rollback()
        await q.upgrade()
        await q.enqueue("a", None)
        await q.uninstall()  # empties the queue
        assert await q.schema_is_installed() and await q.queue_size() == []
        return
    assert backend.conn is not None
    schema = f"pgq_c_{uuid.uuid4().hex[:8]}"
    await backend.conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        await install_tune_uninstall(backend.make(Names.create(schema=schema)))
    finally:
        await backend.conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


async def install_tune_uninstall(q: Queries) -> None:
    assert not await q.schema_is_installed()
    await q.install()
    assert await q.schema_is_installed()
    assert not (await q.plan_upgrade()).steps
    await q.upgrade()
    await q.alter_durability("balanced")
    logged = {t.name: t.logged for t in await q.schema_info()}
    assert logged == {
        "pgqueuer": True,
        "pgqueuer_log": False,
        "pgqueuer_statistics": False,
        "pgqueuer_schedules": True,
    }
    await q.alter_durability()  # PGQUEUER_DURABILITY unset: durable
    assert all(t.logged for t in await q.schema_info())
    await q.optimize_autovacuum()
    await q.optimize_autovacuum_rollback()
    async with q.schema_lock():  # re-entrant: operations inside reuse the lock's session
        with pytest.raises(SchemaAlreadyInstalledError):
            await q.install()
        await q.enqueue("a", None)
    await q.uninstall()
    assert not await q.schema_is_installed()
