"""Shared machinery of the reliability tests: worker processes, producers, a private cluster,
deadlines, and the accounting every scenario ends with (not a test module).

The accounting, from the database and the workers' run files (see chaos_worker.py):

* every job a producer got an id for is completed (a ``successful`` log row), held as
  ``failed``, cancelled (``canceled``/``deleted``) or still ``queued``: none is lost;
* no row is ``picked`` once the workers have stopped;
* no job is finalized twice (at most one terminal log row per job), and none is both finished
  and still in the queue table;
* a completed job's handler really returned at least once (an ``E`` line);
* no run of a job started after its successful completion was logged: a job legitimately runs
  again after its worker was SIGKILLed (at-least-once), but never after it completed;
* a job's handler returned at most ``1 + rescues`` times, a rescue being a ``WorkerLost`` log
  row (the job went back to the queue because its worker stopped beating);
* with ``alive=True`` (the workers were never killed), each job ran exactly once, and no job
  was rescued while its handler was running (a job may be rescued before its handler started:
  when a handler blocks the event loop, a claim answered meanwhile is not known to the
  heartbeat thread yet; the worker then drops it and the job runs once, elsewhere).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from localpg import LocalPostgres

from pgqueuer.db import AsyncpgDriver, is_connection_error
from pgqueuer.names import Names
from pgqueuer.queries import Queries

WORKER = Path(__file__).with_name("chaos_worker.py")
REPO = Path(__file__).resolve().parents[2]
TERMINAL = ("successful", "exception", "canceled", "deleted")


# -- deadlines -----------------------------------------------------------------------------


async def wait_for(
    check: Callable[[], Any], timeout: float, what: str, interval: float = 0.05
) -> float:
    """Wait until ``check()`` (sync or async) is truthy; return the seconds it took.

    Fails with ``what`` in the message when ``timeout`` passes first: never an unbounded wait.
    """
    began = time.monotonic()
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return time.monotonic() - began
        if time.monotonic() - began > timeout:
            raise AssertionError(f"{what}: not reached within {timeout:.0f} s")
        await asyncio.sleep(interval)


def figures(scenario: str, **values: Any) -> dict[str, Any]:
    """Print a scenario's figures (pytest -s shows them) and append them, as one JSON line,
    to the file named by CHAOS_FIGURES when it is set (docs/reliability.md)."""
    record = {"scenario": scenario, **values}
    line = json.dumps(record, default=str)
    print(f"\n[figures] {line}")
    target = os.environ.get("CHAOS_FIGURES")
    if target:
        with open(target, "a") as f:
            f.write(line + "\n")
    return record


# -- worker processes ----------------------------------------------------------------------


@dataclass
class Worker:
    proc: subprocess.Popen[bytes]
    out: Path
    err: Path
    app: str

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def is_ready(self) -> bool:
        return self.alive() and b"ready" in self.out.read_bytes()

    def stderr(self) -> str:
        return self.err.read_text(errors="replace") if self.err.exists() else ""


class Fleet:
    """Worker processes (chaos_worker.py) on one queue; every one is killed in ``stop_all``."""

    def __init__(self, dsn: str | None, names: Names, runs_dir: Path, logs_dir: Path) -> None:
        assert names.schema is not None
        self.dsn = dsn
        self.names = names
        self.runs_dir = runs_dir
        self.logs_dir = logs_dir
        self.workers: list[Worker] = []
        runs_dir.mkdir(parents=True, exist_ok=True)
        logs_dir.mkdir(parents=True, exist_ok=True)

    async def start(
        self,
        *args: str,
        app: str = "chaos-worker",
        wait: bool = True,
        env: dict[str, str] | None = None,
    ) -> Worker:
        """Start a worker with ``args``; ``env`` is added to its (PGQUEUER_*-free) environment."""
        n = len(self.workers)
        out, err = self.logs_dir / f"worker-{n}.out", self.logs_dir / f"worker-{n}.err"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PGQUEUER_")},
            **(env or {}),
        }
        if self.dsn:
            env["PGQUEUER_DSN"] = self.dsn
        assert self.names.schema is not None
        with out.open("wb") as o, err.open("wb") as e:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    str(WORKER),
                    "--schema",
                    self.names.schema,
                    "--runs-dir",
                    str(self.runs_dir),
                    "--app",
                    app,
                    *args,
                ],
                cwd=REPO,
                env=env,
                stdout=o,
                stderr=e,
                stdin=subprocess.DEVNULL,
            )
        worker = Worker(proc, out, err, app)
        self.workers.append(worker)
        if wait:
            await self.ready(worker)
        return worker

    async def ready(self, worker: Worker, timeout: float = 20) -> None:
        def check() -> bool:
            if not worker.alive():
                raise AssertionError(
                    f"worker {worker.pid} exited ({worker.proc.returncode}) before it was "
                    f"ready:\n{worker.stderr()[-2000:]}"
                )
            return b"ready" in worker.out.read_bytes()

        await wait_for(check, timeout, f"worker {worker.pid} ready")

    def alive(self) -> list[Worker]:
        return [w for w in self.workers if w.alive()]

    @staticmethod
    def kill(worker: Worker) -> None:
        if worker.alive():
            worker.proc.send_signal(signal.SIGKILL)
        worker.proc.wait(10)

    @staticmethod
    async def exit_status(worker: Worker, timeout: float) -> int:
        try:
            return await asyncio.to_thread(worker.proc.wait, timeout)
        except subprocess.TimeoutExpired:
            worker.proc.kill()
            worker.proc.wait(10)
            raise AssertionError(
                f"worker {worker.pid} did not exit within {timeout} s:\n{worker.stderr()[-2000:]}"
            ) from None

    async def stop_gracefully(self, timeout: float = 20) -> None:
        """SIGTERM every live worker and wait for each to exit 0.

        A worker started with ``wait=False`` may still be importing: its signal handlers are
        installed before it says "ready", and a SIGTERM before that kills it outright (-15),
        which says nothing about shutdown. So each one is given until ``timeout`` to be ready.
        """
        live = self.alive()
        deadline = time.monotonic() + timeout
        while any(w.alive() and not w.is_ready() for w in live) and time.monotonic() < deadline:  # noqa: ASYNC110 - polling processes' output files, no event to wait on
            await asyncio.sleep(0.05)
        for worker in live:
            worker.proc.send_signal(signal.SIGTERM)
        for worker in live:
            status = await self.exit_status(worker, timeout)
            assert status == 0, f"worker {worker.pid} exited {status}:\n{worker.stderr()[-2000:]}"

    def stop_all(self) -> None:
        for worker in self.workers:
            self.kill(worker)

    def stderr(self) -> str:
        return "\n".join(w.stderr() for w in self.workers)

    def tracebacks(self) -> list[str]:
        """Tracebacks in the workers' logs, except those asyncpg logs itself as warnings
        (its pool reports failed reconnects of idle connections with their traceback)."""
        found = []
        for worker in self.workers:
            records = re.split(r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} )", worker.stderr())
            for record in records:
                if "Traceback" in record and not re.match(r"\S+ \S+ WARNING asyncpg", record):
                    found.append(record[-3000:])
        return found


# -- producers -----------------------------------------------------------------------------


class Producer:
    """Enqueues batches on a connection of its own until ``stop`` is set; keeps every id.

    A lost connection (a restart, a terminated backend) is counted and reconnected with
    backoff; a batch whose answer was lost may have been stored anyway (its ids are then not
    known here, and the accounting counts it among the unacknowledged).
    """

    def __init__(
        self,
        dsn: str | None,
        names: Names,
        *,
        entrypoint: str = "work",
        payload: bytes | None = None,
        batch: int = 10,
        interval: float = 0.05,
        statement_cache_size: int = 100,  # 0 through a transaction-pooling PgBouncer
    ) -> None:
        self.dsn = dsn
        self.statement_cache_size = statement_cache_size
        self.names = names
        self.entrypoint = entrypoint
        self.payload = payload
        self.batch = batch
        self.interval = interval
        self.ids: set[int] = set()
        self.errors = 0
        self.batches = 0

    async def run(self, stop: asyncio.Event, limit: int | None = None) -> None:
        conn: asyncpg.Connection | None = None
        backoff = 0.05
        try:
            while not stop.is_set() and (limit is None or len(self.ids) < limit):
                try:
                    if conn is None or conn.is_closed():
                        conn = await asyncpg.connect(
                            self.dsn, timeout=5, statement_cache_size=self.statement_cache_size
                        )
                    queries = Queries(AsyncpgDriver(conn), self.names)
                    ids = await queries.enqueue(
                        [self.entrypoint] * self.batch, [self.payload] * self.batch
                    )
                    self.ids.update(ids)
                    self.batches += 1
                    backoff = 0.05
                except Exception as exc:
                    if not is_connection_error(exc) and not isinstance(
                        exc, asyncpg.CannotConnectNowError | asyncpg.TooManyConnectionsError
                    ):
                        raise
                    self.errors += 1
                    if conn is not None:
                        conn.terminate()
                        conn = None
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 1.0)
                    continue
                if self.interval:
                    await asyncio.sleep(self.interval)
        finally:
            if conn is not None and not conn.is_closed():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), 5)


# -- runs ----------------------------------------------------------------------------------


@dataclass
class Run:
    job_id: int
    pid: int
    started: float
    attempts: int
    size: int
    sha: str
    gauge: int
    ended: float | None = None
    how: str | None = None  # "E" returned, "C" cancelled, None: killed (or still running)


def read_runs(runs_dir: Path) -> list[Run]:
    runs: list[Run] = []
    for path in sorted(runs_dir.glob("runs-*.log")):
        open_runs: dict[tuple[int, int], list[Run]] = defaultdict(list)
        for line in path.read_text().splitlines():
            parts = line.split()
            if not parts:
                continue
            if parts[0] == "S" and len(parts) == 8:
                run = Run(
                    int(parts[1]),
                    int(parts[2]),
                    float(parts[3]),
                    int(parts[4]),
                    int(parts[5]),
                    parts[6],
                    int(parts[7]),
                )
                runs.append(run)
                open_runs[(run.job_id, run.pid)].append(run)
            elif parts[0] in ("E", "C") and len(parts) == 4:
                pending = open_runs.get((int(parts[1]), int(parts[2])))
                if pending:
                    run = pending.pop(0)
                    run.ended, run.how = float(parts[3]), parts[0]
            # a torn last line (killed mid-write) is ignored
    return sorted(runs, key=lambda r: r.started)


def by_job(runs: Iterable[Run]) -> dict[int, list[Run]]:
    out: dict[int, list[Run]] = defaultdict(list)
    for run in runs:
        out[run.job_id].append(run)
    return out


# -- the accounting ------------------------------------------------------------------------


@dataclass
class Accounting:
    enqueued: int
    completed: set[int] = field(default_factory=set)
    errored: set[int] = field(default_factory=set)
    failed: set[int] = field(default_factory=set)
    cancelled: set[int] = field(default_factory=set)
    queued: set[int] = field(default_factory=set)
    picked: set[int] = field(default_factory=set)
    unacknowledged: int = 0  # jobs in the database that no producer got an id for
    runs: int = 0
    rerun_jobs: int = 0
    rescues: int = 0
    attempts: dict[int, int] = field(default_factory=dict)
    runs_by_job: dict[int, list[Run]] = field(default_factory=dict)
    rescues_by_job: Counter[int] = field(default_factory=Counter)
    lost_claim_reruns: int = 0
    rescued_at: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))

    def summary(self) -> dict[str, int]:
        return {
            "enqueued": self.enqueued,
            "completed": len(self.completed),
            "held_failed": len(self.failed),
            "cancelled": len(self.cancelled),
            "still_queued": len(self.queued),
            "picked": len(self.picked),
            "unacknowledged_enqueues": self.unacknowledged,
            "handler_runs": self.runs,
            "jobs_run_more_than_once": self.rerun_jobs,
            "rescued_from_dead_workers": self.rescues,
        }


def _few(ids: Iterable[int]) -> str:
    ids = sorted(ids)
    more = f" (+{len(ids) - 10} more)" if len(ids) > 10 else ""
    return ", ".join(map(str, ids[:10])) + more


async def account(
    conn: asyncpg.Connection,
    names: Names,
    enqueued: Iterable[int],
    runs_dir: Path | None,
    *,
    alive: bool = False,
    server_crash: bool = False,
) -> Accounting:
    """Check the invariants in the module docstring; return the counts for the figures."""
    enqueued = set(enqueued)
    acc = Accounting(enqueued=len(enqueued))
    queue_rows = await conn.fetch(
        names.substitute(
            "SELECT id, status::text AS status, attempts FROM /*@queue_table*/pgqueuer"
        )
    )
    log_rows = await conn.fetch(
        names.substitute(
            "SELECT job_id, status::text AS status, "
            "extract(epoch FROM created)::float8 AS created, "
            "traceback->>'exception_type' AS kind "
            "FROM /*@queue_table_log*/pgqueuer_log ORDER BY id"
        )
    )
    in_queue: dict[int, str] = {}
    for row in queue_rows:
        in_queue[row["id"]] = row["status"]
        acc.attempts[row["id"]] = row["attempts"]
        {"queued": acc.queued, "failed": acc.failed, "picked": acc.picked}[row["status"]].add(
            row["id"]
        )
    terminal: dict[int, list[tuple[str, float]]] = defaultdict(list)
    for row in log_rows:
        if row["status"] in TERMINAL:
            terminal[row["job_id"]].append((row["status"], row["created"]))
        if row["kind"] == "WorkerLost":
            acc.rescues_by_job[row["job_id"]] += 1
            acc.rescued_at[row["job_id"]].append(row["created"])
    acc.rescues = sum(acc.rescues_by_job.values())
    for job_id, ends in terminal.items():
        status = ends[0][0]
        target = {
            "successful": acc.completed,
            "exception": acc.errored,
            "canceled": acc.cancelled,
            "deleted": acc.cancelled,
        }[status]
        target.add(job_id)

    assert not acc.picked, f"rows still 'picked' after the workers stopped: {_few(acc.picked)}"
    twice = [j for j, ends in terminal.items() if len(ends) > 1]
    assert not twice, f"jobs finalized more than once: {_few(twice)}"
    both = set(terminal) & set(in_queue)
    assert not both, f"jobs finalized but still in the queue table: {_few(both)}"
    known = acc.completed | acc.errored | acc.failed | acc.cancelled | acc.queued
    lost = enqueued - known
    assert not lost, (
        f"{len(lost)} enqueued job(s) lost (neither done, held, cancelled nor queued): {_few(lost)}"
    )
    acc.unacknowledged = len(known - enqueued)

    if runs_dir is None:
        return acc
    runs = read_runs(runs_dir)
    acc.runs = len(runs)
    jobs = by_job(runs)
    acc.runs_by_job = dict(jobs)
    acc.rerun_jobs = sum(1 for r in jobs.values() if len(r) > 1)
    never_ran = [j for j in acc.completed if not any(r.how == "E" for r in jobs.get(j, []))]
    assert not never_ran, f"jobs logged successful whose handler never returned: {_few(never_ran)}"
    after = [
        job_id
        for job_id, ends in terminal.items()
        if ends[0][0] == "successful" and any(r.started > ends[0][1] for r in jobs.get(job_id, []))
    ]
    assert not after, f"jobs that ran again after they completed: {_few(after)}" + "".join(
        f"\n  job {j}: completion logged at {terminal[j][0][1]:.6f}, runs started at "
        + ", ".join(f"{r.started:.6f} (pid {r.pid}, {r.how})" for r in jobs[j])
        for j in sorted(after)[:3]
    )
    too_many = [
        job_id
        for job_id, job_runs in jobs.items()
        if sum(1 for r in job_runs if r.how == "E") > 1 + acc.rescues_by_job[job_id]
    ]
    if server_crash:
        # A claim committed asynchronously can be lost when the server crashes (see
        # QueueManager.run's durable_claims): the worker runs the job, its result is refused
        # (the row is no longer its own) and another worker runs it again. Counted, not failed.
        acc.lost_claim_reruns = len(too_many)
        too_many = []
    assert not too_many, (
        f"jobs whose handler completed more often than they were rescued: {_few(too_many)}"
    )
    if alive:
        running = [
            j
            for j, times in acc.rescued_at.items()
            if any(
                r.started < t and (r.ended is None or r.ended > t) for r in jobs[j] for t in times
            )
        ]
        assert not running, f"jobs rescued from a live worker while running: {_few(running)}"
        again = [j for j, r in jobs.items() if len(r) > 1]
        assert not again, f"jobs run more than once by live workers: {_few(again)}"
    return acc


# -- a private PostgreSQL cluster (restarts must not touch the shared server) -------------


class Cluster(LocalPostgres):
    """A throwaway PostgreSQL on a free TCP port of 127.0.0.1, for tests that restart it
    (``stop(mode)`` then ``start()``); see examples/localpg.py for what it does as root."""

    def __init__(self, **settings: str) -> None:
        root = Path(tempfile.mkdtemp(prefix="pgqueuer-chaos-pg-"))
        super().__init__(
            root, fsync="off", full_page_writes="off", max_connections="60", **settings
        )
        self.start()


async def terminate(conn: asyncpg.Connection, where: str, *args: Any) -> int:
    """pg_terminate_backend on the backends matching ``where`` (over pg_stat_activity)."""
    n: int = await conn.fetchval(
        f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        f"WHERE pid <> pg_backend_pid() AND {where}",
        *args,
    )
    return n


Check = Callable[[], Awaitable[bool]]


async def count(conn: asyncpg.Connection, names: Names, where: str = "true", *args: object) -> int:
    """Rows of the test's queue table matching ``where``."""
    sql = names.substitute(f"SELECT count(*) FROM /*@queue_table*/pgqueuer WHERE {where}")
    return int(await conn.fetchval(sql, *args))


def op(**what: float) -> bytes:
    """A chaos_worker job payload: what the handler should do (sleep, kill, ...)."""
    return json.dumps(what).encode()
