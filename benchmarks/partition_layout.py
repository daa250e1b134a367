"""The queue layouts benchmarks/partitioned.py compares: plain, and partitioned on entrypoint.

``install(layout, args)`` installs the schema afresh into BENCH_SCHEMA (default
pgq_bench_part); for the partitioned layout it then declares the queue table again from
pgqueuer_schema's own declaration, partitioned (see partitioned.py's docstring for what changes).
"""

from __future__ import annotations

import argparse
import os
import sys

import asyncpg

os.environ.setdefault("PGQUEUER_SCHEMA", os.environ.get("BENCH_SCHEMA", "pgq_bench_part"))
SCHEMA = os.environ["PGQUEUER_SCHEMA"]

from pgqueuer.db import AsyncpgDriver  # noqa: E402
from pgqueuer.names import Names, quote_ident, quote_literal  # noqa: E402
from pgqueuer.queries import Queries  # noqa: E402
from pgqueuer_schema.declaration import declare  # noqa: E402
from pgqueuer_schema.render import index_sql, table_sql, trigger_sql  # noqa: E402

DSN = os.environ.get("PGQUEUER_DSN")
NAMES = Names.create(schema=SCHEMA)
LAYOUTS = ("plain", "partitioned")


def partition_ddl(names: Names, by: str, eps: list[str], partitions: int) -> list[str]:
    """Statements that replace the installed queue table with a partitioned one.

    Built from the schema package's declaration, so the columns, indexes and triggers are the
    ones install creates; only the partition clause and the unique keys differ (see the module
    docstring). ``by`` is ``list`` (one partition per entrypoint, plus a default one for any
    other) or ``hash`` (``partitions`` partitions on hash(entrypoint)). The trigger function is
    kept (DROP TABLE leaves it).
    """
    decl = declare(names)
    queue = names.qualify(names.queue_table)
    table = table_sql(names, decl.table("queue_table"), logged=True)
    if table.count("PRIMARY KEY (id)") != 1:
        sys.exit("partitioned.py: the queue table's primary key changed; update this script")
    table = table.replace("PRIMARY KEY (id)", "PRIMARY KEY (id, entrypoint)")
    table = table.rstrip(";") + f" PARTITION BY {by.upper()} (entrypoint);"
    out = [f"DROP TABLE {queue};", table]
    bare = names.bare(names.queue_table)
    if by == "list":
        bounds = [f"FOR VALUES IN ({quote_literal(ep)})" for ep in eps] + ["DEFAULT"]
    else:
        bounds = [
            f"FOR VALUES WITH (MODULUS {partitions}, REMAINDER {r})" for r in range(partitions)
        ]
    for r, bound in enumerate(bounds):
        out.append(f"CREATE TABLE {names.qualify(f'{bare}_p{r}')} PARTITION OF {queue} {bound};")
    for index in decl.indexes:
        if index.table != "queue_table":
            continue
        sql = index_sql(names, index)
        if index.unique and "(entrypoint" not in index.tail:
            # a unique index on a partitioned table must contain the partition key
            head, rest = sql.split(" USING btree (", 1)
            columns, predicate = rest.split(")", 1)
            sql = f"{head} USING btree ({columns}, entrypoint){predicate}"
        out.append(sql)
    out.extend(trigger_sql(names, t) for t in decl.triggers)
    return out


async def connect() -> asyncpg.Connection:
    return await asyncpg.connect(DSN)


async def install(layout: str, args: argparse.Namespace) -> None:
    conn = await connect()
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {quote_ident(SCHEMA)} CASCADE")
        await conn.execute(f"CREATE SCHEMA {quote_ident(SCHEMA)}")
        await Queries(AsyncpgDriver(conn)).install()
        if layout != "plain":
            async with conn.transaction():
                ddl = partition_ddl(NAMES, args.by, entrypoints(args.entrypoints), args.partitions)
                for statement in ddl:
                    await conn.execute(statement)
    finally:
        await conn.close()


def entrypoints(n: int) -> list[str]:
    return [f"ep{i}" for i in range(n)]


def served(i: int, args: argparse.Namespace) -> list[str]:
    """The entrypoints worker i serves: all of them, or one each with --dedicated."""
    eps = entrypoints(args.entrypoints)
    return [eps[i % len(eps)]] if args.dedicated else eps


async def fill(jobs: int, eps: list[str], batch: int = 1000) -> None:
    conn = await connect()
    try:
        queries = Queries(AsyncpgDriver(conn))
        for start in range(0, jobs, batch):
            size = min(batch, jobs - start)
            names = [eps[(start + i) % len(eps)] for i in range(size)]
            await queries.enqueue(names, [None] * size, [0] * size)
        await conn.execute(f"ANALYZE {NAMES.qualify(NAMES.queue_table)}")
    finally:
        await conn.close()


async def index_scans() -> dict[str, int]:
    """idx_scan per queue and log index, partitions' indexes summed into their parent's."""
    conn = await connect()
    try:
        rows = await conn.fetch(
            "SELECT coalesce(parent.relname, s.indexrelname) AS name, sum(s.idx_scan) AS n "
            "FROM pg_stat_user_indexes AS s "
            "LEFT JOIN pg_inherits AS h ON h.inhrelid = s.indexrelid "
            "LEFT JOIN pg_class AS parent ON parent.oid = h.inhparent "
            "WHERE s.schemaname = $1 GROUP BY 1",
            SCHEMA,
        )
        return {r["name"]: int(r["n"]) for r in rows}
    finally:
        await conn.close()
