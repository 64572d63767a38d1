"""ADA on every slice of a layer at once (``cc.ada_slices``) equals ``cc.ada`` slice by slice, on the CPU."""

import numpy as np
import pytest

import cascade_core as cc
from cascade_core import synthetic


@pytest.mark.parametrize("center", [False, True])
@pytest.mark.parametrize("backend", ["numpy", "numba", "array_api"])
def test_slices_equal_slice_by_slice(backend, center):
    x = synthetic.stacked(1, 2 * 3 * 120, 24, rep_ratio=0.4, seed=3)[0].reshape(2, 3, 120, 24)
    got = cc.ada_slices(x, 0.5, backend=backend, center=center)
    assert len(got) == 6
    for (b, h), sel in zip(np.ndindex(2, 3), got, strict=True):
        one = cc.ada(x[b, h], 0.5, backend="numpy", center=center)
        assert np.asarray(sel.reps).tolist() == one.reps.tolist()
        assert (sel.ops, sel.needed) == (one.ops, one.needed)


def test_one_layer_is_one_slice():
    x = synthetic.stacked(1, 200, 16, seed=1)[0]
    (only,) = cc.ada_slices(x, 0.5)
    assert only.reps.tolist() == cc.ada(x, 0.5).reps.tolist()


def test_bad_inputs_are_refused():
    with pytest.raises(cc.CascadeInputError):
        cc.ada_slices(np.zeros(5), 0.5)
    with pytest.raises(cc.CascadeInputError):
        cc.ada_slices(np.zeros((2, 0, 4)), 0.5)
    with pytest.raises(cc.CascadeInputError):
        cc.ada_slices(np.ones((2, 3, 4), dtype=np.int32), 0.5)
    with pytest.raises(cc.CascadeInputError):
        cc.ada_slices(np.ones((2, 3, 4)), 1.5)


def test_non_finite_names_its_slice_and_token():
    x = np.ones((2, 3, 5, 4))
    x[1, 2, 3, 0] = np.nan
    with pytest.raises(cc.CascadeInputError) as err:
        cc.ada_slices(x, 0.5)
    assert (err.value.slice, err.value.token) == ((1, 2), 3)
