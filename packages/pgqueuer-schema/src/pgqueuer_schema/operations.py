"""The schema operations: what the pgq commands and ``Queries``' schema methods call.

Each takes a :class:`pgqueuer.session.Session` (one connection held for the call, from any
driver that implements ``pgqueuer.session.SessionDriver``) or an asyncpg connection, which is
wrapped in one.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Literal

from pgqueuer.errors import SchemaAlreadyInstalledError, SchemaNotInstalledError
from pgqueuer.names import Names
from pgqueuer.session import Session, as_session
from pgqueuer.sql import load_blocks
from pgqueuer.types import Durability
from pgqueuer_schema import render
from pgqueuer_schema.declaration import PERSISTENCE, declare
from pgqueuer_schema.inspect import Catalog, read_catalog
from pgqueuer_schema.plan import Plan, Step, infer_durability, plan_upgrade

if TYPE_CHECKING:
    import asyncpg

    Target = Session | asyncpg.Connection


LOCK_POLL_SECONDS = 0.1


def _q(name: str) -> str:
    return load_blocks("pgqueuer_schema.sql", "operations.sql")[name]


def lock_key(names: Names) -> int:
    """Advisory-lock key shared by every DDL operation on one installation."""
    return zlib.crc32(names.qualify(names.queue_table).encode())


@asynccontextmanager
async def schema_lock(target: Target, names: Names) -> AsyncIterator[None]:
    """Hold the installation's session advisory lock: DDL operations run one at a time.

    Re-entrant on one session (PostgreSQL counts a session's advisory locks), so an operation
    run inside ``schema_lock`` on the same session does not wait for itself.
    """
    conn = as_session(target)
    key = lock_key(names)
    # Poll with pg_try_advisory_lock instead of blocking in pg_advisory_lock: a session blocked
    # inside a statement is an open transaction, and CREATE INDEX CONCURRENTLY in the session
    # holding the lock would wait for it -- a deadlock between two upgrades.
    lock, unlock = _q("try_schema_lock"), _q("schema_unlock")
    while not (await conn.fetch(lock, key))[0]["ok"]:  # noqa: ASYNC110
        await asyncio.sleep(LOCK_POLL_SECONDS)
    try:
        yield
    except BaseException:
        try:  # the statement may have failed with the connection: keep the first error
            await conn.execute(unlock, key)
        except Exception:
            pass
        raise
    await conn.execute(unlock, key)


async def inspect(target: Target, names: Names) -> Catalog:
    """The installed objects of ``names``, read from the catalog."""
    conn = as_session(target)
    return await read_catalog(conn, names)


async def is_installed(target: Target, names: Names) -> bool:
    """True when any table, the enum type or the function of ``names`` exists."""
    conn = as_session(target)
    return not (await read_catalog(conn, names)).empty


async def install(
    target: Target,
    names: Names,
    durability: Durability | str = Durability.durable,
    *,
    create_schema: bool = True,
) -> None:
    """Create the tables, type, indexes, function and triggers in one transaction.

    Raises SchemaAlreadyInstalledError when anything of ``names`` already exists.
    """
    conn = as_session(target)
    async with schema_lock(conn, names):
        if not (await read_catalog(conn, names)).empty:
            raise SchemaAlreadyInstalledError(
                f"PgQueuer is already installed ({names.describe()}). "
                "Run 'pgq upgrade' to bring it up to date."
            )
        await conn.execute(render.install_sql(names, durability, create_schema=create_schema))


async def uninstall(target: Target, names: Names) -> None:
    """Drop exactly what install creates. Safe to run twice."""
    conn = as_session(target)
    async with schema_lock(conn, names):
        await conn.execute(render.uninstall_sql(names))


async def plan(
    target: Target,
    names: Names,
    *,
    durability: Durability | None = None,
    widen_id: bool = True,
) -> Plan:
    """What upgrade would do now, without changing anything."""
    conn = as_session(target)
    return plan_upgrade(
        declare(names), await read_catalog(conn, names), durability=durability, widen_id=widen_id
    )


async def upgrade(
    target: Target,
    names: Names,
    *,
    durability: Durability | None = None,
    widen_id: bool = True,
    on_step: Callable[[Step], None] | None = None,
) -> Plan:
    """Converge the installed layout to the current one, keeping every row.

    Runs under the advisory lock, re-reading the catalog once it holds it, so concurrent
    upgrades are safe and the second one finds nothing to do. Each step runs on its own (enum
    labels cannot be used in the transaction that adds them; CREATE INDEX CONCURRENTLY cannot
    run in one at all). Raises the first SchemaDriftError before changing anything.
    """
    conn = as_session(target)
    async with schema_lock(conn, names):
        todo = await plan(conn, names, durability=durability, widen_id=widen_id)
        if todo.drift:
            raise todo.drift[0]
        for step in todo.steps:
            if on_step is not None:
                on_step(step)
            await conn.execute(step.sql)
        return todo


async def verify(
    target: Target,
    names: Names,
    *,
    expect: Literal["present", "absent"] = "present",
    durability: Durability | None = None,
) -> list[str]:
    """One line per difference between the database and ``expect``; empty when it matches."""
    conn = as_session(target)
    catalog = await read_catalog(conn, names)
    if expect == "absent":
        return _present_objects(catalog, names)
    decl = declare(names)
    if catalog.empty:
        lines = [f"missing table {names.bare(t.name)!r}" for t in decl.tables]
        lines.append(f"missing type {names.bare(names.queue_status_type)!r}")
        lines.append(f"missing function {names.bare(names.function)!r}")
        lines.extend(f"missing trigger {t.name!r}" for t in decl.triggers)
        return lines
    lines = plan_upgrade(decl, catalog).differences
    installed = infer_durability(catalog)
    if installed is None:
        states = ", ".join(
            f"{names.bare(t.name)}={'logged' if t.logged else 'unlogged'}"
            for t in catalog.tables.values()
        )
        lines.append(f"tables match no durability level ({states})")
    elif durability is not None and installed != durability:
        for field, logged in PERSISTENCE[durability].items():
            table = catalog.tables.get(field)
            if table is not None and table.logged != logged:
                want = "logged" if logged else "UNLOGGED"
                lines.append(
                    f"table {table.name!r} is {'logged' if table.logged else 'UNLOGGED'}, "
                    f"expected {want} for durability {durability.value!r}"
                )
    return lines


def _present_objects(catalog: Catalog, names: Names) -> list[str]:
    lines = [f"unexpected table {t.name!r}" for t in catalog.tables.values()]
    if catalog.enum_labels is not None:
        lines.append(f"unexpected type {names.bare(names.queue_status_type)!r}")
    if catalog.retired_enum:
        lines.append(f"unexpected type '{names.prefix.lower()}pgqueuer_statistics_status'")
    if catalog.function_source is not None:
        lines.append(f"unexpected function {names.bare(names.function)!r}")
    lines.extend(
        f"unexpected trigger {name!r}" for name in catalog.triggers if name in names.trigger_names
    )
    return lines


async def durability_changes(
    target: Target, names: Names, durability: Durability | str
) -> str | None:
    """The ALTER TABLE statements that move the installed tables to a level, or None."""
    conn = as_session(target)
    level = Durability.parse(durability)
    catalog = await read_catalog(conn, names)
    if not catalog.tables:
        raise SchemaNotInstalledError.for_names(names)
    differ = {f for f, t in catalog.tables.items() if t.logged != PERSISTENCE[level][f]}
    if not differ:
        return None
    return render.durability_sql(names, level, only=differ)


async def set_durability(target: Target, names: Names, durability: Durability | str) -> bool:
    """Make the tables LOGGED/UNLOGGED for a level, keeping every row. False if nothing to do.

    Each changed table is rewritten under an ACCESS EXCLUSIVE lock; all in one transaction.
    """
    conn = as_session(target)
    async with schema_lock(conn, names):
        sql = await durability_changes(conn, names, durability)
        if sql is None:
            return False
        await conn.execute(sql)
        return True


async def autovac(target: Target, names: Names, *, rollback: bool = False) -> None:
    """Apply (or RESET) the autovacuum storage parameters for a high-churn queue."""
    conn = as_session(target)
    async with schema_lock(conn, names):
        if not (await read_catalog(conn, names)).tables:
            raise SchemaNotInstalledError.for_names(names)
        await conn.execute(render.autovac_sql(names, rollback=rollback))
