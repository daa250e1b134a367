"""Small enumerations and type aliases shared by the packages."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Literal, NewType


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


class QueueExecutionMode(StrEnum):
    """``continuous``: run until shut down. ``drain``: stop once nothing served is left."""

    continuous = "continuous"
    drain = "drain"


OnConflict = Literal["raise", "skip", "update_priority"]
OnFailure = Literal["delete", "hold"]

# Identifier types of PgQueuer 1.6 (plain aliases at run time, distinct for type checkers).
JobId = NewType("JobId", int)
QueueEntrypoint = NewType("QueueEntrypoint", str)
QueueManagerId = NewType("QueueManagerId", uuid.UUID)
Channel = NewType("Channel", str)
ScheduleId = NewType("ScheduleId", int)
CronEntrypoint = NewType("CronEntrypoint", str)
CronExpression = NewType("CronExpression", str)
Slot = NewType("Slot", int)
HealthCheckId = NewType("HealthCheckId", uuid.UUID)

# What NOTIFY payloads say: the event kinds, and the table operations a change event names.
EVENT_TYPES = Literal["table_changed_event", "cancellation_event", "health_check_event"]
OPERATIONS = Literal["insert", "update", "delete", "truncate"]
