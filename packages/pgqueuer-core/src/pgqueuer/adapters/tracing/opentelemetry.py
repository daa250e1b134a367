"""OpenTelemetry tracing (extra ``tracing``): PgQueuer's ``OpenTelemetryTracing``.

Enqueue opens a PRODUCER ``send <entrypoint>`` span (a batch: a CLIENT ``send`` span with a
PRODUCER ``create <entrypoint>`` span per job) and writes its W3C context (traceparent,
tracestate, baggage) into the job's headers under ``otel``. Each execution runs in a CONSUMER
``process <entrypoint>`` span whose parent is that context (and which links to it), so a job's
enqueue and all its attempts form one trace, across processes. Without opentelemetry-api
installed, both sides are no-ops.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Generator
from typing import TYPE_CHECKING, Any

from pgqueuer.adapters.tracing._common import outcome_of, queue_seconds
from pgqueuer.models import Job

try:
    from opentelemetry import propagate
    from opentelemetry import trace as otel_trace

    AVAILABLE = True
except ImportError:  # the adapter degrades to a no-op
    AVAILABLE = False

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

__all__ = ["HEADER_KEY", "OpenTelemetryTracing"]

HEADER_KEY = "otel"


class OpenTelemetryTracing:
    """Producer and consumer spans through an OpenTelemetry tracer.

    ``tracer``: the tracer to use (default: the global provider's, named
    ``instrumentation_name``, looked up when a span starts so a provider set later counts).
    """

    def __init__(
        self, tracer: Tracer | None = None, instrumentation_name: str = "pgqueuer"
    ) -> None:
        self._tracer = tracer
        self.instrumentation_name = instrumentation_name

    def _get(self) -> Tracer:
        if self._tracer is not None:
            return self._tracer
        return otel_trace.get_tracer(self.instrumentation_name)

    def trace_publish(self, entrypoints: list[str]) -> Generator[dict[str, object], None, None]:
        """One header dict per job (``{"otel": carrier}``), inside the producer span(s)."""
        if not AVAILABLE:
            for _ in entrypoints:
                yield {}
            return
        tracer = self._get()
        kind = otel_trace.SpanKind
        if len(entrypoints) == 1:
            (ep,) = entrypoints
            with tracer.start_as_current_span(
                f"send {ep}", kind=kind.PRODUCER, attributes=_publish_attributes("send", ep, 1)
            ):
                yield {HEADER_KEY: _carrier()}
            return
        with tracer.start_as_current_span(
            "send", kind=kind.CLIENT, attributes=_publish_attributes("send", None, len(entrypoints))
        ):
            for ep in entrypoints:
                with tracer.start_as_current_span(
                    f"create {ep}",
                    kind=kind.PRODUCER,
                    attributes=_publish_attributes("create", ep, 1),
                ):
                    carrier = _carrier()
                yield {HEADER_KEY: carrier}

    @contextlib.asynccontextmanager
    async def trace_process(self, job: Job) -> AsyncIterator[None]:
        """A CONSUMER span around one execution, parented on (and linked to) the enqueue."""
        if not AVAILABLE:
            yield
            return
        carrier = job.otel_headers()
        parent = propagate.extract(carrier) if carrier else None
        links = []
        if parent is not None:
            linked = otel_trace.get_current_span(parent).get_span_context()
            if linked.is_valid:
                links.append(otel_trace.Link(linked))
        attributes: dict[str, Any] = {
            "messaging.system": "pgqueuer",
            "messaging.operation.type": "process",
            "messaging.destination.name": job.entrypoint,
            "messaging.message.id": str(job.id),
            "pgqueuer.job.id": job.id,
            "pgqueuer.job.attempt": job.attempts + 1,
            "pgqueuer.job.queue_seconds": queue_seconds(job),
        }
        with self._get().start_as_current_span(
            f"process {job.entrypoint}",
            context=parent,
            kind=otel_trace.SpanKind.CONSUMER,
            links=links,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield
            except BaseException as exc:
                outcome = outcome_of(exc)
                span.set_attribute("pgqueuer.job.outcome", outcome)
                span.record_exception(exc)
                if outcome == "exception":
                    span.set_status(otel_trace.StatusCode.ERROR, f"{type(exc).__name__}: {exc}")
                raise
            span.set_attribute("pgqueuer.job.outcome", "successful")


def _publish_attributes(operation: str, entrypoint: str | None, count: int) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "messaging.system": "pgqueuer",
        "messaging.operation.type": operation,
        "messaging.batch.message_count": count,
    }
    if entrypoint is not None:
        attributes["messaging.destination.name"] = entrypoint
    return attributes


def _carrier() -> dict[str, str]:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)  # traceparent, tracestate, baggage of the current span
    return carrier
