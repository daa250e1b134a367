"""The claim loop: the worker's one hot path, a round trip at a time.

Each pass reads the shared ``WorkerState``, asks ``policy`` what to do, and does it:

1. at shutdown, fix the deadline; past it (or on abort) cancel the running handlers;
2. while the LISTEN connection is down, make sure a reconnect is under way (and stop the
   worker if ``shutdown_on_listener_failure`` and it stayed down too long);
3. if a claim or a write-back is due, one ``try_finish_and_claim`` round trip writes the
   finished outcomes and claims new jobs, which ``JobRunner.start`` turns into tasks; outcomes
   whose row was locked are kept (``lockedrows``) and sent again later;
4. otherwise stop (stopping and nothing left; drain mode and the queue empty), or sleep until
   woken (a NOTIFY, a finished job, shutdown) or the policy's timeout.

Errors of a round trip are classified by ``policy.on_round_trip_error``: a lost race is retried,
a missing table raises ``SchemaNotInstalledError``, a lost connection waits for the listener's
reconnect. ``release_all`` writes back whatever is left at teardown.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from typing import TYPE_CHECKING

from pgqueuer.db import is_connection_error, sqlstate
from pgqueuer.errors import FailingListenerError, SchemaNotInstalledError
from pgqueuer.models import Job
from pgqueuer.ports.metrics import WorkerObserver
from pgqueuer.types import QueueExecutionMode
from pgqueuer.worker import policy
from pgqueuer.worker.execution import JobRunner
from pgqueuer.worker.listener import Listener
from pgqueuer.worker.state import WorkerState

if TYPE_CHECKING:
    from pgqueuer.inmemory import InMemoryQueries
    from pgqueuer.listening import Listening
    from pgqueuer.queries import Queries

logger = logging.getLogger("pgqueuer")


class ClaimLoop:
    """Claims, starts and writes back jobs until the worker stops."""

    def __init__(
        self,
        *,
        state: WorkerState,
        queries: Queries | InMemoryQueries,
        runner: JobRunner,
        listener: Listener,
        queue_manager_id: uuid.UUID,
        shutdown: asyncio.Event,
        force: asyncio.Event,
        settings: policy.Settings,
        names: list[str],
        limits: list[int],
        mode: QueueExecutionMode,
        shutdown_on_listener_failure: bool,
        late_after: float,
        async_claim: bool,
        obs: WorkerObserver | None,
        listening: Listening | None = None,
    ) -> None:
        self._listening = listening  # polling mode adapts the wait (pgqueuer.listening)
        self._state = state
        self._queries = queries
        self._runner = runner
        self._listener = listener
        self._qm_id = queue_manager_id
        self._shutdown = shutdown
        self._force = force
        self._settings = settings
        self._names = names
        self._limits = limits
        self._drain = mode is QueueExecutionMode.drain
        self._stop_on_listener_failure = shutdown_on_listener_failure
        self._late_after = late_after  # a claim answered later than this may be stale
        self._async_claim = async_claim
        self._obs = obs
        self.failure: BaseException | None = None  # raised by run() once torn down

    async def run(self) -> None:
        state, settings, names = self._state, self._settings, self._names
        due_at: float | None = None
        deadline: float | None = None
        state.hint = True
        while True:
            state.wake.clear()
            now = time.monotonic()
            stopping = self._shutdown.is_set()
            if stopping and deadline is None:
                deadline = policy.shutdown_deadline(now, settings.grace)
                logger.info("shutting down: %d job(s) still running", len(state.running))
            if policy.must_cancel(self._force.is_set(), deadline, now):
                self._runner.cancel_all()
            down_since = state.listener_down_since
            if down_since is not None:
                await self._listener.ensure_connection(wait=False)
                if policy.listener_failed(
                    down_since, now, self._stop_on_listener_failure, stopping
                ):
                    self.failure = FailingListenerError(
                        f"the LISTEN connection has been down for {now - down_since:.0f} s"
                    )
                    self._shutdown.set()
                    continue

            running = len(state.running)
            want = policy.claim_size(settings, running, state.hint, stopping)
            flush = policy.should_flush(
                settings,
                want,
                len(state.done),
                state.done_since,
                state.seat_freed,
                running,
                stopping,
                now,
            )
            if want or flush or state.locked.due(now):
                done = state.take_done()
                asked = time.monotonic()
                try:
                    trip = await self._queries.try_finish_and_claim(
                        done, self._qm_id, names, self._limits, want, async_claim=self._async_claim
                    )
                except Exception as exc:
                    state.requeue(done)
                    action = policy.on_round_trip_error(sqlstate(exc), is_connection_error(exc))
                    if action == "retry":  # lost a race for a concurrency seat: try again
                        await asyncio.sleep(random.uniform(0.001, 0.01))
                        continue
                    if action == "missing":
                        raise SchemaNotInstalledError.for_names(self._queries.names, exc) from exc
                    if action == "raise":
                        raise
                    logger.warning("database connection lost (%s); reconnecting", exc)
                    await self._listener.ensure_connection(wait=True)
                    state.hint = True
                    continue
                jobs = trip.jobs
                if want and self._listening is not None:
                    self._listening.claimed(len(jobs))
                if trip.skipped:
                    skipped = {f.id for f in trip.skipped}
                    done = [f for f in done if f.id not in skipped]
                state.locked.keep(trip.skipped)
                state.written(done)
                if self._obs is not None:
                    self._obs.claimed(time.monotonic() - asked, len(jobs))
                if jobs and time.monotonic() - now > self._late_after:
                    jobs = await self._still_held(jobs)
                for job in jobs:
                    self._runner.start(job)
                if jobs:
                    state.held_snapshot = tuple(state.held)
                if policy.claim_came_back_short(want, len(jobs)):
                    state.hint = False
                    if jobs:
                        # Let the handlers just created start before the next round trip:
                        # pickup latency is measured to the handler's first line.
                        await asyncio.sleep(0)
                    due_at = await self._next_due()
                continue

            if policy.may_stop(stopping, len(state.running), len(state.done)):
                return
            if policy.may_be_drained(
                self._drain,
                stopping,
                len(state.running),
                len(state.done),
                bool(state.locked),
                state.hint,
            ):
                if await self._safe_count() == 0:
                    return

            timeout = policy.wait_timeout(
                settings,
                now,
                state.listener_down_since is not None,
                due_at,
                state.done_since,
                state.locked.retry_at,
                deadline,
                None if self._listening is None else self._listening.timeout(settings.poll),
            )
            try:
                async with asyncio.timeout(timeout):
                    await state.wake.wait()
            except TimeoutError:
                due_at = None
                state.hint = True

    async def _still_held(self, jobs: list[Job]) -> list[Job]:
        """The claimed jobs this worker still holds, when the claim's answer was read late.

        Until the answer is read, the heartbeat thread does not know the claimed jobs. When a
        handler blocked the event loop meanwhile, they may have gone stale and been rescued
        (and even completed) by another worker: running them now would run them twice. Their
        heartbeat is refreshed and only those still held by this worker are kept.
        """
        while jobs:
            asked = time.monotonic()
            try:
                ids = [j.id for j in jobs]
                held = set(await self._queries.heartbeat(ids, self._qm_id))
            except Exception as exc:
                if not is_connection_error(exc):
                    raise
                logger.warning(
                    "could not confirm %d late-claimed job(s) (%s); they will be rescued",
                    len(jobs),
                    exc,
                )
                return []
            gone = [j.id for j in jobs if j.id not in held]
            if gone:
                logger.warning(
                    "jobs %s were claimed while the event loop was blocked and were rescued "
                    "by another worker meanwhile: not running them here",
                    gone,
                )
            jobs = [j for j in jobs if j.id in held]
            if time.monotonic() - asked <= self._late_after:
                break
        return jobs

    async def _next_due(self) -> float | None:
        try:
            wait = await self._queries.next_due(self._names)
        except Exception as exc:
            if not is_connection_error(exc):
                raise
            return time.monotonic() + 1.0
        if wait is None:
            return None
        return time.monotonic() + max(wait.total_seconds(), 0.0) + 0.001

    async def _safe_count(self) -> int:
        try:
            return await self._queries.queued_work(self._names)
        except Exception as exc:
            if not is_connection_error(exc):
                raise
            await self._listener.ensure_connection(wait=True)
            return 1


async def release_all(
    queries: Queries | InMemoryQueries, queue_manager_id: uuid.UUID, state: WorkerState
) -> None:
    """At teardown: write back every outcome not written yet and release every other held job.

    What cannot be written (the database is gone) is left to the rescue of another worker.
    """
    done = state.leftovers()
    if not done:
        return
    try:
        async with asyncio.timeout(10):
            await queries.finish_and_claim(done, queue_manager_id, [], [], 0)
        state.written(done)
    except Exception as exc:
        logger.error(
            "could not write back %d job(s) at shutdown (%s); they will be rescued "
            "after the heartbeat timeout",
            len(done),
            exc,
        )
