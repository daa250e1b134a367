"""Unit tests of pgqueuer.types: Durability parsing and the job status order."""

from __future__ import annotations

import pytest

from pgqueuer.types import JOB_STATUSES, Durability


@pytest.mark.parametrize("level", list(Durability))
def test_parse_accepts_enum_members(level: Durability) -> None:
    assert Durability.parse(level) is level


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("volatile", Durability.volatile),
        ("balanced", Durability.balanced),
        ("durable", Durability.durable),
        ("DURABLE", Durability.durable),
        ("Balanced", Durability.balanced),
        ("vOlAtIlE", Durability.volatile),
        ("  durable\n", Durability.durable),
    ],
)
def test_parse_accepts_case_insensitive_strings(raw: str, expected: Durability) -> None:
    assert Durability.parse(raw) is expected


@pytest.mark.parametrize("raw", ["", "logged", "unlogged", "durability", "dur able", "fast", "1"])
def test_parse_rejects_unknown_values_listing_the_allowed_ones(raw: str) -> None:
    with pytest.raises(ValueError) as info:
        Durability.parse(raw)
    message = str(info.value)
    assert repr(raw) in message
    for allowed in ("volatile", "balanced", "durable"):
        assert allowed in message


def test_durability_values_are_pgqueuer_spellings() -> None:
    assert [d.value for d in Durability] == ["volatile", "balanced", "durable"]
    assert Durability.durable == "durable"  # a str enum, usable where strings are expected


def test_job_statuses_in_enum_declaration_order() -> None:
    assert JOB_STATUSES == (
        "queued",
        "picked",
        "successful",
        "exception",
        "canceled",
        "deleted",
        "failed",
    )
