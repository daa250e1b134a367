"""runner.py's load scenarios (issue 16): fleet, pickup from commit, sustained.

Workers and producers run as processes of their own (this file, ``python load.py ROLE
CONFIG``); the scenario in runner.py's process starts them, opens the measuring window and
reads the server's CPU time and the queue table's statistics (pgserver.py). Each process
connects, prints ``ready`` and reads one JSON line: when the load starts (``start_at``) and
the window (``t0``/``t1``), all in time.monotonic(), one clock for every process on Linux.
Producers stop on time; a worker stops when its stdin closes. Each prints its result (what it
counted inside the window) as its last line. Only the API PgQueuer 1.6.0 shares is used:
``PgQueuer.entrypoint(name, concurrency_limit=…)``, ``PgQueuer.run(batch_size=…,
max_concurrent_tasks=…, dequeue_timeout=…)``, ``Queries.enqueue``.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import math
import os
import sys
import time
from datetime import timedelta
from typing import Any

import runner  # first: it sets PGQUEUER_SCHEMA before pgqueuer is imported
from pgserver import cpu, cpu_figures, find_postmaster, queue_table_stats

from pgqueuer import PgQueuer
from pgqueuer.db import AsyncpgDriver
from pgqueuer.models import Job
from pgqueuer.qm import QueueManager
from pgqueuer.queries import Queries

FLEET_ENTRYPOINTS = [f"fleet{i:02d}" for i in range(20)]
FLEET_LIMITS = dict.fromkeys(FLEET_ENTRYPOINTS[:3], 2)  # 3 of the 20 with a concurrency limit
# Ours has the vacuum chore (run(vacuum_interval=...)); runner.py --vacuum-interval sets it.
VACUUM_OPTION = "vacuum_interval" in inspect.signature(QueueManager.run).parameters
WARM_UP = 2.0  # seconds of load before the window opens
DEFAULTS: dict[str, dict[str, Any]] = {
    "fleet": {"time": 20.0, "processes": 4, "concurrency": 8, "producers": 4, "rate": 2000.0},
    "pickup": {"jobs": 500, "pause": 0.02},
    "sustained": {"time": 120.0, "workers": 32, "processes": 4, "producers": 1, "hold": 4000},
}


def pct(ordered: list[float], p: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


# ---- the processes: worker, fleet producer, backlog top-up -------------------------------


async def ready() -> dict[str, Any]:
    """Say so to the parent, and wait for its timing (start_at, t0, t1) on stdin."""
    print("ready", flush=True)
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    timing: dict[str, Any] = json.loads(line)
    return timing


async def worker(cfg: dict[str, Any]) -> dict[str, Any]:
    """``cfg["workers"]`` PgQueuers, each on its own connection, serving cfg's entrypoints."""
    window = {"t0": math.inf, "t1": math.inf}
    jobs = 0
    handled: dict[str, float] = {}  # fleet: payload (the producer's time) -> handler's time

    def handler() -> Any:
        async def handle(job: Job) -> None:
            nonlocal jobs
            now = time.monotonic()
            if cfg.get("echo"):  # pickup: the parent pairs it with the commit's time
                print(f"{job.payload.decode() if job.payload else ''} {now!r}", flush=True)
                return
            if window["t0"] <= now < window["t1"]:
                jobs += 1
                if job.payload:  # fleet: the producer's time before enqueue()
                    handled[job.payload.decode()] = now

        return handle

    conns, pgqs = [], []
    for _ in range(cfg["workers"]):
        conn, driver = await runner.worker_connection("asyncpg")  # ours: with connect=
        pgq = PgQueuer(driver)
        for name in cfg["entrypoints"]:
            limit = cfg.get("limits", {}).get(name, 0)
            pgq.entrypoint(name, concurrency_limit=limit)(handler())
        conns.append(conn)
        pgqs.append(pgq)
    run = {
        "batch_size": cfg["batch_size"],
        "max_concurrent_tasks": cfg.get("concurrency"),
        "dequeue_timeout": timedelta(seconds=cfg["dequeue_timeout"]),
    }
    if cfg.get("vacuum_interval") is not None and VACUUM_OPTION:  # ours only (PgQueuer has none)
        run["vacuum_interval"] = timedelta(seconds=cfg["vacuum_interval"])
    tasks = [asyncio.create_task(pgq.run(**run)) for pgq in pgqs]
    await asyncio.sleep(0.5)
    timing = await ready()
    window.update(t0=timing["t0"], t1=timing["t1"])
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until it closes
    for pgq in pgqs:
        pgq.shutdown.set()
    await asyncio.wait(tasks, timeout=30)
    for conn in conns:
        await conn.close()
    return {"jobs": jobs, "handled": handled}


