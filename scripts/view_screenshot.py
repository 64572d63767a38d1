"""Regenerate ``docs/_static/view_sample.png``: the bundled sample's token view in headless Chromium.

Runs ``cascade-core analyze --out`` on the sample into a temporary folder,
opens ``view_s0.html`` in Debian's ``chromium`` (through ``chromium-driver``
and Selenium), steps to layer 3, hovers a token that another token
represents, and saves the window::

    .venv/bin/python scripts/view_screenshot.py
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from browser import chromium, open_page  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

from cascade_core.cli import main as cli  # noqa: E402

OUT = ROOT / "docs" / "_static" / "view_sample.png"
LAYER = 3


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="cascade-shot-") as tmp:
        report = Path(tmp) / "report"
        with contextlib.redirect_stdout(io.StringIO()):  # the run's table is not this script's output
            status = cli(["analyze", "--out", str(report), "--quiet"])
        if status != 0:
            return status
        with chromium(width=1100, height=540) as driver:
            open_page(driver, report / "view_s0.html")
            for _ in range(LAYER):
                driver.find_element(By.ID, "next").click()
            spans = driver.find_elements(By.CSS_SELECTOR, "#text .t")
            represented = next(s for s in spans if "rep" not in s.get_attribute("class").split())
            ActionChains(driver).move_to_element(represented).perform()
            OUT.write_bytes(driver.get_screenshot_as_png())
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
