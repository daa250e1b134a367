"""Is a connection pooler (PgBouncer) between the worker and PostgreSQL, and does it pool
transactions?

Neither PostgreSQL nor PgBouncer 1.18 offers a documented "am I behind a bouncer?" call, so
two facts of the protocol are used instead:

* **A pooler in between.** At login PostgreSQL sends the client its backend's process id
  (BackendKeyData, used for cancel requests: asyncpg's ``get_server_pid()``, psycopg's
  ``info.backend_pid``). A pooler answers the login itself, with a key of its own (PgBouncer
  makes one up, as its docs on cancel requests describe), so that pid differs from what
  ``pg_backend_pid()`` returns on the server. Directly connected, the two are always equal;
  a plain TCP proxy passes the key through unchanged.
* **Transaction pooling, proven.** Two client connections of the same pooler, used one after
  the other, land on the same server backend only if the pooler hands a backend back between
  transactions: a session-pooling bouncer keeps each client's backend for the whole session,
  so two clients can never share one. Equal backend pids on two connections therefore prove
  transaction (or statement) pooling; different ones prove nothing (the pooler may have picked
  another idle backend), and the worker then warns instead of refusing.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from pgqueuer.driverbase import DRIVER_SQL

logger = logging.getLogger("pgqueuer")

BACKEND_PID = DRIVER_SQL["backend_pid"]
PROOF_ROUNDS = 3


async def _pids_asyncpg(conn: Any) -> tuple[int, int]:
    """(pid from the login's key data, pid the server reports) of an asyncpg connection."""
    announced = int(conn.get_server_pid())
    actual = int(await conn.fetchval(BACKEND_PID))
    return announced, actual


async def backend_pids(driver: Any) -> tuple[int, int] | None:
    """(announced, actual) backend pid of the driver's query connection; None when unknown
    (the in-memory driver, a driver this module does not know)."""
    from pgqueuer.db import AsyncpgDriver, AsyncpgPoolDriver
    from pgqueuer.psycopg_driver import PsycopgDriver

    if isinstance(driver, AsyncpgDriver):
        async with driver.lock:
            return await _pids_asyncpg(driver.connection)
    if isinstance(driver, AsyncpgPoolDriver):
        async with driver.pool.acquire() as conn:
            return await _pids_asyncpg(conn)
    if isinstance(driver, PsycopgDriver):
        announced = int(driver.connection.info.backend_pid)
        rows = await driver.fetch(BACKEND_PID)
        return announced, int(str(rows[0]["pid"]))
    return None


async def behind_pooler(driver: Any) -> bool | None:
    """True when a pooler answers the driver's connection; None when it cannot be told."""
    pids = await backend_pids(driver)
    if pids is None:
        return None
    announced, actual = pids
    return announced != actual


async def transaction_pooling_proven(driver: Any) -> bool:
    """Whether two client connections of the driver's pooler were seen on one backend.

    Only asyncpg drivers are probed (a second connection is opened with the driver's
    ``connect_factory`` and closed again); False means "not proven", never "session pooling".
    """
    from pgqueuer.db import AsyncpgDriver, AsyncpgPoolDriver

    if not isinstance(driver, AsyncpgDriver | AsyncpgPoolDriver):
        return False
    try:
        connect = await driver.connect_factory()
        other = await connect()
    except Exception as exc:  # no second connection: nothing proven
        logger.debug("could not open a second connection to probe the pooler: %s", exc)
        return False
    try:
        for _ in range(PROOF_ROUNDS):
            rows = await driver.fetch(BACKEND_PID)
            mine = int(rows[0]["pid"])
            theirs = int(await other.fetchval(BACKEND_PID))
            if mine == theirs:
                return True
        return False
    finally:
        with contextlib.suppress(Exception):
            await other.close()