async def fleet_producer(cfg: dict[str, Any]) -> dict[str, Any]:
    """Single-job enqueues at cfg["rate"] per second from cfg["senders"] connections.

    Job k is due at start_at + k / rate, over the entrypoints in turn. A sender that is behind
    sends at once, to catch up; all stop at the end, so a rate the producers cannot reach shows
    as ``sent`` below ``due`` (and as the parent's enqueued_per_second below the offered rate).
    """
    conns = [await runner.connect() for _ in range(cfg["senders"])]
    cfg.update(await ready())
    start, end, interval = cfg["start_at"], cfg["start_at"] + cfg["seconds"], 1 / cfg["rate"]
    names, offset = cfg["entrypoints"], cfg["offset"]
    slot, sent, in_window, late = 0, 0, 0, 0.0
    committed: dict[str, float] = {}  # payload (the time before enqueue()) -> enqueue returned

    async def sender(conn: Any) -> None:
        nonlocal slot, sent, in_window, late
        queries = Queries(AsyncpgDriver(conn))
        while True:
            k, slot = slot, slot + 1
            due = start + k * interval
            if due >= end or time.monotonic() >= end:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            else:
                late = max(late, -wait)
            now = time.monotonic()
            payload = repr(now)
            await queries.enqueue(names[(offset + k) % len(names)], payload.encode())
            committed[payload] = time.monotonic()
            sent += 1
            in_window += cfg["t0"] <= now < cfg["t1"]
        await conn.close()

    await asyncio.gather(*(sender(conn) for conn in conns))
    due = math.ceil(cfg["seconds"] * cfg["rate"])
    return {
        "sent": sent,
        "due": due,
        "sent_in_window": in_window,
        "late_max_ms": late * 1000,
        "committed": committed,
    }


async def topup(cfg: dict[str, Any]) -> dict[str, Any]:
    """Every cfg["every"] s, enqueue what is missing to cfg["hold"] queued jobs.

    In batches of up to 1,000 (one statement per top-up as a rule); with several producers each
    adds its share of what is missing. A top-up that takes longer than the interval is followed
    by the next at once, without catching up the ticks it missed.
    """
    conn = await runner.connect()
    queries = Queries(AsyncpgDriver(conn))
    cfg.update(await ready())
    tick = cfg["start_at"] + cfg["offset"]
    end, enqueued = cfg["start_at"] + cfg["seconds"], 0
    while True:
        await asyncio.sleep(max(0.0, tick - time.monotonic()))
        if time.monotonic() >= end:
            break
        missing = (cfg["hold"] - await conn.fetchval(runner.COUNT_QUEUED)) // cfg["producers"]
        while missing > 0:
            size = min(1000, missing)
            await queries.enqueue(["bench"] * size, [None] * size, [0] * size)
            missing -= size
            enqueued += size
        tick = max(tick + cfg["every"], time.monotonic())
    await conn.close()
    return {"enqueued": enqueued}


ROLES = {"worker": worker, "fleet-producer": fleet_producer, "topup": topup}


# ---- the parent side -----------------------------------------------------------------------


async def spawn(role: str, cfg: dict[str, Any]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        role,
        json.dumps(cfg),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env=dict(os.environ),
        limit=1 << 26,
    )


async def start(role: str, configs: list[dict[str, Any]]) -> list[asyncio.subprocess.Process]:
    """One process per config, each connected and waiting for its timing when this returns."""
    procs = [await spawn(role, cfg) for cfg in configs]
    for proc in procs:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 120)
        if line.strip() != b"ready":
            raise RuntimeError(f"a {role} process did not start: {line!r}")
    return procs


async def go(procs: list[asyncio.subprocess.Process], seconds: float) -> tuple[float, float]:
    """Start the load in 0.2 s; the window (t0, t1) opens after the warm-up, lasts ``seconds``."""
    start_at = time.monotonic() + 0.2
    t0, t1 = start_at + WARM_UP, start_at + WARM_UP + seconds
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(json.dumps({"start_at": start_at, "t0": t0, "t1": t1}).encode() + b"\n")
        await proc.stdin.drain()
    return t0, t1


