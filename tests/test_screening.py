"""Screened similarities on the CPU: the bound ``delta`` against emulated float16 products, and the split.

The GPU computes products of float16-rounded rows with float32 accumulation;
here NumPy rounds the rows the same way (``astype(float16)``) and accumulates
in float32, in order and pairwise, so the bound and the screened scan's logic
are checked on every CI run without a GPU (``test_gpu_screening.py`` checks
the device kernels).
"""

import numpy as np
import pytest

import naive
from cascade_core.backends.screening import delta, split
from near_tau import near_tau_layer

TAU = 0.5


def _unit32(x):
    x = np.asarray(x, dtype=np.float32)
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _families(d, rng):
    """Unit rows of several kinds: Gaussian, one large component among tiny (subnormal in float16) ones, flat."""
    gaussian = rng.standard_normal((200, d))
    spiky = rng.standard_normal((50, d)) * 1e-6
    spiky[:, 0] = 1.0
    flat = np.ones((2, d)) + rng.standard_normal((2, d)) * 1e-3
    return _unit32(np.concatenate([gaussian, spiky, flat]))


@pytest.mark.parametrize("d", [16, 128, 384, 4096])
def test_delta_bounds_emulated_float16_products(d):
    """|screened - exact| <= delta for in-order and pairwise float32 sums of exact float16 products."""
    rng = np.random.default_rng(d)
    x = _families(d, rng)
    # Near-parallel pairs too: their similarities are near 1, where rounding errors are largest.
    y = _unit32(x + rng.standard_normal(x.shape).astype(np.float32) * 0.05)
    exact = np.sum(x.astype(np.float64) * y.astype(np.float64), axis=1)
    products = x.astype(np.float16).astype(np.float32) * y.astype(np.float16).astype(np.float32)  # exact in float32
    in_order = np.cumsum(products, axis=1, dtype=np.float32)[:, -1]
    pairwise = np.sum(products, axis=1, dtype=np.float32)
    bound = delta(d, "float16")
    worst = max(np.max(np.abs(in_order - exact)), np.max(np.abs(pairwise - exact)))
    assert worst <= bound, f"error {worst:.3g} > delta {bound:.3g} at d = {d}"
    assert worst >= bound / 1000, "the emulation rounded nothing: it checks no bound"


def test_delta_grows_with_d_and_is_zero_in_float32():
    assert delta(4096, "float16") > delta(128, "float16") > 2 * 2.0**-11
    assert delta(4096, "float32") == 0.0
    with pytest.raises(ValueError):
        delta(128, "bfloat17")


def test_split_is_exact_at_the_band_edges():
    b = 1e-3
    assert split(TAU + b, TAU, b) == "linked"
    assert split(-(TAU + b), TAU, b) == "linked"
    assert split(TAU - b, TAU, b) == "recheck"
    assert split(np.nextafter(TAU - b, 0), TAU, b) == "not linked"
    assert split(TAU, TAU, 0.0) == "linked" and split(np.nextafter(TAU, 0), TAU, 0.0) == "not linked"


def _screened_ada(x, tau):
    """The screened scan in NumPy: float16-rounded Gram, the three-way split, float32 rechecks."""
    xh = _unit32(x)
    low = xh.astype(np.float16).astype(np.float32)
    s_low = np.abs(low @ low.T)
    bound = delta(x.shape[1], "float16")
    rechecked = 0
    kept = []
    for i in range(xh.shape[0]):
        linked = False
        for j in kept:
            decision = split(s_low[i, j], tau, bound)
            if decision == "recheck":
                rechecked += 1
                decision = "linked" if abs(np.dot(xh[i], xh[j])) >= np.float32(tau) else "not linked"
            if decision == "linked":
                linked = True
                break
        if not linked:
            kept.append(i)
    return kept, rechecked


@pytest.mark.parametrize("d", [64, 128])
def test_screened_scan_equals_float32_on_near_tau_pairs(d):
    """On pairs within 1e-4 of tau, the screen plus recheck is the float32 scan; float16 alone is not."""
    x = near_tau_layer(600, d, TAU, seed=d)
    assert not naive.near_threshold(x, TAU), "a pair within SPEC §9's margin"
    expected = naive.ada(x, TAU, dtype=np.float32)
    assert expected == naive.ada(x, TAU)  # float64 agrees: no decision rests on float32 rounding
    got, rechecked = _screened_ada(x, TAU)
    assert got == expected
    assert rechecked > 0
    xh = _unit32(x)
    low = xh.astype(np.float16).astype(np.float32)
    unscreened = naive.greedy(np.abs(low @ low.T), TAU, list(range(x.shape[0])))
    assert unscreened != expected, "float16 products alone decide every near-tau pair right: not adversarial"


def test_every_kernel_is_built_by_cupy_and_compiled_for_rocm():
    """Each kernel of select.cuh is asked for by cupy.py and instantiated by scripts/check_hip.sh (CI's hipcc)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    source = (root / "backends" / "select.cuh").read_text()
    kernels = re.findall(r"__global__ void (\w+)\(", source)
    assert len(kernels) >= 8
    backend = (root / "backends" / "cupy.py").read_text()
    script = (root / "scripts" / "check_hip.sh").read_text()
    for name in kernels:
        assert f'"{name}' in backend, f"cupy.py never builds {name}"
        assert f"&{name}" in script, f"check_hip.sh does not compile {name}"
