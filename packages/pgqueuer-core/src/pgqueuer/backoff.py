"""How long to wait between reconnect attempts (or lock retries): a policy, as plain functions.

After a server restart every worker of a fleet loses its connections at the same moment. Each
retries quickly at first (the server is often back within a second), doubling the wait up to
``cap`` seconds so a worker is back within about a second of the server, and each wait is
scaled by a random factor in ``[1 - jitter, 1]`` so a fleet does not reconnect in lockstep.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

FIRST_DELAY = 0.05
MAX_DELAY = 1.0
JITTER = 0.5


def reconnect_delays(
    first: float = FIRST_DELAY,
    cap: float = MAX_DELAY,
    jitter: float = JITTER,
    rand: Callable[[], float] = random.random,
) -> Iterator[float]:
    """Seconds to sleep before each retry, forever: ``first``, doubling up to ``cap``, each
    multiplied by a factor drawn from ``[1 - jitter, 1]``."""
    if not 0 < first <= cap or not 0 <= jitter <= 1:
        raise ValueError(f"bad backoff: first={first}, cap={cap}, jitter={jitter}")
    delay = first
    while True:
        yield delay * (1 - jitter * rand())
        delay = min(delay * 2, cap)


LOCKED_FIRST_DELAY = 0.01
LOCKED_MAX_DELAY = 0.5


def locked_row_delays(rand: Callable[[], float] = random.random) -> Iterator[float]:
    """Pauses before writing a finished job again whose row another transaction had locked:
    10 ms first (a heartbeat holds a row for about a millisecond), doubling up to 0.5 s, so a
    long lock costs at most two extra statements a second and is noticed soon after it ends."""
    return reconnect_delays(LOCKED_FIRST_DELAY, LOCKED_MAX_DELAY, JITTER, rand)
