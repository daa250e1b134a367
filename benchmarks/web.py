"""How long each page of ``pgq web`` takes on a big queue and a big log, over HTTP.

    hatch run python benchmarks/web.py                          # 1M queued, 1M log rows
    hatch run python benchmarks/web.py --queued 100000 --requests 10

Fills the schema BENCH_SCHEMA (default pgq_web_bench) with benchmarks/dashboard.py's fixture
(``--queued`` queued jobs over five entrypoints, 0.1% as many running and held, ``--log-rows``
log rows over the last ``--log-minutes``), serves the pages with uvicorn on a free local port,
and asks each page ``--requests`` times in turn (after one warm-up round), timing the whole HTTP
request from this process. Prints one JSON object: median, p95 and max per page, in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import sys
import threading
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dashboard import fill

from pgqueuer.names import Names
from pgqueuer_dashboard.web import WebAuth, create_web_app
from pgqueuer_dashboard.web.serve import server


def pages(job_id: int) -> list[str]:
    return [
        "/",
        "/entrypoints?window=1h",
        "/entrypoints?window=24h",
        "/jobs",
        "/jobs?status=queued&entrypoint=ep3",
        "/jobs?status=picked",
        "/jobs?status=failed",
        "/jobs?page=200",
        f"/jobs/{job_id}",
        "/failures",
        "/workers",
        "/schedules",
        "/system",
    ]


def get(url: str) -> float:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as resp:
        resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{url}: {resp.status}")
    return (time.perf_counter() - start) * 1000


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    dsn = os.environ.get("PGQUEUER_DSN")
    names = Names.create(schema=os.environ.get("BENCH_SCHEMA", "pgq_web_bench"))
    began = time.perf_counter()
    await fill(
        dsn,
        names,
        queued=args.queued,
        log_rows=args.log_rows,
        log_span=timedelta(minutes=args.log_minutes),
    )
    setup = time.perf_counter() - began
    conn = await asyncpg.connect(dsn)
    job_id = await conn.fetchval(
        names.substitute("SELECT id FROM /*@queue_table*/pgqueuer WHERE status = 'failed' LIMIT 1")
    )
    await conn.close()

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    web = server(
        create_web_app(dsn, names=names, auth=WebAuth()), "127.0.0.1", port, log_level="warning"
    )
    thread = threading.Thread(target=web.run, daemon=True)
    thread.start()

    def wait_started() -> None:
        while not web.started:
            time.sleep(0.05)

    await asyncio.to_thread(wait_started)
    base = f"http://127.0.0.1:{port}"
    results: dict[str, Any] = {}
    try:
        paths = pages(job_id)
        for path in paths:  # warm-up: connections in the pool, plans cached
            await asyncio.to_thread(get, base + path)
        times: dict[str, list[float]] = {p: [] for p in paths}
        for _ in range(args.requests):
            for path in paths:
                times[path].append(await asyncio.to_thread(get, base + path))
        for path, ms in times.items():
            ms.sort()
            results[path] = {
                "median_ms": round(statistics.median(ms), 1),
                "p95_ms": round(ms[max(int(len(ms) * 0.95) - 1, 0)], 1),
                "max_ms": round(ms[-1], 1),
            }
    finally:
        web.should_exit = True
        thread.join(15)
        if not args.keep and names.schema:
            conn = await asyncpg.connect(dsn)
            await conn.execute(f'DROP SCHEMA IF EXISTS "{names.schema}" CASCADE')
            await conn.close()
    return {
        "scenario": "web_pages",
        "queued": args.queued,
        "log_rows": args.log_rows,
        "requests_per_page": args.requests,
        "setup_seconds": round(setup, 1),
        "pages": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queued", type=int, default=1_000_000)
    parser.add_argument("--log-rows", type=int, default=1_000_000)
    parser.add_argument("--log-minutes", type=float, default=10.0, help="span of the log rows")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the schema afterwards")
    print(json.dumps(asyncio.run(measure(parser.parse_args())), indent=1))


if __name__ == "__main__":
    main()
