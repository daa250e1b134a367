"""The claim loop's decisions (pgqueuer.worker.policy), one rule at a time, without a database."""

from __future__ import annotations

import pytest

from pgqueuer.worker import policy
from pgqueuer.worker.policy import Settings

S = Settings.create(batch=10, capacity=20, poll=30.0, grace=5.0)


def test_settings_refill_is_half_a_batch_and_at_least_one() -> None:
    assert S.refill == 5
    assert Settings.create(batch=1, capacity=2, poll=1.0, grace=None).refill == 1
    assert Settings.create(batch=3, capacity=6, poll=1.0, grace=None).refill == 1


# -- shutdown ---------------------------------------------------------------------------------


def test_deadline_is_now_plus_grace_or_never() -> None:
    assert policy.shutdown_deadline(100.0, 5.0) == 105.0
    assert policy.shutdown_deadline(100.0, None) == policy.NO_DEADLINE


@pytest.mark.parametrize(
    ("forced", "deadline", "now", "cancel"),
    [
        (True, None, 0.0, True),  # abort()
        (False, None, 99.0, False),  # not stopping
        (False, 10.0, 9.9, False),  # grace not over
        (False, 10.0, 10.0, True),  # grace over
        (False, policy.NO_DEADLINE, 1e12, False),  # unlimited grace
    ],
)
def test_must_cancel(forced: bool, deadline: float | None, now: float, cancel: bool) -> None:
    assert policy.must_cancel(forced, deadline, now) is cancel


def test_a_stopping_worker_stops_only_when_nothing_runs_or_waits_to_be_written() -> None:
    assert policy.may_stop(True, 0, 0)
    assert not policy.may_stop(True, 1, 0)
    assert not policy.may_stop(True, 0, 1)
    assert not policy.may_stop(False, 0, 0)


# -- the listener -----------------------------------------------------------------------------


def test_listener_failure_needs_the_option_the_grace_and_a_running_worker() -> None:
    late = policy.LISTENER_FAILURE_GRACE + 0.1
    assert policy.listener_failed(0.0, late, True, False)
    assert not policy.listener_failed(0.0, late, False, False)  # option off
    assert not policy.listener_failed(0.0, policy.LISTENER_FAILURE_GRACE, True, False)
    assert not policy.listener_failed(0.0, late, True, True)  # already stopping
    assert not policy.listener_failed(None, late, True, False)  # listener up


# -- what to claim ----------------------------------------------------------------------------


def test_an_idle_worker_with_a_hint_claims_a_batch() -> None:
    assert policy.claim_size(S, running=0, hint=True, stopping=False) == 10


def test_no_claim_without_a_hint_or_while_stopping() -> None:
    assert policy.claim_size(S, running=0, hint=False, stopping=False) == 0
    assert policy.claim_size(S, running=0, hint=True, stopping=True) == 0


def test_the_claim_never_exceeds_the_free_seats() -> None:
    assert policy.claim_size(S, running=12, hint=True, stopping=False) == 8
    assert policy.claim_size(S, running=20, hint=True, stopping=False) == 0
    assert policy.claim_size(S, running=25, hint=True, stopping=False) == 0


def test_a_busy_worker_waits_for_half_a_batch_of_free_seats() -> None:
    assert policy.claim_size(S, running=16, hint=True, stopping=False) == 0  # 4 free < 5
    assert policy.claim_size(S, running=15, hint=True, stopping=False) == 5


def test_a_worker_running_nothing_claims_even_below_the_refill() -> None:
    small = Settings.create(batch=10, capacity=3, poll=1.0, grace=None)  # free 3 < refill 5
    assert policy.claim_size(small, running=0, hint=True, stopping=False) == 3
    assert policy.claim_size(small, running=1, hint=True, stopping=False) == 0


def test_a_short_claim_clears_the_hint() -> None:
    assert policy.claim_came_back_short(10, 3)
    assert policy.claim_came_back_short(10, 0)
    assert not policy.claim_came_back_short(10, 10)
    assert not policy.claim_came_back_short(0, 0)  # a write-back only round trip


# -- when to write back -----------------------------------------------------------------------


