"""examples/observability.py (the source of docs/observability.md's output) runs and says what
the doc shows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import Server

REPO = Path(__file__).resolve().parents[2]


def test_the_observability_example_shows_a_trace_a_scrape_and_an_mcp_session(
    server: Server,
) -> None:
    done = subprocess.run(
        [sys.executable, "examples/observability.py"],
        cwd=REPO,
        env={**os.environ, **server.env()},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "t0  s4 parent=s0  CONSUMER process resize" in out  # the retry, in the enqueue's trace
    assert "'attempt': 2, 'outcome': 'successful'" in out
    assert 'pgqueuer_worker_jobs_finished_total{entrypoint="email",outcome="exception"} 1.0' in out
    assert 'pgqueuer_jobs_retried_total{entrypoint="resize"} 1.0' in out
    assert '"payload": {"bytes": 1000, "truncated": true, "text": "xxxxxxxxxxxxxxxx"}' in out
    assert "error: " in out and "period must be an ISO-8601 duration" in out
