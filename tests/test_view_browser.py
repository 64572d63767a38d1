"""The token view's page in a real browser: headless Chromium (Debian's package), driven by Selenium.

The page written by ``analyze --out`` is opened from disk; the test steps
through its layers with the page's own controls and checks the set it
shows, the ADA differences it marks, the shading counts and the group on
hover against an independent run of the library and against report.json.
Skipped only where no Chromium is installed, and never under CI (``.ci/run``
installs it).
"""

import json
import os

import numpy as np
import pytest
from browser import chromium, chromium_paths, open_page
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from token_data import random_view

import cascade_core as cc
from cascade_core import synthetic
from cascade_core.cli import main
from cascade_core.report.view import view_page

if chromium_paths() is None:
    if os.environ.get("CI"):
        pytest.fail("CI must run the browser tests: .ci/run installs chromium and chromium-driver", pytrace=False)
    pytest.skip("no chromium and chromedriver (apt-get install chromium chromium-driver)", allow_module_level=True)


@pytest.fixture(scope="module")
def driver():
    with chromium() as d:
        yield d


@pytest.fixture(scope="module")
def sample_out(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("view") / "report"
    assert main(["analyze", "--out", str(out_dir), "--quiet"]) == 0
    return out_dir


@pytest.fixture(scope="module")
def reference():
    """The sample's sets and groups, computed here with the library's public calls."""
    data = cc.load(cc.sample_path())
    return cc.run(data.layers, 0.7, lengths=data.lengths, assign=True), data


def shown(driver, selector: str) -> list[int]:
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map((s) => Number(s.dataset.p));", selector
    )


@pytest.mark.parametrize("b", [0, 1])
def test_layers_of_the_sample_page(driver, sample_out, reference, b):
    result, data = reference
    n = int(data.lengths[b])
    ready_ms = open_page(driver, sample_out / f"view_s{b}.html")
    assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0  # nothing fetched
    report = json.loads((sample_out / "report.json").read_text())
    records = {rec["layer"]: rec for rec in report["files"][0]["records"] if rec["slice"] == [b]}

    spans = driver.find_elements(By.CSS_SELECTOR, "#text .t")
    assert [s.text for s in spans[:4]] == data.metadata["tokens"][b][:4] and len(spans) == n
    sets = [s.tolist() for s in result.sets[(b,)]]
    counts = [sum(p in s for s in sets) for p in range(n)]
    assert [int(s.get_attribute("data-n")) for s in spans] == counts  # shading: layers that chose the token

    differing = 0
    for layer in range(7):
        if layer:
            driver.find_element(By.ID, "next").click()
        assert driver.find_element(By.ID, "layer-name").text == f"layer {layer}"
        cascade, ada = sets[layer], result.reference_sets[(b,)][layer].tolist()
        assert shown(driver, "#text .rep") == cascade
        assert shown(driver, "#text .conly") == sorted(set(cascade) - set(ada))
        assert shown(driver, "#text .aonly") == sorted(set(ada) - set(cascade))
        stats = driver.find_element(By.ID, "stats")
        assert int(stats.get_attribute("data-r")) == records[layer]["r"]
        assert int(stats.get_attribute("data-r-ada")) == records[layer]["r_ada"]
        assert f"agreement (Jaccard) {records[layer]['agreement']:.3f}" in stats.text
        differing += cascade != ada
    assert differing >= 3  # sequences 0 and 1 show where per-layer ADA differs

    # Hover: the tooltip names the token's representative at the current layer (6), as assign computes it.
    groups = result.assignments[(b,)][6].tolist()
    outside = next(p for p in range(n) if groups[p] != p)
    ActionChains(driver).move_to_element(spans[outside]).perform()
    tip = driver.find_element(By.ID, "tip")
    assert tip.is_displayed() and int(tip.get_attribute("data-group")) == groups[outside]
    assert int(tip.get_attribute("data-ada-group")) == result.reference_assignments[(b,)][6].tolist()[outside]
    assert f"represented by #{groups[outside]}" in tip.text
    members = shown(driver, "#text .grp")
    assert members == [p for p in range(n) if groups[p] == groups[outside]]

    # The other controls: previous, the keyboard, the slider, and the ADA marks switched off.
    driver.find_element(By.ID, "prev").click()
    assert shown(driver, "#text .rep") == sets[5]
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_LEFT)
    assert shown(driver, "#text .rep") == sets[4]
    driver.execute_script(
        "const s = document.getElementById('layer'); s.value = '2'; s.dispatchEvent(new Event('input'));"
    )
    assert shown(driver, "#text .rep") == sets[2]
    driver.find_element(By.ID, "diff").click()
    assert shown(driver, "#text .conly, #text .aonly") == []
    print(f"\nview_s{b}.html: {n} tokens, ready after {ready_ms:.0f} ms")


def test_a_page_with_holes_and_no_token_text(driver, tmp_path):
    x = synthetic.stacked(3, 2 * 16, 8, seed=7).reshape(3, 2, 16, 8)
    mask = np.ones((2, 16), dtype=bool)
    mask[1, [0, 3, 4]] = False
    result = cc.run(x, 0.6, mask=mask, assign=True, reference=False)
    view = cc.token_views(result, mask=mask)[1]
    path = tmp_path / "holes.html"
    path.write_text(view_page(view, title="holes"), encoding="utf-8")
    open_page(driver, path)
    spans = driver.find_elements(By.CSS_SELECTOR, "#text .t")
    assert [s.text for s in spans] == [str(p) for p in view.positions]  # no text: positions stand in
    assert "no token text" in driver.find_element(By.ID, "about").text
    assert not driver.find_element(By.ID, "diff-label").is_displayed()  # no reference run: nothing to compare
    driver.find_element(By.ID, "next").click()
    assert shown(driver, "#text .rep") == view.cascade[1]


def test_a_page_of_8192_tokens_and_32_layers(driver, tmp_path):
    view = random_view(8192, 32, seed=1)
    path = tmp_path / "large.html"
    path.write_text(view_page(view, title="large", tau=0.5), encoding="utf-8")
    ready_ms = open_page(driver, path)
    assert driver.execute_script("return document.querySelectorAll('#text .t').length") == 8192
    for _ in range(20):
        driver.find_element(By.ID, "next").click()
    assert shown(driver, "#text .rep") == view.cascade[20]
    assert shown(driver, "#text .aonly") == sorted(set(view.ada[20]) - set(view.cascade[20]))
    size = path.stat().st_size
    print(f"\nlarge page: {size / 1e6:.2f} MB, ready after {ready_ms:.0f} ms")
    assert ready_ms < 5000  # a loose bound for a loaded CI machine; scripts/view_figures.py measures it
