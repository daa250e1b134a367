"""Metrics, tracing and the MCP server on one small queue: the output of docs/observability.md.

    hatch run python examples/observability.py

Needs a PostgreSQL (PGQUEUER_DSN or the libpq variables) and the extras: prometheus-client,
opentelemetry-sdk, mcp (all in the hatch environments). Works in the schema ``obs_demo``
(created, installed, and dropped at the end). Prints four sections: the trace of three jobs
(one retried, one failing), the worker's own metrics, a scrape of ``pgq metrics``, and an MCP
client session.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import urllib.request
from datetime import timedelta
from typing import Any

import asyncpg
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry, generate_latest

from pgqueuer import QueueManager
from pgqueuer.adapters.tracing.opentelemetry import OpenTelemetryTracing
from pgqueuer.db import AsyncpgDriver
from pgqueuer.errors import RetryRequested
from pgqueuer.metrics.worker import WorkerMetrics
from pgqueuer.models import Job
from pgqueuer.names import Names
from pgqueuer.queries import Queries
from pgqueuer.types import QueueExecutionMode

SCHEMA = "obs_demo"
DSN = os.environ.get("PGQUEUER_DSN")


def show(title: str) -> None:
    print(f"\n### {title}\n")


def span_tree(spans: list[ReadableSpan]) -> None:
    spans = sorted(spans, key=lambda s: s.start_time or 0)
    short = {s.context.span_id: f"s{i}" for i, s in enumerate(spans)}
    ordered = dict.fromkeys(s.context.trace_id for s in spans)
    traces = {tid: f"t{i}" for i, tid in enumerate(ordered)}
    for s in spans:
        parent = short.get(s.parent.span_id, "remote") if s.parent else "-"
        attrs = {
            k.replace("pgqueuer.job.", ""): v
            for k, v in (s.attributes or {}).items()
            if k.startswith("pgqueuer.job.") and k != "pgqueuer.job.queue_seconds"
        }
        events = [e.attributes.get("exception.type") for e in s.events if e.attributes]
        print(
            f"{traces[s.context.trace_id]} {short[s.context.span_id]:>3} parent={parent:<3} "
            f"{s.kind.name:<8} {s.name:<14} status={s.status.status_code.name:<5} "
            f"{attrs} {'exception=' + str(events) if events else ''}".rstrip()
        )


async def main() -> None:
    conn = await asyncpg.connect(DSN)
    await conn.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')
    await conn.execute(f'CREATE SCHEMA "{SCHEMA}"')
    names = Names.create(schema=SCHEMA)
    await Queries(AsyncpgDriver(conn), names).install()
    try:
        await demo(conn, names)
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')
        await conn.close()


async def demo(conn: asyncpg.Connection, names: Names) -> None:
    env = {**os.environ, "PGQUEUER_SCHEMA": SCHEMA}
    exporter_proc = subprocess.Popen(  # noqa: ASYNC220 (an example: a plain Popen reads best)
        [sys.executable, "-m", "pgqueuer", "metrics", "--port", "0"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert exporter_proc.stderr is not None
        url = (await asyncio.to_thread(exporter_proc.stderr.readline)).split()[-1]
        await asyncio.to_thread(scrape, url)  # counters count from the first scrape on
        await work(conn, names, url, env)
    finally:
        exporter_proc.terminate()
        await asyncio.to_thread(exporter_proc.wait, 10)


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


async def work(conn: asyncpg.Connection, names: Names, url: str, env: dict[str, str]) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = OpenTelemetryTracing(tracer=provider.get_tracer("demo"))

    producer = Queries(AsyncpgDriver(conn), names, tracer=tracing)
    await producer.enqueue("resize", b'{"image": 1}')
    await producer.enqueue(["email", "email"], [b"to: a", b"to: b"], [0, 0])
    await Queries(AsyncpgDriver(conn), names).enqueue("report", b"x" * 1000)  # not traced

    worker = await AsyncpgDriver.connect(DSN)  # keeps how to reconnect (see consumer.py)
    registry = CollectorRegistry()
    qm = QueueManager(
        Queries(worker, names),
        tracer=tracing,
        metrics=WorkerMetrics(registry),
    )

    @qm.entrypoint("resize")
    async def resize(job: Job) -> None:
        if job.attempts == 0:
            raise RetryRequested(timedelta(0), "thumbnail service busy")

    @qm.entrypoint("email")
    async def email(job: Job) -> None:
        if job.payload == b"to: b":
            raise ValueError("mailbox full")

    await qm.run(mode=QueueExecutionMode.drain, log_aggregation_interval=timedelta(0))
    await worker.connection.close()  # a no-op when run() closed it already

    show("A trace: enqueue, then each attempt (OpenTelemetry SDK, in-memory exporter)")
    span_tree(list(exporter.get_finished_spans()))

    show("The worker's own metrics (WorkerMetrics; `pgq run --metrics-port` serves the same)")
    for line in generate_latest(registry).decode().splitlines():
        if line.startswith(("pgqueuer_worker_jobs", "# TYPE pgqueuer_worker_jobs_finished")) or (
            "handler_duration_seconds_count" in line or "claim_batch_size_sum" in line
        ):
            if "_created" not in line:
                print(line)

    show("`pgq --schema obs_demo metrics --port 0`, scraped with urllib")
    await asyncio.sleep(2.5)  # log rows are counted once 2 s old (see sql/metrics.sql)
    text = await asyncio.to_thread(scrape, url)
    wanted = ("queue_jobs", "queue_oldest_age", "workers ", "jobs_", "run_seconds_count")
    for line in text.splitlines():
        if any(w in line for w in wanted) and "_created" not in line:
            print(line)

    show("An MCP client session (`python -m pgqueuer_dashboard.mcp` over stdio)")
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "pgqueuer_dashboard.mcp"], env=env
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        tools = await session.list_tools()
        print("tools:", ", ".join(sorted(t.name for t in tools.tools)))
        for tool, args in [
            ("throughput_summary", {"period": "PT10M"}),
            ("queue_table_info", {"limit": 5}),
            ("queue_table_info", {"limit": 5, "include_payload": True, "payload_bytes": 16}),
            ("queue_stats", {"period": "1 hour"}),
        ]:
            result: Any = await session.call_tool(tool, args)
            text = result.content[0].text
            if not result.is_error:
                text = json.dumps(json.loads(text), indent=None)
            print(f"\n> {tool} {json.dumps(args)}\n{'error: ' if result.is_error else ''}{text}")


if __name__ == "__main__":
    asyncio.run(main())
