"""Train the attribute classifier (beard, glasses, smile, grey hair) that labels the demo model's faces.

It learns from identikit faces of seeds the demo model never saw (the demo model was trained on seeds
0-19999; these start at 1,000,000) with the labels the identikit drew them from, and reports its accuracy
on a separate held-out seed range (from 2,000,000). The faces are augmented (small shifts, rotations and
scalings, blur, noise, brightness/contrast/colour jitter, mirroring) so that the classifier also reads the
generator's softer, imperfect faces. The shipped weights came from the defaults (about 11 minutes of CPU
time on one core; 24 minutes by the clock on the shared 2-core machine):

    python -m stylegan_fast.train.attribute_classifier \\
        --out stylegan_fast/data/identikit_attributes_64.safetensors --steps 3000 --seed 0 --width 24
"""
from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .. import attribute_classifier as ac
from . import identikit

TRAIN_SEED0 = 1_000_000     # training faces: seeds TRAIN_SEED0 ..
HOLDOUT_SEED0 = 2_000_000   # held-out faces for the reported accuracy: seeds HOLDOUT_SEED0 ..
# The identikit's grey and white hair colours: its achromatic hair palette entries (jittered by up to 12).
GREY_HAIRS = tuple(c for c in identikit._HAIR if max(c) == min(c))
_HAIR_JITTER = 12


def is_grey_hair(attrs: dict) -> bool:
    """The face has visible hair (not bald) drawn from a grey or white palette entry."""
    if attrs["hair_style"] == "bald":
        return False
    return any(max(abs(int(h) - g) for h, g in zip(attrs["hair_color"], grey)) <= _HAIR_JITTER
               for grey in GREY_HAIRS)


def labels(attrs: dict) -> np.ndarray:
    """The classifier's targets for one face's identikit attributes: float32 [len(ATTRIBUTES)] of 0/1.

    beard: stubble or full beard (stubble is a darker/lighter tint of the skin over the lower face, visible
    at 64 px on most faces); glasses: any frames; smile: the 'smile' expression (mouth curving up);
    grey_hair: ``is_grey_hair``."""
    values = {"beard": attrs["beard"] != "none", "glasses": attrs["glasses"] != "none",
              "smile": attrs["expression"] == "smile", "grey_hair": is_grey_hair(attrs)}
    return np.array([float(values[k]) for k in ac.ATTRIBUTES], dtype=np.float32)


