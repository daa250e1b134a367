"""Debian's chromium, headless, driven by selenium through Debian's chromedriver.

Nothing is downloaded: both binaries must be installed (``apt-get install -y chromium
chromium-driver``; .ci/run does it). When they are missing the browser tests fail, they do
not skip: a browser test that silently did not run would pass for the wrong reason.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
)


def binaries() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.fail(
            "the browser tests need Debian's chromium and chromium-driver: "
            "apt-get install -y chromium chromium-driver"
        )
    return chromium, driver


def start_browser(profile: Path, width: int = 1280, height: int = 900) -> webdriver.Chrome:
    chromium, driver = binaries()
    os.environ["SE_OFFLINE"] = "true"  # selenium must never fetch a driver or a browser
    options = Options()
    options.binary_location = chromium
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--window-size={width},{height}")
    options.add_argument(f"--user-data-dir={profile}")
    browser = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    browser.set_page_load_timeout(30)
    return browser
