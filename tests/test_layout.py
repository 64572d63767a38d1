"""The package's shape (issue 11): one public namespace, backends behind a typed protocol,
layer selection, parameter names translated into flags, optional libraries as ImportError."""

import builtins
import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

import cascade_core as cc
from cascade_core import backends
from cascade_core.cli import FLAGS, build_parser, flag_message, main

REPO = Path(__file__).resolve().parent.parent


def test_modules_are_private_and_names_public():
    """``import cascade_core.ada`` would give the function before; now every implementation module is private."""
    # and backends, from the top-level backends/ folder
    public_modules = {"cli", "data", "report", "selectors", "synthetic"}
    found = {p.stem for p in (REPO / "cascade_core").glob("*.py")} | {
        p.name for p in (REPO / "cascade_core").iterdir() if p.is_dir() and (p / "__init__.py").exists()
    }
    assert {name for name in found if not name.startswith("_")} == public_modules
    assert Path(backends.__file__).resolve() == REPO / "backends" / "__init__.py"
    for name in cc.__all__:
        assert hasattr(cc, name), name
    assert len(cc.__all__) == len(set(cc.__all__))
    assert callable(cc.ada) and callable(cc.cascade) and cc.backends is backends


@pytest.mark.parametrize("name", ["numpy", "numba", "array_api"])
def test_every_backend_meets_the_protocol(name):
    backend = backends.get(name)
    assert isinstance(backend, backends.Backend) and isinstance(backend, backends.BaseBackend)
    assert backend.name == name
    sims = np.array([[1.0, 0.9, 0.1], [0.9, 1.0, 0.2], [0.1, 0.2, 1.0]])
    chosen, excluded = backend.scan_tile(sims, 0.5, 0, np.zeros(3, dtype=bool))
    assert np.asarray(chosen).tolist() == [0, 2] and np.asarray(excluded).tolist() == [True, True, True]
    sizes = backend.group_sizes(np.array([0, 0, 2]), np.array([0, 2]))
    assert np.asarray(sizes).tolist() == [2, 1]
    # the whole chosen-rows scan (SPEC §3.1): rows 0 and 1 at 6 degrees, row 2 apart; and the default block
    x = np.array([[1.0, 0.0], [0.9945, 0.1045], [0.0, 1.0]])
    assert isinstance(backend.block, int) and backend.block >= 1
    for block in (1, 2, backend.block):
        assert np.asarray(backend.greedy(x, 0.5, block)).tolist() == [0, 2]


