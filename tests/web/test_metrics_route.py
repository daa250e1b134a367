"""/metrics on pgq web: the database-wide Prometheus metrics, parsed by the client library,
behind the same credentials as the pages."""

from __future__ import annotations

import asyncio

from prometheus_client.parser import text_string_to_metric_families
from web.webserver import BASIC, WebServer

from pgqueuer.queries import Queries


async def test_metrics_scrape_parses_and_counts_the_queue(web: WebServer, queries: Queries) -> None:
    await queries.enqueue(["mail"] * 3 + ["report"], [None] * 4)
    reply = await asyncio.to_thread(web.request, "/metrics")
    assert reply.status == 200, reply.text
    assert reply.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(reply.text)}
    depth = [f for name, f in families.items() if "queue" in name and f.type == "gauge"]
    samples = {
        (s.labels.get("entrypoint"), s.labels.get("status")): s.value
        for f in depth
        for s in f.samples
        if s.labels.get("status") == "queued"
    }
    assert samples.get(("mail", "queued")) == 3, reply.text
    assert samples.get(("report", "queued")) == 1, reply.text
    again = await asyncio.to_thread(web.request, "/metrics")  # the same exporter, again
    assert again.status == 200


async def test_metrics_need_the_pages_credentials_when_configured(admin_web: WebServer) -> None:
    denied = await asyncio.to_thread(admin_web.request, "/metrics")
    assert denied.status == 401
    allowed = await asyncio.to_thread(
        admin_web.request, "/metrics", headers={"Authorization": BASIC}
    )
    assert allowed.status == 200 and "# TYPE" in allowed.text
