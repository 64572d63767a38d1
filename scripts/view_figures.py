"""Size and opening time of the token view's page, for the bundled sample and for a long input.

Writes each page, opens it in headless Chromium (Debian's ``chromium`` and
``chromium-driver``, driven by Selenium) several times, and prints the page's
size, the time from navigation start to the page's own ``ready`` mark (its
data inflated, every token drawn, the first layer marked) and the time one
layer switch takes, until the frame after it. The long input is seeded synthetic activations of
``T = 8192`` tokens and ``L = 32`` layers (:mod:`cascade_core.synthetic`),
run at ``tau = 0.5``, with the sample's token strings repeated as its text::

    .venv/bin/python scripts/view_figures.py            # both
    .venv/bin/python scripts/view_figures.py --tokens 2048 --layers 8

The figures quoted in ``docs/view.rst`` come from this script.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from browser import chromium, open_page  # noqa: E402

import cascade_core as cc  # noqa: E402
from cascade_core import synthetic  # noqa: E402
from cascade_core.report.view import view_page  # noqa: E402

#: One click on "next layer", timed until the frame after it (style, layout and paint included).
SWITCH = """
const done = arguments[arguments.length - 1];
const t0 = performance.now();
document.getElementById("next").click();
requestAnimationFrame(() => setTimeout(() => done(performance.now() - t0), 0));
"""


def sample_view() -> tuple[cc.TokenView, str]:
    report = cc.analyze_file(cc.sample_path(), cc.Analysis(tau=0.7, views=True))
    return report.views[0], "bundled sample, sequence 0"


def long_view(n_tokens: int, n_layers: int, features: int) -> tuple[cc.TokenView, str]:
    words = [t for t in cc.load(cc.sample_path()).metadata["tokens"][0] if t not in ("[CLS]", "[SEP]", "[PAD]")]
    text = [words[i % len(words)] for i in range(n_tokens)]
    x = synthetic.stacked(n_layers, n_tokens, features, seed=0)
    start = time.perf_counter()
    result = cc.run(x, 0.5, assign=True)
    seconds = time.perf_counter() - start
    view = cc.token_views(result, tokens=[text])[0]
    r = sum(len(s) for s in view.cascade) / n_layers
    return view, f"synthetic T = {n_tokens}, L = {n_layers}, d = {features} (mean r = {r:.0f}; run {seconds:.0f} s)"


def measure(driver, path: Path, repeats: int) -> tuple[float, float]:
    ready, switch = [], []
    for _ in range(repeats):
        ready.append(open_page(driver, path))
        switch.append(driver.execute_async_script(SWITCH))
    return statistics.median(ready), statistics.median(switch)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=8192)
    parser.add_argument("--layers", type=int, default=32)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    cases = [sample_view(), long_view(args.tokens, args.layers, args.features)]
    rows = []
    with tempfile.TemporaryDirectory(prefix="cascade-view-") as tmp, chromium() as driver:
        for i, (view, label) in enumerate(cases):
            start = time.perf_counter()
            page = view_page(view, title=label, tau=None)
            write_s = time.perf_counter() - start
            path = Path(tmp) / f"view{i}.html"
            path.write_text(page, encoding="utf-8")
            ready, switch = measure(driver, path, args.repeats)
            rows.append((label, len(view.positions), len(view.layers), os.path.getsize(path), write_s, ready, switch))
    print(f"Chromium {driver.capabilities.get('browserVersion', '?')}, median of {args.repeats} openings")
    print("| page | tokens | layers | size | made in | ready after | one layer switch |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, n, layers, size, write_s, ready, switch in rows:
        print(
            f"| {label} | {n} | {layers} | {size / 1e6:.3f} MB | {write_s:.2f} s | {ready:.0f} ms | {switch:.1f} ms |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
