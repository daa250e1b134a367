"""``SyncQueries``: enqueue from blocking code (Flask, Django, scripts) through a ``SyncDriver``.

It runs the same named SQL blocks as ``Queries.enqueue`` and ``Queries.queue_size``, with the
same argument checks (the helpers in ``pgqueuer.queries``), results and errors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pgqueuer.db import SyncDriver, unique_violation
from pgqueuer.errors import DuplicateJobError
from pgqueuer.models import QueueStatistics
from pgqueuer.names import Names
from pgqueuer.queries import (
    _KEY_DETAIL,
    Queries,
    _as_list,
    _check_delay,
    _check_entrypoint,
    _check_headers,
    _check_key,
    _check_payload,
    _check_priority,
)
from pgqueuer.sql import load_blocks
from pgqueuer.types import OnConflict

_BLOCKS = {"raise": "enqueue", "skip": "enqueue_skip", "update_priority": "enqueue_update_priority"}


@dataclass(frozen=True, slots=True)
class EnqueueBatch:
    """Checked ``enqueue`` arguments: the SQL block to run and its six parallel arrays."""

    block: str
    keys: list[str | None]
    arrays: tuple[list[Any], ...]


def prepare_enqueue(
    entrypoint: str | Sequence[str],
    payload: Any,
    priority: Any,
    execute_after: Any,
    dedupe_key: Any,
    headers: Any,
    on_conflict: OnConflict,
) -> EnqueueBatch | None:
    """Validate ``enqueue``'s arguments as ``Queries.enqueue`` does; None for an empty batch."""
    if on_conflict not in _BLOCKS:
        raise ValueError(
            f"enqueue: on_conflict must be 'raise', 'skip' or 'update_priority', "
            f"not {on_conflict!r}"
        )
    if isinstance(entrypoint, str):
        if isinstance(payload, list | tuple):
            raise TypeError("enqueue: a list of payloads needs a list of entrypoints")
        eps = [_check_entrypoint(entrypoint)]
    else:
        eps = [_check_entrypoint(e) for e in entrypoint]
    n = len(eps)
    if n == 0:
        return None
    payloads = [_check_payload(p) for p in _as_list(payload, n, "payload")]
    priorities = [_check_priority(p) for p in _as_list(priority, n, "priority")]
    delays = [_check_delay(d) for d in _as_list(execute_after, n, "execute_after")]
    keys = [_check_key(k) for k in _as_list(dedupe_key, n, "dedupe_key")]
    if isinstance(headers, Mapping) or headers is None:
        header_list = [_check_headers(headers)] * n
    else:
        header_list = [_check_headers(h) for h in _as_list(headers, n, "headers")]
    if on_conflict == "update_priority":
        seen = [k for k in keys if k is not None]
        if len(seen) != len(set(seen)):
            raise ValueError(
                "enqueue: on_conflict='update_priority' needs distinct dedupe keys within one batch"
            )
    arrays = (priorities, eps, payloads, delays, keys, header_list)
    return EnqueueBatch(_BLOCKS[on_conflict], keys, arrays)


def duplicate_job_error(
    exc: BaseException, dedupe_index: str, keys: list[str | None]
) -> DuplicateJobError | None:
    """The DuplicateJobError for a unique violation of the dedupe index (asyncpg or psycopg)."""
    violation = unique_violation(exc)
    if violation is None or violation[0] != dedupe_index:
        return None
    match = _KEY_DETAIL.search(violation[1] or "")
    return DuplicateJobError(match.group(1) if match else keys)


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
        if isinstance(qbq, Names):
            if names is not None:
                raise TypeError("SyncQueries() got names twice (positionally and as names=)")
            names, qbq = qbq, None
        if qbq is not None:
            raise TypeError(
                "SyncQueries(): qbq= query builders do not exist here; pass "
                "names=pgqueuer.names.Names.create(...) (or Names.from_env()) for custom names"
            )
        self.driver = driver
        self.tracer = tracer
        self.names = names or Names.from_env()
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
        batch = prepare_enqueue(
            entrypoint, payload, priority, execute_after, dedupe_key, headers, on_conflict
        )
        if batch is None:
            return []
        try:
            rows = self.driver.fetch(self._sql[batch.block], *batch.arrays)
        except Exception as exc:
            duplicate = duplicate_job_error(exc, self._dedupe_index, batch.keys)
            if duplicate is not None:
                raise duplicate from None
            raise
        return Queries._map_ids(rows, batch.keys, on_conflict)

    def queue_size(self) -> list[QueueStatistics]:
        rows: list[dict[str, Any]] = self.driver.fetch(self._sql["queue_size"])
        return [
            QueueStatistics(r["count"], r["entrypoint"], r["priority"], r["status"]) for r in rows
        ]


__all__ = ["EnqueueBatch", "SyncQueries", "duplicate_job_error", "prepare_enqueue"]
