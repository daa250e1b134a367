"""This project and PgQueuer 1.6.0, side by side, in one run, on the same server.

    hatch run python benchmarks/compare.py --quick     # about two minutes
    hatch run python benchmarks/compare.py             # the full set, with the scale and load runs
    hatch run python benchmarks/compare.py --drivers   # our workers on asyncpg and on psycopg
    hatch run python benchmarks/compare.py --quick --scenarios fleet,pickup,sustained

PgQueuer 1.6.0 is installed (with typer 0.19.2, the release its `pgq run` works with) into
its own virtual environment under ~/.cache/pgqueuer/ the first time. Each scenario of
runner.py runs for both systems with the same settings, alternating which goes first, for
several rounds; the table shows medians and the ratio ours/PgQueuer. pgbench runs the same
claim/finish statement without Python (ceiling.py) to show PostgreSQL's own limit here, alone
(the drain's ceiling) and mixed with the producers' enqueue (the throughput scenario's).
The ceiling runs when drain and throughput are among the scenarios.
Results go to benchmarks/results/compare-<timestamp>.json. The last line is
``ratios: drain=… throughput=… latency_p99=…`` (and, when they ran, ``fleet_cpu_per_job=…
fleet_p99=… pickup_p99=… sustained=… sustained_dead_peak=…``).

``--scenarios`` picks scenarios by name: drain, throughput, latency, enqueue, scale (the
10k/100k/1M runs) and the load scenarios of runner.py/load.py, fleet, pickup and sustained.
A full run has all of them (about 30 minutes: sustained runs 120 s per system and round);
``--quick`` has the first four unless ``--scenarios`` says otherwise, and shortens the load
scenarios (fleet 8 s, pickup 200 jobs, sustained 20 s). ``--fleet-rate`` sets the fleet's
total enqueue rate (2,000 jobs/s).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import report

HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pgqueuer"
VENV = CACHE / "bench-pgqueuer-1.6.0"
PGQUEUER_PINS = ["pgqueuer==1.6.0", "typer==0.19.2", "asyncpg"]
ALL_SCENARIOS = [
    "drain",
    "throughput",
    "latency",
    "enqueue",
    "scale",
    "fleet",
    "pickup",
    "sustained",
]


def their_python() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        print(f"installing PgQueuer 1.6.0 into {VENV} (once)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    check = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('pgqueuer'))"],
        capture_output=True,
        text=True,
    )
    if check.stdout.strip() != "1.6.0":
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PGQUEUER_PINS], check=True)
    return python


def their_psycopg_python() -> str:
    """PgQueuer 1.6.0's environment with psycopg 3 added (its psycopg extra), once."""
    python = str(their_python())
    check = subprocess.run([python, "-c", "import psycopg"], capture_output=True)
    if check.returncode != 0:
        subprocess.run([python, "-m", "pip", "install", "-q", "psycopg[binary]"], check=True)
    return python


def our_python() -> str:
    check = subprocess.run(
        [sys.executable, "-c", "import importlib.metadata as m; print(m.version('pgqueuer-core'))"],
        capture_output=True,
        text=True,
    )
    if check.returncode != 0:
        sys.exit(
            "compare.py: this Python does not have pgqueuer-core; run it in the workspace:\n"
            "  hatch run python benchmarks/compare.py --quick"
        )
    return sys.executable


