"""The CuPy backend: the whole selection on the GPU, on CUDA and on ROCm.

Gram tiles are CuPy matrix products (cuBLAS / hipBLAS). The greedy scan of a
tile runs as two device kernels, with one host read per tile (the number of
rows chosen) and none per token:

1. ``diag_scan``: one thread block takes the tile's diagonal block (at most
   ``BLOCK`` rows). It thresholds the block into a bit matrix in shared
   memory, then walks the rows in order: a row not yet blocked is chosen and
   ORs its bit row into the blocked bits.
2. ``exclude``: one thread per column ``j`` of the whole ``n``-wide tile sets
   ``excluded[j]`` if a chosen row of the block links to it.

The chosen-rows scan of SPEC §3.1 (the default) is
:meth:`BaseBackend.greedy <cascade_core.backends.BaseBackend.greedy>`, array-API
code on CuPy arrays: per tile of ``block`` tokens one cuBLAS cross-Gram
against the rows kept so far, one read of the linked rows to the host, and the
two kernels above on the block of the remaining rows. Written for correctness;
a device-resident scan (one host read a layer) can replace it by overriding
``greedy``.

The kernel source is plain C++ that NVRTC and hipRTC both compile: shared
memory, ``__syncthreads`` and 32-bit integer words only; no warp-size
assumption (ROCm wavefronts are 64 wide), no warp intrinsics, no atomics, no
CUDA-only library. It is built per dtype through ``RawModule`` with
``name_expressions``. Only the CUDA build has been run by this project; the
ROCm build (``cupy-rocm-7-0``) uses the same code and has not been tested.
"""

from __future__ import annotations

import cupy
import numpy as np
from array_api_compat import array_namespace

from . import on_gpu
from .base import BaseBackend
from .numpy import to_numpy

__all__ = ["CupyBackend", "backend"]

#: Rows of a diagonal block handled by one ``diag_scan`` launch (its bit matrix
#: takes BLOCK * BLOCK / 8 bytes of shared memory: 32 KiB).
BLOCK = 512
_THREADS = 256

_SOURCE = r"""
template <typename T>
__global__ void diag_scan(const T* sims, const long long ld, const long long start, const int m,
                          const double tau, const bool* excluded, unsigned char* chosen) {
    // Shared memory: m * words bit rows (bit j of row k: s[k, start + j] >= tau, j > k),
    // then `words` words of blocked bits.
    extern __shared__ unsigned int shared[];
    const int words = (m + 31) / 32;
    unsigned int* bits = shared;
    unsigned int* blocked = shared + m * words;
    const T t = (T)tau;
    for (int idx = threadIdx.x; idx < m * words; idx += blockDim.x) {
        const int k = idx / words;
        const int w = idx - k * words;
        const T* row = sims + (long long)k * ld + start;
        unsigned int word = 0u;
        for (int b = 0; b < 32; ++b) {
            const int j = w * 32 + b;
            if (j > k && j < m && row[j] >= t) word |= (1u << b);
        }
        bits[idx] = word;
    }
    for (int w = threadIdx.x; w < words; w += blockDim.x) {
        unsigned int word = 0u;
        for (int b = 0; b < 32; ++b) {
            const int j = w * 32 + b;
            if (j < m && excluded[start + j]) word |= (1u << b);
        }
        blocked[w] = word;
    }
    __syncthreads();
    for (int k = 0; k < m; ++k) {
        // Every thread reads the same bit: blocked changes only inside the branch below, which ends
        // in a barrier, and row k's own bit is never written (bit rows hold j > k only). So the
        // branch is uniform, and a row that is not chosen costs no barrier at all.
        const bool free_row = ((blocked[k >> 5] >> (k & 31)) & 1u) == 0u;
        if (threadIdx.x == 0) chosen[k] = free_row ? 1 : 0;
        if (free_row) {
            for (int w = threadIdx.x; w < words; w += blockDim.x) blocked[w] |= bits[k * words + w];
            __syncthreads();
        }
    }
}

template <typename T>
__global__ void exclude(const T* sims, const long long ld, const long long row0, const int m,
                        const long long n, const double tau, const unsigned char* chosen, bool* excluded) {
    const long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= n) return;
    const T t = (T)tau;
    for (int k = 0; k < m; ++k) {
        if (chosen[k] && sims[(row0 + k) * ld + j] >= t) {
            excluded[j] = true;
            return;
        }
    }
}
"""

_module = None


def _kernels(dtype):
    global _module
    suffix = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}[np.dtype(dtype)]
    if _module is None:
        expressions = [f"{k}<{t}>" for k in ("diag_scan", "exclude") for t in ("float", "double")]
        _module = cupy.RawModule(code=_SOURCE, options=("-std=c++11",), name_expressions=expressions)
    return _module.get_function(f"diag_scan<{suffix}>"), _module.get_function(f"exclude<{suffix}>")


class CupyBackend(BaseBackend):
    """CuPy arrays on the current GPU: cuBLAS/hipBLAS Gram tiles, the scan as two kernels a block."""

    name = "cupy"
    #: B of SPEC §3.1: one ``diag_scan`` launch scans a whole block (BLOCK rows); see docs/decisions.md.
    block = BLOCK

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
        """Compile the kernels, so the first timed layer does not pay for it."""
        for dtype in (cupy.float32, cupy.float64):
            self.scan_tile(cupy.zeros((2, 2), dtype=dtype), 0.5, 0, cupy.zeros(2, dtype=bool))
        self.synchronize()

    def scan_tile(self, sims, tau, start, excluded):
        sims = cupy.ascontiguousarray(sims)
        m, n = sims.shape
        diag_scan, exclude = _kernels(sims.dtype)
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


backend = CupyBackend()
