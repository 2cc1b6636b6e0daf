"""How close generated faces are to the procedural dataset, on features that need no trained network.

- ``frechet_distance_8x8``: the Fréchet distance (as in FID) between Gaussians fitted to 8x8 RGB
  thumbnails (192 features: layout and colour at a coarse scale) of the two image sets.
- ``colour_tv``: total-variation distance between the 3-D colour histograms (8 bins per channel)
  of all pixels of the two sets, in [0, 1].
Both are reported beside the same numbers for two disjoint sets of real faces (the floor).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..images import to_uint8
from ..latents import z_from_seeds
from . import identikit

REAL_SEED_OFFSET = 10_000_000  # held-out faces: the trainer uses seeds from 0


def thumbnails(images_uint8: np.ndarray, size: int = 8) -> np.ndarray:
    """[N, H, W, 3] uint8 -> [N, size*size*3] float64 area-averaged thumbnails in [0, 1]."""
    x = torch.from_numpy(images_uint8).permute(0, 3, 1, 2).double() / 255
    return F.adaptive_avg_pool2d(x, size).flatten(1).numpy()


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + tr(C_a + C_b - 2 (C_a C_b)^1/2) of Gaussians fitted to features a, b [N, D]."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(ca)
    sqrt_ca = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.linalg.eigvalsh(sqrt_ca @ cb @ sqrt_ca)  # same eigenvalues as C_a C_b
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(ca) + np.trace(cb) - 2 * np.sqrt(np.clip(cross, 0, None)).sum())


def colour_histogram(images_uint8: np.ndarray, bins: int = 8) -> np.ndarray:
    q = (images_uint8.reshape(-1, 3).astype(np.int64) * bins) // 256
    h = np.bincount((q[:, 0] * bins + q[:, 1]) * bins + q[:, 2], minlength=bins ** 3).astype(np.float64)
    return h / h.sum()


def colour_tv(a_uint8: np.ndarray, b_uint8: np.ndarray) -> float:
    return float(0.5 * np.abs(colour_histogram(a_uint8) - colour_histogram(b_uint8)).sum())


def scores(fake_uint8: np.ndarray, real_uint8: np.ndarray) -> dict:
    return {"frechet_distance_8x8": frechet_distance(thumbnails(fake_uint8), thumbnails(real_uint8)),
            "colour_tv": colour_tv(fake_uint8, real_uint8)}


def real_faces(n: int, size: int, offset: int = REAL_SEED_OFFSET) -> np.ndarray:
    return identikit.faces_uint8(range(offset, offset + n), size)


@torch.no_grad()
def generated_faces(G, n: int, seed_offset: int = 0, batch: int = 64, truncation_psi: float = 1.0) -> np.ndarray:
    out = []
    for start in range(seed_offset, seed_offset + n, batch):
        seeds = list(range(start, min(start + batch, seed_offset + n)))
        z = z_from_seeds(seeds, G.z_dim).to(G.device)
        out.append(to_uint8(G(z, truncation_psi=truncation_psi, noise_mode="const")).cpu().numpy())
    return np.concatenate(out)


def quality_report(models: dict, n: int = 2000) -> dict:
    """{name: scores} for each generator in ``models``, plus 'real (held-out)' for a second real set."""
    size = next(iter(models.values())).img_resolution
    real = real_faces(n, size)
    report = {"real (held-out)": scores(real_faces(n, size, REAL_SEED_OFFSET + n), real)}
    for name, G in models.items():
        report[name] = scores(generated_faces(G, n), real)
    return report
