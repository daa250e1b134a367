"""PgQueuer's spelling ``python -m pgqueuer.adapters.web`` serves the same pages."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from conftest import Server
from localpg import free_port

from pgqueuer.names import Names

REPO = Path(__file__).resolve().parents[2]


def test_python_m_pgqueuer_adapters_web_serves_healthz(server: Server, names: Names) -> None:
    port = free_port()
    env = {
        **os.environ,
        **server.env(),
        "PGQUEUER_SCHEMA": names.schema or "",
        "PGQUEUER_WEB_PORT": str(port),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "pgqueuer.adapters.web"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert proc.poll() is None, proc.communicate()[0]
                assert time.monotonic() < deadline, "pgqueuer.adapters.web did not serve"
                time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
