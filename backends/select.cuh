// Device kernels of the CuPy backend (SPEC §3, §3.1, §5), compiled at run time by NVRTC (CUDA) or
// hipRTC (ROCm) through cupy.RawModule, and by hipcc in CI (scripts/check_hip.sh).
//
// Plain C++ both compilers take: shared memory, __syncthreads, 32-bit integer words and one 64-bit
// integer atomicAdd (a counter). No warp-size assumption (ROCm wavefronts are 64 wide), no warp
// intrinsics, no floating-point or FP16 atomics, no CUDA-only header or library. Half-precision
// rows are never read here: low-precision products come from cuBLAS/hipBLAS as float32 tiles, and a
// row is copied by its bytes (`append<unsigned short>`).
//
// Screening (docs/backends.rst, "Screened similarities"): a similarity computed from rounded rows,
// `s`, is within `delta` of the float32 one. So |s| >= hi = tau + delta decides "linked",
// |s| < lo = tau - delta decides "not linked", and only a pair in between is re-computed in float32
// from the rows `x` (recheck). With lo == hi == tau (float32 products) no pair is re-checked.

__device__ __forceinline__ float row_dot(const float* a, const float* b, const int d) {
    float acc = 0.0f;
    for (int i = 0; i < d; ++i) acc += a[i] * b[i];
    return acc;
}

// The decision of one pair from its screened similarity `s` (signed), with the float32 recheck.
__device__ __forceinline__ bool linked_pair(const float s, const float lo, const float hi, const float tau,
                                            const float* xa, const float* xb, const int d, unsigned int* checks) {
    const float a = fabsf(s);
    if (a >= hi) return true;
    if (a < lo) return false;
    *checks += 1u;
    return fabsf(row_dot(xa, xb, d)) >= tau;
}

// (a) of SPEC §3.1: tile row i (token start + i) against the r rows kept so far. One block a row.
// cross: m x r products; kept: the kept rows' token indices (their float32 rows are x[kept[j]]).
// linked[i] = 1 iff some kept row links to it.
__global__ void screen_cross(const float* cross, const int m, const int r, const float lo, const float hi,
                             const float tau, const float* x, const long long start, const int* kept, const int d,
                             unsigned char* linked, unsigned long long* rechecked) {
    __shared__ volatile int found;
    const int i = blockIdx.x;
    if (i >= m) return;
    if (threadIdx.x == 0) found = 0;
    __syncthreads();
    unsigned int checks = 0u;
    const float* row = cross + (long long)i * r;
    const float* xi = x + (start + i) * (long long)d;
    for (int j = threadIdx.x; j < r; j += blockDim.x) {
        if (found) break;  // a benign read: once set, nothing else this row does matters
        if (linked_pair(row[j], lo, hi, tau, xi, x + (long long)kept[j] * d, d, &checks)) found = 1;
    }
    if (checks) atomicAdd(rechecked, (unsigned long long)checks);
    __syncthreads();
    if (threadIdx.x == 0) linked[i] = found ? 1 : 0;
}

// The bit rows of a tile's m x m block: bit j of row k set iff j > k and k, j are linked. One thread
// a 32-bit word, over many blocks (the classification and rechecks are the parallel part of (b)).
__global__ void screen_bits(const float* gram, const int m, const float lo, const float hi, const float tau,
                            const float* x, const long long start, const int d, unsigned int* bits,
                            unsigned long long* rechecked) {
    const int words = (m + 31) / 32;
    const long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long)m * words) return;
    const int k = (int)(idx / words);
    const int w = (int)(idx - (long long)k * words);
    const float* row = gram + (long long)k * m;
    const float* xk = x + (start + k) * (long long)d;
    unsigned int checks = 0u;
    unsigned int word = 0u;
    for (int b = 0; b < 32; ++b) {
        const int j = w * 32 + b;
        if (j > k && j < m && linked_pair(row[j], lo, hi, tau, xk, x + (start + j) * (long long)d, d, &checks))
            word |= (1u << b);
    }
    bits[idx] = word;
    if (checks) atomicAdd(rechecked, (unsigned long long)checks);
}

// (b) of SPEC §3.1: the tile's rows scanned in order, in one thread block, from the bit rows of
// screen_bits. Shared memory: m * words bit rows, then `words` words of blocked bits (rows linked to
// a kept row, `linked`, when has_linked). A chosen row's token goes to kept[count], its slot in the
// kept rows to slot[k] (-1 for the others); count is updated on the device.
__global__ void screen_diag(const unsigned int* bits_in, const int m, const long long start, const int has_linked,
                            const unsigned char* linked, int* slot, int* kept, int* count) {
    extern __shared__ unsigned int shared[];
    const int words = (m + 31) / 32;
    unsigned int* bits = shared;
    unsigned int* blocked = shared + m * words;
    for (int idx = threadIdx.x; idx < m * words; idx += blockDim.x) bits[idx] = bits_in[idx];
    for (int w = threadIdx.x; w < words; w += blockDim.x) {
        unsigned int word = 0u;
        for (int b = 0; b < 32; ++b) {
            const int j = w * 32 + b;
            if (has_linked && j < m && linked[j]) word |= (1u << b);
        }
        blocked[w] = word;
    }
    __syncthreads();
    int base = *count;
    for (int k = 0; k < m; ++k) {
        // Every thread reads the same bit: blocked changes only inside the branch below, which ends in
        // a barrier, and row k's own bit is never written (bit rows hold j > k only). So the branch is
        // uniform, and a row that is not chosen costs no barrier.
        const bool free_row = ((blocked[k >> 5] >> (k & 31)) & 1u) == 0u;
        if (threadIdx.x == 0) {
            slot[k] = free_row ? base : -1;
            if (free_row) kept[base] = (int)(start + k);
        }
        if (free_row) {
            base += 1;
            for (int w = threadIdx.x; w < words; w += blockDim.x) blocked[w] |= bits[k * words + w];
            __syncthreads();
        }
    }
    if (threadIdx.x == 0) *count = base;
}

