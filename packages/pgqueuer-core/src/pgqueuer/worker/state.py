"""What the worker's parts share: the jobs in flight and the claim loop's wake-up signals.

One ``WorkerState`` per ``QueueManager``. The execution part adds a job when it starts it and
records its outcome when it ends (``finish``); the claim loop sends those outcomes back and
marks them written (``written``); the heartbeat thread reads ``held_snapshot``; the listener
sets ``hint`` and ``wake``. Everything runs on the worker's event loop except the heartbeat
thread, which only reads an immutable tuple.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from pgqueuer.backends.args import Finished
from pgqueuer.lockedrows import LockedOutcomes
from pgqueuer.models import Context, Job


@dataclass(slots=True)
class Running:
    """A job whose handler runs now."""

    job: Job
    context: Context
    task: asyncio.Task[Finished]


@dataclass(slots=True, eq=False)
class WorkerState:
    """The worker's in-flight jobs and outcomes, and what wakes the claim loop."""

    wake: asyncio.Event = field(default_factory=asyncio.Event)  # something for the loop to do
    hint: bool = True  # there may be jobs to claim (a NOTIFY, a timeout, a full claim)
    running: dict[int, Running] = field(default_factory=dict)
    done: list[Finished] = field(default_factory=list)  # finished, not yet sent
    done_since: float | None = None  # when the oldest of ``done`` finished
    locked: LockedOutcomes = field(default_factory=LockedOutcomes)  # sent, row was locked
    seat_freed: bool = False  # a finished job held a concurrency seat: write back at once
    held: set[int] = field(default_factory=set)  # claimed and not yet written back
    held_snapshot: tuple[int, ...] = ()  # ``held`` for the heartbeat thread
    listener_down_since: float | None = None
    jobs_logged: int = 0  # outcomes written that leave a log row (aggregation looks at it)

    def finish(self, finished: Finished, job: Job | None) -> None:
        """Record an outcome to send back, and wake the loop."""
        self.done.append(finished)
        if self.done_since is None:
            self.done_since = time.monotonic()
        if job is not None and job.slot is not None:
            self.seat_freed = True  # write back at once: someone may wait for this seat
        self.wake.set()

    def take_done(self) -> list[Finished]:
        """The outcomes for the round trip about to go out (locked ones included)."""
        done, self.done = self.done + self.locked.take(), []
        self.done_since, self.seat_freed = None, False
        return done

    def requeue(self, done: list[Finished]) -> None:
        """A round trip failed: its outcomes go back in front, to be sent again."""
        if done:
            self.done[:0] = done
            if self.done_since is None:
                self.done_since = time.monotonic()

    def written(self, done: list[Finished]) -> None:
        """These outcomes are in the database: the jobs are no longer held."""
        for item in done:
            self.held.discard(item.id)
            if item.outcome != "release":
                self.jobs_logged += 1
        self.held_snapshot = tuple(self.held)

    def leftovers(self) -> list[Finished]:
        """At shutdown: every outcome not written yet, then a release for each other held job."""
        pending = self.done + self.locked.take()
        self.done = []
        accounted = {f.id for f in pending}
        return pending + [Finished(i, "release") for i in self.held if i not in accounted]
