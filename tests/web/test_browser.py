"""pgq web in a real headless browser, used as a person would."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from queue_states import States, populate
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from web.browser import start_browser
from web.webserver import PASSWORD, USER, WebServer

from pgqueuer.db import AsyncpgDriver
from pgqueuer.names import Names
from pgqueuer.queries import Queries

pytestmark = pytest.mark.slow


@pytest.fixture
def chrome(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    browser = start_browser(tmp_path / "profile")
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture
async def states(conn: asyncpg.Connection, names: Names) -> States:
    return await populate(conn, names)


def text_of(chrome: webdriver.Chrome, css: str) -> str:
    """The element's text; read again when a live update replaced it meanwhile."""
    for _ in range(20):
        try:
            return str(chrome.find_element(By.CSS_SELECTOR, css).text)
        except StaleElementReferenceException:
            continue
    raise AssertionError(f"{css} kept being replaced")


def wait_text(chrome: webdriver.Chrome, css: str, expected: str, timeout: float = 15) -> None:
    def shown(driver: webdriver.Chrome) -> bool:
        try:
            found = driver.find_elements(By.CSS_SELECTOR, css)
            return bool(found) and found[0].text == expected
        except StaleElementReferenceException:
            return False

    WebDriverWait(chrome, timeout).until(shown, f"{css} never showed {expected!r}")


async def in_browser(func, *args):  # type: ignore[no-untyped-def]
    return await asyncio.to_thread(func, *args)


async def test_overview_shows_the_counts_and_a_job_opens(
    states: States, chrome: webdriver.Chrome, web: WebServer
) -> None:
    def visit() -> None:
        chrome.get(web.url + "/")
        assert chrome.title == "Overview · pgqueuer"
        wait_text(chrome, "#total-queued", "3")
        wait_text(chrome, "#total-picked", "3")
        wait_text(chrome, "#total-failed", "1")
        wait_text(chrome, "#total-workers", "2")
        chrome.find_element(By.LINK_TEXT, "email").click()  # backlog -> the queued jobs
        WebDriverWait(chrome, 10).until(lambda d: "/jobs?status=queued" in d.current_url)
        rows = chrome.find_elements(By.CSS_SELECTOR, "#jobs tbody tr")
        assert [int(r.get_attribute("data-job")) for r in rows] == states.queued
        chrome.find_element(By.LINK_TEXT, str(states.queued[0])).click()
        WebDriverWait(chrome, 10).until(lambda d: d.title.startswith(f"Job {states.queued[0]}"))
        assert text_of(chrome, "#job-status") == "queued"
        assert chrome.find_elements(By.ID, "cancel") == []  # read-only: no action shown

    await in_browser(visit)


async def test_a_live_update_arrives_without_a_reload(
    states: States, chrome: webdriver.Chrome, web: WebServer, conn: asyncpg.Connection, names: Names
) -> None:
    def open_page() -> None:
        chrome.get(web.url + "/")
        wait_text(chrome, "#live-status", "read-only · live")
        chrome.execute_script("window.stillTheSamePage = true;")
        wait_text(chrome, "#total-queued", "3")

    await in_browser(open_page)
    listening = web.app.state.pgq_web_broadcaster.connected
    for _ in range(200):  # the server's LISTEN connection is up (it starts with the server)
        if listening.is_set():
            break
        await asyncio.sleep(0.05)
    await Queries(AsyncpgDriver(conn), names).enqueue(["email", "email"], [None, None])

    def updated() -> None:
        wait_text(chrome, "#total-queued", "5")
        assert chrome.execute_script("return window.stillTheSamePage === true;")

    await in_browser(updated)


async def test_an_action_without_credentials_gets_403(
    states: States, chrome: webdriver.Chrome, web: WebServer, conn: asyncpg.Connection, names: Names
) -> None:
    def post() -> int:
        chrome.get(web.url + f"/jobs/{states.held}")
        assert chrome.find_elements(By.ID, "requeue") == []
        status: int = chrome.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch('/jobs/requeue', {method: 'POST', body: new URLSearchParams({ids: arguments[0]})})"
            ".then(r => done(r.status), e => done(String(e)));",
            str(states.held),
        )
        return status

    assert await in_browser(post) == 403
    assert [j.id for j in await Queries(AsyncpgDriver(conn), names).list_failed_jobs()] == [
        states.held
    ]


async def test_requeue_a_failed_job_and_see_it_move(
    states: States, chrome: webdriver.Chrome, admin_web: WebServer
) -> None:
    login = admin_web.url.replace("http://", f"http://{USER}:{PASSWORD}@")

    def requeue() -> None:
        chrome.get(login + "/failures")
        row = chrome.find_element(By.CSS_SELECTOR, f'#held tr[data-job="{states.held}"]')
        row.find_element(By.TAG_NAME, "button").click()
        alert = WebDriverWait(chrome, 10).until(lambda d: d.switch_to.alert)
        assert alert.text == f"Requeue job {states.held}?"
        alert.accept()
        WebDriverWait(chrome, 10).until(
            lambda d: not d.find_elements(By.CSS_SELECTOR, f'#held tr[data-job="{states.held}"]')
        )
        assert "No held failed job." in text_of(chrome, "#live")
        chrome.get(admin_web.url + f"/jobs/{states.held}")
        assert text_of(chrome, "#job-status") == "queued"
        chrome.get(admin_web.url + "/jobs?status=queued&entrypoint=report")
        rows = chrome.find_elements(By.CSS_SELECTOR, "#jobs tbody tr")
        assert [int(r.get_attribute("data-job")) for r in rows] == [states.held]

    await in_browser(requeue)


async def test_cancelling_asks_first(
    states: States,
    chrome: webdriver.Chrome,
    admin_web: WebServer,
    conn: asyncpg.Connection,
    names: Names,
) -> None:
    login = admin_web.url.replace("http://", f"http://{USER}:{PASSWORD}@")
    job = states.queued[0]

    def dismiss_then_accept() -> None:
        chrome.get(login + f"/jobs/{job}")
        chrome.find_element(By.ID, "cancel").click()
        WebDriverWait(chrome, 10).until(lambda d: d.switch_to.alert).dismiss()
        assert text_of(chrome, "#job-status") == "queued"

    await in_browser(dismiss_then_accept)
    assert await Queries(AsyncpgDriver(conn), names).queue_job_by_id(job) is not None

    def accept() -> None:
        chrome.find_element(By.ID, "cancel").click()
        WebDriverWait(chrome, 10).until(lambda d: d.switch_to.alert).accept()
        WebDriverWait(chrome, 10).until(lambda d: "only its log rows remain" in text_of(d, "#live"))

    await in_browser(accept)
    assert await Queries(AsyncpgDriver(conn), names).queue_job_by_id(job) is None