def flush(**kw: object) -> bool:
    args: dict[str, object] = {
        "want": 0,
        "done": 1,
        "done_since": 100.0,
        "seat_freed": False,
        "running": 3,
        "stopping": False,
        "now": 100.0,
    }
    args.update(kw)
    return policy.should_flush(S, **args)  # type: ignore[arg-type]


def test_nothing_finished_nothing_to_flush() -> None:
    assert not flush(done=0, want=10, stopping=True, seat_freed=True, running=0)


def test_a_single_outcome_waits_a_little_for_company() -> None:
    assert not flush()
    assert not flush(now=100.0 + S.flush_after / 2)
    assert flush(now=100.0 + S.flush_after)


@pytest.mark.parametrize(
    "reason",
    [
        {"want": 1},  # rides along with a claim
        {"stopping": True},
        {"seat_freed": True},  # someone may wait for the concurrency seat
        {"done": 5},  # half a batch piled up
        {"running": 0},  # nothing else will finish soon
    ],
)
def test_reasons_to_flush_at_once(reason: dict[str, object]) -> None:
    assert flush(**reason)


def test_drain_check_only_when_idle_and_without_a_hint() -> None:
    assert policy.may_be_drained(True, False, 0, 0, False, False)
    assert not policy.may_be_drained(False, False, 0, 0, False, False)  # continuous mode
    assert not policy.may_be_drained(True, True, 0, 0, False, False)  # stopping
    assert not policy.may_be_drained(True, False, 1, 0, False, False)  # running
    assert not policy.may_be_drained(True, False, 0, 1, False, False)  # outcomes to write
    assert not policy.may_be_drained(True, False, 0, 0, True, False)  # locked outcomes
    assert not policy.may_be_drained(True, False, 0, 0, False, True)  # a hint: claim first


# -- how long to wait -------------------------------------------------------------------------


def wait(**kw: object) -> float:
    args: dict[str, object] = {
        "now": 100.0,
        "listener_down": False,
        "due_at": None,
        "done_since": None,
        "locked_retry_at": None,
        "deadline": None,
    }
    args.update(kw)
    return policy.wait_timeout(S, **args)  # type: ignore[arg-type]


def test_without_anything_pending_the_wait_is_the_poll_interval() -> None:
    assert wait() == 30.0


def test_a_lost_listener_polls_every_second() -> None:
    assert wait(listener_down=True) == policy.LISTENER_DOWN_POLL


def test_the_wait_ends_when_the_next_deferred_job_is_due() -> None:
    assert wait(due_at=102.5) == 2.5
    assert wait(due_at=99.0) == 0.0  # already due


def test_the_wait_ends_when_a_finished_job_has_waited_long_enough() -> None:
    assert wait(done_since=100.0) == pytest.approx(S.flush_after)
    assert wait(done_since=90.0) == 0.0


def test_the_wait_ends_for_the_locked_row_retry() -> None:
    assert wait(locked_retry_at=100.2) == pytest.approx(0.2)


def test_the_wait_ends_just_after_the_shutdown_deadline() -> None:
    assert wait(deadline=104.0) == pytest.approx(4.001)
    assert wait(deadline=99.0) == pytest.approx(0.001)
    assert wait(deadline=policy.NO_DEADLINE) == 30.0


def test_the_earliest_reason_wins() -> None:
    assert wait(listener_down=True, due_at=100.5, locked_retry_at=100.3) == pytest.approx(0.3)


# -- a failed round trip ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "connection", "action"),
    [
        ("23505", False, "retry"),  # unique violation on a concurrency seat
        ("40P01", False, "retry"),  # deadlock
        ("42P01", False, "missing"),  # undefined table
        ("42704", False, "missing"),  # undefined object (the enum type)
        ("57P01", True, "reconnect"),  # admin shutdown: the connection is gone
        (None, True, "reconnect"),  # a client-side connection error
        ("22P02", False, "raise"),  # anything else is a bug to surface
        (None, False, "raise"),
    ],
)
def test_round_trip_errors(state: str | None, connection: bool, action: str) -> None:
    assert policy.on_round_trip_error(state, connection) == action
