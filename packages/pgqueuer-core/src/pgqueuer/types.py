"""Small enumerations and type aliases shared by the packages."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal


class Durability(StrEnum):
    """How much of the queue survives a PostgreSQL crash (LOGGED vs UNLOGGED tables).

    ``volatile``: every table UNLOGGED (fastest; a crash empties them).
    ``balanced``: the queue and schedules logged; log and statistics UNLOGGED.
    ``durable``: every table logged (the default).
    """

    volatile = "volatile"
    balanced = "balanced"
    durable = "durable"

    @classmethod
    def parse(cls, value: str | Durability) -> Durability:
        """The level named by ``value``; ValueError names the allowed ones."""
        if isinstance(value, Durability):
            return value
        try:
            return cls(value.strip().lower())
        except ValueError:
            allowed = ", ".join(d.value for d in cls)
            raise ValueError(f"unknown durability {value!r}: use one of {allowed}") from None


JOB_STATUS = Literal["queued", "picked", "successful", "exception", "canceled", "deleted", "failed"]
# In the order the enum type declares them (ALTER TYPE ... ADD VALUE keeps this order on upgrade).
JOB_STATUSES: tuple[str, ...] = (
    "queued",
    "picked",
    "successful",
    "exception",
    "canceled",
    "deleted",
    "failed",
)
