"""The asv history kept in ``asv_bench/results/``: add new commits' results, compare, list the moves.

Run from the repository root (the commands change into ``asv_bench/`` for asv)::

    python asv_bench/history.py add --machine cpu-2core           # new main commits, in their own envs
    python asv_bench/history.py add --machine h200 --python-same --backends cupy  # main's HEAD, installed (GPU)
    python asv_bench/history.py report                            # docs/benchmarks/regressions.md, from the results
    python asv_bench/history.py compare --machine cpu-2core       # the last change: asv compare
    python asv_bench/history.py publish --html-dir docs/_build/html/asv
    python asv_bench/history.py check                             # the kept results load (CI)

``add`` lists the first-parent commits of ``main`` since the suite existed
(:data:`FIRST_COMMIT`) that changed the library or the suite (:data:`PATHS`),
skips those with results for the machine, runs the headline benchmarks
(:data:`HEADLINE`) on the rest, prints ``asv compare`` of the newest commit
against the last one recorded before it, and rewrites the regressions page.
With ``--python-same`` (a GPU machine, whose Python has CuPy and the library
installed) only main's HEAD is recorded, against the installed package.

The pure parts (reading results, finding moves, rendering the page) take a
results folder and a commit order, and are tested on a hand-made folder.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASV_DIR = ROOT / "asv_bench"
RESULTS = ASV_DIR / "results"
PAGE = ROOT / "docs" / "benchmarks" / "regressions.md"

#: The commit that added the asv suite; the history starts there.
FIRST_COMMIT = "77aee91"
#: A commit is benchmarked when it changed one of these (first-parent diff).
PATHS = ("cascade_core", "backends", "asv_bench")
#: The headline benchmarks (asv ``--bench`` regexes): ADA and cascade layer, both ledgers' savings, peak memory.
#: asv matches a parametrised benchmark as ``name(param, ...)``.
HEADLINE = (
    r"^bench_selection\.Layer\.time_(ada|cascade)_layer\(",
    r"^bench_run\.Quality\.track_gram_savings\(",
    r"^bench_run\.NeededLedger\.track_needed_savings\(",
    r"^bench_run\.PeakMemory\.peakmem_",
)
#: Timing settings of the history run: one sample per case, so 17 commits fit in about an hour on 2 cores.
QUICK_ATTRIBUTES = ("repeat=1", "number=1", "rounds=1", "warmup_time=0")
#: The cases of each machine's first-and-last table on the page (those a machine never recorded are left out).
HEADLINE_CASES = tuple(
    (f"bench_selection.Layer.time_{what}_layer", f"'{backend}', 8192, '{algorithm}', 0.45")
    for what in ("ada", "cascade")
    for backend, algorithm in (("numpy", "full-gram"), ("numba", "full-gram"), ("numba", "chosen-rows"),
                               ("cupy", "full-gram"), ("cupy", "chosen-rows"))
) + (
    ("bench_run.Quality.track_gram_savings", "'synthetic'"),
    ("bench_run.NeededLedger.track_needed_savings", "'synthetic'"),
    ("bench_run.PeakMemory.peakmem_ada_run", "16384"),
)  # fmt: skip
#: A benchmark "moved" when its value changed by more than this factor, either way.
FACTOR = 1.2


@dataclass(frozen=True)
class Move:
    """One benchmark case whose value changed by more than the factor between two recorded commits."""

    machine: str
    benchmark: str
    params: str
    commit: str
    previous: str
    before: float
    after: float

    @property
    def ratio(self) -> float:
        """``after / before``: above 1 slower (or more memory, more savings), below 1 faster."""
        return self.after / self.before


def git(*args: str) -> str:
    """Output of ``git args`` in the repository, stripped."""
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()


def history_commits(branch: str = "main") -> list[str]:
    """Full hashes of the first-parent commits of `branch` since :data:`FIRST_COMMIT` that changed :data:`PATHS`.

    Oldest first.
    """
    out = git("log", "--first-parent", "--reverse", "--format=%H", f"{FIRST_COMMIT}^..{branch}", "--", *PATHS)
    return out.split()


def machines(results: Path) -> list[str]:
    """Machines with a machine file in `results`, sorted; in this repository, only those git keeps.

    ``.gitignore`` names the kept machines, so a quick run on another machine
    (the tutorial's) leaves the history and its page alone.
    """
    found = sorted(p.parent.name for p in results.glob("*/machine.json"))
    if not results.resolve().is_relative_to(ROOT):
        return found
    ignored = subprocess.run(
        ["git", "check-ignore", "--stdin"],
        cwd=ROOT,
        input="\n".join(str(results / m / "machine.json") for m in found),
        capture_output=True,
        text=True,
    ).stdout.split()
    return [m for m in found if str(results / m / "machine.json") not in ignored]


def _cases(names: list[list[str]]) -> list[str]:
    """Labels of the parameter combinations, in asv's order (the product of the parameter lists)."""
    if not names:
        return [""]
    return [", ".join(combo) for combo in itertools.product(*names)]


def load_machine(results: Path, machine: str) -> dict[str, dict[tuple[str, str], float | None]]:
    """Values recorded for `machine`: ``{commit hash: {(benchmark, params): value or None}}``.

    ``None`` is asv's n/a (skipped or failed). Several result files of one
    commit (environments) are merged, later files winning on equal keys.
    """
    out: dict[str, dict[tuple[str, str], float | None]] = {}
    for path in sorted((results / machine).glob("*.json")):
        if path.name == "machine.json":
            continue
        data = json.loads(path.read_text())
        columns = data["result_columns"]
        values = out.setdefault(data["commit_hash"], {})
        for name, row in data["results"].items():
            entry = dict(zip(columns, row, strict=False))
            result = entry["result"]
            params = entry.get("params") or []
            if not isinstance(result, list):
                result = [result]
            for label, value in zip(_cases(params), result, strict=True):
                ok = isinstance(value, int | float) and not math.isnan(value)
                values[(name, label)] = float(value) if ok else None
    return out


def find_moves(
    machine: str, values: dict[str, dict[tuple[str, str], float | None]], order: list[str], factor: float = FACTOR
) -> list[Move]:
    """Every case whose value moved by more than `factor` (either way) from its last recorded value.

    `order` lists commits oldest first; a commit where a case is n/a is passed
    over (the next value is compared with the last one recorded).
    """
    moves = []
    last: dict[tuple[str, str], tuple[str, float]] = {}
    for commit in order:
        for key, value in sorted(values.get(commit, {}).items()):
            if value is None:
                continue
            if key in last:
                previous, before = last[key]
                if before > 0 and value > 0 and max(value / before, before / value) > factor:
                    moves.append(Move(machine, key[0], key[1], commit, previous, before, value))
            last[key] = (commit, value)
    return moves


def series(
    values: dict[str, dict[tuple[str, str], float | None]], order: list[str], key: tuple[str, str]
) -> list[tuple[str, float]]:
    """``(commit, value)`` of one case over `order`, n/a left out."""
    return [(c, v) for c in order if (v := values.get(c, {}).get(key)) is not None]


def _fmt(value: float, benchmark: str) -> str:
    """A value in the benchmark's unit: seconds, bytes or a tracked number."""
    kind = benchmark.rsplit(".", 1)[-1].split("_", 1)[0]
    if kind == "time":
        return f"{value * 1e3:.3g} ms" if value < 1 else f"{value:.3g} s"
    if kind == "peakmem":
        return f"{value / 2**20:.4g} MiB"
    return f"{value:.4g}"


def render_page(
    per_machine: dict[str, dict[str, dict[tuple[str, str], float | None]]],
    order: list[str],
    subjects: dict[str, str],
    headlines: tuple[tuple[str, str], ...] | None = None,
    factor: float = FACTOR,
) -> str:
    """The regressions page: per machine, commits with results, the headline cases first and last, every move."""
    headlines = HEADLINE_CASES if headlines is None else headlines
    lines = [
        "<!-- Generated by `python asv_bench/history.py report` from asv_bench/results/; do not edit. -->",
        "",
    ]
    for machine, values in per_machine.items():
        recorded = [c for c in order if c in values]
        lines += [f"### {machine}", ""]
        lines.append(
            f"{len(recorded)} commits with results" + (f": {', '.join(c[:8] for c in recorded)}." if recorded else ".")
        )
        rows = []
        for name, params in headlines:
            points = series(values, order, (name, params))
            if points:
                (c0, v0), (c1, v1) = points[0], points[-1]
                rows.append(
                    f"| `{name}` | {params} | {_fmt(v0, name)} at {c0[:8]} | {_fmt(v1, name)} at {c1[:8]} "
                    f"| {v1 / v0:.2f} |"
                )
        if rows:
            lines += ["", "| headline | parameters | first recorded | last recorded | last / first |"]
            lines += ["| --- | --- | --- | --- | --- |", *rows]
        moves = find_moves(machine, values, order, factor)
        lines.append("")
        if not moves:
            lines += [f"No benchmark moved by more than {factor}x between consecutive recorded commits.", ""]
            continue
        lines += [
            f"Moved by more than {factor}x (ratio = new / previous; below 1 is faster for times and memory):",
            "",
            "| benchmark | parameters | commit | previous | before | after | ratio |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for m in moves:
            subject = subjects.get(m.commit, "").replace("|", "\\|")
            lines.append(
                f"| `{m.benchmark}` | {m.params} | {m.commit[:8]} {subject} | {m.previous[:8]} "
                f"| {_fmt(m.before, m.benchmark)} | {_fmt(m.after, m.benchmark)} | {m.ratio:.2f} |"
            )
        lines.append("")
    return "\n".join(lines)


def asv(*args: str) -> None:
    """Run ``asv args`` in ``asv_bench/`` with this Python's asv; raise on failure."""
    subprocess.run([sys.executable, "-m", "asv", *args], cwd=ASV_DIR, check=True)


def _subjects(commits: list[str]) -> dict[str, str]:
    return {c: git("log", "-1", "--format=%s", c)[:60] for c in commits}


def render_page_from(results: Path = RESULTS) -> str:
    """The regressions page of the kept results, over main's history."""
    order = history_commits()
    per_machine = {m: load_machine(results, m) for m in machines(results)}
    return render_page(per_machine, order, _subjects(order))


def report(results: Path = RESULTS, page: Path = PAGE) -> str:
    """Rewrite the regressions page from the kept results; return its text."""
    text = render_page_from(results)
    page.write_text(text + "\n")
    return text


def compare_last(machine: str, results: Path = RESULTS) -> None:
    """Print ``asv compare`` of the newest recorded commit against the one recorded before it."""
    values = load_machine(results, machine)
    recorded = [c for c in history_commits() if c in values]
    if len(recorded) < 2:
        print(f"{machine}: {len(recorded)} commit(s) recorded, nothing to compare")
        return
    asv("compare", "--machine", machine, "--factor", str(FACTOR), "--split", recorded[-2], recorded[-1])


def save_machine(machine: str, results: Path = RESULTS) -> None:
    """Describe this machine (os, arch, cpu, num_cpu, ram) under the name `machine`, for asv and in `results`.

    ``asv machine --machine NAME --yes`` stores only the name when the other
    facts equal asv's defaults, so the entry is written through asv's API.
    """
    from asv.machine import Machine, MachineCollection

    facts = {**Machine.get_defaults(), "machine": machine}
    MachineCollection.save(machine, facts)
    Machine.load(machine_name=machine).save(str(results))


def headline(backends: list[str] | None = None) -> list[str]:
    """``--bench`` arguments of the headline benchmarks; the layer cases only on `backends` when given."""
    regexes = list(HEADLINE)
    if backends:
        regexes[0] += "(" + "|".join(f"'{b}'" for b in backends) + "),"
    return [arg for regex in regexes for arg in ("--bench", regex)]


def fill_machine_facts(machine: str, results: Path = RESULTS) -> int:
    """Add the machine file's facts (arch, cpu, os ...) to result files whose ``params`` lack them; return how many.

    asv copies the facts into every result file and groups a machine's graphs
    by them, so results recorded before the facts were saved would otherwise
    form a series of their own. Facts already present are never changed.
    """
    facts = json.loads((results / machine / "machine.json").read_text())
    facts.pop("version", None)
    changed = 0
    for path in sorted((results / machine).glob("*.json")):
        if path.name == "machine.json":
            continue
        data = json.loads(path.read_text())
        missing = {k: v for k, v in facts.items() if k not in data["params"]}
        if missing:
            data["params"] = {**missing, **data["params"]}
            path.write_text(json.dumps(data))
            changed += 1
    return changed


def add(machine: str, python_same: bool, commits: list[str] | None = None, backends: list[str] | None = None) -> None:
    """Record the headline benchmarks for the commits of `machine` without results, then compare and report."""
    bench = headline(backends)
    attrs = [arg for a in QUICK_ATTRIBUTES for arg in ("-a", a)]
    save_machine(machine)
    if python_same:
        head = git("rev-parse", "main")
        print(f"{machine}: main's HEAD {head[:8]}, installed package")
        asv("run", "--python=same", "--set-commit-hash", head, "--machine", machine, "--launch-method", "spawn",
            "--show-stderr", *bench, *attrs)  # fmt: skip
    else:
        done = load_machine(RESULTS, machine)
        todo = [c for c in (commits or history_commits()) if c not in done]
        print(f"{machine}: {len(todo)} commit(s) to run: {' '.join(c[:8] for c in todo)}")
        if todo:
            # Newest and oldest first, so an interrupted run still spans the history.
            ordered = [todo[-1], *todo[:1], *todo[1:-1]] if len(todo) > 1 else todo
            with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
                f.write("\n".join(ordered) + "\n")
            try:
                asv("run", f"HASHFILE:{f.name}", "--machine", machine, "--skip-existing-commits", "--show-stderr",
                    *bench, *attrs)  # fmt: skip
            finally:
                os.unlink(f.name)
    save_machine(machine)  # asv run rewrites the results' machine file with the name alone
    fill_machine_facts(machine)
    compare_last(machine)
    print(report())


def check(results: Path = RESULTS) -> None:
    """Every kept result file loads with asv's own reader, and every machine has results; raise otherwise."""
    from asv.results import Results

    found = machines(results)
    if not found:
        raise SystemExit(f"no machine file under {results}")
    for machine in found:
        files = [p for p in (results / machine).glob("*.json") if p.name != "machine.json"]
        if not files:
            raise SystemExit(f"{machine}: no results")
        for path in files:
            Results.load(str(path), machine_name=machine)
        print(f"{machine}: {len(files)} result files load, {len(load_machine(results, machine))} commits")
    if results == RESULTS and PAGE.read_text() != render_page_from(results) + "\n":
        raise SystemExit(f"{PAGE.relative_to(ROOT)} is stale: run python asv_bench/history.py report")


#: Benchmarks whose graphs every machine must have after ``publish``.
HEADLINE_NAMES = (
    "bench_selection.Layer.time_ada_layer",
    "bench_selection.Layer.time_cascade_layer",
    "bench_run.Quality.track_gram_savings",
    "bench_run.NeededLedger.track_needed_savings",
    "bench_run.PeakMemory.peakmem_ada_run",
)


def publish(html_dir: Path, results: Path = RESULTS) -> None:
    """``asv publish`` into `html_dir`, then check every machine has a graph of each headline benchmark it recorded."""
    html_dir = html_dir.resolve()
    asv("publish", "--html-dir", str(html_dir))
    for machine in machines(results):
        recorded = {name for values in load_machine(results, machine).values() for (name, _), v in values.items() if v}
        for name in recorded.intersection(HEADLINE_NAMES):
            if not any(html_dir.glob(f"graphs/**/machine-{machine}/**/{name}.json")):
                raise SystemExit(f"asv publish: no graph of {name} for {machine} under {html_dir}")
    print(f"asv graphs of {', '.join(machines(results))}: {html_dir / 'index.html'}")


def main(argv: list[str] | None = None) -> None:
    """Command line: ``add``, ``report``, ``compare``, ``publish``, ``check``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_add = sub.add_parser("add", help="record new commits' results for a machine, compare, report")
    p_add.add_argument("--machine", required=True)
    p_add.add_argument("--python-same", action="store_true", help="record main's HEAD in this environment (GPU)")
    p_add.add_argument("--commits", nargs="*", help="full hashes instead of every history commit")
    p_add.add_argument("--backends", nargs="*", help="layer cases on these backends only (e.g. cupy on a GPU box)")
    sub.add_parser("report", help="rewrite docs/benchmarks/regressions.md")
    p_cmp = sub.add_parser("compare", help="asv compare of a machine's newest recorded commit against the previous")
    p_cmp.add_argument("--machine", required=True)
    p_pub = sub.add_parser("publish", help="asv publish (graphs) into a folder of the docs site")
    p_pub.add_argument("--html-dir", type=Path, default=ROOT / "docs" / "_build" / "html" / "asv")
    sub.add_parser("check", help="the kept results load")
    args = parser.parse_args(argv)
    if args.command == "add":
        add(args.machine, args.python_same, args.commits, args.backends)
    elif args.command == "report":
        print(report())
    elif args.command == "compare":
        compare_last(args.machine)
    elif args.command == "publish":
        publish(args.html_dir)
    else:
        check()


if __name__ == "__main__":
    main()