def dataset(seed0: int, n: int, desc: str) -> tuple[torch.Tensor, torch.Tensor, list[dict]]:
    """Faces seed0 .. seed0+n-1: (uint8 [n, 3, 64, 64], labels float32 [n, 4], their attribute dicts)."""
    imgs = np.empty((n, 3, ac.RESOLUTION, ac.RESOLUTION), dtype=np.uint8)
    attrs = []
    for i in tqdm(range(n), desc=desc, leave=False):
        a = identikit.sample_attributes(seed0 + i)
        imgs[i] = identikit.render_face(a, ac.RESOLUTION).transpose(2, 0, 1)
        attrs.append(a)
    y = np.stack([labels(a) for a in attrs]) if attrs else np.zeros((0, len(ac.ATTRIBUTES)), np.float32)
    return torch.from_numpy(imgs), torch.from_numpy(y), attrs


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    r = max(1, int(math.ceil(2.5 * sigma)))
    t = torch.arange(-r, r + 1, dtype=x.dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    x = F.pad(x, (r, r, r, r), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random, label-preserving changes to a batch of faces in [-1, 1]: pose, blur, noise, colour, mirror."""
    n = x.shape[0]

    def u(lo, hi, *shape):
        return lo + (hi - lo) * torch.rand(n, *shape, generator=gen)

    # Pose: shift by up to 2.5 px, rotate by up to 6 degrees, scale by 0.93-1.07, mirror half of the faces.
    ang = u(-6, 6) * math.pi / 180
    scale = u(0.93, 1.07)
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(ang) / scale, torch.sin(ang) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, u(-2.5, 2.5) * 2 / x.shape[-1]], 1),
                         torch.stack([sin * flip, cos, u(-2.5, 2.5) * 2 / x.shape[-1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    # Blur: a per-face mix between the face and its blurred copy (sigma 1.2 px).
    t = u(0, 1, 1, 1, 1) ** 1.5
    x = x + t * (_gaussian_blur(x, 1.2) - x)
    # Colour: brightness, contrast, a little saturation and per-channel gain (kept small: the grey hair
    # label depends on the hair having no hue).
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * u(0.8, 1.15, 1, 1, 1) + mean + u(-0.12, 0.12, 1, 1, 1)
    gray = x.mean(dim=1, keepdim=True)
    x = gray + (x - gray) * u(0.85, 1.15, 1, 1, 1)
    x = x * u(0.96, 1.04, 3, 1, 1)
    # Noise: Gaussian, sigma up to 0.06 (about 8 grey levels).
    x = x + u(0, 0.06, 1, 1, 1) * torch.randn(x.shape, generator=gen)
    return x.clamp(-1.2, 1.2)


def evaluate(model, images_uint8: torch.Tensor, y: torch.Tensor) -> dict:
    """Per attribute: accuracy, balanced accuracy (mean of the true-positive and true-negative rates),
    positive rate of the labels, on faces ``images_uint8`` with 0/1 labels ``y``; predictions at p >= 0.5."""
    probs = ac.predict(model, images_uint8.float() / 127.5 - 1)
    report = {}
    for i, name in enumerate(model.attributes):
        pred = probs[name] >= 0.5
        truth = y[:, i] > 0.5
        tpr = float((pred & truth).sum() / truth.sum().clamp(min=1))
        tnr = float((~pred & ~truth).sum() / (~truth).sum().clamp(min=1))
        report[name] = {"accuracy": round(float((pred == truth).float().mean()), 4),
                        "balanced_accuracy": round((tpr + tnr) / 2, 4), "base_rate": round(float(truth.float().mean()), 4)}
    return report


def train(out, steps: int = 3000, seed: int = 0, train_size: int = 12000, holdout_size: int = 2000,
          batch: int = 64, width: int = 24, lr: float = 3e-3, progress: bool = True) -> dict:
    """Train a classifier on identikit faces and write it to ``out``; returns the held-out report."""
    if steps < 1 or train_size < 1 or holdout_size < 1 or batch < 1:
        raise ValueError("steps, train_size, holdout_size and batch must be positive")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    x_train, y_train, _ = dataset(TRAIN_SEED0, train_size, "training faces")
    x_hold, y_hold, hold_attrs = dataset(HOLDOUT_SEED0, holdout_size, "held-out faces")
    model = ac.AttributeClassifier(width=width)
    model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    model.train()
    bar = tqdm(range(steps), desc="attribute classifier", disable=not progress)
    avg = None
    for _ in bar:
        idx = torch.randint(train_size, [batch], generator=gen)
        x = augment(x_train[idx].float() / 127.5 - 1, gen).contiguous(memory_format=torch.channels_last)
        loss = F.binary_cross_entropy_with_logits(model(x), y_train[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        value = loss.item()
        avg = value if avg is None else 0.98 * avg + 0.02 * value
        bar.set_postfix(loss=f"{avg:.4f}")
    model = model.to(memory_format=torch.contiguous_format).eval().requires_grad_(False)
    # Report what the saved (float16) weights do: round-trip them before measuring.
    model.load_state_dict({k: v.half().float() for k, v in model.state_dict().items()})
    report = {"heldout": evaluate(model, x_hold, y_hold),
              "heldout_seeds": f"{HOLDOUT_SEED0}-{HOLDOUT_SEED0 + holdout_size - 1}",
              "train_seeds": f"{TRAIN_SEED0}-{TRAIN_SEED0 + train_size - 1}",
              "steps": steps, "batch": batch, "seed": seed}
    beard = np.array([a["beard"] for a in hold_attrs])
    probs = ac.predict(model, x_hold.float() / 127.5 - 1)["beard"].numpy() >= 0.5
    report["beard_detected_by_kind"] = {k: round(float(probs[beard == k].mean()), 4) for k in identikit.BEARDS
                                        if (beard == k).any()}
    ac.save(model, out, report)
    return report


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="example:\n  python -m stylegan_fast.train.attribute_classifier "
                                       "--out runs/attributes.safetensors --steps 3000 --seed 0")
    p.add_argument("--out", required=True, help="output .safetensors file (written atomically)")
    p.add_argument("--steps", type=int, default=3000, help="training steps (default 3000)")
    p.add_argument("--seed", type=int, default=0, help="random seed for initialization, batches and augmentation")
    p.add_argument("--train-size", type=int, default=12000, help="training faces (seeds from 1,000,000)")
    p.add_argument("--holdout-size", type=int, default=2000, help="held-out faces (seeds from 2,000,000)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--width", type=int, default=24, help="channels of the first layer (multiple of 8; default 24)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: faster than 2 on a shared 2-core machine)")
    args = p.parse_args(argv)
    for name in ("steps", "train_size", "holdout_size", "batch"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.width < 8 or args.width % 8:
        p.error(f"--width must be a positive multiple of 8, got {args.width}")
    out = Path(args.out)
    folder = out.parent if str(out.parent) else Path(".")
    if out.is_dir():
        p.error(f"--out {str(out)!r} is a folder; give a file name")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        p.error(f"cannot create the folder for --out {str(out)!r}: {e}")
    if not os.access(folder, os.W_OK):
        p.error(f"cannot write to {str(folder)!r} (for --out {str(out)!r})")
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    report = train(out, steps=args.steps, seed=args.seed, train_size=args.train_size,
                   holdout_size=args.holdout_size, batch=args.batch, width=args.width)
    print(f"wrote {out} in {time.perf_counter() - t0:.0f} s; held-out faces {report['heldout_seeds']}:")
    for name, r in report["heldout"].items():
        print(f"  {name:10s} accuracy {r['accuracy']:.4f}  balanced {r['balanced_accuracy']:.4f}  "
              f"(base rate {r['base_rate']:.3f})")
    print("  beard detected by kind: " + ", ".join(f"{k} {v:.3f}" for k, v in report["beard_detected_by_kind"].items()))


if __name__ == "__main__":
    main()
