#!/usr/bin/env bash
# The demo model's training run (docs/layer_roles.md), phase by phase, as run on 2 CPU cores:
# each phase resumes the same --out from the state.pt of the phase before, with the options it changed.
#   bash docs/train_layer_roles.sh [OUT (default runs/layer_roles)]      (about two hours on 2 idle cores)
# Branches were run in copies of the folder; resuming one folder phase after phase gives the same sequence.
set -euo pipefail
out=${1:-runs/layer_roles}
run() { python -m stylegan_fast.train --out "$out" --layer-reg-interval 2 --snapshot-every 500 --sample-every 500 \
            --threads 2 "$@"; }

[ -f runs/attributes.pt ] || python -m stylegan_fast.train.attributes --out runs/attributes.pt
[ -f runs/attributes_lp2.pt ] || python -m stylegan_fast.train.attributes --out runs/attributes_lp2.pt --lowpass 2

judge=(--attribute-net runs/attributes.pt)
run --iterations 6000 --layer-reg 1 --layer-reg-noise const "${judge[@]}"
run --iterations 8000 --layer-reg 1 --layer-reg-shape 3 --layer-reg-noise const "${judge[@]}"
run --iterations 8500 --layer-reg 2 --layer-reg-shape 3 --layer-reg-noise const "${judge[@]}"
run --iterations 9000 --layer-reg 2 --layer-reg-shape 3 "${judge[@]}"
run --iterations 10000 --layer-reg 2 --layer-reg-shape 3 --layer-reg-exact 1 "${judge[@]}"
judge=(--attribute-net runs/attributes_lp2.pt)
run --iterations 14000 --layer-reg 2 --layer-reg-shape 3 --layer-reg-exact 1 "${judge[@]}"
run --iterations "${LAST:-16000}" --layer-reg 2 --layer-reg-shape 3 --layer-reg-exact 1 --no-noise "${judge[@]}"
