"""The library tutorial's examples, run as doctests here too, so the GPU tests run its CuPy example.

Sphinx's doctest build runs every example in CI; CI has no GPU, so the CuPy
block is skipped there. On a GPU machine this test runs it (``-m gpu``).
"""

import doctest
import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[1] / "docs" / "tutorial_library.rst"


def _gpu() -> bool:
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def blocks():
    """(needs_gpu, source) of every ``.. doctest::`` block of the page, in order."""
    text = PAGE.read_text()
    found = []
    for match in re.finditer(r"\.\. doctest::\n((?:   :\w+:.*\n)*)\n((?:   .*\n|\n)+)", text):
        options, body = match.group(1), match.group(2)
        found.append(("gpu_available" in options, "\n".join(line[3:] for line in body.splitlines()) + "\n"))
    return found


def run_blocks(include_gpu: bool) -> int:
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    globs: dict = {}
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    ran = 0
    for needs_gpu, source in blocks():
        if needs_gpu and not include_gpu:
            continue
        test = parser.get_doctest(source, globs, PAGE.name, str(PAGE), 0)
        result = runner.run(test, clear_globs=False)
        globs.update(test.globs)  # DocTest copies its globals: carry names on to the next block
        assert result.failed == 0, f"a doctest block of {PAGE.name} failed"
        ran += result.attempted
    return ran


def test_library_tutorial_blocks_found():
    found = blocks()
    assert len(found) >= 8 and sum(needs for needs, _ in found) == 1


@pytest.mark.gpu
@pytest.mark.skipif(not _gpu(), reason="no GPU/CuPy")
def test_library_tutorial_on_a_gpu():
    assert run_blocks(include_gpu=True) > 30
