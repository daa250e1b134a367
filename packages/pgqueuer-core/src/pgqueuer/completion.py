"""``CompletionWatcher``: await the final status of jobs you enqueued.

The log gets one row when a job ends, so the watcher asks for the latest status of the jobs it
waits for: soon after a NOTIFY on the queue's channel (debounced), and otherwise on a timer
that starts short and backs off to ``refresh_interval``. Unlike PgQueuer's, it resolves held
jobs too (``failed``), and it listens on the channel of the ``Queries`` it is given.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING

from pgqueuer.capabilities import ListenerRemoval
from pgqueuer.types import JOB_STATUS, JobId

if TYPE_CHECKING:
    from pgqueuer.db import Driver
    from pgqueuer.queries import Queries

TERMINAL: frozenset[str] = frozenset({"canceled", "deleted", "exception", "successful", "failed"})


class CompletionWatcher:
    """``async with CompletionWatcher(driver) as w: status = await w.wait_for(job_id)``."""

    def __init__(
        self,
        driver: Driver,
        *,
        queries: Queries | None = None,
        refresh_interval: timedelta | None = timedelta(seconds=5),
        debounce: timedelta = timedelta(milliseconds=50),
    ) -> None:
        from pgqueuer.queries import Queries

        self.driver = driver
        self.queries = queries or Queries(driver)
        self._max_wait = (refresh_interval or timedelta(seconds=5)).total_seconds()
        self._debounce = debounce.total_seconds()
        self._waiting: dict[int, list[asyncio.Future[JOB_STATUS]]] = {}
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._channel = self.queries.names.channel

    def wait_for(self, job_id: int) -> asyncio.Future[JOB_STATUS]:
        """A future that resolves to the job's terminal status."""
        future: asyncio.Future[JOB_STATUS] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(int(job_id), []).append(future)
        self._kick.set()
        return future

    def _on_notify(self, _payload: str) -> None:
        self._kick.set()

    async def _poll(self) -> None:
        wait = self._debounce
        while True:
            try:
                async with asyncio.timeout(wait):
                    await self._kick.wait()
                await asyncio.sleep(self._debounce)  # let a burst of changes settle
                wait = self._debounce
            except TimeoutError:
                wait = min(wait * 2, self._max_wait)
            self._kick.clear()
            for job_id in [k for k, fs in self._waiting.items() if all(f.done() for f in fs)]:
                del self._waiting[job_id]
            if not self._waiting:
                continue
            statuses = await self.queries.job_status(list(self._waiting))
            for job_id, status in statuses:
                if status in TERMINAL:
                    for future in self._waiting.pop(JobId(job_id), []):
                        if not future.done():
                            future.set_result(status)

    async def __aenter__(self) -> CompletionWatcher:
        await self.driver.add_listener(self._channel, self._on_notify)
        self._task = asyncio.create_task(self._poll())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        pending = [f for fs in self._waiting.values() for f in fs if not f.done()]
        try:
            if exc is None and pending:
                await asyncio.gather(*pending, return_exceptions=True)
        finally:
            for future in pending:
                future.cancel()
            if self._task is not None:
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
            if isinstance(self.driver, ListenerRemoval):
                await self.driver.remove_listener(self._channel, self._on_notify)