def test_backend_errors_have_one_class_each(monkeypatch):
    with pytest.raises(cc.CascadeInputError, match="unknown backend 'fast'") as info:
        backends.get("fast")
    assert info.value.param == "backend"
    real_import = builtins.__import__

    def no_numba(name, *args, **kwargs):
        if name == "numba" or name.startswith("numba."):
            raise ImportError("No module named 'numba'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_numba)
    monkeypatch.delitem(sys.modules, "cascade_core.backends.numba", raising=False)
    with pytest.raises(ImportError, match="install Numba: pip install numba"):
        backends.get("numba")


def test_missing_plot_library_is_an_import_error_with_the_install_line(monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    plots = importlib.import_module("cascade_core.report.plots")
    with pytest.raises(ImportError, match=r"pip install 'cascade-core\[plot\]'"):
        plots.report_plots({})


def test_attention_errors_are_input_errors():
    q = np.zeros((1, 3, 4, 2))
    with pytest.raises(cc.CascadeInputError, match="do not group"):
        cc.attention_heads(q, np.zeros((1, 2, 4, 2)), np.zeros((1, 2, 4, 2)), {})


def test_one_layout_table():
    """The ndim table of SPEC §1 lives once; the per-layer table is derived from it."""
    from cascade_core._layout import PER_LAYER, STACKED

    assert STACKED == {2: "TD", 3: "LTD", 4: "LBTD", 5: "LBHTD"}
    assert PER_LAYER == {2: "TD", 3: "BTD", 4: "BHTD"}
    for n, layout in STACKED.items():
        assert cc.run(np.random.default_rng(n).standard_normal((2,) * (n - 2) + (6, 3)), 0.5).params["layout"] in (
            layout,
            "LTD",
        )


# ---- layer selection -------------------------------------------------------


def drift(n_layers=5, seed=0):
    rng = np.random.default_rng(seed)
    x = [rng.standard_normal((40, 8))]
    for _ in range(n_layers - 1):
        x.append(x[-1] + 0.3 * rng.standard_normal((40, 8)))
    return np.stack(x)


@pytest.mark.parametrize(
    "spec, ids",
    [("1:", [1, 2, 3, 4]), (":-1", [0, 1, 2, 3]), ("0:5:2", [0, 2, 4]), ("3", [3]), ("0,2,4", [0, 2, 4])],
)
def test_layer_selection_runs_those_layers_and_keeps_their_index(spec, ids):
    x = drift()
    result = cc.run(x, 0.5, layers=spec)
    assert [rec.layer for rec in result.records] == ids and result.layer_ids == ids
    assert result.params["layers"] == ids
    assert result.records[0].method == "ada" and all(rec.method == "cascade" for rec in result.records[1:])
    # The same as running the selected layers alone.
    alone = cc.run(x[ids], 0.5)
    assert [s.tolist() for s in result.sets[()]] == [s.tolist() for s in alone.sets[()]]
    assert result.totals.mean_jaccard == alone.totals.mean_jaccard
    assert result.totals.mean_agreement == alone.totals.mean_agreement
    # Slices, iterables and the default agree.
    assert [rec.layer for rec in cc.run(list(x), 0.5, layers=slice(1, None)).records] == [1, 2, 3, 4]
    assert cc.run(x, 0.5).layer_ids == [0, 1, 2, 3, 4] and "layers" not in cc.run(x, 0.5).params


@pytest.mark.parametrize("spec", ["5:", "7", "a:b", "3,1", "1,1", "::0", [1.5]])
def test_bad_layer_selections(spec):
    with pytest.raises(cc.CascadeInputError, match="layers") as info:
        cc.run(drift(), 0.5, layers=spec)
    assert info.value.param == "layers"


def test_layer_selection_from_a_file_and_the_command_line(tmp_path, capsys):
    path = tmp_path / "x.npy"
    np.save(path, drift().astype(np.float32))
    data = cc.load(path, layers="1:")
    assert len(data.layers) == 4 and data.layers.ids == [1, 2, 3, 4] and data.layers.shape == (4, 40, 8)
    np.testing.assert_array_equal(data.layers[0], np.load(path)[1])
    assert main(["analyze", str(path), "--layers", "1:", "--tau", "0.5", "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    table = out.split("\n\n")[1].splitlines()
    assert [line.split()[0] for line in table[1:]] == ["1", "2", "3", "4"] and "ada" in table[1]
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["params"]["layers"] == [1, 2, 3, 4]
    assert main(["analyze", str(path), "--layers", "9:"]) == 2
    assert "--layers" in capsys.readouterr().err


# ---- the command line names flags, the library names parameters -----------


def test_library_messages_name_parameters_and_the_cli_flags(tmp_path, capsys):
    with pytest.raises(cc.CascadeInputError, match=r"^tau must be in \(0, 1\]") as info:
        cc.ada(np.ones((3, 2)), 1.5)
    assert info.value.param == "tau"
    assert flag_message(info.value).startswith("--tau must be in (0, 1]")
    err = cc.CascadeInputError("holds 2 tensors; pick one with key=NAME, or key='blocks.{l}.x'", path="f.npz")
    assert flag_message(err) == "f.npz: holds 2 tensors; pick one with --key NAME, or --key 'blocks.{l}.x'"
    err = cc.CascadeInputError("exists; not overwritten (use force=True)", path="r.md", param="force")
    assert flag_message(err) == "r.md: exists; not overwritten (use --force)"
    assert main(["analyze", "--recompute-every", "0"]) == 2
    assert "--recompute-every must be a positive integer" in capsys.readouterr().err


def test_every_flag_named_in_messages_exists():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    flags = {opt for sub in subparsers.choices.values() for action in sub._actions for opt in action.option_strings}
    assert set(FLAGS.values()) <= flags


def test_help_points_to_the_specification(capsys):
    with pytest.raises(SystemExit):
        main(["analyze", "--help"])
    out = capsys.readouterr().out
    assert "SPEC §8" in out and "docs/spec.rst" in out
