"""What metrics and tracing cost per job: the drain and enqueue benchmarks with each switched on.

    hatch run python benchmarks/observability.py            # 20k jobs, 3 rounds per mode
    hatch run python benchmarks/observability.py --jobs 5000 --rounds 1

Modes: ``off`` (nothing configured), ``metrics`` (WorkerMetrics on a private registry, as
``pgq run --metrics-port`` sets it up), ``tracing`` (OpenTelemetryTracing on an SDK provider
with a batch processor and an exporter that drops the spans), ``both``. Each run is a fresh
process (runner.py's drain setup: 5 workers, batch 10), modes alternate within a round; the
table shows medians and the cost per job in microseconds against ``off``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MODES = ("off", "metrics", "tracing", "both")


def configure(mode: str) -> None:
    if mode in ("metrics", "both"):
        from prometheus_client import CollectorRegistry

        from pgqueuer.metrics.worker import WorkerMetrics
        from pgqueuer.ports.metrics import set_worker_metrics

        set_worker_metrics(WorkerMetrics(CollectorRegistry()))
    if mode in ("tracing", "both"):
        from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            SpanExporter,
            SpanExportResult,
        )

        from pgqueuer.adapters.tracing.opentelemetry import OpenTelemetryTracing
        from pgqueuer.ports.tracing import set_tracing_class

        class Drop(SpanExporter):
            def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
                return SpanExportResult.SUCCESS

        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(Drop()))
        set_tracing_class(OpenTelemetryTracing(tracer=provider.get_tracer("bench")))


async def one(mode: str, jobs: int, workers: int) -> dict[str, Any]:
    sys.path.insert(0, str(HERE))
    import runner  # the drain scenario's setup (schema, connections, consumers)

    configure(mode)
    await runner.fresh_schema()
    began = time.perf_counter()
    await runner.fill(jobs, batch=100)
    enqueue_seconds = time.perf_counter() - began
    done = 0

    def on_job(job: Any) -> None:
        nonlocal done
        done += 1

    conns = [await runner.connect() for _ in range(workers)]
    consumers = [runner.consumer(c, on_job) for c in conns]
    began = time.perf_counter()
    await asyncio.gather(
        *(
            w.run(
                batch_size=10,
                dequeue_timeout=timedelta(seconds=1),
                mode=runner.QueueExecutionMode.drain,
            )
            for w in consumers
        )
    )
    drain_seconds = time.perf_counter() - began
    for c in conns:
        await c.close()
    assert done == jobs, (done, jobs)
    return {"mode": mode, "drain": jobs / drain_seconds, "enqueue": jobs / enqueue_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=5)
    parser.add_argument("--one", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(asyncio.run(one(args.one, args.jobs, args.workers))))
        return
    results: dict[str, list[dict[str, float]]] = {m: [] for m in MODES}
    for r in range(args.rounds):
        order = MODES if r % 2 == 0 else tuple(reversed(MODES))
        for mode in order:
            out = subprocess.run(
                [sys.executable, __file__, "--one", mode, "--jobs", str(args.jobs),
                 "--workers", str(args.workers)],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            result = json.loads(out.stdout)
            results[mode].append(result)
            print(
                f"round {r + 1} {mode:8} drain {result['drain']:8.0f} jobs/s   "
                f"enqueue {result['enqueue']:8.0f} jobs/s",
                file=sys.stderr,
            )
    base = {k: statistics.median(x[k] for x in results["off"]) for k in ("drain", "enqueue")}
    print(f"\n{'mode':10}{'drain jobs/s':>14}{'us/job':>9}{'enqueue jobs/s':>16}{'us/job':>9}")
    for mode in MODES:
        med = {k: statistics.median(x[k] for x in results[mode]) for k in ("drain", "enqueue")}
        cost = {k: 1e6 / med[k] - 1e6 / base[k] for k in med}
        print(
            f"{mode:10}{med['drain']:14.0f}{cost['drain']:9.1f}"
            f"{med['enqueue']:16.0f}{cost['enqueue']:9.1f}"
        )


if __name__ == "__main__":
    main()
