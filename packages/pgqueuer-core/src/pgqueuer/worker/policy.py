"""The worker's decisions, as plain functions: what to claim, when to write back, how long to wait.

Nothing here touches asyncio or the database; ``loop.py`` reads the worker's state, asks these
functions, and then does the round trip or the wait they call for. Each function is one rule of
the claim loop, so it can be unit-tested on its own (tests/core/test_worker_policy.py):

* a claim asks for at most ``batch`` jobs and never more than there are free seats; it waits
  until half a batch (``refill``) is free, unless nothing runs at all, and only while there may
  be work (``hint``: a NOTIFY, a timeout or a full claim said so);
* finished jobs are written back with the next claim, or on their own once a batch-half has
  piled up, a concurrency seat was freed, nothing runs any more, the worker stops, or the
  oldest has waited ``flush_after``;
* otherwise the loop sleeps until the first of: the poll interval, the next deferred job, the
  flush delay, the locked-row retry, the shutdown deadline (and at most a second while the
  LISTEN connection is down, so polling covers for it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FLUSH_AFTER = 0.01  # seconds a finished job may wait for a claim to ride along with
LISTENER_FAILURE_GRACE = 10.0  # seconds the listener may stay down before it counts as failed
LISTENER_DOWN_POLL = 1.0  # poll at least this often while the listener is down
NO_DEADLINE = float("inf")

RETRY_STATES = ("23505", "40P01")  # lost a race for a concurrency seat (unique / deadlock)
MISSING_STATES = ("42P01", "42704")  # undefined table / object: the schema is not installed

ErrorAction = Literal["retry", "missing", "reconnect", "raise"]


@dataclass(frozen=True, slots=True)
class Settings:
    """What ``run()`` fixed for the whole loop."""

    batch: int  # most jobs one claim asks for
    capacity: int  # most jobs running at once
    poll: float  # seconds to sleep without a NOTIFY before claiming anyway
    grace: float | None  # seconds running jobs get at shutdown (None: unlimited)
    refill: int  # free seats a claim waits for (unless nothing runs)
    flush_after: float = FLUSH_AFTER

    @classmethod
    def create(cls, batch: int, capacity: int, poll: float, grace: float | None) -> Settings:
        return cls(batch, capacity, poll, grace, max(1, batch // 2))


def shutdown_deadline(now: float, grace: float | None) -> float:
    """When running jobs are cancelled, once shutdown was asked for at ``now``."""
    return now + grace if grace is not None else NO_DEADLINE


def must_cancel(forced: bool, deadline: float | None, now: float) -> bool:
    """True when the running handlers are to be cancelled (abort, or the grace is over)."""
    return forced or (deadline is not None and now >= deadline)


def listener_failed(
    down_since: float | None, now: float, shutdown_on_failure: bool, stopping: bool
) -> bool:
    """True when a LISTEN connection down for too long should stop the worker."""
    return (
        shutdown_on_failure
        and down_since is not None
        and now - down_since > LISTENER_FAILURE_GRACE
        and not stopping
    )


def claim_size(settings: Settings, running: int, hint: bool, stopping: bool) -> int:
    """How many jobs the next round trip claims (0: none)."""
    free = settings.capacity - running
    if not stopping and hint and free > 0 and (free >= settings.refill or not running):
        return min(settings.batch, free)
    return 0


def should_flush(
    settings: Settings,
    want: int,
    done: int,
    done_since: float | None,
    seat_freed: bool,
    running: int,
    stopping: bool,
    now: float,
) -> bool:
    """True when the ``done`` finished jobs are written back in a round trip now."""
    return done > 0 and (
        want > 0
        or stopping
        or seat_freed  # someone may wait for the concurrency seat this job held
        or done >= settings.refill
        or not running
        or (done_since is not None and now - done_since >= settings.flush_after)
    )


def claim_came_back_short(want: int, got: int) -> bool:
    """True when a claim found fewer jobs than it asked for: no hint until told otherwise."""
    return want > 0 and got < want


def may_stop(stopping: bool, running: int, done: int) -> bool:
    """True when a stopping worker has nothing left to run or write."""
    return stopping and not running and not done


def may_be_drained(
    draining: bool, stopping: bool, running: int, done: int, locked: bool, hint: bool
) -> bool:
    """True when a drain-mode worker should ask whether any work is left at all."""
    return draining and not stopping and not running and not done and not locked and not hint


def wait_timeout(
    settings: Settings,
    now: float,
    listener_down: bool,
    due_at: float | None,
    done_since: float | None,
    locked_retry_at: float | None,
    deadline: float | None,
    poll: float | None = None,
) -> float:
    """Seconds to sleep (or until woken) when no round trip is due.

    ``poll`` replaces ``settings.poll`` when the worker polls instead of listening (its
    interval adapts: ``pgqueuer.listening.next_poll_interval``)."""
    timeout = settings.poll if poll is None else poll
    if listener_down:
        timeout = min(timeout, LISTENER_DOWN_POLL)
    if due_at is not None:
        timeout = min(timeout, max(due_at - now, 0.0))
    if done_since is not None:
        timeout = min(timeout, max(settings.flush_after - (now - done_since), 0.0))
    if locked_retry_at is not None:
        timeout = min(timeout, max(locked_retry_at - now, 0.0))
    if deadline is not None and deadline != NO_DEADLINE:
        timeout = min(timeout, max(deadline - now, 0.0) + 0.001)
    return timeout


def on_round_trip_error(state: str | None, connection_error: bool) -> ErrorAction:
    """What a failed round trip calls for, from its SQLSTATE and whether the connection broke.

    ``retry``: lost a race for a seat, nothing was written; ``missing``: the schema is not
    installed; ``reconnect``: the connection is gone; ``raise``: anything else.
    """
    if state in RETRY_STATES:
        return "retry"
    if state in MISSING_STATES:
        return "missing"
    if connection_error:
        return "reconnect"
    return "raise"
