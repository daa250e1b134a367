"""How long to wait between reconnect attempts: a policy, as plain functions.

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
