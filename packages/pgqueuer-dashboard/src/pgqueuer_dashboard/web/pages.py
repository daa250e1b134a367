"""What each page shows, read through the dashboard's and core's bounded, indexed queries.

Each loader takes a :class:`~pgqueuer_dashboard.web.source.Reader` (one read-only snapshot)
and returns the template's context. Nothing here knows about HTTP.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pgqueuer.models import Job, Log
from pgqueuer.sql import load_blocks
from pgqueuer_dashboard.web.source import Reader

COUNT_CAP = 100_000  # counts stop here (shown as "100,000+")
PAGE_SIZE = 50
MAX_PAGE = 200  # 10,000 rows deep at most: filter instead of paging further
PREVIEW_BYTES = 4096
WINDOWS = {
    "5m": timedelta(minutes=5),
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
}
STATUSES = ("queued", "picked", "failed")


@dataclass(frozen=True)
class Bar:
    """One bar of the throughput chart (an SVG rect, in chart units)."""

    x: float
    ok_height: float
    err_height: float
    label: str


def _chart(
    buckets: dict[datetime, list[int]], start: datetime, width: float, n: int
) -> dict[str, Any]:
    """Bars for ``n`` buckets of ``width`` seconds from ``start``: successful, then errors."""
    counts: list[tuple[datetime, int, int]] = []
    for i in range(n):
        at = start + timedelta(seconds=i * width)
        ok, err = buckets.get(at, [0, 0])
        counts.append((at, ok, err))
    top = max((ok + err for _, ok, err in counts), default=0) or 1
    bars = [
        Bar(i * 10.0, 100.0 * ok / top, 100.0 * err / top, f"{at:%H:%M}: {ok} done, {err} failed")
        for i, (at, ok, err) in enumerate(counts)
    ]
    return {"bars": bars, "top": top, "total": sum(ok + err for _, ok, err in counts)}


async def throughput(
    r: Reader, last: timedelta, n: int
) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """The chart of every entrypoint, and per entrypoint its completions per bucket."""
    rows = await r.queries.throughput_timeseries(last, buckets=n)
    now = await r.dash.now()
    width = max(last.total_seconds() / n, 1.0)
    epoch = now.timestamp()
    first = epoch - (epoch % width) - (n - 1) * width
    start = datetime.fromtimestamp(first, tz=now.tzinfo)
    buckets: dict[datetime, list[int]] = defaultdict(lambda: [0, 0])
    per_ep: dict[str, list[int]] = defaultdict(lambda: [0] * n)
    for row in rows:
        at = row.start
        slot = int((at.timestamp() - first) // width)
        if not 0 <= slot < n:
            continue
        key = datetime.fromtimestamp(first + slot * width, tz=now.tzinfo)
        buckets[key][0 if row.status == "successful" else 1] += row.count
        per_ep[row.entrypoint][slot] += row.count
    return _chart(buckets, start, width, n), per_ep


def sparkline(values: list[int]) -> str:
    """SVG polyline points for a 100x20 sparkline."""
    top = max(values, default=0) or 1
    step = 100 / max(len(values) - 1, 1)
    return " ".join(f"{i * step:.1f},{20 - 19 * v / top:.1f}" for i, v in enumerate(values))


async def overview(r: Reader) -> dict[str, Any]:
    stats = await r.dash.entrypoints(timedelta(hours=1), count_cap=COUNT_CAP)
    workers = await r.dash.workers(100, count_cap=COUNT_CAP)
    summary = await r.queries.throughput_summary(timedelta(hours=1))
    chart, _ = await throughput(r, timedelta(hours=1), 60)
    ages = [s.oldest_queued_age for s in stats if s.oldest_queued_age is not None]
    return {
        "totals": {
            "queued": sum(s.queued for s in stats),
            "picked": sum(s.running for s in stats),
            "failed": sum(s.failed for s in stats),
        },
        "workers": len(workers),
        "oldest_age": max(ages, default=None),
        # jobs that raised: retried or given up ("exception"), or held ("failed")
        "exceptions": sum(s.count for s in summary if s.status in ("exception", "failed")),
        "chart": chart,
        "backlog": sorted((s for s in stats if s.queued), key=lambda s: -s.queued),
        "cap": COUNT_CAP,
    }


async def entrypoints(r: Reader, window: str) -> dict[str, Any]:
    span = WINDOWS[window]
    stats = await r.dash.entrypoints(span, count_cap=COUNT_CAP, limit=1000)
    _, per_ep = await throughput(r, span, 30)
    rows = []
    for s in stats:
        ended = s.completed + s.errored
        rows.append(
            {
                "s": s,
                "failure_rate": (s.errored / ended) if ended else None,
                "spark": sparkline(per_ep.get(s.entrypoint, [0] * 30)),
            }
        )
    return {"rows": rows, "window": window, "windows": list(WINDOWS), "cap": COUNT_CAP}


async def jobs(r: Reader, status: str | None, entrypoint: str | None, page: int) -> dict[str, Any]:
    offset = (page - 1) * PAGE_SIZE
    if status in ("picked", "failed"):  # the few among many: through their partial index
        block = load_blocks("pgqueuer_dashboard.sql", "web.sql")[f"{status}_jobs"]
        sql = r.dash.names.substitute(block)
        rows = await r.dash.connection.fetch(sql, PAGE_SIZE + 1, offset, entrypoint)
        found = [Job.from_row(dict(row)) for row in rows]
    else:
        found = await r.queries.browse_queue(
            PAGE_SIZE + 1,
            offset,
            None if status is None else [status],
            None if entrypoint is None else [entrypoint],
        )
    return {
        "jobs": found[:PAGE_SIZE],
        "has_next": len(found) > PAGE_SIZE and page < MAX_PAGE,
        "page": page,
        "status": status,
        "entrypoint": entrypoint,
        "statuses": STATUSES,
    }


def preview(data: bytes | None) -> dict[str, Any]:
    """A payload shown safely: JSON pretty-printed, text as text, anything else as hex."""
    if data is None:
        return {"kind": "none", "text": "", "size": 0}
    head = bytes(data[:PREVIEW_BYTES])
    cut = len(data) > PREVIEW_BYTES
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and not cut:
        try:
            return {
                "kind": "json",
                "text": json.dumps(json.loads(text), indent=2, ensure_ascii=False),
                "size": len(data),
            }
        except ValueError:
            pass
    printable = text is not None and all(c.isprintable() or c in "\n\r\t" for c in text)
    if text is not None and printable:
        return {"kind": "text", "text": text, "size": len(data), "cut": cut}
    hexed = "\n".join(
        f"{i:08x}  {head[i : i + 16].hex(' ')}" for i in range(0, min(len(head), 512), 16)
    )
    return {"kind": "binary", "text": hexed, "size": len(data), "cut": len(data) > 512}


async def job(r: Reader, job_id: int) -> dict[str, Any] | None:
    row: Job | None = await r.queries.queue_job_by_id(job_id)
    history: list[Log] = await r.queries.job_log_history(job_id, 100)
    if row is None and not history:
        return None
    last = history[-1] if history else None
    return {
        "id": job_id,
        "job": row,
        "entrypoint": row.entrypoint if row else (last.entrypoint if last else ""),
        "status": row.status if row else (last.status if last else ""),
        "payload": preview(row.payload if row else None),
        "headers": json.dumps(row.headers, indent=2, default=str) if row and row.headers else None,
        "history": history,
        "tracebacks": [h for h in history if h.traceback is not None],
    }


async def failures(r: Reader) -> dict[str, Any]:
    held = await r.queries.list_failed_jobs(100)
    return {"held": held, "exceptions": await r.queries.exception_logs(50)}


async def workers(r: Reader, stale_after: int) -> dict[str, Any]:
    return {
        "workers": await r.dash.workers(100, count_cap=COUNT_CAP),
        "stale": await r.queries.stale_jobs(timedelta(seconds=stale_after), 100),
        "stale_after": stale_after,
    }


async def schedules(r: Reader) -> dict[str, Any]:
    return {"schedules": await r.dash.schedules(500), "now": await r.dash.now()}


async def system(r: Reader) -> dict[str, Any]:
    return {
        "tables": await r.queries.schema_info(),
        "unaggregated": await r.queries.unaggregated_log_count(),
    }
