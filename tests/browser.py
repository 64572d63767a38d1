"""Headless Chromium (Debian's ``chromium`` and ``chromium-driver``) driven by Selenium.

Used by the browser tests and by ``scripts/view_figures.py``. Selenium is
given the driver's path, so it never downloads a driver or a browser; the
user-data directory is new and empty every time.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

#: Flags that work on CI's machines (no sandbox as root, no GPU, no network of its own).
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
]


def chromium_paths() -> tuple[str, str] | None:
    """The browser and its driver, or None when either is missing."""
    browser = os.environ.get("CASCADE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    driver = os.environ.get("CASCADE_CHROMEDRIVER") or shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@contextlib.contextmanager
def chromium(width: int = 1280, height: int = 900):
    """A Selenium WebDriver on a fresh headless Chromium; quit and cleaned up on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    found = chromium_paths()
    if found is None:
        raise RuntimeError("no chromium and chromedriver: apt-get install chromium chromium-driver")
    browser, driver_path = found
    profile = tempfile.mkdtemp(prefix="cascade-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in FLAGS:
        options.add_argument(flag if not flag.startswith("--window-size") else f"--window-size={width},{height}")
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def open_page(driver, path: Path, timeout: float = 30.0) -> float:
    """Open a local page and wait for its ``ready`` mark; return that mark's time (ms after navigation start)."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(Path(path).resolve().as_uri())
    WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script("return document.body.dataset.ready || document.body.dataset.error")
    )
    error = driver.execute_script("return document.body.dataset.error")
    if error:
        raise AssertionError(f"the page failed: {error}")
    return driver.execute_script("return performance.getEntriesByName('ready')[0].startTime")
