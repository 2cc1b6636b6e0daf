#!/usr/bin/env bash
# Re-render every README image from the built-in demo model: bash docs/make_images.sh [OUTDIR (default docs)]
set -euo pipefail
out=${1:-docs}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"

stylegan-fast render --seeds 0-31 --outdir "$tmp/faces" --no-images --grid "$out/demo_faces.png"
for group in coarse medium fine; do
  stylegan-fast mix --rows 0-4 --cols 10-14 --styles "$group" --out "$out/mix_$group.png"
done
for pair in "3 7" "12 5" "20 41"; do
  set -- $pair
  stylegan-fast child --parents "$1" "$2" --out "$tmp/child_$1_$2.png"
done
python - "$tmp" "$out/children.png" <<'PY'
import sys
from PIL import Image
strips = [Image.open(f"{sys.argv[1]}/child_{a}_{b}.png") for a, b in ((3, 7), (12, 5), (20, 41))]
w, h = strips[0].size
sheet = Image.new("RGB", (w, h * len(strips)))
for i, s in enumerate(strips):
    sheet.paste(s, (0, i * h))
sheet.resize((2 * w, 2 * h * len(strips)), Image.NEAREST).save(sys.argv[2])
PY
stylegan-fast video --seeds 0-11 --grid 3x1 --w-frames 12 --fps 12 --scale 2 --output "$out/walk.gif"
