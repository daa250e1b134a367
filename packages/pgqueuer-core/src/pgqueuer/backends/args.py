"""What both repositories share: argument checks, the worker's write-back record, names."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pgqueuer.backoff import locked_row_delays
from pgqueuer.models import Job, as_interval
from pgqueuer.names import Names
from pgqueuer.types import OnConflict

INT32 = 2**31 - 1
OUTCOMES = frozenset({"successful", "exception", "canceled", "failed", "queued", "release"})
STALE_MAX_ATTEMPTS = 5  # dequeue(heartbeat_timeout=...): a stale job is held after this many


@dataclass(frozen=True, slots=True)
class EntrypointExecutionParameter:
    """What a worker's claim needs per entrypoint (PgQueuer's name)."""

    concurrency_limit: int = 0


@dataclass(frozen=True, slots=True)
class Finished:
    """A job the worker is done with, waiting to be written back."""

    id: int
    outcome: str  # one of OUTCOMES
    traceback: str | None = None  # TracebackRecord JSON
    delay: timedelta | None = None  # for outcome "queued"


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """What one ``try_finish_and_claim`` did: the jobs it claimed, and the finished jobs it
    did not write because another transaction held their row lock (send them again later).
    A finished job that is gone or no longer held by the worker is neither: it is dropped."""

    jobs: list[Job]
    skipped: list[Finished]


Attempt = Callable[..., Awaitable[RoundTrip]]


async def finish_all(attempt: Attempt, skipped: list[Finished], queue_manager_id: Any) -> None:
    """Send ``skipped`` again, finishing only, until none is skipped (waits, polling, with
    short growing pauses, while another transaction holds one of their rows)."""
    delays = locked_row_delays()
    while skipped:
        await asyncio.sleep(next(delays))
        skipped = (await attempt(skipped, queue_manager_id, [], [], 0)).skipped


def resolve_names(
    owner: str, qbe: Any, qbq: Any, qbs: Any, names: Names | None, default: Names
) -> Names:
    """The names of a repository built as ``X(driver, names)`` or PgQueuer's ``X(driver, qbe=...)``.

    PgQueuer configures names through query-builder objects; here a :class:`Names` does that,
    accepted in the second position (where PgQueuer's ``qbe`` is) or as ``names=``.
    """
    if isinstance(qbe, Names):
        if names is not None:
            raise TypeError(f"{owner}() got names twice (positionally and as names=)")
        names, qbe = qbe, None
    for label, value in (("qbe", qbe), ("qbq", qbq), ("qbs", qbs)):
        if value is not None:
            raise TypeError(
                f"{owner}(): {label}= query builders do not exist here; pass "
                "names=pgqueuer.names.Names.create(...) (or Names.from_env()) for custom names"
            )
    return names if names is not None else default


def as_list(value: Any, n: int, what: str) -> list[Any]:
    if isinstance(value, list | tuple):
        if len(value) != n:
            raise ValueError(
                f"enqueue: {what} has {len(value)} items but entrypoint has {n}; "
                "batch lists must all have the same length"
            )
        return list(value)
    return [value] * n


def check_payload(value: Any) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        raise TypeError("enqueue: payload must be bytes or None, not str: pass payload.encode()")
    raise TypeError(f"enqueue: payload must be bytes or None, not {type(value).__name__}")


def check_priority(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"enqueue: priority must be an int, not {type(value).__name__}")
    if not -INT32 - 1 <= value <= INT32:
        raise ValueError(f"enqueue: priority {value} is outside -2147483648..2147483647")
    return value


def check_entrypoint(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"enqueue: entrypoint must be a non-empty str, got {value!r}")
    return value


def check_key(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"enqueue: dedupe_key must be a str or None, got {value!r}")
    return value


def check_headers(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TypeError(f"enqueue: headers must be a dict or None, got {type(value).__name__}")
    try:
        return json.dumps(dict(value))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"enqueue: headers must be JSON-serialisable: {exc}") from None


def check_delay(value: Any) -> timedelta:
    try:
        return as_interval(value)
    except TypeError:
        raise TypeError(
            f"enqueue: execute_after must be a timedelta (a delay from now), got {value!r}"
        ) from None


@dataclass(slots=True)
class EnqueueBatch:
    """Validated, parallel columns of one enqueue call."""

    entrypoints: list[str]
    payloads: list[bytes | None]
    priorities: list[int]
    delays: list[timedelta]
    keys: list[str | None]
    headers: list[str | None]  # JSON text


def enqueue_batch(
    entrypoint: str | Sequence[str],
    payload: Any,
    priority: Any,
    execute_after: Any,
    dedupe_key: Any,
    headers: Any,
    on_conflict: OnConflict,
) -> EnqueueBatch:
    """Check an enqueue call's arguments; TypeError/ValueError name the bad one."""
    if on_conflict not in ("raise", "skip", "update_priority"):
        raise ValueError(
            f"enqueue: on_conflict must be 'raise', 'skip' or 'update_priority', "
            f"not {on_conflict!r}"
        )
    if isinstance(entrypoint, str):
        if isinstance(payload, list | tuple):
            raise TypeError("enqueue: a list of payloads needs a list of entrypoints")
        eps = [check_entrypoint(entrypoint)]
    else:
        eps = [check_entrypoint(e) for e in entrypoint]
    n = len(eps)
    if isinstance(headers, Mapping) or headers is None:
        header_list = [check_headers(headers)] * n
    else:
        header_list = [check_headers(h) for h in as_list(headers, n, "headers")]
    batch = EnqueueBatch(
        eps,
        [check_payload(p) for p in as_list(payload, n, "payload")],
        [check_priority(p) for p in as_list(priority, n, "priority")],
        [check_delay(d) for d in as_list(execute_after, n, "execute_after")],
        [check_key(k) for k in as_list(dedupe_key, n, "dedupe_key")],
        header_list,
    )
    if on_conflict == "update_priority":
        seen = [k for k in batch.keys if k is not None]
        if len(seen) != len(set(seen)):
            raise ValueError(
                "enqueue: on_conflict='update_priority' needs distinct dedupe keys within one batch"
            )
    return batch


def entrypoint_set(entrypoint: str | Sequence[str] | None) -> list[str] | None:
    """``clear_*(entrypoint)``'s argument as a list (None: every entrypoint)."""
    if entrypoint is None:
        return None
    return [entrypoint] if isinstance(entrypoint, str) else list(entrypoint)
