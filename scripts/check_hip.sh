#!/usr/bin/env bash
# Compile the CuPy backend's device kernels (backends/select.cuh) for an AMD GPU with the HIP compiler.
# CuPy builds the same source with NVRTC (CUDA) or hipRTC (ROCm) at run time; this compiles it ahead of
# time for gfx90a (MI200), so a CUDA-only construct fails CI. It compiles; nothing is run (no AMD GPU).
# Needs Debian's hipcc and libamdhip64-dev. Usage: scripts/check_hip.sh [offload-arch]
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:-gfx90a}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
{
  echo '#include <hip/hip_runtime.h>'  # hipRTC provides these declarations itself; hipcc needs the header
  cat backends/select.cuh
  # Every kernel and template instance cupy.py asks the RawModule for (its name_expressions).
  echo 'const void* const every_kernel[] = {'
  echo '  (const void*)&screen_cross, (const void*)&screen_bits, (const void*)&screen_diag, (const void*)&screen_cover,'
  echo '  (const void*)&scan_slices, (const void*)&append<unsigned short>, (const void*)&append<float>,'
  echo '  (const void*)&diag_scan<float>, (const void*)&diag_scan<double>,'
  echo '  (const void*)&exclude<float>, (const void*)&exclude<double>};'
} >"$work/select.hip"
HIP_PLATFORM=amd hipcc --offload-arch="$arch" -std=c++11 -Werror -c "$work/select.hip" -o "$work/select.o"
echo "hipcc: backends/select.cuh compiled for $arch ($(stat -c %s "$work/select.o") bytes of object code)"
