"""Logfire tracing (extra ``logfire``): PgQueuer's ``LogfireTracing``, header key ``logfire``.

Without the logfire SDK installed, both sides are no-ops.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Generator
from typing import Any

from pgqueuer.adapters.tracing._common import outcome_of, queue_seconds
from pgqueuer.adapters.tracing._sdk import optional_sdk
from pgqueuer.models import Job

__all__ = ["HEADER_KEY", "LogfireTracing"]

HEADER_KEY = "logfire"


class LogfireTracing:
    """Producer and consumer spans through logfire (its context travels in the headers)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._logfire = optional_sdk("logfire")
        self._propagate = optional_sdk("logfire.propagate") if self._logfire else None

    def trace_publish(self, entrypoints: list[str]) -> Generator[dict[str, object], None, None]:
        if self._logfire is None or self._propagate is None:
            for _ in entrypoints:
                yield {}
            return
        for ep in entrypoints:
            with self._logfire.span(
                "send {entrypoint}", entrypoint=ep, messaging_system="pgqueuer"
            ):
                carrier = dict(self._propagate.get_context())
            yield {HEADER_KEY: carrier}

    @contextlib.asynccontextmanager
    async def trace_process(self, job: Job) -> AsyncIterator[None]:
        if self._logfire is None or self._propagate is None:
            yield
            return
        carrier = job.logfire_headers() or {}
        with (
            self._propagate.attach_context(carrier),
            self._logfire.span(
                "process {entrypoint}",
                entrypoint=job.entrypoint,
                job_id=job.id,
                attempt=job.attempts + 1,
                queue_seconds=queue_seconds(job),
            ) as span,
        ):
            try:
                yield
            except BaseException as exc:
                span.set_attribute("outcome", outcome_of(exc))
                span.record_exception(exc)
                raise
            span.set_attribute("outcome", "successful")
