"""The core under array-api-strict: nothing outside the standard, results on the input's device."""

import numpy as np
import pytest

import cascade_core as cc
import naive

xps = pytest.importorskip("array_api_strict")

DEVICES = [xps.Device("CPU_DEVICE"), xps.Device("device1")]


def host(a) -> list:
    """Values of a strict array on any device, as a list (the test's own way out)."""
    return np.asarray(a.to_device(xps.Device("CPU_DEVICE"))).tolist()


def layers(seed=0, n_layers=3, n=40, d=6):
    rng = np.random.default_rng(seed)
    x = [rng.standard_normal((n, d))]
    for _ in range(n_layers - 1):
        x.append(x[-1] + 0.3 * rng.standard_normal((n, d)))
    return np.stack(x)


@pytest.mark.parametrize("device", DEVICES, ids=str)
def test_ada_cascade_assign_strict(device):
    x_np = layers()[0]
    tau = 0.5
    assert not naive.near_threshold(x_np, tau)
    x = xps.asarray(x_np, device=device)
    sel = cc.ada(x, tau)
    assert sel.reps.device == device
    assert isinstance(sel.reps, type(x))
    assert host(sel.reps) == naive.ada(x_np, tau)

    prev = xps.asarray([0, 3, 5, 7], dtype=xps.int64, device=device)
    step = cc.cascade(prev, x, tau)
    assert step.reps.device == device
    assert host(step.reps) == naive.cascade([0, 3, 5, 7], x_np, tau)["reps"]

    assignment, sizes = cc.assign(x, sel.reps)
    assert assignment.device == device and sizes.device == device
    expected_assignment, expected_sizes = naive.assign(x_np, naive.ada(x_np, tau))
    assert host(assignment) == expected_assignment
    assert host(sizes) == expected_sizes


@pytest.mark.parametrize("algorithm", ["chosen-rows", "full-gram"])
@pytest.mark.parametrize("device", DEVICES, ids=str)
def test_run_strict_matches_numpy(device, algorithm):
    x_np = layers(seed=1, n_layers=4)
    tau = 0.45
    assert not any(naive.near_threshold(layer, tau) for layer in x_np)
    strict = cc.run(xps.asarray(x_np, device=device), tau, tile=16, algorithm=algorithm)
    assert strict.params["backend"] == "array_api"
    plain = cc.run(x_np, tau, tile=16)
    assert plain.params["backend"] == "numba"  # auto: Numba for NumPy arrays
    for a, b in zip(strict.sets[()], plain.sets[()], strict=True):
        assert a.device == device
        assert host(a) == b.tolist()
    strip = [{k: v for k, v in rec.as_dict().items() if "seconds" not in k} for rec in strict.records]
    assert strip == [{k: v for k, v in rec.as_dict().items() if "seconds" not in k} for rec in plain.records]


def test_batched_heads_and_mask_strict():
    x_np = layers(seed=2, n_layers=2).reshape(2, 2, 2, 10, 6)  # (L, B, H, T, d)
    mask = np.ones((2, 10), dtype=bool)
    mask[1, 7:] = False
    mask[0, 0] = False
    device = xps.Device("device1")
    strict = cc.run(xps.asarray(x_np, device=device), 0.5, mask=mask)
    plain = cc.run(x_np, 0.5, mask=mask)
    assert set(strict.sets) == {(0, 0), (0, 1), (1, 0), (1, 1)}
    for key in plain.sets:
        for a, b in zip(strict.sets[key], plain.sets[key], strict=True):
            assert host(a) == b.tolist()


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_cpu_backends_take_strict_arrays_and_give_them_back(backend):
    pytest.importorskip(backend)
    x_np = layers()[0]
    x = xps.asarray(x_np)
    sel = cc.ada(x, 0.5, backend=backend)
    assert isinstance(sel.reps, type(x))
    assert host(sel.reps) == naive.ada(x_np, 0.5)
