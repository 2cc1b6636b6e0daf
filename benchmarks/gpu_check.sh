#!/usr/bin/env bash
# One-shot GPU check for a lent H100/H200 (no network), under 8 minutes with the build; everything lands in $OUT.
#   device run:  bash benchmarks/gpu_check.sh            (OUT is set by the device tool; default ./gpu_out)
#                carry third_party_ref/stylegan2-ada-pytorch (git-excluded) to time NVlabs' generator too
#   CPU smoke:   DEVICE=cpu SKIP_BUILD=1 KERNEL_SAMPLE=pairs OUT=/tmp/gc bash benchmarks/gpu_check.sh
#
# Steps (each under `timeout`, capped by what is left of BUDGET_S so a slow step cannot eat the rest), correctness
# first, then the headline figures, then the rest while time remains:
#   1 build      pip install --no-build-isolation --no-deps -e .  (native module, CUDA sources for sm_90)
#   2 doctor     stylegan-fast doctor; nvidia-smi
#   3 tests      pytest: CUDA vs CPU, every triton op/strategy/tile and whole generators vs the reference, the cuda
#                backend's kernels, CUDA graphs and torch.compile on the GPU
#   4 bench      python -m stylegan_fast.bench, reference, triton and cuda (+ CUDA-graph rows), channel_base 32768:
#                headline first (StyleGAN2 fp16 batch 64 at 256 and 1024 px), then NVlabs' own generator beside ours
#                (benchmarks/compare_nvlabs.py, its CUDA plugins built and checked; when its checkout was carried),
#                then fp32 batch 1/8/32/64, fp16 batch 1/8/32, bf16 batch 64, StyleGAN1; COMPILE_ROW=1 adds
#                torch.compile rows at 256 px; the render pipeline end to end (built-in model, PNG files, batch 64)
#                then the cuda backend's kernel tests under compute-sanitizer (memcheck) when the machine has it
#   5 kernels    stylegan-fast kernels --compile sm_90 --json kernels.json  (registers, spills, shared memory of every
#                Triton configuration and of the CUDA kernels in the built module; CI compiles them too)
# The triton backend measures its convolution strategy per layer shape on first use (ops/triton_tuning.py): the
# bench's warm-up call absorbs it, and the choices land in $OUT/triton_tuning.json.
# Results: log.txt, steps.json (rc and seconds per step), build.txt, gpu.txt, doctor.txt, tests.{txt,xml},
# bench_*.{txt,json}, nvlabs*.{txt,json}, kernels.{txt,json}, triton_tuning.json. Exit status: 0 when every step
# that ran passed.
# Knobs: DEVICE=cuda|cpu, SKIP_BUILD=1, BUDGET_S (default 450), KERNEL_SAMPLE=all|pairs, COMPILE_ROW=1,
#        NVLABS_DIR (default third_party_ref/stylegan2-ada-pytorch), PYTHON (default python3).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu_out}"
DEVICE="${DEVICE:-cuda}"
BUDGET_S="${BUDGET_S:-450}"
PY="${PYTHON:-python3}"
SF=("$PY" -m stylegan_fast)  # = the stylegan-fast command, also when the build step failed
mkdir -p "$OUT"
: >"$OUT/log.txt"
STEPS=()
FAILED=0
export PYTHONUNBUFFERED=1 TRITON_DEFAULT_FP_FUSION="${TRITON_DEFAULT_FP_FUSION:-1}"
export STYLEGAN_FAST_CACHE="$OUT"  # the tuner's choices (triton_tuning.json) come back with the results
NVLABS_DIR="${NVLABS_DIR:-third_party_ref/stylegan2-ada-pytorch}"
unset TRITON_INTERPRET

log() { echo "== [$(printf '%3d' "$SECONDS") s] $*" | tee -a "$OUT/log.txt"; }

# step NAME CAP_S COMMAND...: run COMMAND under timeout min(CAP_S, time left), output into $OUT/NAME.txt
step() {
    local name=$1 cap=$2
    shift 2
    local left=$((BUDGET_S - SECONDS))
    if ((left < 20)); then
        log "$name: SKIPPED (${left} s of the ${BUDGET_S} s budget left)"
        STEPS+=("{\"step\": \"$name\", \"rc\": null, \"seconds\": 0, \"skipped\": true}")
        return 0
    fi
    local limit=$((cap < left ? cap : left)) start=$SECONDS
    log "$name (limit ${limit} s): $*"
    timeout --kill-after=10 "$limit" "$@" >"$OUT/$name.txt" 2>&1
    local rc=$?
    local took=$((SECONDS - start))
    tail -n 15 "$OUT/$name.txt"
    if ((rc == 124 || rc == 137)); then
        log "$name: TIMED OUT after ${took} s (rc $rc)"
    else
        log "$name: rc $rc in ${took} s"
    fi
    ((rc != 0)) && FAILED=1
    STEPS+=("{\"step\": \"$name\", \"rc\": $rc, \"seconds\": $took, \"limit_s\": $limit}")
    return 0
}

if [[ "$DEVICE" == cuda ]]; then
    RES=256,1024 CHANNELS=(--channel-base 32768) HEAD_BATCH=64 FP32_BATCH=1,8,32,64 FP16_BATCH=1,8,32
    TARGET=sm_90 TEST_ENV=() NVLABS_SIZES=(--resolution 256,512,1024 --channel-base 32768) E2E=(--batch 64 --images 1024)
