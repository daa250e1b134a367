"""Screenshots of ``pgq web`` for docs/web.md, taken by the tests' headless chromium.

    hatch run demo                                   # fills the schema pgqueuer_demo
    hatch run python examples/web_screenshots.py     # writes docs/web/*.png

Serves the demo's schema (PGQUEUER_SCHEMA, default pgqueuer_demo) on a free local port with
credentials configured (so the action buttons show), adds a small backlog (``--backlog``
queued jobs, so the overview has something waiting), and saves one PNG per main page. Needs
Debian's chromium and chromium-driver, like the browser tests.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import asyncpg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from web.browser import start_browser  # noqa: E402

from pgqueuer.db import AsyncpgDriver  # noqa: E402
from pgqueuer.names import Names  # noqa: E402
from pgqueuer.queries import Queries  # noqa: E402
from pgqueuer_dashboard.web import WebAuth, create_web_app  # noqa: E402
from pgqueuer_dashboard.web.serve import server  # noqa: E402

PAGES = {
    "overview": "/",
    "entrypoints": "/entrypoints?window=1h",
    "jobs": "/jobs?status=failed",
    "failures": "/failures",
    "schedules": "/schedules",
    "system": "/system",
}


async def prepare(names: Names, backlog: int) -> int | None:
    conn = await asyncpg.connect(os.environ.get("PGQUEUER_DSN"))
    try:
        queries = Queries(AsyncpgDriver(conn), names)
        if backlog:
            await queries.enqueue(["email"] * backlog, [b'{"to": "someone@example.com"}'] * backlog)
        held = await queries.list_failed_jobs(1)
        return held[0].id if held else None
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=120)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "web")
    args = parser.parse_args()
    names = Names.create(schema=os.environ.get("PGQUEUER_SCHEMA") or "pgqueuer_demo")
    held = asyncio.run(prepare(names, args.backlog))
    pages = dict(PAGES)
    if held is not None:
        pages["job"] = f"/jobs/{held}"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_web_app(os.environ.get("PGQUEUER_DSN"), names=names, auth=WebAuth("demo", "demo"))
    web = server(app, "127.0.0.1", port, log_level="warning")
    thread = threading.Thread(target=web.run, daemon=True)
    thread.start()
    while not web.started:
        time.sleep(0.05)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        browser = start_browser(Path(profile), 1280, 860)
        try:
            for name, path in pages.items():
                browser.get(f"http://demo:demo@127.0.0.1:{port}{path}")
                time.sleep(0.5)  # the live status settles
                target = args.out / f"{name}.png"
                browser.save_screenshot(str(target))
                print(f"{target.relative_to(REPO)}: {path}")
        finally:
            browser.quit()
            web.should_exit = True
            thread.join(15)


if __name__ == "__main__":
    main()
