"""The producer side of tracing: run a tracer's ``trace_publish`` around one enqueue.

Only called when a tracer is set; an enqueue without one never reaches this module.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator

from pgqueuer.backends.args import EnqueueBatch
from pgqueuer.ports.tracing import TracingProtocol

logger = logging.getLogger("pgqueuer")


@contextlib.contextmanager
def traced_publish(tracer: TracingProtocol, batch: EnqueueBatch) -> Iterator[None]:
    """Merge the tracer's header dict for each job into its headers, keep the producer span
    open while the jobs are written, and close it with the write's outcome."""
    spans = tracer.trace_publish(list(batch.entrypoints))
    for i in range(len(batch.entrypoints)):
        extra = next(spans, None)
        if extra is None:
            break
        text = batch.headers[i]
        own = json.loads(text) if text else {}
        batch.headers[i] = json.dumps({**own, **extra})
    try:
        yield
    except BaseException as exc:
        try:
            spans.throw(exc)  # the tracer records the failure on its span
        except BaseException as again:
            if again is not exc:
                logger.debug("tracer failed while recording an enqueue error", exc_info=again)
        raise
    for _ in spans:  # let the tracer end its spans normally
        pass
