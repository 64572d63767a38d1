"""Backends agree: identical sets, assignments, group sizes and op counts (SPEC §9).

The inputs come from :mod:`cascade_core.synthetic` and are checked to hold no
pair within 1e-5 of tau, the one place SPEC §9 lets backends differ. Every
backend's scan kernel is also checked against the plain reference of
``tests/naive.py``. GPU tests carry the ``gpu`` marker and skip without CuPy
and a GPU.
"""

import numpy as np
import pytest

import cascade_core as cc
import naive
from cascade_core import synthetic
from cascade_core.backends import BackendUnavailable, get

TAU = 0.5


def _gpu_available() -> bool:
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


BACKENDS = [
    "numpy",
    "numba",
    "array_api",
    pytest.param("cupy", marks=[pytest.mark.gpu, pytest.mark.skipif(not _gpu_available(), reason="no GPU/CuPy")]),
    pytest.param(
        "cupy-float32", marks=[pytest.mark.gpu, pytest.mark.skipif(not _gpu_available(), reason="no GPU/CuPy")]
    ),
]


def to_host(a):
    return np.asarray(a.get() if hasattr(a, "get") else a).tolist()


def as_backend_input(x, backend):
    """The array a user of this backend would hand over (a CuPy array for the GPU)."""
    if backend.startswith("cupy"):
        import cupy

        return cupy.asarray(x)
    return x


def strip(result):
    return [{k: v for k, v in rec.as_dict().items() if "seconds" not in k} for rec in result.records]


LAYOUTS = {
    "LTD": lambda: synthetic.stacked(4, 300, 48, rep_ratio=0.4, seed=1),
    "LBTD": lambda: synthetic.stacked(3, 2 * 160, 48, rep_ratio=0.5, seed=2).reshape(3, 2, 160, 48),
    "LBHTD": lambda: synthetic.stacked(3, 2 * 2 * 90, 32, rep_ratio=0.3, seed=3).reshape(3, 2, 2, 90, 32),
}


@pytest.fixture(scope="module")
def reference_runs():
    out = {}
    for layout, make in LAYOUTS.items():
        x = make()
        flat = x.reshape(x.shape[0], -1, *x.shape[-2:])
        assert not any(naive.near_threshold(s, TAU) for layer in flat for s in layer), "data too close to tau"
        lengths = None if layout == "LTD" else [x.shape[-2], x.shape[-2] - 17]
        out[layout] = (x, lengths, cc.run(x, TAU, lengths=lengths, backend="numpy", tile=64, algorithm="full-gram"))
    return out


