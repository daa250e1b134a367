"""How an idle worker wakes up (pgqueuer.listening): the polling policy and the choice of mode,
checked without a database (tests/bouncer runs them through a real PgBouncer)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pgqueuer.errors import InvalidOptionError
from pgqueuer.listening import BOTH_WAKEUPS, NEEDS_WAKEUP, POLL_FLOOR, Listening, next_poll_interval


def test_work_found_polls_again_soon() -> None:
    assert next_poll_interval(4.0, found=3, ceiling=5.0) == POLL_FLOOR


def test_an_empty_queue_doubles_the_wait_up_to_the_ceiling() -> None:
    waits = [POLL_FLOOR]
    for _ in range(10):
        waits.append(next_poll_interval(waits[-1], found=0, ceiling=1.0))
    assert waits[:4] == [POLL_FLOOR, 2 * POLL_FLOOR, 4 * POLL_FLOOR, 8 * POLL_FLOOR]
    assert waits[-1] == 1.0 and max(waits) == 1.0
    assert waits == sorted(waits)


def test_a_ceiling_below_the_floor_wins() -> None:
    assert next_poll_interval(0.01, found=1, ceiling=0.02) == 0.02
    assert next_poll_interval(0.02, found=0, ceiling=0.02) == 0.02


def test_the_worker_follows_the_policy_only_when_polling() -> None:
    polling = Listening(poll_interval=timedelta(seconds=2))
    assert polling.timeout(30.0) == POLL_FLOOR
    for _ in range(20):
        polling.claimed(0)
    assert polling.timeout(30.0) == 2.0
    assert polling.timeout(1.0) == 1.0  # dequeue_timeout still bounds it
    polling.claimed(5)
    assert polling.timeout(30.0) == POLL_FLOOR
    listening = Listening()
    listening.claimed(0)
    assert listening.timeout(30.0) == 30.0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"pgbouncer": True}, NEEDS_WAKEUP),
        ({"listen_dsn": "postgresql://h/d", "poll_interval": 1}, BOTH_WAKEUPS),
        ({"poll_interval": 0}, "poll_interval must be more than 0 seconds, got 0.0"),
        ({"poll_interval": True}, "poll_interval must be seconds or a timedelta, got True"),
        ({"listen_dsn": ""}, "listen_dsn must be a non-empty DSN, got ''"),
    ],
)
def test_bad_combinations_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidOptionError) as refused:
        Listening(**options)  # type: ignore[arg-type]
    assert str(refused.value) == message


def test_pgbouncer_mode_sets_nothing_on_the_session() -> None:
    assert Listening(pgbouncer=True, poll_interval=1).session_settings is False
    assert Listening(pgbouncer=True, listen_dsn="postgresql://h/d").session_settings is False
    assert Listening().session_settings is True
