"""The repository behind ``pgqueuer.queries.Queries`` (SQL) and ``pgqueuer.inmemory.InMemoryQueries``.

Both classes are composed of the same parts, one module each: the queue (producer and worker
statements), administration (cancel, requeue, clear, log and statistics), insights (read-only,
bounded), schedules and schema management. ``sql_*`` modules run the SQL of ``pgqueuer/sql``;
``memory_*`` modules keep the same state in dicts, following the same rules.
"""
