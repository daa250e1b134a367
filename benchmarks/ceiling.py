"""Prepare the pgbench ceiling: the worker's own statement, run by pgbench without Python.

    python benchmarks/ceiling.py SCHEMA JOBS SCRIPT [PRODUCER_SCRIPT]
    python benchmarks/ceiling.py --finished SCHEMA

installs a fresh queue in SCHEMA, fills it with JOBS queued no-op jobs and writes SCRIPT, a
pgbench script whose one transaction is the worker's ``finish_and_claim`` exactly as the worker
sends it (from pgqueuer's queries.sql, names substituted): it finishes the 10 jobs the client
claimed in its previous transaction (successful, one log row each) and claims the next 10, in
one round trip, durably. pgbench keeps the claimed ids in a client variable (``\\gset``). So
each pgbench transaction moves 10 jobs through the same rows, indexes, triggers and commit as
the worker does, and what pgbench sustains is PostgreSQL's own limit for that work on this
machine. compare.py runs it with 5 clients (the benchmark's 5 workers), as prepared
statements with generic plans and JIT off (pgbench -M prepared, PGOPTIONS), as the worker's
connection does: in pgbench's default simple-query mode every call would be planned afresh.

PRODUCER_SCRIPT, when given, gets a second script: the producer's ``enqueue`` of 10 no-op jobs,
as ``Queries.enqueue`` sends it. compare.py runs both scripts at equal weights for the
throughput scenario's ceiling: there PostgreSQL also inserts, indexes and notifies every job,
so the drain's ceiling overstates what producers and consumers together can reach.
``--finished SCHEMA`` prints how many jobs that queue has finished (its log rows) since then.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import asyncpg

from pgqueuer.db import AsyncpgDriver
from pgqueuer.names import Names
from pgqueuer.queries import Queries

ARGS = {
    "$1": ":ids::bigint[]",
    "$2": "array_fill('successful'::text, ARRAY[cardinality(:ids::bigint[])])",
    "$3": "array_fill(NULL::jsonb, ARRAY[cardinality(:ids::bigint[])])",
    "$4": "array_fill(NULL::interval, ARRAY[cardinality(:ids::bigint[])])",
    "$5": "md5(:client_id::text)::uuid",
    "$6": "'{bench}'::text[]",
    "$7": "'{0}'::int[]",
    "$8": "10",
    "$9": "false",
}


ENQUEUE_ARGS = {
    "$1": "array_fill(0, ARRAY[10])",
    "$2": "array_fill('bench'::text, ARRAY[10])",
    "$3": "array_fill(NULL::bytea, ARRAY[10])",
    "$4": "array_fill(interval '0', ARRAY[10])",
    "$5": "array_fill(NULL::text, ARRAY[10])",
    "$6": "array_fill(NULL::jsonb, ARRAY[10])",
}


def _substitute(sql: str, args: dict[str, str]) -> str:
    body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    body = re.sub(r"--[^\n]*", "", body)  # trailing comments
    for param in sorted(args, reverse=True):
        body = body.replace(param, args[param])
    return body


def producer_script(sql: str) -> str:
    body = _substitute(sql, ENQUEUE_ARGS).rstrip()
    if not body.endswith(";") or "$" in body:
        sys.exit("ceiling.py: enqueue no longer has the expected parameters; update this script")
    return body + "\n"


def script(sql: str) -> str:
    body = _substitute(sql, ARGS)
    # The statement ends with the claimed rows, then the skipped (locked) finished ids.
    final = re.compile(
        r"SELECT id, priority, created,.*FROM claimed\s+UNION ALL.*FROM skipped\s+"
        r"ORDER BY skipped, priority DESC, id;",
        re.DOTALL,
    )
    if not final.search(body):
        sys.exit("ceiling.py: finish_and_claim no longer ends as expected; update this script")
    body = final.sub("SELECT coalesce(array_agg(id), '{}') AS ids FROM claimed", body)
    return body.rstrip() + "\n\\gset\n"


async def prepare(schema: str, jobs: int) -> tuple[str, str]:
    conn = await asyncpg.connect(os.environ.get("PGQUEUER_DSN"))
    try:
        names = Names.create(schema=schema)
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        queries = Queries(AsyncpgDriver(conn), names)
        await queries.install()
        await conn.execute(
            names.substitute(
                "INSERT INTO /*@queue_table*/pgqueuer (priority, entrypoint, status) "
                "SELECT 0, 'bench', 'queued' FROM generate_series(1, $1)"
            ),
            jobs,
        )
        await conn.execute(names.substitute("VACUUM ANALYZE /*@queue_table*/pgqueuer"))
        texts = script(queries.sql["finish_and_claim"]), producer_script(queries.sql["enqueue"])
    finally:
        await conn.close()
    return texts


async def finished(schema: str) -> int:
    conn = await asyncpg.connect(os.environ.get("PGQUEUER_DSN"))
    try:
        names = Names.create(schema=schema)
        sql = names.substitute("SELECT count(*) FROM /*@queue_table_log*/pgqueuer_log")
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


if __name__ == "__main__" and sys.argv[1:2] == ["--finished"]:
    print(asyncio.run(finished(sys.argv[2])))
elif __name__ == "__main__":
    consumer, producer = asyncio.run(prepare(sys.argv[1], int(sys.argv[2])))
    Path(sys.argv[3]).write_text(consumer)
    if len(sys.argv) > 4:
        Path(sys.argv[4]).write_text(producer)
