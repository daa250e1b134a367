"""``SyncQueries``: enqueue from blocking code (Flask, Django, scripts) through a ``SyncDriver``.

It runs the same named SQL blocks as ``Queries.enqueue`` and ``Queries.queue_size``, with the
same argument checks (``pgqueuer.backends.args``), results and errors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from pgqueuer.backends.args import enqueue_batch, resolve_names
from pgqueuer.backends.sql_queue import SqlQueue, duplicate_key, is_unique_violation, violation
from pgqueuer.db import SyncDriver
from pgqueuer.models import QueueStatistics
from pgqueuer.names import Names
from pgqueuer.sql import load_blocks
from pgqueuer.types import OnConflict

_BLOCKS = {"raise": "enqueue", "skip": "enqueue_skip", "update_priority": "enqueue_update_priority"}


class SyncQueries:
    """``enqueue`` and ``queue_size`` over a blocking driver: ``SyncQueries(SyncPsycopgDriver(c))``.

    Object names come from ``names`` (or the ``PGQUEUER_*`` settings), which may also be given
    in the second position, where PgQueuer takes its ``qbq`` query builder: builders do not
    exist here, so any other ``qbq`` is a TypeError. ``tracer`` is kept as ``.tracer``; no
    tracing headers are added yet.
    """

    def __init__(
        self,
        driver: SyncDriver,
        qbq: Any = None,
        tracer: Any = None,
        *,
        names: Names | None = None,
    ) -> None:
        self.driver = driver
        self.tracer = tracer
        self.names = resolve_names("SyncQueries", qbq, None, None, names, Names.from_env())
        blocks = load_blocks("pgqueuer.sql", "queries.sql")
        self._sql = {
            key: self.names.substitute(blocks[key]) for key in (*_BLOCKS.values(), "queue_size")
        }
        self._dedupe_index = self.names.derived(self.names.queue_table, "_unique_dedupe_key")

    def enqueue(
        self,
        entrypoint: str | Sequence[str],
        payload: bytes | Sequence[bytes | None] | None = None,
        priority: int | Sequence[int] = 0,
        execute_after: timedelta | Sequence[timedelta | None] | None = None,
        dedupe_key: str | Sequence[str | None] | None = None,
        headers: Mapping[str, Any] | Sequence[Mapping[str, Any] | None] | None = None,
        *,
        on_conflict: OnConflict = "raise",
    ) -> list[Any]:
        """Queue one job or a batch in one statement; the same as ``Queries.enqueue``."""
        b = enqueue_batch(
            entrypoint, payload, priority, execute_after, dedupe_key, headers, on_conflict
        )
        if not b.entrypoints:
            return []
        arrays = (b.priorities, b.entrypoints, b.payloads, b.delays, b.keys, b.headers)
        try:
            rows = self.driver.fetch(self._sql[_BLOCKS[on_conflict]], *arrays)
        except Exception as exc:
            if not is_unique_violation(exc) or violation(exc)[0] != self._dedupe_index:
                raise
            raise duplicate_key(exc, b.keys) from None
        return SqlQueue._map_ids(rows, b.keys, on_conflict)

    def queue_size(self) -> list[QueueStatistics]:
        rows: list[dict[str, Any]] = self.driver.fetch(self._sql["queue_size"])
        return [
            QueueStatistics(r["count"], r["entrypoint"], r["priority"], r["status"]) for r in rows
        ]


__all__ = ["SyncQueries"]