@pytest.mark.parametrize("algorithm", ["chosen-rows", "full-gram"])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_backends_give_identical_runs(backend, layout, algorithm, reference_runs):
    """Every backend, both ways of computing ADA (SPEC §3.1), every layout: the NumPy full-Gram run exactly.

    T (300, 160/143, 90/73 valid tokens) is not a multiple of the tile of 64.
    """
    x, lengths, expected = reference_runs[layout]
    got = cc.run(as_backend_input(x, backend), TAU, lengths=lengths, backend=backend, tile=64, algorithm=algorithm)
    assert got.params["backend"] == backend
    assert strip(got) == strip(expected)
    for key in expected.sets:
        assert [to_host(s) for s in got.sets[key]] == [s.tolist() for s in expected.sets[key]]
        assert [to_host(s) for s in got.reference_sets[key]] == [s.tolist() for s in expected.reference_sets[key]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_backends_give_identical_assignments(backend):
    x = synthetic.stacked(1, 400, 64, rep_ratio=0.35, seed=4)[0]
    reps = naive.ada(x, TAU)
    expected_assignment, expected_sizes = naive.assign(x, reps)
    xb = as_backend_input(x, backend)
    sel = cc.ada(xb, TAU, backend=backend)
    assert to_host(sel.reps) == reps
    assignment, sizes = cc.assign(xb, sel.reps, backend=backend)
    assert to_host(assignment) == expected_assignment
    assert to_host(sizes) == expected_sizes


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scan_kernel_matches_naive_scan(backend, dtype):
    """A random similarity tile, scanned at several offsets, against a plain loop."""
    rng = np.random.default_rng(5)
    n = 700
    sims = rng.random((n, n)).astype(dtype)
    engine = get(backend)
    for start, stop in [(0, 700), (0, 130), (130, 700), (600, 700)]:
        excluded0 = rng.random(n) < 0.3
        expected_excluded = excluded0.copy()
        expected = []
        for k in range(stop - start):
            if not expected_excluded[start + k]:
                expected.append(start + k)
                expected_excluded |= sims[start + k] >= dtype(0.97)
        tile = engine.native(as_backend_input(np.ascontiguousarray(sims[start:stop]), backend))
        excluded = engine.native(as_backend_input(excluded0.copy(), backend))
        chosen, excluded = engine.scan_tile(tile, 0.97, start, excluded)
        assert to_host(chosen) == expected
        assert to_host(excluded) == expected_excluded.tolist()


def test_missing_backend_says_what_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_cupy(name, *args, **kwargs):
        if name == "cupy" or name.startswith("cupy."):
            raise ImportError("No module named 'cupy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cupy)
    import sys

    monkeypatch.delitem(sys.modules, "cascade_core.backends.cupy", raising=False)
    with pytest.raises(BackendUnavailable, match=r"install CuPy: pip install 'cascade-core\[cuda\]'") as info:
        get("cupy")
    assert isinstance(info.value, ImportError)


def test_cpu_backends_refuse_gpu_arrays():
    class OnGpu:
        def __dlpack_device__(self):
            return (2, 0)

    from cascade_core.backends import resolve

    with pytest.raises(cc.CascadeInputError, match="runs on the CPU but the input lives on a GPU") as info:
        resolve("numba", OnGpu())
    assert info.value.param == "backend"


def test_auto_picks_by_where_the_input_lives():
    from cascade_core.backends import resolve

    assert resolve("auto", np.zeros((2, 2))).name == "numba"
    xps = pytest.importorskip("array_api_strict")
    assert resolve("auto", xps.asarray([1.0])).name == "array_api"


class TestTorch:
    """PyTorch tensors in, PyTorch tensors out (CPU here; CUDA in the GPU tests)."""

    torch = pytest.importorskip("torch")

    @pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
    def test_run_on_torch_cpu(self, dtype):
        x = synthetic.stacked(3, 200, 32, rep_ratio=0.4, seed=6)
        t = self.torch.from_numpy(x).to(getattr(self.torch, dtype))
        got = cc.run(t, TAU)
        assert got.params["backend"] == "numba"
        assert all(isinstance(s, self.torch.Tensor) and s.device.type == "cpu" for s in got.sets[()])
        widened = t.float().numpy() if dtype in ("float16", "bfloat16") else x
        for layer, reps in enumerate(got.sets[()]):
            naive.check_representative(widened[layer], reps.numpy(), TAU)
        if dtype in ("float32", "float64"):
            expected = cc.run(x.astype(dtype), TAU, backend="numpy")
            assert [s.tolist() for s in got.sets[()]] == [s.tolist() for s in expected.sets[()]]

    def test_single_functions_on_torch(self):
        x = self.torch.from_numpy(synthetic.stacked(2, 150, 16, seed=7))
        sel = cc.ada(x[0], TAU)
        step = cc.cascade(sel.reps, x[1], TAU)
        assignment, sizes = cc.assign(x[1], step.reps)
        for a in (sel.reps, step.reps, step.kept, step.added, assignment, sizes):
            assert isinstance(a, self.torch.Tensor)
        assert int(sizes.sum()) == 150

    def test_tensor_that_requires_grad(self):
        x = self.torch.from_numpy(synthetic.stacked(1, 80, 16, seed=8)[0]).requires_grad_(True)
        assert cc.ada(x, TAU).reps.shape[0] > 0

    @pytest.mark.gpu
    @pytest.mark.skipif(not _gpu_available(), reason="no GPU/CuPy")
    def test_run_on_torch_cuda(self):
        x = synthetic.stacked(3, 300, 64, rep_ratio=0.4, seed=9)
        t = self.torch.from_numpy(x).cuda()
        got = cc.run(t, TAU)
        assert got.params["backend"] == "cupy"
        assert all(s.device.type == "cuda" for s in got.sets[()])
        expected = cc.run(x, TAU, backend="numpy")
        assert [s.cpu().tolist() for s in got.sets[()]] == [s.tolist() for s in expected.sets[()]]


class TestJax:
    """JAX arrays in, JAX arrays out (not installed in CI; run where JAX is)."""

    jax = pytest.importorskip("jax")

    def test_run_on_jax(self):
        import jax.numpy as jnp

        x = synthetic.stacked(3, 200, 32, rep_ratio=0.4, seed=10)
        got = cc.run(jnp.asarray(x), TAU)
        on_gpu = any(d.platform == "gpu" for d in self.jax.devices())
        assert got.params["backend"] == ("cupy" if on_gpu and _gpu_available() else "numba")
        expected = cc.run(x, TAU, backend="numpy")
        for reps, want in zip(got.sets[()], expected.sets[()], strict=True):
            assert isinstance(reps, self.jax.Array)
            assert np.asarray(reps).tolist() == want.tolist()
