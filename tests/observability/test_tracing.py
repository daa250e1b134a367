"""Tracing with the OpenTelemetry SDK's in-memory exporter, and the adapters without SDKs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from conftest import Server
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from pgqueuer.adapters.tracing.opentelemetry import OpenTelemetryTracing
from pgqueuer.errors import DuplicateJobError
from pgqueuer.inmemory import InMemoryQueries
from pgqueuer.names import Names
from pgqueuer.ports.tracing import TRACER, TracingProtocol
from pgqueuer.queries import Queries

HERE = Path(__file__).resolve().parent


def side(server: Server, names: Names, which: str, out: Path) -> list[dict[str, Any]]:
    env = {**os.environ, **server.env(), "PGQUEUER_SCHEMA": names.schema or ""}
    done = subprocess.run(
        [sys.executable, str(HERE / "otel_process.py"), which, str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    spans: list[dict[str, Any]] = json.loads(out.read_text())
    return spans


async def test_one_trace_spans_the_producer_and_worker_processes_through_a_retry(
    conn: asyncpg.Connection, names: Names, server: Server, tmp_path: Path
) -> None:
    produced = side(server, names, "produce", tmp_path / "producer.json")
    by_name = {s["name"]: s for s in produced}
    assert set(by_name) == {"send flaky", "send", "create ok", "create boom"}
    send = by_name["send flaky"]
    assert send["kind"] == "PRODUCER" and send["parent_id"] is None
    assert by_name["send"]["kind"] == "CLIENT"
    for ep in ("ok", "boom"):
        create = by_name[f"create {ep}"]
        assert create["kind"] == "PRODUCER"
        assert create["parent_id"] == by_name["send"]["span_id"]
        assert create["attributes"]["messaging.destination.name"] == ep

    # The context travels in the job's headers, next to the user's own.
    rows = await conn.fetch(
        names.substitute("SELECT entrypoint, headers FROM /*@queue_table*/pgqueuer ORDER BY id")
    )
    headers = {r["entrypoint"]: json.loads(r["headers"]) for r in rows}
    assert headers["flaky"]["tenant"] == "acme"
    traceparent = headers["flaky"]["otel"]["traceparent"]
    assert re.fullmatch(rf"00-{send['trace_id']}-{send['span_id']}-0[13]", traceparent)

    worked = side(server, names, "work", tmp_path / "worker.json")
    flaky = sorted(
        (s for s in worked if s["name"] == "process flaky"),
        key=lambda s: s["attributes"]["pgqueuer.job.attempt"],
    )
    assert [s["attributes"]["pgqueuer.job.outcome"] for s in flaky] == ["retried", "successful"]
    for attempt, span in enumerate(flaky, start=1):
        assert span["kind"] == "CONSUMER"
        assert span["trace_id"] == send["trace_id"]  # one trace across both processes
        assert span["parent_id"] == send["span_id"]
        assert span["links"] == [send["span_id"]]
        assert span["attributes"]["pgqueuer.job.attempt"] == attempt
        assert span["attributes"]["messaging.destination.name"] == "flaky"
        assert span["attributes"]["pgqueuer.job.queue_seconds"] >= 0
    assert [e["name"] for e in flaky[0]["events"]] == ["exception"]
    assert flaky[0]["status"] == "UNSET"  # a requested retry is not an error

    (boom,) = [s for s in worked if s["name"] == "process boom"]
    assert boom["trace_id"] == by_name["create boom"]["trace_id"]
    assert boom["parent_id"] == by_name["create boom"]["span_id"]
    assert boom["status"] == "ERROR"
    assert boom["attributes"]["pgqueuer.job.outcome"] == "exception"
    (event,) = boom["events"]
    assert event["attributes"]["exception.type"] == "ValueError"
    (ok,) = [s for s in worked if s["name"] == "process ok"]
    assert ok["parent_id"] == by_name["create ok"]["span_id"]
    assert ok["attributes"]["pgqueuer.job.outcome"] == "successful"
    assert {s["attributes"]["pgqueuer.job.id"] for s in worked} == {
        int(i) for i in (s["attributes"]["messaging.message.id"] for s in worked)
    }


def recording() -> tuple[OpenTelemetryTracing, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return OpenTelemetryTracing(tracer=provider.get_tracer("test")), exporter


async def test_a_failed_enqueue_records_the_error_on_the_producer_span(queries: Queries) -> None:
    tracing, exporter = recording()
    traced = Queries(queries.driver, names=queries.names, tracer=tracing)
    await traced.enqueue("ok", None, dedupe_key="k")
    with pytest.raises(DuplicateJobError):
        await traced.enqueue("ok", None, dedupe_key="k")
    first, second = exporter.get_finished_spans()
    assert first.status.status_code is StatusCode.UNSET
    assert second.status.status_code is StatusCode.ERROR
    assert second.kind is SpanKind.PRODUCER
    assert [e.name for e in second.events] == ["exception"]


async def test_the_in_memory_repository_traces_too() -> None:
    tracing, exporter = recording()
    queries = InMemoryQueries(tracer=tracing)
    (job_id,) = await queries.enqueue("ok", None)
    (job,) = await queries.dequeue(10, {"ok": _param()}, __import__("uuid").uuid4())
    assert job.id == job_id
    assert job.otel_headers() is not None
    async with tracing.trace_process(job):
        pass
    send, process = exporter.get_finished_spans()
    assert process.parent is not None and process.parent.span_id == send.context.span_id


def _param() -> Any:
    from pgqueuer.queries import EntrypointExecutionParameter

    return EntrypointExecutionParameter(concurrency_limit=0)


def test_the_adapters_satisfy_pgqueuers_protocol() -> None:
    from pgqueuer.adapters.tracing.logfire import LogfireTracing
    from pgqueuer.adapters.tracing.sentry import SentryTracing

    for adapter in (OpenTelemetryTracing(), LogfireTracing(), SentryTracing()):
        assert isinstance(adapter, TracingProtocol)
    assert TRACER.tracer is None  # nothing configured by default


NO_SDK = """
import asyncio, sys, json, os
for blocked in ("logfire", "sentry_sdk", "opentelemetry"):
    sys.modules[blocked] = None  # importing it raises ImportError
