"""A small network that reads an identikit face's attributes back from its picture.

The identikit dataset knows what it drew: colours (skin, hair, background, shirt) and shape (face size
and aspect, jaw, pose, hair length and style, eye and mouth geometry). ``AttributeNet`` is trained on
(picture, attributes) pairs of the dataset and then frozen; the trainer's layer-role regularization
(``layer_roles.layer_role_loss``) asks it what a generated face's colours and shape are.

    python -m stylegan_fast.train.attributes --out runs/attributes.pt     # ~3 min on 2 CPU cores
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..fileio import atomic_path
from . import identikit

COLOURS = ("skin_color", "hair_color", "bg_color", "bg_color2", "shirt_color")
SHAPES = ("face_width", "face_aspect", "jaw", "eye_spacing", "eye_height", "eye_size", "mouth_width",
          "mouth_curve", "shift_x", "shift_y", "rotation", "scale")
NUM_COLOURS = 3 * len(COLOURS)
NUM_SHAPES = len(SHAPES) + len(identikit.HAIR_LENGTHS) + len(identikit.HAIR_STYLES)


def targets(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(colours [NUM_COLOURS] in [0, 1], colour weights [NUM_COLOURS], shape [NUM_SHAPES] in [0, 1]) of a face.

    Hair colour has weight 0 on bald faces (nothing shows it). Continuous shape attributes are scaled to
    [0, 1] by their ranges; hair length and style are one-hot.
    """
    a = identikit.sample_attributes(seed)
    colours = np.concatenate([np.asarray(a[k], dtype=np.float32) / 255 for k in COLOURS])
    weights = np.ones(NUM_COLOURS, dtype=np.float32)
    if a["hair_style"] == "bald":
        i = COLOURS.index("hair_color")
        weights[3 * i: 3 * i + 3] = 0
    shape = [(a[k] - lo) / (hi - lo) for k, (lo, hi) in ((k, identikit.RANGES[k]) for k in SHAPES)]
    shape += [float(a["hair_length"] == v) for v in identikit.HAIR_LENGTHS]
    shape += [float(a["hair_style"] == v) for v in identikit.HAIR_STYLES]
    return colours, weights, np.asarray(shape, dtype=np.float32)


class AttributeNet(nn.Module):
    """[N, 3, 64, 64] in [-1, 1] -> (colours [N, NUM_COLOURS], shape [N, NUM_SHAPES]).

    ``lowpass`` > 1 reads the picture through a low-pass (mean over lowpass x lowpass blocks, upsampled back):
    as a judge of generated faces, it then gives pixel-scale patterns no say, so a generator cannot meet the
    judge with speckle that the attributes do not have."""

    def __init__(self, width: int = 32, lowpass: int = 1):
        super().__init__()
        self.lowpass = lowpass
        chans = [3, width, 2 * width, 4 * width, 4 * width]
        layers = []
        for cin, cout in zip(chans[:-1], chans[1:]):  # 64 -> 32 -> 16 -> 8 -> 4
            layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.GroupNorm(8, cout), nn.SiLU()]
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(chans[-1] * 16, 256), nn.SiLU(),
                                  nn.Linear(256, NUM_COLOURS + NUM_SHAPES))

    def forward(self, img):
        if img.shape[-1] != 64:
            img = F.interpolate(img, size=(64, 64), mode="area")
        if self.lowpass > 1:
            img = F.interpolate(F.avg_pool2d(img, self.lowpass), scale_factor=self.lowpass, mode="bilinear")
        out = self.head(self.features(img))
        return out[:, :NUM_COLOURS], out[:, NUM_COLOURS:]


def load(path, device="cpu") -> AttributeNet:
    """A trained AttributeNet from ``path`` (tensors only), frozen and in eval mode."""
    state = torch.load(path, map_location=device, weights_only=True)
    net = AttributeNet(int(state["width"]), int(state.get("lowpass", 1)))
    net.load_state_dict(state["net"])
    return net.to(device).eval().requires_grad_(False)


def train(pool: torch.Tensor, out: Path, steps: int = 4000, batch: int = 64, width: int = 32, seed: int = 0,
          holdout: int = 1000, lowpass: int = 1) -> dict:
    """Fit an AttributeNet on ``pool`` (uint8 [N, 3, 64, 64], face i drawn from seed i); the last ``holdout``
    faces are held out. Saves to ``out`` and returns the held-out errors (mean absolute, in [0, 1] units)."""
    torch.manual_seed(seed)
    n = len(pool)
    tgt = [targets(s) for s in tqdm(range(n), desc="attributes")]
    colours = torch.from_numpy(np.stack([t[0] for t in tgt]))
    weights = torch.from_numpy(np.stack([t[1] for t in tgt]))
    shapes = torch.from_numpy(np.stack([t[2] for t in tgt]))
    net = AttributeNet(width, lowpass)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    train_n = n - holdout
    for _ in tqdm(range(steps), desc="attribute net"):
        idx = torch.randint(train_n, [batch])
        img = pool[idx].float() / 127.5 - 1
        img = img + 0.03 * torch.randn_like(img)  # do not rely on exact pixel values
        c, s = net(img)
        loss = (weights[idx] * (c - colours[idx]).square()).mean() + (s - shapes[idx]).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    net.eval()
    with torch.no_grad():
        idx = torch.arange(train_n, n)
        c, s = net(pool[idx].float() / 127.5 - 1)
        report = {"colour_mae": float((weights[idx] * (c - colours[idx]).abs()).sum() / weights[idx].sum()),
                  "shape_mae": float((s - shapes[idx]).abs().mean())}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        torch.save({"net": net.state_dict(), "width": width, "lowpass": lowpass, "report": report}, tmp)
    return report


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/attributes.pt")
    p.add_argument("--dataset-size", type=int, default=20000)
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--lowpass", type=int, default=1, help="read faces through a low-pass of this block size")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    # The demo run's training pool: read from its cache, or rendered and cached there as the trainer does.
    pool = identikit.cached_pool(args.dataset_size, 64, Path("runs/demo"))
    t0 = time.perf_counter()
    report = train(pool, Path(args.out), steps=args.steps, lowpass=args.lowpass)
    print({**report, "seconds": round(time.perf_counter() - t0)})


if __name__ == "__main__":
    main()
