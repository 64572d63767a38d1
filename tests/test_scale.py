"""Sets do not depend on the scale of the activations (issue 12, SPEC §2).

Every floating dtype, rows scaled by ``10**k`` for ``k`` in -30..30, restricted
to the ``k`` whose scaled rows stay finite and normal in that dtype (every
row's largest ``|value|`` at least the smallest normal number, the largest
``|value|`` at most the largest finite one): the sets are those of the
unscaled input. Smaller entries of a row may turn subnormal; the data keep
every similarity at least ``GAP`` from ``tau``, far more than the rounding of
a scaled float16 or bfloat16 value can move a similarity. Scaling by a power
of two is exact, so there the normalised rows themselves must be identical.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import cascade_core as cc
import naive
from cascade_core import synthetic
from cascade_core._gram import normalize

torch = pytest.importorskip("torch")

TAU = 0.74
#: Every similarity of the test data is at least this far from TAU (checked below).
GAP = 0.05
DATA = synthetic.stacked(3, 48, 32, rep_ratio=0.3, noise=0.3, seed=3)
DTYPES = ("float16", "bfloat16", "float32", "float64")
BACKENDS = ("numpy", "numba", "array_api")


def finite_range(dtype: str) -> tuple[float, float]:
    """Smallest normal and largest finite value of `dtype`."""
    info = torch.finfo(getattr(torch, dtype))
    return float(info.tiny), float(info.max)


def exponents(dtype: str) -> list[int]:
    """The k of -30..30 for which ``DATA * 10**k`` has every row peak in the normal range of `dtype`."""
    tiny, big = finite_range(dtype)
    peaks = np.abs(DATA).max(axis=2).astype(np.float64)
    return [k for k in range(-30, 31) if peaks.min() * 10.0**k >= tiny and peaks.max() * 10.0**k <= big]


def as_dtype(x64: np.ndarray, dtype: str):
    """`x64` rounded to `dtype` (a NumPy array, or a torch tensor for bfloat16)."""
    if dtype == "bfloat16":
        return torch.from_numpy(x64).to(torch.bfloat16)
    return x64.astype(dtype)


def sets(x, backend: str) -> list[list[int]]:
    result = cc.run(x, TAU, backend=backend)
    return [[int(i) for i in np.asarray(s.float() if hasattr(s, "float") else s).tolist()] for s in result.sets[()]]


def test_the_data_keep_away_from_tau():
    off = ~np.eye(DATA.shape[1], dtype=bool)
    assert min(np.abs(naive.similarity(layer)[off] - TAU).min() for layer in DATA) >= GAP


def test_the_ranges_tried():
    """The scale factors tried, per dtype (quoted in docs/decisions.md)."""
    assert exponents("float64") == list(range(-30, 31))
    assert exponents("float32") == exponents("bfloat16") == list(range(-30, 31))
    assert exponents("float16") == list(range(-3, 6))


@pytest.mark.parametrize("dtype", DTYPES)
def test_sets_do_not_depend_on_scale(dtype):
    x64 = DATA.astype(np.float64)
    unscaled = as_dtype(x64, dtype)
    expected = {b: sets(unscaled, b) for b in BACKENDS}
    widened = np.asarray(unscaled.float()) if dtype == "bfloat16" else unscaled
    for layer, reps in enumerate(expected["numpy"]):
        naive.check_representative(widened[layer], reps, TAU)
        assert 1 < len(reps) < DATA.shape[1]
    assert expected["numba"] == expected["array_api"] == expected["numpy"]
    failures = []
    for k in exponents(dtype):
        scaled = as_dtype(x64 * 10.0**k, dtype)
        for backend in BACKENDS:
            if sets(scaled, backend) != expected[backend]:
                failures.append((k, backend))
    assert failures == [], f"{dtype}: sets change with the scale 10**k at (k, backend) {failures}"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_power_of_two_scales_give_identical_rows(dtype):
    x = np.random.default_rng(5).standard_normal((40, 24)).astype(dtype)
    tiny, big = finite_range(dtype)
    peak = float(np.abs(x).max())
    # every entry stays normal, so every scaled input is exactly x times a power of two
    low, high = math.ceil(math.log2(tiny / float(np.abs(x).min()))), math.floor(math.log2(big / peak))
    base = normalize(x)
    for j in range(low, high + 1, 7):
        assert np.array_equal(normalize(x * np.asarray(2.0**j, dtype=dtype)), base), j
        assert np.array_equal(normalize(x * np.asarray(2.0**j, dtype=dtype), center=True), normalize(x, center=True))


@pytest.mark.parametrize("scale", [1e-25, 1.0, 1e19, 1e20])
def test_float32_rows_at_the_issue_scales(scale):
    """The issue's cases: x 1e19 overflowed the norm (every token chosen), x 1e-25 underflowed to zero rows."""
    x = DATA[0] * 4  # entries up to about 2, as in hidden states: sum(x_i ** 2) overflows float32 at 1e19
    got = cc.ada((x.astype(np.float64) * scale).astype(np.float32), TAU).reps
    assert got.tolist() == cc.ada(x, TAU).reps.tolist()
    assert len(got) < x.shape[0] // 2


def test_zero_rows_stay_zero_rows_at_every_scale():
    """A row that is truly zero is the documented case of SPEC §2: similarity 0, always a representative."""
    x = DATA[0].astype(np.float64).copy()
    x[[3, 10]] = 0.0
    for k in (-30, 0, 30):
        xh = normalize(x * 10.0**k)
        assert not xh[[3, 10]].any()
        reps = cc.ada(x * 10.0**k, TAU).reps.tolist()
        assert 3 in reps and 10 in reps
        naive.check_representative(x, reps, TAU)


def test_subnormal_rows_are_rows_not_zero_rows():
    """Rows of float32 subnormals keep their direction (decision: a nonzero row is never a zero row)."""
    x = np.zeros((3, 4), dtype=np.float32)
    x[0, 0], x[1, 0], x[2, 1] = 1e-40, 3e-40, 2e-40  # 0 and 1 are parallel, 2 is orthogonal
    assert cc.ada(x, 0.9).reps.tolist() == [0, 2]
    assert np.allclose(normalize(x), np.eye(3, 4)[[0, 0, 1]])


@pytest.mark.parametrize("scale", [1e-25, 1e19])
def test_norm_topk_does_not_depend_on_scale(scale):
    """The magnitude baseline ranks by squared norm: float32 x 1e19 overflowed it to ties (all inf)."""
    x = DATA * 4

    def picks(a):
        sets = cc.compare(a, TAU, selectors=["ada", "norm-topk"]).sets["norm-topk"][()]
        return [np.asarray(s).tolist() for s in sets]

    assert picks((x.astype(np.float64) * scale).astype(np.float32)) == picks(x)
