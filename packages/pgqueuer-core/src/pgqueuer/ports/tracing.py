"""Tracing hooks (PgQueuer's ``pgqueuer.ports.tracing``): the protocol and the global tracer.

A tracer is used when one is set, per instance (``Queries(..., tracer=...)``,
``QueueManager(..., tracer=...)``) or for the process (``set_tracing_class(tracer)``). With
none set, producers and workers never call into tracing code and nothing is imported.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from pgqueuer.models import Job

__all__ = ["TRACER", "TracingConfig", "TracingProtocol", "resolve_tracer", "set_tracing_class"]


@runtime_checkable
class TracingProtocol(Protocol):
    """What a tracer provides: a header dict per enqueued job, a context around each run."""

    def trace_publish(self, entrypoints: list[str]) -> Generator[dict[str, object], None, None]:
        """Open the producer side for ``entrypoints`` (one per job); yield one header dict
        per job, in order. The generator is closed once the jobs are written."""
        ...

    def trace_process(self, job: Job) -> AbstractAsyncContextManager[None]:
        """The consumer side: an async context manager around one execution of ``job``."""
        ...


@dataclass
class TracingConfig:
    """The process-wide tracer (``TRACER.tracer``); None means no tracing."""

    tracer: TracingProtocol | None = None


TRACER = TracingConfig()


def set_tracing_class(tracer: TracingProtocol) -> None:
    """Use ``tracer`` for every producer and worker without a tracer of its own."""
    TRACER.tracer = tracer


def resolve_tracer(own: Any) -> TracingProtocol | None:
    """The tracer to use: an instance's own, else the process-wide one (None: no tracing)."""
    tracer: TracingProtocol | None = own if own is not None else TRACER.tracer
    return tracer
