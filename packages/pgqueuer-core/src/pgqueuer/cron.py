"""Cron expressions: validation (5 or 6 fields, the 6th is seconds) and the next tick."""

from __future__ import annotations

from datetime import UTC, datetime

from croniter import croniter

__all__ = ["next_tick", "normalize_expression"]


def normalize_expression(expression: str) -> str:
    """The expression with single spaces; ValueError when croniter cannot read it."""
    if not isinstance(expression, str) or not expression.strip():
        raise ValueError(f"invalid cron expression {expression!r}: it is empty")
    normal = " ".join(expression.split())
    if len(normal.split()) not in (5, 6) or not croniter.is_valid(normal):
        raise ValueError(
            f"invalid cron expression {expression!r}: use 5 fields (minute hour day month "
            "weekday) or 6 (the 6th is seconds), e.g. '*/5 * * * *'"
        )
    return normal


def next_tick(expression: str, after: datetime) -> datetime:
    """The first time ``expression`` fires strictly after ``after`` (UTC)."""
    return croniter(expression, after.astimezone(UTC)).get_next(datetime)
