"""compare.py's table: which figures each scenario reports, which way is better, the ratios."""

from __future__ import annotations

import statistics
from typing import Any

# (figure, better): "higher" or "lower" is better; "" for a count shown for information.
LOAD_METRICS: dict[str, list[tuple[str, str]]] = {
    "fleet": [
        ("jobs_per_second", "higher"),
        ("p50_ms", "lower"),
        ("p99_ms", "lower"),
        ("from_commit_p50_ms", "lower"),
        ("from_commit_p99_ms", "lower"),
        ("enqueue_p99_ms", "lower"),
        ("cpu_ms_per_job", "lower"),
    ],
    "pickup": [("p99_ms", "lower"), ("p50_ms", "lower")],
    "sustained": [
        ("jobs_per_second", "higher"),
        ("dead_tuples_peak", "lower"),
        ("dead_tuples_final", "lower"),
        ("autovacuums", ""),
        ("vacuums", ""),
        ("cpu_ms_per_job", "lower"),
    ],
}
# The last line of compare.py: (scenario, figure, name in the line).
RATIO_LINE = [
    ("drain", "jobs_per_second", "drain"),
    ("throughput", "jobs_per_second", "throughput"),
    ("latency", "p99_ms", "latency_p99"),
    ("fleet", "cpu_ms_per_job", "fleet_cpu_per_job"),
    ("fleet", "p99_ms", "fleet_p99"),
    ("pickup", "p99_ms", "pickup_p99"),
    ("sustained", "jobs_per_second", "sustained"),
    ("sustained", "dead_tuples_peak", "sustained_dead_peak"),
]
HEADER_NOTE = (
    "ratio = ours / PgQueuer (medians); 'better' says which way wins: jobs/s higher is better; "
    "latencies (ms), PostgreSQL CPU per job and dead tuples lower is better"
)

Row = tuple[str, str, str, float | None, float | None, float | None]


def metrics_for(name: str) -> list[tuple[str, str]]:
    if name in LOAD_METRICS:
        return LOAD_METRICS[name]
    if "latency" in name:
        return [("p99_ms", "lower"), ("p50_ms", "lower")]
    if name == "enqueue":
        return [("batch100_per_second", "higher")]
    return [("jobs_per_second", "higher")]


def median(results: list[dict[str, Any]], key: str) -> float | None:
    """The median of ``key`` over rounds; None when a round has no figure (e.g. no /proc)."""
    values = [r.get(key) for r in results]
    if not values or any(v is None for v in values):
        return None
    return float(statistics.median(float(v) for v in values if v is not None))


def rows(results: dict[str, dict[str, list[dict[str, Any]]]]) -> list[Row]:
    out: list[Row] = []
    for name, by_system in results.items():
        for key, better in metrics_for(name):
            a, b = median(by_system["ours"], key), median(by_system["pgqueuer"], key)
            ratio = a / b if a is not None and b else None
            out.append((name, key, better, a, b, ratio))
    return out


def _cell(value: float | None, width: int) -> str:
    return f"{'n/a':>{width}}" if value is None else f"{value:>{width}.2f}"


def table(table_rows: list[Row]) -> str:
    lines = [
        HEADER_NOTE,
        f"{'scenario':<24}{'metric':<22}{'better':<8}{'ours':>12}{'PgQueuer':>12}{'ratio':>8}",
    ]
    for name, key, better, a, b, ratio in table_rows:
        lines.append(f"{name:<24}{key:<22}{better:<8}{_cell(a, 12)}{_cell(b, 12)}{_cell(ratio, 8)}")
    return "\n".join(lines)


def ratio_line(table_rows: list[Row]) -> str:
    """``ratios: drain=… throughput=… latency_p99=…`` and the load scenarios' that ran."""
    found = {(name, key): ratio for name, key, _, _, _, ratio in table_rows}
    parts = []
    for name, key, label in RATIO_LINE:
        if (name, key) in found:
            ratio = found[(name, key)]
            parts.append(f"{label}={'n/a' if ratio is None else f'{ratio:.2f}'}")
    return "ratios: " + " ".join(parts)


def headline(result: dict[str, Any]) -> str:
    """One round's result in a line."""
    if "batch100_per_second" in result:
        return (
            f"{result['batch100_per_second']:.0f}/s in batches of 100, "
            f"{result['single_per_second']:.0f}/s singly"
        )
    parts = []
    if "jobs_per_second" in result:
        parts.append(f"{result['jobs_per_second']:.0f} jobs/s")
    if "enqueued_per_second" in result:
        parts.append(f"(enqueued {result['enqueued_per_second']:.0f}/s)")
    if result.get("p99_ms") is not None:
        parts.append(f"p50 {result['p50_ms']:.2f} ms  p99 {result['p99_ms']:.2f} ms")
    if result.get("negative"):
        parts.append(f"({result['negative']} negative, min {result['min_ms']:.2f} ms)")
    if result.get("from_commit_p99_ms") is not None:
        parts.append(
            f"(enqueue p99 {result['enqueue_p99_ms']:.2f} ms; from its commit p50 "
            f"{result['from_commit_p50_ms']:.2f} p99 {result['from_commit_p99_ms']:.2f} ms)"
        )
    if "cpu_ms_per_job" in result:
        cpu = result["cpu_ms_per_job"]
        parts.append("server CPU n/a" if cpu is None else f"server CPU {cpu:.3f} ms/job")
    if "dead_tuples_peak" in result:
        parts.append(
            f"dead tuples peak {result['dead_tuples_peak']} final {result['dead_tuples_final']}, "
            f"{result['autovacuums']} autovacuum(s), {result.get('vacuums', 0)} vacuum(s)"
        )
    return "  ".join(parts)