import asyncpg
from pgqueuer import QueueManager
from pgqueuer.adapters.tracing.logfire import LogfireTracing
from pgqueuer.adapters.tracing.opentelemetry import OpenTelemetryTracing
from pgqueuer.adapters.tracing.sentry import SentryTracing
from pgqueuer.db import AsyncpgDriver
from pgqueuer.queries import Queries
from pgqueuer.types import QueueExecutionMode

async def main():
    conn = await asyncpg.connect(os.environ.get("PGQUEUER_DSN"))
    ran = []
    for adapter in (LogfireTracing(), SentryTracing(), OpenTelemetryTracing()):
        assert list(adapter.trace_publish(["a", "b"])) == [{}, {}]
        q = Queries(AsyncpgDriver(conn), tracer=adapter)
        await q.enqueue("work", None, headers={"mine": 1})
        qm = QueueManager(q)
        @qm.entrypoint("work")
        async def work(job):
            ran.append(job.headers)
        await qm.run(mode=QueueExecutionMode.drain)
    await conn.close()
    print(json.dumps(ran))

asyncio.run(main())
"""


def test_adapters_degrade_to_no_ops_without_their_sdk(names: Names, server: Server) -> None:
    env = {**os.environ, **server.env(), "PGQUEUER_SCHEMA": names.schema or ""}
    done = subprocess.run(
        [sys.executable, "-c", NO_SDK], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [{"mine": 1}] * 3


ZERO = """
import asyncio, os, sys
import asyncpg
from pgqueuer import QueueManager
from pgqueuer.db import AsyncpgDriver
from pgqueuer.queries import Queries
from pgqueuer.types import QueueExecutionMode

async def main():
    conn = await asyncpg.connect(os.environ.get("PGQUEUER_DSN"))
    q = Queries(AsyncpgDriver(conn))
    await q.enqueue(["work"] * 3, [None] * 3, [0] * 3)
    qm = QueueManager(q)
    seen = []
    @qm.entrypoint("work")
    async def work(job):
        seen.append(job.headers)
    await qm.run(mode=QueueExecutionMode.drain)
    await conn.close()
    assert seen == [None] * 3, seen
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in (
        "opentelemetry", "prometheus_client", "logfire", "sentry_sdk", "pgqueuer_dashboard")
        or m.startswith(("pgqueuer.adapters", "pgqueuer.metrics")))
    assert not loaded, loaded

asyncio.run(main())
"""


def test_without_a_tracer_or_metrics_nothing_is_imported_and_headers_stay_empty(
    names: Names, server: Server
) -> None:
    env = {**os.environ, **server.env(), "PGQUEUER_SCHEMA": names.schema or ""}
    done = subprocess.run(
        [sys.executable, "-c", ZERO], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