def run_scenario(python: str, system: str, args: list[str]) -> dict[str, Any]:
    env = {**os.environ, "BENCH_SCHEMA": f"pgq_bench_{system}"}
    env.pop("PGQUEUER_SCHEMA", None)
    done = subprocess.run(
        [python, str(HERE / "runner.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{system} {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _pgbench(pgbench: str, scripts: list[Path], clients: int, seconds: float) -> float | None:
    """Run pgbench on ``scripts`` at equal weights; its tps, or None when it failed."""
    cmd = [pgbench, "-n", "-M", "prepared", "-D", "ids={}", "-c", str(clients), "-j", "2"]
    for script in scripts:
        cmd += ["-f", f"{script}@1"]
    cmd += ["-T", str(int(seconds))]
    dsn = os.environ.get("PGQUEUER_DSN")
    if dsn:
        cmd.append(dsn)
    # generic plans and no JIT, as on the worker's connection (pgqueuer.db.GENERIC_PLANS)
    env = {**os.environ, "PGOPTIONS": "-c plan_cache_mode=force_generic_plan -c jit=off"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    for line in done.stdout.splitlines():
        if done.returncode == 0 and line.startswith("tps = "):
            return float(line.split()[2])
    print(f"pgbench failed: {done.stderr[-500:]}", file=sys.stderr)
    return None


def ceiling(seconds: float) -> dict[str, Any] | None:
    """pgbench running the worker's own statements (ceiling.py): jobs/s PostgreSQL sustains.

    ``jobs_per_second``: 5 clients finishing and claiming batches of 10 from a full queue (the
    drain's ceiling). ``mixed_jobs_per_second``: 7 clients (the throughput scenario's 5
    workers and 2 producers) each choosing at random, at equal weights, between that statement
    and an enqueue of 10, from a backlog of 2,000; counted as jobs finished (log rows) per second.
    """
    pgbench = shutil.which("pgbench")
    if pgbench is None:
        return None
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    consumer, producer = out_dir / "ceiling-script.sql", out_dir / "ceiling-producer.sql"
    schema = "pgq_bench_ceiling"
    jobs = int(seconds * 60_000)  # more than 5 clients can finish in that time
    subprocess.run(
        [our_python(), str(HERE / "ceiling.py"), schema, str(jobs), str(consumer)], check=True
    )
    tps = _pgbench(pgbench, [consumer], 5, seconds)
    if tps is None:
        return None
    result: dict[str, Any] = {
        "tps": tps,
        "jobs_per_second": tps * 10,
        "clients": 5,
        "seconds": seconds,
    }
    mixed = "pgq_bench_ceiling_mixed"
    subprocess.run(
        [our_python(), str(HERE / "ceiling.py"), mixed, "2000", str(consumer), str(producer)],
        check=True,
    )
    if _pgbench(pgbench, [consumer, producer], 7, seconds) is not None:
        count = subprocess.run(
            [our_python(), str(HERE / "ceiling.py"), "--finished", mixed],
            capture_output=True,
            text=True,
            check=True,
        )
        result["mixed_jobs_per_second"] = int(count.stdout) / int(seconds)
        result["mixed_clients"] = 7
    return result


def median(results: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in results)


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        out = subprocess.run(
            [
                our_python(),
                "-c",
                "import asyncio, asyncpg, os\n"
                "async def m():\n"
                "    c = await asyncpg.connect(os.environ.get('PGQUEUER_DSN'))\n"
                "    v = await c.fetchval('SHOW server_version')\n"
                "    s = {k: await c.fetchval('SHOW ' + k) for k in "
                "('shared_buffers', 'synchronous_commit', 'fsync', 'max_connections')}\n"
                "    await c.close()\n"
                "    print(v, s)\n"
                "asyncio.run(m())",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        info["postgresql"] = out.stdout.strip()
    except Exception as exc:  # informative only
        info["postgresql"] = f"unknown ({exc})"
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description="Compare with PgQueuer 1.6.0")
    parser.add_argument("--quick", action="store_true", help="small sizes, 2 rounds (~2 min)")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument(
        "--drivers",
        action="store_true",
        help="instead: our workers on asyncpg against psycopg (drain, throughput, latency)",
    )
    parser.add_argument(
        "--scenarios",
        help=f"comma-separated, of: {','.join(ALL_SCENARIOS)} (default: all; --quick: the first four)",
    )
    parser.add_argument(
        "--fleet-rate", type=float, default=2000.0, help="fleet: jobs/s enqueued in total"
    )
    args = parser.parse_args()
    chosen = (args.scenarios or ",".join(ALL_SCENARIOS[: 4 if args.quick else None])).split(",")
    unknown = sorted(set(chosen) - set(ALL_SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    if args.drivers:
        compare_drivers(args.rounds or 5)
        return

    ours, theirs = our_python(), str(their_python())
    quick = args.quick
    rounds = args.rounds or (2 if quick else 3)
    every: dict[str, list[str]] = {
        "drain": ["drain", "--jobs", "5000" if quick else "20000"],
        "throughput": ["throughput", "--time", "5" if quick else "10"],
        "latency": ["latency", "--jobs", "500" if quick else "1000"],
        "enqueue": ["enqueue", "--jobs", "5000" if quick else "20000"],
        "fleet": ["fleet", "--time", "8" if quick else "20", "--rate", str(args.fleet_rate)],
        "pickup": ["pickup", "--jobs", "200" if quick else "500"],
        "sustained": ["sustained", "--time", "20" if quick else "120"],
    }
    scenarios = {name: every[name] for name in ALL_SCENARIOS if name in chosen and name in every}
    if "scale" in chosen:
        for backlog in (10_000, 100_000, 1_000_000):
            scenarios[f"scale_drain_{backlog}"] = [
                "drain",
                "--jobs",
                "10000",
                "--backlog",
                str(backlog),
            ]
            scenarios[f"scale_latency_{backlog}"] = [
                "latency",
                "--jobs",
                "500",
                "--backlog",
                str(backlog),
            ]

    results: dict[str, dict[str, list[dict[str, Any]]]] = {
        name: {"ours": [], "pgqueuer": []} for name in scenarios
    }
    started = time.monotonic()
    for round_no in range(rounds):
        order = [("ours", ours), ("pgqueuer", theirs)]
        if round_no % 2:
            order.reverse()
        for name, scenario_args in scenarios.items():
            for system, python in order:
                result = run_scenario(python, system, scenario_args)
                results[name][system].append(result)
                print(
                    f"round {round_no + 1} {name:<22} {system:<9} {report.headline(result)}",
                    flush=True,
                )

    top = ceiling(5 if quick else 10) if {"drain", "throughput"} <= set(scenarios) else None
    rows = report.rows(results)
    print()
    print(report.table(rows))
    if top is not None:
        drain_ours = median(results["drain"]["ours"], "jobs_per_second")
        tp_ours = median(results["throughput"]["ours"], "jobs_per_second")
        print(
            f"\npgbench ceiling (the worker's statement, 5 clients): {top['jobs_per_second']:.0f} "
            f"jobs/s; ours reaches {drain_ours / top['jobs_per_second']:.0%} (drain) and "
            f"{tp_ours / top['jobs_per_second']:.0%} (throughput)"
        )
        if "mixed_jobs_per_second" in top:
            print(
                f"pgbench ceiling with producers (the worker's statement and enqueue, 7 clients): "
                f"{top['mixed_jobs_per_second']:.0f} jobs/s; ours reaches "
                f"{tp_ours / top['mixed_jobs_per_second']:.0%} (throughput)"
            )
    flat = _flatness(results)
    if flat:
        print("\n" + flat)
    elapsed = time.monotonic() - started
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    raw = {
        "when": stamp,
        "quick": quick,
        "rounds": rounds,
        "machine": machine(),
        "scenarios": scenarios,
        "results": results,
        "ceiling": top,
        "seconds": elapsed,
    }
    path = out_dir / f"compare-{stamp}.json"
    path.write_text(json.dumps(raw, indent=2))
    print(f"\n{elapsed:.0f} s; raw results in {path.relative_to(HERE.parent)}")
    print(report.ratio_line(rows))


def compare_drivers(rounds: int) -> None:
    """Our workers on asyncpg and on psycopg (PsycopgDriver), same scenarios, alternating.

    PgQueuer 1.6.0's psycopg worker drains a small queue once per round for reference: its
    driver stalls about a second per query while it listens, so 20,000 jobs would take minutes.
    The last line is ``ratios psycopg/asyncpg: drain=… throughput=… latency_p99=…``.
    """
    ours = our_python()
    scenarios = {
        "drain": ["drain", "--jobs", "20000"],
        "throughput": ["throughput", "--time", "5"],
        "latency": ["latency", "--jobs", "300"],
    }
    results: dict[str, dict[str, list[dict[str, Any]]]] = {
        name: {"asyncpg": [], "psycopg": []} for name in scenarios
    }
    theirs: list[dict[str, Any]] = []
    started = time.monotonic()
    for round_no in range(rounds):
        order = ["asyncpg", "psycopg"] if round_no % 2 == 0 else ["psycopg", "asyncpg"]
        for name, scenario_args in scenarios.items():
            for driver in order:
                result = run_scenario(ours, "ours", [*scenario_args, "--driver", driver])
                results[name][driver].append(result)
                print(
                    f"round {round_no + 1} {name:<12} {driver:<8} {report.headline(result)}",
                    flush=True,
                )
        if round_no == 0:
            try:
                small = ["drain", "--jobs", "300", "--driver", "psycopg"]
                theirs.append(run_scenario(their_psycopg_python(), "pgqueuer", small))
                print(f"PgQueuer 1.6.0 psycopg drain: {report.headline(theirs[-1])}", flush=True)
            except (RuntimeError, subprocess.SubprocessError) as exc:
                print(f"PgQueuer 1.6.0 psycopg drain skipped: {exc}", file=sys.stderr)
    print(f"\n{'scenario':<14}{'metric':<18}{'asyncpg':>10}{'psycopg':>10}{'ratio':>8}")
    ratios = {}
    for name, by_driver in results.items():
        key = "p99_ms" if name == "latency" else "jobs_per_second"
        keys = [key, "p50_ms"] if name == "latency" else [key]
        for k in keys:
            a, p = median(by_driver["asyncpg"], k), median(by_driver["psycopg"], k)
            ratio = p / a if a else float("nan")
            if k == key:
                ratios[name] = ratio
            print(f"{name:<14}{k:<18}{a:>10.2f}{p:>10.2f}{ratio:>8.2f}")
    if theirs:
        print(f"PgQueuer 1.6.0, psycopg worker, drain of 300: {report.headline(theirs[0])}")
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"drivers-{stamp}.json"
    raw = {
        "when": stamp,
        "rounds": rounds,
        "machine": machine(),
        "scenarios": scenarios,
        "results": results,
        "pgqueuer_psycopg_drain": theirs,
        "seconds": time.monotonic() - started,
    }
    path.write_text(json.dumps(raw, indent=2))
    print(f"\nraw results in {path.relative_to(HERE.parent)}")
    print(
        f"ratios psycopg/asyncpg: drain={ratios['drain']:.2f} "
        f"throughput={ratios['throughput']:.2f} latency_p99={ratios['latency']:.2f}"
    )


def _flatness(results: dict[str, dict[str, list[dict[str, Any]]]]) -> str:
    """Cost per job with 1M queued relative to 10k queued (1.00 = flat), for each system."""
    small, big = "10000", "1000000"
    if f"scale_drain_{big}" not in results:
        return ""
    parts = []
    for system in ("ours", "pgqueuer"):
        # cost per job is 1 / rate for drain, the p50 itself for latency
        drain = median(results[f"scale_drain_{small}"][system], "jobs_per_second") / median(
            results[f"scale_drain_{big}"][system], "jobs_per_second"
        )
        latency = median(results[f"scale_latency_{big}"][system], "p50_ms") / median(
            results[f"scale_latency_{small}"][system], "p50_ms"
        )
        parts.append(f"{system}: drain {drain:.2f}, latency p50 {latency:.2f}")
    return "cost per job at 1M queued / at 10k queued (1.00 = flat): " + "; ".join(parts)


if __name__ == "__main__":
    main()
