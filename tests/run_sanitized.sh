#!/usr/bin/env bash
# The C++ CPU kernels' tests under AddressSanitizer and UndefinedBehaviorSanitizer.
#
#   bash tests/run_sanitized.sh [scratch dir]
#
# Copies this checkout (tracked and untracked files) to a scratch directory, builds stylegan_fast._C
# there with STYLEGAN_FAST_SANITIZE=address,undefined (CPU sources only), and runs the kernel tests
# with the sanitizer runtimes preloaded into Python. Any report fails the run.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${1:-$(mktemp -d)}"
mkdir -p "$WORK"
(cd "$ROOT" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$WORK")
CXX="${CXX:-c++}"
cmake -S "$WORK" -B "$WORK/build/sanitize" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTYLEGAN_FAST_CUDA=0 \
  -DSTYLEGAN_FAST_SANITIZE=address,undefined -DSGF_OUTPUT_DIR="$WORK/stylegan_fast" \
  -DPython_EXECUTABLE="$(command -v python)" -Dpybind11_DIR="$(python -m pybind11 --cmakedir)" >/dev/null
cmake --build "$WORK/build/sanitize"
cd "$WORK"
LD_PRELOAD="$("$CXX" -print-file-name=libasan.so) $("$CXX" -print-file-name=libubsan.so)" \
ASAN_OPTIONS="detect_leaks=0:abort_on_error=1" UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
  python -m pytest -q -p no:cacheprovider --benchmark-disable \
    tests/test_winograd.py tests/test_backend_cpu.py tests/test_ops_styled_conv2d.py tests/test_ops_stylegan1_conv2d.py \
    tests/test_ops_noise_bias_act.py tests/test_ops_upfirdn2d.py tests/test_ops_adain.py tests/test_ops_torgb_skip.py \
    tests/test_ops_noise_stream.py -k "cpu or winograd or philox" "${@:2}"
echo "sanitized kernel tests passed (build in $WORK/build/sanitize)"
