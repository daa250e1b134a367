"""A snapshot as text tables (any tabulate format) or as JSON-ready data. No printing here."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from tabulate import tabulate, tabulate_formats

from pgqueuer_dashboard.models import Percentiles, Snapshot

__all__ = ["TABLE_FORMATS", "as_dict", "format_duration", "render_text"]

TABLE_FORMATS: tuple[str, ...] = tuple(tabulate_formats)
_HTML = {"html", "unsafehtml"}
_EXCEPTION_WIDTH = 72


def format_duration(seconds: float | None) -> str:
    """``850µs``, ``12ms``, ``3.4s``, ``4m05s``, ``2h03m``; ``-`` for None."""
    if seconds is None:
        return "-"
    if seconds < 0.001:
        return f"{seconds * 1e6:.0f}µs"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        minutes, rest = divmod(int(seconds), 60)
        return f"{minutes}m{rest:02d}s"
    hours, rest = divmod(int(seconds) // 60, 60)
    return f"{hours}h{rest:02d}m"


def _percentiles(p: Percentiles) -> str:
    if p.p50 is None:
        return "-"
    return "/".join(format_duration(v) for v in (p.p50, p.p95, p.p99))


def _count(n: int, cap: int) -> str:
    return f"≥{n:,}" if n >= cap else f"{n:,}"


def _rate(per_second: float) -> str:
    return f"{per_second:,.1f}" if per_second < 100 else f"{per_second:,.0f}"


def _time(value: datetime | None, full: bool = False) -> str:
    if value is None:
        return "-"
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S" if full else "%H:%M:%S")


# One order and one rendering of schedules for every view (`pgq schedules`, the dashboard).
SCHEDULE_HEADERS = ["ID", "Entrypoint", "Expression", "Status", "Next run", "Last run"]
NO_SCHEDULES = "No schedules."


class ScheduleLike(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def entrypoint(self) -> str: ...
    @property
    def expression(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def next_run(self) -> datetime | None: ...
    @property
    def last_run(self) -> datetime | None: ...


def schedule_rows(schedules: Iterable[ScheduleLike]) -> list[list[Any]]:
    """Rows under SCHEDULE_HEADERS; a schedule that never ran shows "-" as its last run."""
    return [
        [
            c.id,
            c.entrypoint,
            c.expression,
            c.status,
            _time(c.next_run, True),
            _time(c.last_run, True),
        ]
        for c in schedules
    ]


def _short(text: str | None, width: int = _EXCEPTION_WIDTH) -> str:
    if not text:
        return ""
    return text if len(text) <= width else text[: width - 1] + "…"


def table(rows: list[list[Any]], headers: list[str], fmt: str) -> str:
    """The one table rendering of every view (the dashboard's sections and the pgq commands):
    cells as given (no number parsing, so ids and durations align the same everywhere)."""
    return str(tabulate(rows, headers=headers, tablefmt=fmt, disable_numparse=True))


def _section(title: str, rows: list[list[Any]], headers: list[str], none: str, fmt: str) -> str:
    heading = f"<h3>{title}</h3>" if fmt in _HTML else title
    if not rows:
        return f"{heading}\n{f'<p>{none}</p>' if fmt in _HTML else none}"
    return f"{heading}\n{table(rows, headers, fmt)}"


def render_text(snapshot: Snapshot, tablefmt: str = "pretty", *, where: str = "") -> str:
    """Every section of ``snapshot`` as titled tables in ``tablefmt`` (one string)."""
    s = snapshot
    window = format_duration(s.window_seconds)
    header = (
        f"pgqueuer dashboard{f' ({where})' if where else ''} at {_time(s.taken_at, True)}; "
        f"rates and percentiles over the last {window} ({s.sampled_log_rows:,} log rows)"
    )
    if s.empty:
        return (
            f"{header}\n\nThe queue is empty: no jobs, workers, schedules or log entries yet. "
            "Enqueue one with 'pgq queue ENTRYPOINT'."
        )
    cap = s.count_cap
    parts = [header]
    parts.append(
        _section(
            "Entrypoints",
            [
                [
                    e.entrypoint,
                    _count(e.queued, cap),
                    _count(e.running, cap),
                    _count(e.failed, cap),
                    format_duration(e.oldest_queued_age),
                    _rate(e.completed_per_second),
                    _rate(e.failed_per_second),
                    _percentiles(e.queue_time),
                    _percentiles(e.run_time),
                ]
                for e in s.entrypoints
            ],
            [
                "Entrypoint",
                "Queued",
                "Running",
                "Failed",
                "Oldest queued",
                "Done/s",
                "Failed/s",
                "In queue p50/95/99",
                "Run p50/95/99",
            ],
            "No queued, running or failed jobs, and none finished recently.",
            tablefmt,
        )
    )
    parts.append(
        _section(
            "Workers",
            [
                [
                    w.queue_manager_id,
                    w.host or "-",
                    w.pid or "-",
                    w.running_jobs,
                    _time(w.last_heartbeat),
                    _time(w.last_seen),
                    ", ".join(w.entrypoints),
                ]
                for w in s.workers
            ],
            [
                "Worker",
                "Host",
                "PID",
                "Running jobs",
                "Last heartbeat",
                "Last seen",
                "Entrypoints",
            ],
            "No worker is registered or running a job.",
            tablefmt,
        )
    )
    parts.append(
        _section(
            f"Stale jobs (no heartbeat for {format_duration(s.stale_after_seconds)})",
            [
                [
                    j.id,
                    j.entrypoint,
                    j.queue_manager_id,
                    _time(j.heartbeat),
                    format_duration(j.seconds_since_heartbeat),
                ]
                for j in s.stale
            ],
            ["Job", "Entrypoint", "Worker", "Last heartbeat", "Silent for"],
            "No stale jobs.",
            tablefmt,
        )
    )
    parts.append(
        _section("Schedules", schedule_rows(s.schedules), SCHEDULE_HEADERS, NO_SCHEDULES, tablefmt)
    )
    parts.append(
        _section(
            f"Newest log entries ({len(s.log)})",
            [
                [
                    _time(g.created),
                    g.job_id,
                    g.entrypoint,
                    g.status,
                    format_duration(g.queue_seconds),
                    format_duration(g.run_seconds),
                    _short(g.exception),
                ]
                for g in s.log
            ],
            ["Time", "Job", "Entrypoint", "Status", "In queue", "Ran", "Exception"],
            "No log entries yet.",
            tablefmt,
        )
    )
    return "\n\n".join(parts)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def as_dict(snapshot: Snapshot) -> dict[str, Any]:
    """``snapshot`` as JSON-ready data: dicts, lists, ISO timestamps, seconds as floats."""
    data: dict[str, Any] = _plain(dataclasses.asdict(snapshot))
    return data
