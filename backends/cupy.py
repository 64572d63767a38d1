"""The CuPy backend: the whole selection on the GPU, on CUDA and on ROCm.

Two registered instances: ``cupy`` screens similarities computed in float16
on tensor cores (float32 accumulation) and re-computes in float32 only the
pairs within the proven bound of τ (:mod:`~cascade_core.backends.screening`);
``cupy-float32`` computes every tile in float32. Both return the float32
path's sets (SPEC §9's margin); docs/decisions.md says why float16 is the
default.

The chosen-rows scan (SPEC §3.1, ADA and the cascade's removal and addition)
is device resident: per tile of ``block`` tokens one cross-Gram against the
kept rows (``gemmEx``), ``screen_cross`` (threshold, recheck, exclusion),
the tile's own Gram block, ``screen_bits`` (its thresholded bit rows, a
thread a word), ``screen_diag`` (the in-order scan in shared memory, one
block; it records the kept tokens and their count on the device) and
``append`` (the kept rows' low-precision copies). The one host read a tile is
the kept count, which sizes the next product. Validation (SPEC §5 step 2) is
one product and ``screen_cover``. Many small slices of one layer
(:meth:`CupyBackend.greedy_slices`) are one batched product and one
``scan_slices`` launch with a block per slice.

The kernels (``select.cuh``) are plain C++ that NVRTC, hipRTC and hipcc all
compile (CI compiles them for ``gfx90a`` with hipcc); products are
cuBLAS/hipBLAS ``gemmEx`` calls, which both CuPy builds wrap. Only the CUDA
build has been run by this project.
"""

from __future__ import annotations

from importlib import resources

import cupy
import numpy as np
from array_api_compat import array_namespace
from cupy.cuda import cublas

from . import on_gpu
from .base import BaseBackend
from .numpy import to_numpy
from .screening import PRECISIONS, delta

__all__ = ["CupyBackend", "backend", "backend_float32"]

#: Rows of a diagonal block handled by one scan launch (its bit matrix takes
#: BLOCK * BLOCK / 8 bytes of shared memory: 32 KiB).
BLOCK = 512
_THREADS = 256
#: Largest slice handled by the batched scan (its products are n x n a slice).
SLICE_TOKENS = 4096
#: Products of one batched launch of slices, at most (1 GiB of float32).
_SLICE_ENTRIES = 1 << 28

_module = None

#: cudaDataType values (CuPy's hipBLAS shim maps them for ROCm).
_CUDA_R_32F = 0
_CUDA_R_16F = 2


def kernel_source() -> str:
    """The device kernels' source (``select.cuh``), as NVRTC, hipRTC and hipcc compile it."""
    return resources.files(__package__).joinpath("select.cuh").read_text()


def _function(name: str):
    global _module
    if _module is None:
        expressions = [f"{k}<{t}>" for k in ("diag_scan", "exclude") for t in ("float", "double")]
        expressions += ["append<unsigned short>", "append<float>"]
        expressions += ["screen_cross", "screen_bits", "screen_diag", "screen_cover", "scan_slices"]
        _module = cupy.RawModule(code=kernel_source(), options=("-std=c++11",), name_expressions=expressions)
    return _module.get_function(name)


def _gram(a, b, out=None):
    """``a @ b.T`` of row-major matrices (float16 or float32) with float32 results, through ``gemmEx``.

    `a` is ``(m, d)``, `b` ``(n, d)``; with a third axis in front (slices),
    one strided-batched call. Accumulation is float32 (``COMPUTE_32F``; on
    float32 inputs no TF32).
    """
    batched = a.ndim == 3
    m, d = a.shape[-2:]
    n = b.shape[-2]
    shape = (a.shape[0], m, n) if batched else (m, n)
    c = cupy.empty(shape, dtype=cupy.float32) if out is None else out
    if m == 0 or n == 0:
        return c
    dtype = _CUDA_R_16F if a.dtype == cupy.float16 else _CUDA_R_32F
    compute = _CUDA_R_32F if cupy.cuda.runtime.is_hip else getattr(cublas, "CUBLAS_COMPUTE_32F", 68)
    one = np.ones(1, dtype=np.float32)
    zero = np.zeros(1, dtype=np.float32)
    handle = cupy.cuda.device.get_cublas_handle()
    # Column-major view: C^T (n x m) = B (n x d) . A^T (d x m), so B goes first, transposed.
    common = (handle, cublas.CUBLAS_OP_T, cublas.CUBLAS_OP_N, n, m, d, one.ctypes.data)
    if batched:
        cublas.gemmStridedBatchedEx(
            *common,
            b.data.ptr, dtype, d, n * d,
            a.data.ptr, dtype, d, m * d,
            zero.ctypes.data,
            c.data.ptr, _CUDA_R_32F, n, m * n,
            a.shape[0], compute, cublas.CUBLAS_GEMM_DEFAULT,
        )  # fmt: skip
    else:
        cublas.gemmEx(
            *common,
            b.data.ptr, dtype, d,
            a.data.ptr, dtype, d,
            zero.ctypes.data,
            c.data.ptr, _CUDA_R_32F, n,
            compute, cublas.CUBLAS_GEMM_DEFAULT,
        )  # fmt: skip
    return c


