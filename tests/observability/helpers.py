"""Scraping a real HTTP endpoint and parsing it with prometheus-client's parser."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


def fetch(url: str) -> tuple[str, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.headers["Content-Type"], response.read().decode()


def samples(text: str) -> list[Sample]:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(text: str, name: str, **labels: str) -> float | None:
    for s in samples(text):
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return None


async def scrape_until(url: str, ready: Callable[[str], bool], timeout: float = 20.0) -> str:
    """Scrape ``url`` until ``ready(text)``; the last text in the failure otherwise."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        _, text = await asyncio.to_thread(fetch, url)
        if ready(text):
            return text
        await asyncio.sleep(0.2)
    raise AssertionError(f"{url} never became ready; last scrape:\n{text}")
