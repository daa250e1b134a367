"""What the tracing adapters share: outcome names and a job's time in queue."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from pgqueuer.errors import RetryRequested
from pgqueuer.models import Job


def outcome_of(exc: BaseException | None) -> str:
    """The outcome attribute of one execution, from what escaped the handler."""
    if exc is None:
        return "successful"
    if isinstance(exc, RetryRequested):
        return "retried"
    if isinstance(exc, BaseExceptionGroup) and exc.split(RetryRequested)[1] is None:
        return "retried"
    if isinstance(exc, asyncio.CancelledError):
        return "canceled"
    return "exception"


def queue_seconds(job: Job) -> float:
    """Seconds from when the job became due (or was created, if later) to now."""
    since = max(job.execute_after, job.created)
    return max((datetime.now(UTC) - since).total_seconds(), 0.0)
