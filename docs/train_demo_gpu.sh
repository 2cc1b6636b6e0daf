#!/usr/bin/env bash
# Demo-model training on a lent GPU, in one bounded call: several layer-role runs side by side on the one GPU,
# each snapshot scored by quality.layer_group_effects, the best snapshots packed into $OUT.
#   device run (carry runs/gpu_in): bash docs/train_demo_gpu.sh
# runs/gpu_in holds attributes.pt and attributes_lp2.pt (python -m stylegan_fast.train.attributes [--lowpass 2])
# and, to resume a CPU run, a slim copy of its folder (state.pt, options.json, log.jsonl) as runs/gpu_in/resume/.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu_out}"
# A smoke test on a CPU: TRAIN_SECONDS=150 EVERY=3 DEVICE=cpu OUT=/tmp/gout bash docs/train_demo_gpu.sh
TRAIN_SECONDS="${TRAIN_SECONDS:-420}" EVERY="${EVERY:-1000}" DEVICE="${DEVICE:-cuda}"
export DEVICE
mkdir -p "$OUT" runs/pool
export PYTHONUNBUFFERED=1 EVERY PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
log() { echo "== $(date +%T) $*" | tee -a "$OUT/log.txt"; }

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$OUT/log.txt"
python3 -c "import torch, sys; print('torch', torch.__version__, 'python', sys.version.split()[0])" \
    | tee -a "$OUT/log.txt"

log "training pool (20,000 identikit faces, rendered in parallel)"
python3 -c "
from pathlib import Path
from stylegan_fast.train.trainer import TrainOptions, real_pool
print(real_pool(TrainOptions(), Path('runs/pool')).shape)" 2>&1 | tail -1 | tee -a "$OUT/log.txt"

common=(--device "$DEVICE" --threads 2 --iterations 100000 --sample-every "$EVERY" --snapshot-every "$EVERY"
        --layer-reg-interval 2 --layer-reg-shape 3 --layer-reg-exact 1 --no-noise)
judge=runs/gpu_in/attributes.pt judge_lp=runs/gpu_in/attributes_lp2.pt  # --lowpass 1 and 2
declare -A runs=(
  [resume]="--layer-reg 2 --attribute-net $judge_lp"
  [w2]="--layer-reg 2 --attribute-net $judge"
  [w2lp]="--layer-reg 2 --attribute-net $judge_lp"
  [w1lpb32]="--layer-reg 1 --attribute-net $judge_lp --batch 32 --layer-reg-batch 16"
)
for name in "${!runs[@]}"; do
  dir=runs/gpu_$name
  mkdir -p "$dir"
  ln -sf "$PWD/runs/pool/identikit_20000_64.npy" "$dir/"
  if [ "$name" = resume ] && [ -f runs/gpu_in/resume/state.pt ]; then cp runs/gpu_in/resume/* "$dir/"; fi
  log "start $name: ${runs[$name]}"
  timeout -s INT "$TRAIN_SECONDS" python3 -m stylegan_fast.train --out "$dir" "${common[@]}" ${runs[$name]} \
      >"$dir/train.log" 2>&1 &
done

log "CUDA tests (reference backend on the GPU) while the runs train"
timeout 120 python3 -m pytest tests/test_cuda.py -q 2>&1 | tail -3 | tee -a "$OUT/log.txt"
wait
for name in "${!runs[@]}"; do
  echo "-- $name: $(tr '\r' '\n' <runs/gpu_$name/train.log | grep -E 'train:|Error|error' | tail -2)" \
      | tee -a "$OUT/log.txt"
done

log "layer-group effects of every snapshot"
python3 - "$OUT" <<'PY' 2>&1 | tee -a "$OUT/log.txt"
import json, os, re, sys, tarfile
from pathlib import Path
import torch
import stylegan_fast as sf
from stylegan_fast.train import quality
from stylegan_fast.train.quality import layer_group_effects

out = Path(sys.argv[1])
table = {}
for run in sorted(Path("runs").glob("gpu_*")):
    snaps = sorted(run.glob("network-[0-9]*.safetensors"))
    if not snaps or run.name == "gpu_in":
        continue
    rows = {}
    for path in snaps:
        G = sf.Generator.load(path, device=os.environ["DEVICE"], progress=False)
        e = layer_group_effects(G, n=64)
        it = int(re.findall(r"\d+", path.stem)[0])
        rows[it] = {g: {k: round(v, 3) for k, v in e[g].items()} for g in ("coarse", "medium", "fine")}
        rows[it]["fine_ratio"] = round(e["fine"]["palette"] / max(e["fine"]["outline"], 1e-6), 3)
        print(run.name, it, "fine", rows[it]["fine"], "ratio", rows[it]["fine_ratio"], "coarse", rows[it]["coarse"])
    G = sf.Generator.load(snaps[-1], device=os.environ["DEVICE"], progress=False)
    q = quality.quality_report({"model": G}, n=500)["model"]
    rows[int(re.findall(r"\d+", snaps[-1].stem)[0])]["quality_n500"] = {k: round(v, 3) for k, v in q.items()}
    print(run.name, "latest", rows[max(rows)]["quality_n500"])
    table[run.name] = rows
    its = sorted(rows)
    late = [i for i in its if i >= its[-1] // 2]
    keep = set(sorted(late, key=lambda i: -rows[i]["fine_ratio"])[:2]) | {its[-1]}
    with tarfile.open(out / f"{run.name}.tar", "w") as tar:
        for name in ("log.jsonl", "options.json", "train.log"):
            if (run / name).exists():
                tar.add(run / name, arcname=f"{run.name}/{name}")
        for i in keep:
            tar.add(run / f"network-{i:06d}.safetensors", arcname=f"{run.name}/network-{i:06d}.safetensors")
        for png in sorted(run.glob("fakes*.png")):
            i = int(re.findall(r"\d+", png.stem)[0])
            if i % (4 * int(os.environ["EVERY"])) == 0 or i in keep:
                tar.add(png, arcname=f"{run.name}/{png.name}")
(out / "effects.json").write_text(json.dumps(table, indent=1))
PY

log "throughput of the reference backend on the GPU"
timeout 80 python3 -m stylegan_fast.bench --device cuda --arch stylegan2,stylegan1 --resolution 1024 \
    --batch 1,8 --dtype fp32,fp16 --backend reference --json "$OUT/bench.json" 2>&1 | tail -12 | tee -a "$OUT/log.txt"
log "done"
ls -la "$OUT"
