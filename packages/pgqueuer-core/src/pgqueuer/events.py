"""NOTIFY payloads as models: table changes, cancellations, health checks, and ``AnyEvent``."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Self

from pgqueuer.modelbase import IncEx, ModelMixin, ModelValidationError
from pgqueuer.types import EVENT_TYPES, HealthCheckId

__all__ = [
    "AnyEvent",
    "CancellationEvent",
    "Event",
    "EventKind",
    "HealthCheckEvent",
    "TableChangedEvent",
    "parse_event",
]

EventKind = EVENT_TYPES


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class Event(ModelMixin):
    """What every notification carries; ``received_at`` is when this process read it."""

    channel: str
    sent_at: datetime
    type: str
    received_at: datetime = field(default_factory=_now)

    @property
    def latency(self) -> timedelta:
        """How long the notification took from the sender's commit to this process."""
        return self.received_at - self.sent_at


@dataclass(slots=True)
class TableChangedEvent(Event):
    """Jobs became claimable (insert, retry, release) or a concurrency seat was freed."""

    operation: str = ""
    table: str = ""
    schema: str | None = None
    # entrypoint -> number of jobs (a lower bound); None means "any entrypoint"
    entrypoints: dict[str, int] | None = None


@dataclass(slots=True)
class CancellationEvent(Event):
    """Running jobs to cancel; ``schema``: their queue table's (None from PgQueuer 1.6)."""

    ids: list[int] = field(default_factory=list)
    schema: str | None = None


@dataclass(slots=True)
class HealthCheckEvent(Event):
    id: HealthCheckId | None = None


_KINDS: dict[str, type[Event]] = {
    "table_changed_event": TableChangedEvent,
    "cancellation_event": CancellationEvent,
    "health_check_event": HealthCheckEvent,
}


@dataclass(slots=True)
class AnyEvent(ModelMixin):
    """Any of the three events, chosen by its ``type`` (PgQueuer's RootModel union).

    ``AnyEvent.model_validate_json(payload).root`` is the event; dumping an AnyEvent dumps the
    event itself, as a pydantic RootModel does.
    """

    root: Event

    @classmethod
    def model_validate(
        cls,
        obj: Any,
        *,
        strict: bool | None = None,
        from_attributes: bool | None = None,
        context: Any = None,
    ) -> Self:
        if isinstance(obj, cls):
            return obj
        if isinstance(obj, Event):
            return cls(root=obj)
        kind = obj.get("type") if isinstance(obj, dict) else getattr(obj, "type", None)
        event_cls = _KINDS.get(kind) if isinstance(kind, str) else None
        if event_cls is None:
            allowed = ", ".join(_KINDS)
            raise ModelValidationError(f"AnyEvent: type must be one of {allowed}, got {kind!r}")
        return cls(root=event_cls.model_validate(obj))

    def model_dump(self, **options: Any) -> dict[str, Any]:
        return self.root.model_dump(**options)

    def model_dump_json(
        self,
        *,
        indent: int | None = None,
        include: IncEx = None,
        exclude: IncEx = None,
        **options: Any,
    ) -> str:
        return self.root.model_dump_json(indent=indent, include=include, exclude=exclude, **options)


def _timestamp(value: object, default: datetime) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return default
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return default


def parse_event(payload: str) -> Event | None:
    """The event a NOTIFY payload describes, or None when it is not one of ours (lenient)."""
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    now = datetime.now(UTC)
    base: dict[str, Any] = {
        "channel": str(data.get("channel", "")),
        "sent_at": _timestamp(data.get("sent_at"), now),
        "type": str(data.get("type", "")),
        "received_at": now,
    }
    kind = data.get("type")
    if kind == "table_changed_event":
        eps = data.get("entrypoints")
        return TableChangedEvent(
            **base,
            operation=str(data.get("operation", "")),
            table=str(data.get("table", "")),
            schema=data.get("schema"),
            entrypoints={str(k): int(v) for k, v in eps.items()} if isinstance(eps, dict) else None,
        )
    if kind == "cancellation_event":
        ids = data.get("ids") or []
        schema = data.get("schema")
        return CancellationEvent(
            **base,
            ids=[int(i) for i in ids if isinstance(i, int)],
            schema=schema if isinstance(schema, str) else None,
        )
    if kind == "health_check_event":
        raw = data.get("id")
        try:
            hid = HealthCheckId(uuid.UUID(str(raw))) if raw else None
        except ValueError:
            hid = None
        return HealthCheckEvent(**base, id=hid)
    return None
