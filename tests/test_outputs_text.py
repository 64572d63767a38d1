"""Printed output a researcher reads right (issue 12): why wall-clock savings are negative, what T, agree and
ops mean, and a Gram-ops plot whose axis fits its range."""

from __future__ import annotations

import pytest

from cascade_core.cli import main
from cascade_core.report import plots, tables


def totals(seconds, full, chosen, layers=7, slices=3):
    return {
        "seconds": seconds,
        "layers": layers,
        "slices": slices,
        "wall_savings_full_gram": full,
        "wall_savings_chosen_rows": chosen,
    }


def test_wall_note_says_why_savings_are_negative():
    note = tables.wall_note(totals(0.2248, -1.366, -0.204))
    assert note.startswith("Wall-clock savings are negative here: the cascade took 10.70 ms per layer and slice")
    assert "fixed costs per call" in note


def test_wall_note_on_a_tiny_input_with_positive_savings():
    note = tables.wall_note(totals(0.021, 0.2, 0.1))
    assert note.startswith("Wall-clock savings mean little here: the cascade took 1.00 ms per layer and slice")


def test_no_wall_note_on_a_large_input_that_saves_time():
    assert tables.wall_note(totals(2.1, 0.3, 0.1)) is None
    assert tables.wall_note(totals(2.1, None, None)) is None


def test_negative_wall_savings_print_the_note(capsys):
    """Whatever the times of this machine, a negative wall-clock saving is never printed without the reason."""
    import re

    assert main(["analyze", "--quiet"]) == 0
    out = capsys.readouterr().out
    shares = [float(v) for v in re.findall(r"wall-clock savings (-?[\d.]+) %", out)]
    assert len(shares) == 2
    assert ("Wall-clock savings are negative here" in out) == (min(shares) < 0)


def test_legend_of_the_layer_table():
    many = tables.layer_legend(3)
    assert "sums over the 3 slices" in many and "T is not one sequence's length" in many
    assert "agree: Jaccard of the cascade's set with per-layer ADA's set" in many
    assert "ops, inner products of length d" in many
    one = tables.layer_legend(1, code="`")
    assert "`T`: tokens" in one and "sums over" not in one


def test_sweep_legend_explains_agree(capsys):
    assert main(["sweep", "--tau", "0.7", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "agree: mean Jaccard of the cascade's sets with per-layer ADA's" in out


@pytest.mark.parametrize(
    ("values", "scale"),
    [
        ([6_404, 22_869], "linear"),
        ([100, 999], "linear"),
        ([100, 1_000], "log"),
        ([0, 5_000], "linear"),
        ([], "linear"),
    ],
)
def test_ops_axis_scale(values, scale):
    assert plots.ops_axis_scale(values) == scale


def test_gram_ops_plot_axis_on_the_sample(capsys, monkeypatch, tmp_path):
    pytest.importorskip("matplotlib")
    figures = []
    real = plots._png

    def keep(fig):
        figures.append((fig.axes[0].get_title(), fig.axes[0].get_yscale(), fig.axes[0].get_ylabel()))
        return real(fig)

    monkeypatch.setattr(plots, "_png", keep)
    assert main(["analyze", "--quiet", "--no-view", "--out", str(tmp_path / "r")]) == 0
    gram = [f for f in figures if f[0].startswith("Inner products per layer")]
    assert gram == [(gram[0][0], "linear", "inner products")]  # the sample's ops span 6,404-22,869: under 10x
