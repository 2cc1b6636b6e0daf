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

# Edits along the built-in directions (README "Edit along a direction").
stylegan-fast edit --seed 5 --trunc 0.7 --direction beard --strength 0:4:5 --scale 2 --out "$out/edit_beard.png"
stylegan-fast edit --seed 24 --trunc 0.7 --direction grey_hair --strength 0:4:5 --scale 2 --out "$out/edit_grey_hair.png"

# The child of two photos: identikit faces outside the training pool (seeds 0-19999), projected, then mixed.
python - "$tmp" <<'PY'
import sys
from PIL import Image
from stylegan_fast.train.identikit import face
for s in (10_000_003, 10_000_004):
    Image.fromarray(face(s, 64)).save(f"{sys.argv[1]}/identikit_{s}.png")
PY
stylegan-fast child --parents "$tmp/identikit_10000003.png" "$tmp/identikit_10000004.png" --steps 1000 --space w+ \
  --layers 0-5 --save-projections "$tmp/proj" --out "$tmp/child_photos.png"
python - "$tmp" "$out/child_of_photos.png" <<'PY'
import sys
from PIL import Image
tmp, out = sys.argv[1], sys.argv[2]
a, b = (Image.open(f"{tmp}/identikit_{s}.png").convert("RGB") for s in (10_000_003, 10_000_004))
strip = Image.open(f"{tmp}/child_photos.png").convert("RGB")   # projection A | child | reverse child | projection B
n = a.width
cells = [a] + [strip.crop((i * n, 0, (i + 1) * n, n)) for i in (0, 1, 3)] + [b]
sheet = Image.new("RGB", (n * len(cells), n))
for i, cell in enumerate(cells):
    sheet.paste(cell, (i * n, 0))
sheet.resize((2 * sheet.width, 2 * n), Image.NEAREST).save(out)
PY

# The studio (README "The studio and the HTTP render service"), from its browser test (needs chromium).
STYLEGAN_FAST_STUDIO_SCREENSHOT="$out/studio.png" python -m pytest -q -p no:cacheprovider tests/test_serve_browser.py
