"""ISO-8601 durations for the MCP tools' ``period`` and ``threshold`` arguments."""

from __future__ import annotations

import re
from datetime import timedelta

from pgqueuer.errors import PgQueuerError

__all__ = ["MAX_DURATION", "InvalidDurationError", "parse_duration"]

MAX_DURATION = timedelta(days=31)
_NUMBER = r"(\d+(?:\.\d+)?)"
_PATTERN = re.compile(
    rf"^P(?:{_NUMBER}D)?(?:T(?:{_NUMBER}H)?(?:{_NUMBER}M)?(?:{_NUMBER}S)?)?$", re.IGNORECASE
)


class InvalidDurationError(PgQueuerError, ValueError):
    """A duration argument is not an ISO-8601 duration between 1 second and 31 days."""


def parse_duration(text: str, what: str = "duration") -> timedelta:
    """``P[nD][T[nH][nM][nS]]`` (e.g. PT1H, PT5M, P1DT12H) as a timedelta of 1 s to 31 days."""
    match = _PATTERN.match(text.strip()) if isinstance(text, str) else None
    if match is None or not any(match.groups()) or text.strip().upper().endswith("T"):
        raise InvalidDurationError(
            f"{what} must be an ISO-8601 duration such as PT30S, PT5M, PT1H or P1DT12H; "
            f"got {text!r}"
        )
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    value = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if not timedelta(seconds=1) <= value <= MAX_DURATION:
        raise InvalidDurationError(f"{what} must be between PT1S and P31D; got {text!r}")
    return value
