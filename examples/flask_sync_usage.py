"""A Flask (WSGI, synchronous) app that enqueues through SyncQueries, as in PgQueuer's
examples: ``flask --app examples.flask_sync_usage run``; then ``POST /enqueue`` with a JSON
body ``{"entrypoint": "fetch", "payload": "hi"}`` and ``GET /queue_size``.

Each request opens an autocommit psycopg connection (``pip install 'pgqueuer-core[psycopg]'``)
from PGQUEUER_DSN or the libpq variables.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

from pgqueuer.db import SyncPsycopgDriver
from pgqueuer.queries import SyncQueries

app = Flask(__name__)


@contextmanager
def sync_queries() -> Iterator[SyncQueries]:
    with psycopg.connect(os.environ.get("PGQUEUER_DSN") or "", autocommit=True) as conn:
        yield SyncQueries(SyncPsycopgDriver(conn))


@app.post("/enqueue")
def enqueue() -> ResponseReturnValue:
    body = request.get_json(force=True)
    with sync_queries() as queries:
        ids = queries.enqueue(
            body["entrypoint"], str(body.get("payload", "")).encode(), int(body.get("priority", 0))
        )
    return jsonify({"job_ids": [int(i) for i in ids]})


@app.get("/queue_size")
def queue_size() -> ResponseReturnValue:
    with sync_queries() as queries:
        stats = queries.queue_size()
    return jsonify(
        [
            {
                "entrypoint": s.entrypoint,
                "status": s.status,
                "priority": s.priority,
                "count": s.count,
            }
            for s in stats
        ]
    )
