"""Finished jobs whose row another transaction had locked: kept until a round trip writes them.

The worker's round trip (``try_finish_and_claim``) never waits on a row lock; a finished job
whose row is locked comes back as skipped, nothing written. Its outcome stays here, in memory,
and goes along with every later round trip until one writes it. When no round trip is due
anyway, the worker sends one for these alone after a short pause that grows (10 ms, doubling up
to 0.5 s): a long lock costs a couple of statements a second, never a busy loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from pgqueuer.backends.args import Finished
from pgqueuer.backoff import locked_row_delays

logger = logging.getLogger("pgqueuer")


class LockedOutcomes:
    """The skipped outcomes, and when to try them again on their own."""

    def __init__(self) -> None:
        self.items: list[Finished] = []
        self.retry_at: float | None = None
        self._delays: Iterator[float] | None = None
        self._announced: set[int] = set()

    def __bool__(self) -> bool:
        return bool(self.items)

    def due(self, now: float) -> bool:
        """True when a round trip should be sent for these alone."""
        return self.retry_at is not None and now >= self.retry_at

    def take(self) -> list[Finished]:
        """The outcomes to send in the round trip that is about to go out."""
        items, self.items = self.items, []
        return items

    def keep(self, skipped: list[Finished]) -> None:
        """After a round trip: ``skipped`` are still waiting for their row lock."""
        self.items = skipped
        if not skipped:
            self.retry_at = self._delays = None
            self._announced.clear()
            return
        if self._delays is None:
            self._delays = locked_row_delays()
        self.retry_at = time.monotonic() + next(self._delays)
        for item in skipped:
            if item.id not in self._announced:
                self._announced.add(item.id)
                logger.info(
                    "job %s: another transaction holds its row lock; its outcome (%s) is kept "
                    "and written when the lock is released",
                    item.id,
                    item.outcome,
                )
