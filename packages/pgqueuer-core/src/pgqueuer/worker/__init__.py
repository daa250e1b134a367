"""The worker's parts, one job each; ``pgqueuer.qm.QueueManager`` puts them together.

How a job flows through them:

1. ``loop.ClaimLoop`` asks ``policy`` how many jobs to claim and sends one round trip
   (``try_finish_and_claim``) that also writes back the outcomes finished since the last one.
2. ``execution.JobRunner`` starts a task per claimed job, runs its handler and maps how it
   ended to an outcome, which it records in ``state.WorkerState`` and wakes the loop.
3. The next round trip writes that outcome (an outcome whose row is locked is kept and sent
   again later: ``pgqueuer.lockedrows``).

Meanwhile ``listener.Listener`` turns NOTIFYs into wake-ups and cancellations and reconnects a
lost connection; ``maintenance`` runs the heartbeat thread, the rescue of stale jobs, and log
aggregation and pruning. ``policy`` is pure (no I/O, no asyncio) and unit-tested on its own.
"""