async def finish(proc: asyncio.subprocess.Process) -> dict[str, Any]:
    """Close the process's stdin (a worker's stop signal) and read its last line."""
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.close()
    out = await proc.stdout.read()
    if await proc.wait() != 0:
        raise RuntimeError(f"a load process exited with {proc.returncode}")
    result: dict[str, Any] = json.loads(out.splitlines()[-1])
    return result


async def sleep_until(when: float) -> None:
    await asyncio.sleep(max(0.0, when - time.monotonic()))


async def fleet(args: argparse.Namespace) -> dict[str, Any]:
    """Worker processes x concurrent jobs; producers at a fixed total rate over 20 entrypoints."""
    batch = max(1, min(args.batch_size, args.concurrency // 2))  # PgQueuer: tasks >= 2 x batch
    cfg = {
        "workers": 1,
        "concurrency": args.concurrency,
        "batch_size": batch,
        "entrypoints": FLEET_ENTRYPOINTS,
        "limits": FLEET_LIMITS,
        "dequeue_timeout": 5.0,
    }
    workers = await start("worker", [cfg] * args.processes)
    producers = await start(
        "fleet-producer",
        [
            {
                "rate": args.rate / args.producers,
                "senders": 4,
                "seconds": WARM_UP + args.time + 0.5,  # load goes on past the window's end
                "entrypoints": FLEET_ENTRYPOINTS,
                "offset": i * 5,
            }
            for i in range(args.producers)
        ],
    )
    conn = await runner.connect()
    postmaster, cpu_note = await find_postmaster(conn)
    t0, t1 = await go(workers + producers, args.time)
    await sleep_until(t0)
    before = cpu(postmaster)
    await sleep_until(t1)
    after = cpu(postmaster)
    sent = [await finish(p) for p in producers]
    await asyncio.sleep(0.5)
    counted = [await finish(w) for w in workers]
    await conn.close()
    jobs = sum(r["jobs"] for r in counted)
    handled = {k: v for r in counted for k, v in r["handled"].items()}
    committed = {k: v for s in sent for k, v in s["committed"].items()}
    pickups = sorted((at - float(k)) * 1000 for k, at in handled.items())
    enqueues = sorted((committed[k] - float(k)) * 1000 for k in handled if k in committed)
    from_commit = sorted((at - committed[k]) * 1000 for k, at in handled.items() if k in committed)
    secs = t1 - t0
    return {
        "jobs": jobs,
        "seconds": secs,
        "jobs_per_second": jobs / secs,
        "offered_per_second": args.rate,
        "enqueued_per_second": sum(s["sent_in_window"] for s in sent) / secs,
        "producer_late_max_ms": max(s["late_max_ms"] for s in sent),
        "p50_ms": pct(pickups, 50),
        "p99_ms": pct(pickups, 99),
        "max_ms": pickups[-1] if pickups else None,
        # The same pickups split at the producer's enqueue() returning: its commit (which waits
        # in the NOTIFY line and for the WAL flush), then the queue's own part.
        "enqueue_p50_ms": pct(enqueues, 50),
        "enqueue_p99_ms": pct(enqueues, 99),
        "from_commit_p50_ms": pct(from_commit, 50),
        "from_commit_p99_ms": pct(from_commit, 99),
        **cpu_figures(before, after, jobs, secs),
        "cpu_note": cpu_note,
        "setup": f"{args.processes} worker processes x {args.concurrency} concurrent jobs "
        f"(batch {batch}), {args.producers} producer processes x 4 connections, "
        f"{len(FLEET_ENTRYPOINTS)} entrypoints, {len(FLEET_LIMITS)} limited to 2",
    }


async def pickup(args: argparse.Namespace) -> dict[str, Any]:
    """From the producer's commit returning to the handler's first line, on an idle worker."""
    cfg = {"workers": 1, "batch_size": 10, "entrypoints": ["pickup"], "dequeue_timeout": 30.0}
    (proc,) = await start("worker", [{**cfg, "echo": True}])
    assert proc.stdout is not None
    await go([proc], 0.0)
    conn = await runner.connect()
    queries = Queries(AsyncpgDriver(conn))
    await asyncio.sleep(1.0)  # the worker is idle, waiting for a notification
    samples: list[float] = []
    for i in range(args.jobs + 20):
        if args.transaction:
            async with conn.transaction():
                await queries.enqueue("pickup", str(i).encode())
        else:
            await queries.enqueue("pickup", str(i).encode())
        committed = time.monotonic()
        key, when = (await asyncio.wait_for(proc.stdout.readline(), 30)).split()
        if key.decode() != str(i):
            raise RuntimeError(f"pickup: job {key!r} arrived while waiting for {i}")
        if i >= 20:  # warm-up
            samples.append((float(when) - committed) * 1000)
        await asyncio.sleep(args.pause)  # the worker finishes the job and goes idle
    await conn.close()
    await finish(proc)
    ordered = sorted(samples)
    return {
        "jobs": len(samples),
        "p50_ms": pct(ordered, 50),
        "p95_ms": pct(ordered, 95),
        "p99_ms": pct(ordered, 99),
        "max_ms": ordered[-1],
        "min_ms": ordered[0],
        # the handler ran before the producer saw its commit return: the producer's process
        # was not on a CPU at the time (a loaded machine), so the figures are not clean
        "negative": sum(x < 0 for x in ordered),
        "from": "after COMMIT of an explicit transaction"
        if args.transaction
        else "after enqueue() returned (autocommit)",
    }


async def sustained(args: argparse.Namespace) -> dict[str, Any]:
    """Many workers against a backlog the producers hold at args.hold queued jobs."""
    per = [
        args.workers // args.processes + (i < args.workers % args.processes)
        for i in range(args.processes)
    ]
    cfg = {
        "batch_size": args.batch_size,
        "entrypoints": ["bench"],
        "dequeue_timeout": 1.0,
        "vacuum_interval": args.vacuum_interval,
    }
    workers = await start("worker", [{**cfg, "workers": n} for n in per if n])
    producers = await start(
        "topup",
        [
            {
                "hold": args.hold,
                "producers": args.producers,
                "every": 0.1,
                "offset": i * 0.1 / args.producers,  # the producers' top-ups take turns
                "seconds": WARM_UP + args.time + 0.5,
            }
            for i in range(args.producers)
        ],
    )
    conn = await runner.connect()
    postmaster, cpu_note = await find_postmaster(conn)
    t0, t1 = await go(workers + producers, args.time)
    await sleep_until(t0)
    before, first = cpu(postmaster), await queue_table_stats(conn, runner.SCHEMA)
    samples, queued = [first], [await conn.fetchval(runner.COUNT_QUEUED)]
    while time.monotonic() < t1 - 0.5:  # every second, the last one at the window's end
        await sleep_until(min(t1, time.monotonic() + 1.0))
        samples.append(await queue_table_stats(conn, runner.SCHEMA))
        queued.append(await conn.fetchval(runner.COUNT_QUEUED))
    await sleep_until(t1)
    after = cpu(postmaster)
    enqueued = [await finish(p) for p in producers]
    counted = [await finish(w) for w in workers]
    await conn.close()
    jobs = sum(r["jobs"] for r in counted)
    secs = t1 - t0
    last = samples[-1]
    return {
        "jobs": jobs,
        "seconds": secs,
        "jobs_per_second": jobs / secs,
        "enqueued": sum(e["enqueued"] for e in enqueued),
        "dead_tuples_peak": max(s["n_dead_tup"] for s in samples),
        "dead_tuples_final": last["n_dead_tup"],
        "autovacuums": last["autovacuum_count"] - first["autovacuum_count"],
        "autoanalyzes": last["autoanalyze_count"] - first["autoanalyze_count"],
        "vacuums": last["vacuum_count"] - first["vacuum_count"],  # ours: the vacuum chore's
        "stat_samples": len(samples),
        "queued_min": min(queued),
        "queued_median": sorted(queued)[len(queued) // 2],
        **cpu_figures(before, after, jobs, secs),
        "cpu_note": cpu_note,
        "setup": f"{args.workers} workers (a PgQueuer each, its own connection) in "
        f"{args.processes} processes, batch {args.batch_size}, {args.producers} producer(s) "
        f"topping up to {args.hold} queued every 100 ms (batches up to 1,000)",
    }


SCENARIOS = {"fleet": fleet, "pickup": pickup, "sustained": sustained}


def main() -> None:
    role, cfg = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps(asyncio.run(ROLES[role](cfg))), flush=True)


if __name__ == "__main__":
    main()