else  # smoke test of this script on a CPU machine: tiny generators; triton/cuda rows are "unavailable"
    RES=32 CHANNELS=(--channel-base 512 --channel-max 64) HEAD_BATCH=2 FP32_BATCH=1,2 FP16_BATCH=1
    TARGET=sm_90 TEST_ENV=(env STYLEGAN_FAST_GPU_TEST_DEVICE=cpu)
    NVLABS_SIZES=(--resolution 32 --channel-base 512 --channel-max 64) E2E=(--batch 8 --images 32)
fi
BENCH=("$PY" -m stylegan_fast.bench --device "$DEVICE" "${CHANNELS[@]}" --backend reference,triton,cuda
       --repeats 3 --warmup 1)
NVLABS=("$PY" benchmarks/compare_nvlabs.py --device "$DEVICE" --nvlabs-dir "$NVLABS_DIR" "${NVLABS_SIZES[@]}"
        --backend reference,triton,cuda --warmup 2 --repeats 5)
TESTS=(tests/test_cuda.py tests/test_triton_gpu.py)
for f in tests/test_cuda_kernels.py tests/test_kernels_cuda_compile.py tests/test_compile.py; do
    [[ -f "$f" ]] && TESTS+=("$f")
done

# 1 build: the native module with CUDA sources for this GPU only (sm_90), all cores
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    step build 180 env STYLEGAN_FAST_REQUIRE_NATIVE=1 STYLEGAN_FAST_CUDA_ARCHS="${STYLEGAN_FAST_CUDA_ARCHS:-90}" \
        MAX_JOBS="$(nproc)" "$PY" -m pip install --no-build-isolation --no-deps -e .
fi

# 2 what is here
nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv >"$OUT/gpu.txt" 2>&1
cat "$OUT/gpu.txt"
step doctor 60 "${SF[@]}" doctor

# 3 GPU equivalence before any timing (the interpreter cannot see GPU compiler bugs)
step tests 200 "${TEST_ENV[@]}" "$PY" -m pytest -q -p no:cacheprovider -rs --durations=10 \
    --junitxml="$OUT/tests.xml" "${TESTS[@]}"

# 4 throughput, each table checked against the reference before it is timed; headline rows first
step bench_headline 120 "${BENCH[@]}" --arch stylegan2 --resolution "$RES" --batch "$HEAD_BATCH" --dtype fp16 \
    --cuda-graph --json "$OUT/bench_headline.json"
if [[ -f "$NVLABS_DIR/training/networks.py" ]]; then
    step nvlabs_headline 150 "${NVLABS[@]}" --batch "$HEAD_BATCH" --dtype fp16 --budget-s 110 \
        --json "$OUT/nvlabs_headline.json"
else
    log "nvlabs: SKIPPED (no checkout at $NVLABS_DIR: carry third_party_ref/stylegan2-ada-pytorch to time it)"
fi
step bench_fp32 100 "${BENCH[@]}" --arch stylegan2 --resolution "$RES" --batch "$FP32_BATCH" --dtype fp32 \
    --json "$OUT/bench_fp32.json"
step bench_fp16 80 "${BENCH[@]}" --arch stylegan2 --resolution "$RES" --batch "$FP16_BATCH" --dtype fp16 \
    --json "$OUT/bench_fp16.json"
step bench_bf16 60 "${BENCH[@]}" --arch stylegan2 --resolution "$RES" --batch "$HEAD_BATCH" --dtype bf16 \
    --json "$OUT/bench_bf16.json"
step bench_stylegan1 80 "${BENCH[@]}" --arch stylegan1 --resolution "$RES" --batch "$HEAD_BATCH" --dtype fp16 \
    --json "$OUT/bench_stylegan1.json"
# the render pipeline on the GPU: built-in model, generator-only vs PNG files (encoders beside the generator)
step bench_end_to_end 60 "$PY" -m stylegan_fast.bench --end-to-end --device "$DEVICE" --backend reference,triton,cuda \
    "${E2E[@]}" --repeats 3 --json "$OUT/bench_end_to_end.json"
if [[ -f "$NVLABS_DIR/training/networks.py" ]]; then
    step nvlabs_table 150 "${NVLABS[@]}" --batch 1,8,32,64 --dtype fp16,fp32,bf16 --budget-s 120 \
        --json "$OUT/nvlabs_table.json"
fi
if [[ "${COMPILE_ROW:-0}" == 1 ]]; then
    step bench_compile 150 "${BENCH[@]}" --arch stylegan2 --resolution "${RES%%,*}" --batch "$HEAD_BATCH" \
        --dtype fp16 --compile --json "$OUT/bench_compile.json"
fi

# the cuda backend's kernels under compute-sanitizer (memcheck), once, when the machine has it
if [[ "$DEVICE" == cuda ]] && command -v compute-sanitizer >/dev/null 2>&1; then
    step sanitizer 90 compute-sanitizer --error-exitcode 1 "$PY" -m pytest -q -p no:cacheprovider -x \
        tests/test_cuda_kernels.py -k "not generator and not offsets and not graph and not grids"
fi

# 5 every kernel configuration compiled ahead of time for this GPU: registers, spills, shared memory
step kernels 120 "${SF[@]}" kernels --compile "$TARGET" --json "$OUT/kernels.json" --quiet \
    --sample "${KERNEL_SAMPLE:-all}"

{
    echo "["
    for i in "${!STEPS[@]}"; do
        sep=","
        ((i == ${#STEPS[@]} - 1)) && sep=""
        echo "  ${STEPS[$i]}$sep"
    done
    echo "]"
} >"$OUT/steps.json"
log "done in ${SECONDS} s (budget ${BUDGET_S} s); failed steps: $FAILED"
ls -la "$OUT"
exit "$FAILED"
