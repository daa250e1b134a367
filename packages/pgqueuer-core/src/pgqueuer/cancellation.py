"""A cancel scope for asyncio, shaped like the anyio one PgQueuer hands to handlers.

``with ctx.cancellation:`` marks the code that a cancellation of the job (``pgq cancel``,
``Queries.mark_job_as_cancelled``) may interrupt. Outside the scope the handler is left alone
and simply runs to its end. Leaving the scope after it was cancelled swallows the
``CancelledError`` it caused, so the handler returns normally.
"""

from __future__ import annotations

import asyncio
from types import TracebackType


class CancelScope:
    """``cancel()`` interrupts the code running inside ``with scope:``, now or when it enters."""

    __slots__ = ("_delivered", "_inside", "_task", "cancel_called", "cancelled_caught")

    def __init__(self) -> None:
        self._task: asyncio.Task[object] | None = None
        self._inside = False
        self._delivered = False
        self.cancel_called = False
        self.cancelled_caught = False

    def cancel(self) -> None:
        """Request cancellation; idempotent."""
        if self.cancel_called:
            return
        self.cancel_called = True
        self._deliver()

    def _deliver(self) -> None:
        if self._inside and self._task is not None and not self._delivered:
            self._delivered = True
            self._task.cancel("job cancelled")

    def __enter__(self) -> CancelScope:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a CancelScope must be entered inside an asyncio task")
        if self._inside:
            raise RuntimeError("this CancelScope is already entered")
        self._task = task
        self._inside = True
        if self.cancel_called:
            self._deliver()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        self._inside = False
        if self._delivered and self._task is not None:
            self._task.uncancel()
            if isinstance(exc, asyncio.CancelledError) and self._task.cancelling() == 0:
                self.cancelled_caught = True
                return True
        return False
