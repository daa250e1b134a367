"""One side of the cross-process trace test (not a test module).

    python otel_process.py produce SPANS_FILE    # enqueue: "flaky" alone, then ["ok", "boom"]
    python otel_process.py work SPANS_FILE       # drain the queue with obs_factories' handlers

Each process has its own OpenTelemetry SDK provider with an in-memory exporter and writes the
finished spans as JSON to SPANS_FILE. The producer traces through ``Queries(tracer=...)``, the
worker through the process-wide ``set_tracing_class``. The queue is PGQUEUER_SCHEMA's.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pgqueuer import QueueManager
from pgqueuer.adapters.tracing.opentelemetry import OpenTelemetryTracing
from pgqueuer.db import AsyncpgDriver
from pgqueuer.ports.tracing import set_tracing_class
from pgqueuer.queries import Queries
from pgqueuer.types import QueueExecutionMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from obs_factories import register


def as_dict(span: ReadableSpan) -> dict[str, Any]:
    ctx = span.get_span_context()
    assert ctx is not None
    return {
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": f"{ctx.trace_id:032x}",
        "span_id": f"{ctx.span_id:016x}",
        "parent_id": f"{span.parent.span_id:016x}" if span.parent else None,
        "links": [f"{link.context.span_id:016x}" for link in span.links],
        "attributes": dict(span.attributes or {}),
        "status": span.status.status_code.name,
        "events": [{"name": e.name, "attributes": dict(e.attributes or {})} for e in span.events],
    }


async def main(side: str, out: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    conn = await asyncpg.connect(os.environ.get("PGQUEUER_DSN"))
    try:
        if side == "produce":
            queries = Queries(AsyncpgDriver(conn), tracer=OpenTelemetryTracing())
            await queries.enqueue("flaky", None, headers={"tenant": "acme"})
            await queries.enqueue(["ok", "boom"], [None, None], [0, 0])
        else:
            set_tracing_class(OpenTelemetryTracing())
            qm = QueueManager(Queries(AsyncpgDriver(conn)))
            register(qm)
            await qm.run(
                mode=QueueExecutionMode.drain,
                dequeue_timeout=timedelta(seconds=0.2),
                log_aggregation_interval=timedelta(0),
            )
    finally:
        await conn.close()
    out.write_text(json.dumps([as_dict(s) for s in exporter.get_finished_spans()]))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
