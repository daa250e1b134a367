"""Sentry tracing (extra ``sentry``): PgQueuer's ``SentryTracing``, header key ``sentry``.

Enqueue runs in a ``queue_producer_transaction`` with a ``queue.publish`` span per job and
writes ``sentry-trace`` and ``baggage`` into the job's headers; each execution continues that
trace in a ``queue_consumer_transaction`` with a ``queue.process`` span. Without sentry-sdk
installed, both sides are no-ops.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Generator
from typing import Any

from pgqueuer.adapters.tracing._common import outcome_of, queue_seconds
from pgqueuer.adapters.tracing._sdk import optional_sdk
from pgqueuer.models import Job

__all__ = ["HEADER_KEY", "SentryTracing"]

HEADER_KEY = "sentry"


class SentryTracing:
    """Producer and consumer transactions through sentry-sdk."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._sdk = optional_sdk("sentry_sdk")

    def trace_publish(self, entrypoints: list[str]) -> Generator[dict[str, object], None, None]:
        sdk = self._sdk
        if sdk is None:
            for _ in entrypoints:
                yield {}
            return
        with sdk.start_transaction(op="function", name="queue_producer_transaction"):
            for ep in entrypoints:
                with sdk.start_span(op="queue.publish", name=ep) as span:
                    span.set_data("messaging.destination.name", ep)
                    span.set_data("messaging.system", "pgqueuer")
                    carrier = {
                        "sentry-trace": sdk.get_traceparent(),
                        "baggage": sdk.get_baggage(),
                    }
                yield {HEADER_KEY: carrier}

    @contextlib.asynccontextmanager
    async def trace_process(self, job: Job) -> AsyncIterator[None]:
        sdk = self._sdk
        if sdk is None:
            yield
            return
        transaction = sdk.continue_trace(
            job.sentry_headers() or {}, op="function", name="queue_consumer_transaction"
        )
        with (
            sdk.start_transaction(transaction),
            sdk.start_span(op="queue.process", name=job.entrypoint) as span,
        ):
            span.set_data("messaging.message.id", job.id)
            span.set_data("messaging.destination.name", job.entrypoint)
            span.set_data("messaging.message.retry.count", job.attempts)
            span.set_data("messaging.message.receive.latency", queue_seconds(job) * 1000)
            try:
                yield
            except BaseException as exc:
                span.set_data("pgqueuer.job.outcome", outcome_of(exc))
                if outcome_of(exc) == "exception":
                    sdk.capture_exception(exc)
                raise
            span.set_data("pgqueuer.job.outcome", "successful")
