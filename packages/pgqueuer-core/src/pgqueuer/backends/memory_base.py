"""The in-memory repository's base: the driver, the state, and what every part shares."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from pgqueuer.backends.args import resolve_names
from pgqueuer.db import Listener
from pgqueuer.errors import SchemaNotInstalledError
from pgqueuer.models import Job, Log, Schedule, TracebackRecord
from pgqueuer.names import Names
from pgqueuer.tasks import DriverLifecycle


def now() -> datetime:
    return datetime.now(UTC)


def parse_headers(text: str | None) -> dict[str, Any] | None:
    return json.loads(text) if text else None


class InMemoryDriver(DriverLifecycle):
    """Runs no SQL; NOTIFY goes straight to this process's listeners."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[Listener]] = {}

    async def fetch(self, query: str, *args: Any) -> list[dict[str, Any]]:
        raise NotImplementedError("the in-memory driver runs no SQL")

    async def execute(self, query: str, *args: Any) -> str:
        raise NotImplementedError("the in-memory driver runs no SQL")

    async def add_listener(self, channel: str, callback: Listener) -> None:
        self._listeners.setdefault(channel, []).append(callback)

    async def remove_listener(self, channel: str, callback: Listener) -> None:
        callbacks = self._listeners.get(channel, [])
        if callback in callbacks:
            callbacks.remove(callback)

    async def notify(self, channel: str, payload: str) -> None:
        self.deliver(channel, payload)

    def deliver(self, channel: str, payload: str) -> None:
        for callback in list(self._listeners.get(channel, ())):
            callback(payload)

    async def __aenter__(self) -> InMemoryDriver:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


@dataclass
class Row:
    job: Job
    dedupe_key: str | None = None


@dataclass
class State:
    rows: dict[int, Row] = field(default_factory=dict)
    log: list[Log] = field(default_factory=list)
    stats: dict[tuple[datetime, str, int, str], int] = field(default_factory=dict)
    schedules: dict[int, Schedule] = field(default_factory=dict)
    next_id: int = 1
    next_schedule_id: int = 1


class MemoryBase:
    """Holds the driver, the names and the state; subclasses add the methods."""

    def __init__(
        self,
        driver: InMemoryDriver | None = None,
        qbe: Any = None,
        qbq: Any = None,
        qbs: Any = None,
        tracer: Any = None,
        *,
        names: Names | None = None,
    ) -> None:
        self.driver = driver or InMemoryDriver()
        self.names = resolve_names(type(self).__name__, qbe, qbq, qbs, names, Names.create())
        self.tracer = tracer  # None: the process-wide one (set_tracing_class), if any
        self.sql: dict[str, str] = {}
        self._state = State()

    def _missing(self, exc: BaseException) -> SchemaNotInstalledError:
        return SchemaNotInstalledError(f"in-memory queue: {exc}")

    def _notify(self, operation: str, entrypoints: dict[str, int]) -> None:
        payload = {
            "channel": self.names.channel,
            "operation": operation,
            "sent_at": now().isoformat(),
            "table": self.names.bare(self.names.queue_table),
            "schema": None,
            "type": "table_changed_event",
            "entrypoints": entrypoints,
        }
        self.driver.deliver(self.names.channel, json.dumps(payload))

    def _log(
        self,
        job: Job,
        status: str,
        traceback: str | None = None,
        ran: tuple[datetime, datetime] | None = None,
    ) -> None:
        """Append a log row; ``ran`` is (picked_at, execute_after) of an attempt that ran."""
        tb = TracebackRecord.from_json(traceback) if traceback else None
        picked_at, execute_after = ran or (None, None)
        self._state.log.append(
            Log(
                now(),
                job.id,
                status,  # type: ignore[arg-type]
                job.priority,
                job.entrypoint,
                tb,
                False,
                picked_at,
                execute_after,
            )
        )

    def _active_keys(self) -> dict[str, int]:
        return {
            r.dedupe_key: i
            for i, r in self._state.rows.items()
            if r.dedupe_key is not None and r.job.status in ("queued", "picked")
        }
