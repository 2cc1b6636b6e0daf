#!/usr/bin/env bash
# One-shot GPU check for a lent machine (no network): build, GPU tests, throughput; JSON into $OUT.
#   device run: bash benchmarks/gpu_check.sh      (OUT is set by the device tool; default ./gpu_out)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu_out}"
mkdir -p "$OUT"
log() { echo "== $*" | tee -a "$OUT/log.txt"; }

log "build (no network)"
STYLEGAN_FAST_REQUIRE_NATIVE=1 python3 -m pip install --no-build-isolation --no-deps -e . >"$OUT/build.txt" 2>&1
echo "build rc=$?" | tee -a "$OUT/log.txt"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >"$OUT/gpu.txt" 2>&1
python3 -m stylegan_fast doctor >"$OUT/doctor.txt" 2>&1; cat "$OUT/doctor.txt"

log "tests (CUDA visible)"
timeout 240 python3 -m pytest tests -q -x --junitxml="$OUT/tests.xml" >"$OUT/tests.txt" 2>&1
echo "tests rc=$?" | tee -a "$OUT/log.txt"; tail -5 "$OUT/tests.txt"

log "throughput"
timeout 240 python3 -m stylegan_fast.bench --device cuda --arch stylegan2,stylegan1 --resolution 256,1024 \
    --batch 1,8 --dtype fp32,fp16 --backend reference,auto --json "$OUT/bench.json" 2>&1 | tee "$OUT/bench.txt"
echo "bench rc=$?" | tee -a "$OUT/log.txt"
