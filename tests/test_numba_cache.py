"""Numba's compiled kernels are cached outside the installed package (issue 12).

A cache folder inside ``site-packages/cascade_core`` outlives ``pip uninstall``
and then shadows an editable install of the package (the README's two
commands in order); the cache goes to a user cache directory instead.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("numba")

import cascade_core  # noqa: E402

PACKAGE = Path(cascade_core.__file__).resolve().parent
RUN = "from cascade_core.backends import numba as nb; nb.backend.warm_up(); print(nb.cache_dir())"


def _compiled_files(root: Path, since: float) -> list[Path]:
    return [p for p in root.rglob("*") if p.suffix in (".nbi", ".nbc") and p.stat().st_mtime >= since]


def _run(env: dict) -> str:
    done = subprocess.run([sys.executable, "-c", RUN], env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_numba_cache_lands_in_the_user_cache_dir_not_the_package(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "NUMBA_DISABLE_JIT")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    start = time.time() - 1
    where = Path(_run(env))
    assert where.is_relative_to(tmp_path / "xdg" / "cascade-core" / "numba")
    assert [p.name for p in where.rglob("*.nbi")], "the kernels were not cached in the user cache directory"
    assert _compiled_files(PACKAGE, start) == []


def test_numba_cache_dir_set_by_the_user_wins(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_DISABLE_JIT"}
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "mine")
    start = time.time() - 1
    assert Path(_run(env)) == tmp_path / "mine"
    assert list((tmp_path / "mine").rglob("*.nbi"))
    assert _compiled_files(PACKAGE, start) == []