class CupyBackend(BaseBackend):
    """CuPy arrays on the current GPU: screened Gram tiles, device-resident scans.

    Parameters
    ----------
    precision : {"float16", "float32"}
        The precision Gram tiles of the chosen-rows scans and of validation
        are computed in. ``"float16"`` screens: pairs within
        :func:`~cascade_core.backends.screening.delta` of τ are re-computed
        in float32. The full-Gram scan (``algorithm="full-gram"``) and
        :meth:`similarity` are float32 always.
    name : str
        The name it is registered under.

    Attributes
    ----------
    rechecked : int
        Pairs re-computed in float32 since the last :meth:`reset_counts`.
    screened : int
        Pairs decided from screened products since then.
    """

    #: B of SPEC §3.1: one scan launch covers a whole block (BLOCK rows); see docs/decisions.md.
    block = BLOCK

    def __init__(self, precision: str = "float16", name: str = "cupy") -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.precision = precision
        self.name = name
        self._counter = None
        self.screened = 0

    # -- arrays ---------------------------------------------------------------------------------

    def native(self, x):
        if isinstance(x, cupy.ndarray):
            return x
        if on_gpu(x):
            return cupy.from_dlpack(x)
        return cupy.asarray(to_numpy(x))

    def export(self, a, like):
        if isinstance(like, cupy.ndarray):
            return a
        xp = array_namespace(like)
        if on_gpu(like):
            return xp.from_dlpack(a)
        return xp.asarray(cupy.asnumpy(a))

    def synchronize(self) -> None:
        cupy.cuda.get_current_stream().synchronize()

    def warm_up(self) -> None:
        """Compile the kernels and create the BLAS handle, so the first timed layer does not pay for it."""
        for dtype in (cupy.float32, cupy.float64):
            self.scan_tile(cupy.zeros((2, 2), dtype=dtype), 0.5, 0, cupy.zeros(2, dtype=bool))
        x = cupy.eye(3, 4, dtype=cupy.float32)
        self.greedy(x, 0.5, 2)
        self.uncovered(x, cupy.arange(2, 3), cupy.arange(2), 0.5, None)
        self.greedy_slices(x[None], 0.5)
        self.synchronize()

    # -- screening ------------------------------------------------------------------------------

    @property
    def rechecked(self) -> int:
        return 0 if self._counter is None else int(self._counter.get()[0])

    def reset_counts(self) -> None:
        """Zero :attr:`rechecked` and :attr:`screened`."""
        self._counter = cupy.zeros(1, dtype=cupy.uint64)
        self.screened = 0

    def _bounds(self, n_features: int, tau: float):
        """``(lo, hi, tau)`` as float32: the screening band of SPEC §9 (lo == hi == tau in float32)."""
        bound = delta(n_features, self.precision)
        t = np.float32(tau)
        if bound == 0.0:
            return t, t, t
        # Widen the band by a float32 step each way, so rounding the edges never narrows it below delta.
        lo = np.nextafter(np.float32(tau - bound), np.float32(0))
        hi = np.nextafter(np.float32(tau + bound), np.float32(np.inf))
        return lo, hi, t

    def _low(self, xh):
        return xh.astype(cupy.float16) if self.precision == "float16" else xh

    def _count(self):
        if self._counter is None:
            self.reset_counts()
        return self._counter

    # -- the chosen-rows scan (SPEC §3.1) -------------------------------------------------------

    def greedy(self, xh, tau, block):
        if xh.dtype != cupy.float32 or block > BLOCK:
            return super().greedy(xh, tau, block)
        xh = cupy.ascontiguousarray(xh)
        n, d = xh.shape
        lo, hi, t = self._bounds(d, tau)
        low = self._low(xh)
        counter = self._count()
        kept_rows = cupy.empty_like(low)
        kept = cupy.empty(n, dtype=cupy.int32)
        count = cupy.zeros(1, dtype=cupy.int32)
        linked = cupy.empty(block, dtype=cupy.uint8)
        slot = cupy.empty(block, dtype=cupy.int32)
        bits = cupy.empty(block * ((block + 31) // 32), dtype=cupy.uint32)
        cross_kernel, bits_kernel = _function("screen_cross"), _function("screen_bits")
        diag_kernel = _function("screen_diag")
        append = _function("append<unsigned short>" if low.dtype == cupy.float16 else "append<float>")
        r = 0
        for start in range(0, n, block):
            m = min(block, n - start)
            tile = low[start : start + m]
            if r:
                cross = _gram(tile, kept_rows[:r])
                cross_kernel(
                    (m,), (_THREADS,),
                    (cross, np.int32(m), np.int32(r), lo, hi, t, xh, np.int64(start), kept, np.int32(d), linked,
                     counter),
                )  # fmt: skip
            words = (m + 31) // 32
            bits_kernel(
                ((m * words + _THREADS - 1) // _THREADS,), (_THREADS,),
                (_gram(tile, tile), np.int32(m), lo, hi, t, xh, np.int64(start), np.int32(d), bits, counter),
            )  # fmt: skip
            diag_kernel(
                (1,), (_THREADS,),
                (bits, np.int32(m), np.int64(start), np.int32(r > 0), linked, slot, kept, count),
                shared_mem=4 * (m * words + words),
            )  # fmt: skip
            append((m,), (_THREADS,), (low, np.int64(start), np.int32(m), np.int32(d), slot, kept_rows))
            self.screened += m * r + m * (m - 1) // 2
            r = int(count.get()[0])  # the one host read of a tile: it sizes the next product
        return kept[:r].astype(cupy.int64)

    def uncovered(self, xh, rows, kept, tau, tile):
        """Which of `rows` no token of `kept` links to (SPEC §5 step 2): one screened product, one kernel."""
        if xh.dtype != cupy.float32 or kept.shape[0] == 0 or rows.shape[0] == 0:
            return super().uncovered(xh, rows, kept, tau, tile)
        xh = cupy.ascontiguousarray(xh)
        d = xh.shape[1]
        lo, hi, t = self._bounds(d, tau)
        rows = rows.astype(cupy.int64, copy=False)
        kept = kept.astype(cupy.int64, copy=False)
        low = self._low(xh)
        n, r = rows.shape[0], kept.shape[0]
        cross = _gram(cupy.take(low, rows, axis=0), cupy.take(low, kept, axis=0))
        covered = cupy.empty(n, dtype=cupy.uint8)
        _function("screen_cover")(
            (n,), (_THREADS,), (cross, np.int32(n), np.int32(r), lo, hi, t, xh, rows, kept, np.int32(d), covered,
                                self._count()),
        )  # fmt: skip
        self.screened += n * r
        return covered == 0

    def greedy_slices(self, xh, tau, block=None):
        """The greedy scan of every slice of `xh` ``(S, n, d)`` in batched launches; ``(S, n)`` kept flags.

        `block` only matters where slices go one by one (not float32, or more than ``SLICE_TOKENS`` tokens).
        """
        if xh.dtype != cupy.float32 or xh.shape[1] > SLICE_TOKENS:
            return super().greedy_slices(xh, tau, block)
        xh = cupy.ascontiguousarray(xh)
        s_count, n, d = xh.shape
        lo, hi, t = self._bounds(d, tau)
        low = self._low(xh)
        chosen = cupy.empty((s_count, n), dtype=cupy.uint8)
        per_launch = max(1, _SLICE_ENTRIES // (n * n))
        scan = _function("scan_slices")
        for first in range(0, s_count, per_launch):
            part = slice(first, min(first + per_launch, s_count))
            gram = _gram(low[part], low[part])
            scan(
                (gram.shape[0],), (_THREADS,),
                (gram, np.int32(n), lo, hi, t, xh[part], np.int32(d), chosen[part], self._count()),
                shared_mem=n,
            )  # fmt: skip
            self.screened += gram.shape[0] * n * (n - 1) // 2
        return chosen.astype(cupy.bool_)

    # -- the full-Gram scan (the paper's ADA, float32) -----------------------------------------

    def scan_tile(self, sims, tau, start, excluded):
        sims = cupy.ascontiguousarray(sims)
        m, n = sims.shape
        suffix = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}[np.dtype(sims.dtype)]
        diag_scan, exclude = _function(f"diag_scan<{suffix}>"), _function(f"exclude<{suffix}>")
        chosen = cupy.empty(m, dtype=cupy.uint8)
        for b0 in range(0, m, BLOCK):
            mb = min(BLOCK, m - b0)
            words = (mb + 31) // 32
            shared = 4 * (mb * words + words)
            block_view = sims[b0:]
            diag_scan(
                (1,),
                (_THREADS,),
                (block_view, np.int64(n), np.int64(start + b0), np.int32(mb), np.float64(tau), excluded, chosen[b0:]),
                shared_mem=shared,
            )
            grid = ((n + _THREADS - 1) // _THREADS,)
            exclude(
                grid,
                (_THREADS,),
                (sims, np.int64(n), np.int64(b0), np.int32(mb), np.int64(n), np.float64(tau), chosen[b0:], excluded),
            )
        return cupy.flatnonzero(chosen).astype(cupy.int64) + start, excluded

    def group_sizes(self, assignment, reps):
        slot = cupy.full(assignment.shape[0], -1, dtype=cupy.int64)
        slot[reps] = cupy.arange(reps.shape[0], dtype=cupy.int64)
        return cupy.bincount(slot[assignment], minlength=reps.shape[0])


backend = CupyBackend("float16", "cupy")
backend_float32 = CupyBackend("float32", "cupy-float32")