// Copy the chosen rows of a tile (slot[k] >= 0) to their slots of the kept rows, by their bytes.
// One block a tile row; T is a type of the rows' element size (unsigned short: float16, float: float32).
template <typename T>
__global__ void append(const T* rows, const long long start, const int m, const int d, const int* slot, T* kept_rows) {
    const int k = blockIdx.x;
    if (k >= m || slot[k] < 0) return;
    const T* src = rows + (start + k) * (long long)d;
    T* dst = kept_rows + (long long)slot[k] * d;
    for (int i = threadIdx.x; i < d; i += blockDim.x) dst[i] = src[i];
}

// Validation of SPEC §5 step 2: token rows[i] is covered iff some kept token links to it.
// cross: n x r products of the n tokens against the r kept ones. One block a token.
__global__ void screen_cover(const float* cross, const int n, const int r, const float lo, const float hi,
                             const float tau, const float* x, const long long* rows, const long long* kept,
                             const int d, unsigned char* covered, unsigned long long* rechecked) {
    __shared__ volatile int found;
    const int i = blockIdx.x;
    if (i >= n) return;
    if (threadIdx.x == 0) found = 0;
    __syncthreads();
    unsigned int checks = 0u;
    const float* row = cross + (long long)i * r;
    const float* xi = x + rows[i] * (long long)d;
    for (int j = threadIdx.x; j < r; j += blockDim.x) {
        if (found) break;
        if (linked_pair(row[j], lo, hi, tau, xi, x + kept[j] * (long long)d, d, &checks)) found = 1;
    }
    if (checks) atomicAdd(rechecked, (unsigned long long)checks);
    __syncthreads();
    if (threadIdx.x == 0) covered[i] = found ? 1 : 0;
}

// The greedy scan of SPEC §3 for many small slices at once: one block a slice, on its n x n products
// (gram, slice s at s * n * n) and float32 rows (x, slice s at s * n * d). Shared memory: n bytes of
// blocked flags. chosen[s * n + k] = 1 iff token k of slice s is kept.
__global__ void scan_slices(const float* gram, const int n, const float lo, const float hi, const float tau,
                            const float* x, const int d, unsigned char* chosen, unsigned long long* rechecked) {
    extern __shared__ unsigned char blocked_flags[];
    const long long s = blockIdx.x;
    const float* g = gram + s * n * (long long)n;
    const float* xs = x + s * n * (long long)d;
    unsigned int checks = 0u;
    for (int j = threadIdx.x; j < n; j += blockDim.x) blocked_flags[j] = 0;
    __syncthreads();
    for (int k = 0; k < n; ++k) {
        // Uniform branch, as in screen_diag: flag k is never written once row k is reached.
        const bool free_row = blocked_flags[k] == 0;
        if (threadIdx.x == 0) chosen[s * n + k] = free_row ? 1 : 0;
        if (free_row) {
            const float* row = g + (long long)k * n;
            const float* xk = xs + (long long)k * d;
            for (int j = k + 1 + threadIdx.x; j < n; j += blockDim.x)
                if (!blocked_flags[j] && linked_pair(row[j], lo, hi, tau, xk, xs + (long long)j * d, d, &checks))
                    blocked_flags[j] = 1;
            __syncthreads();
        }
    }
    if (checks) atomicAdd(rechecked, (unsigned long long)checks);
}

// The full-Gram scan of a tile (the paper's ADA, float32 or float64 products): the old two kernels.
template <typename T>
__global__ void diag_scan(const T* sims, const long long ld, const long long start, const int m, const double tau,
                          const bool* excluded, unsigned char* chosen) {
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
        const bool free_row = ((blocked[k >> 5] >> (k & 31)) & 1u) == 0u;
        if (threadIdx.x == 0) chosen[k] = free_row ? 1 : 0;
        if (free_row) {
            for (int w = threadIdx.x; w < words; w += blockDim.x) blocked[w] |= bits[k * words + w];
            __syncthreads();
        }
    }
}

template <typename T>
__global__ void exclude(const T* sims, const long long ld, const long long row0, const int m, const long long n,
                        const double tau, const unsigned char* chosen, bool* excluded) {
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
