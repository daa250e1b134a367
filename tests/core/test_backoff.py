"""The reconnect backoff policy, without a database."""

from __future__ import annotations

import itertools

import pytest

from pgqueuer.backoff import MAX_DELAY, reconnect_delays


def take(n: int, **kwargs: object) -> list[float]:
    return list(itertools.islice(reconnect_delays(**kwargs), n))  # type: ignore[arg-type]


def test_without_jitter_it_doubles_up_to_the_cap() -> None:
    assert take(7, jitter=0.0) == [0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0]


def test_a_worker_is_back_within_about_a_second_of_the_server() -> None:
    # Whatever the draws, no wait exceeds the cap, so a restarted server is seen within ~1 s.
    assert MAX_DELAY == 1.0
    assert max(take(50)) <= MAX_DELAY


@pytest.mark.parametrize("draw", [0.0, 0.5, 1.0])
def test_jitter_scales_each_wait_into_its_band(draw: float) -> None:
    waits = take(6, jitter=0.5, rand=lambda: draw)
    assert waits == [d * (1 - 0.5 * draw) for d in [0.05, 0.1, 0.2, 0.4, 0.8, 1.0]]


def test_a_fleet_does_not_retry_in_lockstep() -> None:
    import random

    fleet = [take(8, rand=random.Random(seed).random) for seed in range(20)]
    # At the cap, twenty workers' waits spread over the band instead of coinciding.
    at_cap = sorted(w[-1] for w in fleet)
    assert at_cap[0] >= 0.5 and at_cap[-1] <= 1.0
    assert at_cap[-1] - at_cap[0] > 0.2


@pytest.mark.parametrize(
    "kwargs", [{"first": 0}, {"first": 2, "cap": 1}, {"jitter": 1.5}, {"jitter": -0.1}]
)
def test_nonsense_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        next(reconnect_delays(**kwargs))  # type: ignore[arg-type]


def test_a_locked_rows_outcome_is_retried_soon_then_at_most_twice_a_second() -> None:
    from pgqueuer.backoff import locked_row_delays

    waits = list(itertools.islice(locked_row_delays(rand=lambda: 0.0), 8))
    assert waits == [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.5, 0.5]
    assert min(itertools.islice(locked_row_delays(), 50)) >= 0.005  # never a busy loop
