"""A small task manager, and the ``shutdown``/``tm`` pair every driver carries (PgQueuer's API).

``TaskManager`` keeps references to background tasks (so they are not garbage collected while
running), logs the ones that fail, and waits for all of them when its ``async with`` block ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from types import TracebackType
from typing import Any

logger = logging.getLogger("pgqueuer")

__all__ = ["DriverLifecycle", "TaskManager"]


class TaskManager:
    """Tracks tasks; ``async with tm:`` waits for every tracked task on exit."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()

    def add(self, task: asyncio.Task[Any]) -> asyncio.Task[Any]:
        """Track ``task`` until it ends; its exception, if any, is logged."""
        self.tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Start ``coro`` as a tracked task."""
        return self.add(asyncio.create_task(coro))

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("background task %s failed", task.get_name(), exc_info=task.exception())

    async def cancel_on_exit(self, task: asyncio.Task[Any]) -> None:
        """Cancel ``task`` and wait for it, swallowing its result or error."""
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task

    async def gather_tasks(self) -> None:
        """Wait for every tracked task (including ones added meanwhile)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    async def __aenter__(self) -> TaskManager:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.gather_tasks()


class DriverLifecycle:
    """``driver.shutdown`` (an Event) and ``driver.tm`` (a TaskManager), made on first use."""

    _shutdown_event: asyncio.Event | None = None
    _task_manager: TaskManager | None = None

    @property
    def shutdown(self) -> asyncio.Event:
        """Set when the driver's owner is shutting down."""
        if self._shutdown_event is None:
            self._shutdown_event = asyncio.Event()
        return self._shutdown_event

    @property
    def tm(self) -> TaskManager:
        """The driver's background tasks (listener watchers and the like)."""
        if self._task_manager is None:
            self._task_manager = TaskManager()
        return self._task_manager
