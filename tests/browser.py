"""Headless chromium for the tests that look at a page as a reader does (``serve``'s page, the
documentation site): Debian's chromium and chromium-driver, driven by selenium (the dev extra)."""

from __future__ import annotations

import os
import shutil

import pytest

CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1200,900"]


def find(*names: str) -> str | None:
    for n in names:
        p = shutil.which(n) or (f"/usr/bin/{n}" if os.path.exists(f"/usr/bin/{n}") else None)
        if p:
            return p
    return None


def chromium(profile_dir, flags=()):
    """A headless chromium WebDriver (skips the test when chromium, its driver or selenium is missing)."""
    binary, driver_path = find("chromium", "chromium-browser"), find("chromedriver")
    if not binary or not driver_path:
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (the dev extra)")
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # never let selenium fetch a driver: use Debian's
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the console, for the no-errors checks
    for flag in [*CHROME_FLAGS, *flags, f"--user-data-dir={profile_dir}"]:
        opts.add_argument(flag)
    drv = webdriver.Chrome(service=Service(driver_path), options=opts)
    drv.set_page_load_timeout(30)
    return drv


def wait(drv, cond, timeout: float = 15.0):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(drv, timeout).until(cond)
