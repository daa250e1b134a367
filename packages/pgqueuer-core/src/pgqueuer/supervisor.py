"""``pgqueuer.run``: call a factory, run what it builds, stop cleanly on signals, restart on failure.

Signals (installed only when no ``shutdown`` event is passed in): the first SIGINT or SIGTERM
stops claiming and lets running jobs finish (within ``shutdown_grace``); the second stops at
once, cancelling running jobs and putting them back in the queue. Each cycle calls the factory
again, so a restart after a failure gets fresh connections.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pgqueuer.factories import FactoryError, FactoryResultError, enter, load_factory
from pgqueuer.listening import ListenThroughPoolerError
from pgqueuer.types import QueueExecutionMode

logger = logging.getLogger("pgqueuer")

__all__ = ["RunResult", "run"]


@dataclass(frozen=True)
class RunResult:
    """How a supervised run ended: ``forced`` when a second signal (or abort) cut it short."""

    forced: bool = False
    signalled: bool = False


def _install_signals(stop: asyncio.Event, force: asyncio.Event, seen: list[int]) -> list[int]:
    loop = asyncio.get_running_loop()
    installed: list[int] = []

    def on_signal(signum: int) -> None:
        seen.append(signum)
        name = signal.Signals(signum).name
        if not stop.is_set():
            logger.info("%s: finishing running jobs, then stopping (again to stop now)", name)
            stop.set()
        else:
            logger.warning("%s again: stopping now, running jobs go back to the queue", name)
            force.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, on_signal, sig)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            pass
    return installed


async def _run_manager(
    manager: Any, stop: asyncio.Event, force: asyncio.Event, options: dict[str, Any]
) -> None:
    from pgqueuer.applications import PgQueuer
    from pgqueuer.qm import QueueManager

    if isinstance(manager, PgQueuer):
        target = manager.run(**options)
        qm: QueueManager | None = manager.qm
    elif isinstance(manager, QueueManager):
        target = manager.run(**options)
        qm = manager
    else:  # SchedulerManager
        target = manager.run()
        qm = None

    async def relay() -> None:
        await stop.wait()
        manager.shutdown.set()
        await force.wait()
        if qm is not None:
            qm.abort()
        elif hasattr(manager, "abort"):
            manager.abort()

    relay_task = asyncio.create_task(relay())
    try:
        await target
    finally:
        relay_task.cancel()
        await asyncio.gather(relay_task, return_exceptions=True)


async def run(
    factory: str | Callable[..., Any],
    *,
    dequeue_timeout: timedelta = timedelta(seconds=30),
    batch_size: int = 10,
    heartbeat_timeout: timedelta = timedelta(seconds=30),
    mode: QueueExecutionMode = QueueExecutionMode.continuous,
    max_concurrent_tasks: int | None = None,
    shutdown_on_listener_failure: bool = False,
    restart_on_failure: bool = False,
    restart_delay: timedelta = timedelta(seconds=5),
    shutdown: asyncio.Event | None = None,
    shutdown_grace: timedelta | None = timedelta(seconds=30),
    factory_args: Sequence[str] | None = None,
    durable_claims: bool = False,
    pgbouncer: bool = False,
    listen_dsn: str | None = None,
    poll_interval: timedelta | None = None,
    vacuum_interval: timedelta | None = None,
) -> RunResult:
    """Run what ``factory`` builds until shutdown (or the end of a drain).

    ``factory`` is a callable or a ``"module:function"`` string (see ``pgqueuer.factories``).
    With ``restart_on_failure``, a failure is logged and the factory is called again after
    ``restart_delay``; a factory that cannot be used at all is never retried, nor is a LISTEN
    refused through transaction pooling. ``pgbouncer``, ``listen_dsn`` and ``poll_interval``
    are passed to the worker's run only when set (see ``pgqueuer.listening``), as is
    ``vacuum_interval`` (``timedelta(0)`` turns the vacuum chore off; see
    ``pgqueuer.worker.vacuum``).
    """
    fn = load_factory(factory) if isinstance(factory, str) else factory
    if not callable(fn):
        raise FactoryError(f"the factory must be callable, got {type(fn).__name__}")
    stop = shutdown if shutdown is not None else asyncio.Event()
    force = asyncio.Event()
    seen: list[int] = []
    installed = _install_signals(stop, force, seen) if shutdown is None else []
    options: dict[str, Any] = {
        "dequeue_timeout": dequeue_timeout,
        "batch_size": batch_size,
        "mode": mode,
        "max_concurrent_tasks": max_concurrent_tasks,
        "shutdown_on_listener_failure": shutdown_on_listener_failure,
        "heartbeat_timeout": heartbeat_timeout,
        "shutdown_grace": shutdown_grace,
        "durable_claims": durable_claims,
    }
    listening = {"pgbouncer": pgbouncer, "listen_dsn": listen_dsn, "poll_interval": poll_interval}
    options.update({key: value for key, value in listening.items() if value})
    if vacuum_interval is not None:
        options["vacuum_interval"] = vacuum_interval
    try:
        while True:
            try:
                async with enter(fn, factory_args) as manager:
                    await _run_manager(manager, stop, force, options)
                return RunResult(forced=force.is_set(), signalled=bool(seen))
            except (FactoryError, FactoryResultError, ListenThroughPoolerError):
                raise
            except Exception as exc:
                if not restart_on_failure or stop.is_set():
                    raise
                logger.error(
                    "worker failed (%s: %s); restarting in %.1f s",
                    type(exc).__name__,
                    exc,
                    restart_delay.total_seconds(),
                    exc_info=logger.isEnabledFor(logging.DEBUG),
                )
                try:
                    async with asyncio.timeout(restart_delay.total_seconds()):
                        await stop.wait()
                    return RunResult(forced=force.is_set(), signalled=bool(seen))
                except TimeoutError:
                    continue
    finally:
        loop = asyncio.get_running_loop()
        for sig in installed:
            loop.remove_signal_handler(sig)
