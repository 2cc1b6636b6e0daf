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
from ..styles import layer_groups, mix
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


# --- What each layer group controls, measured on the images (independent of layer_roles.py's loss) ---

def edge_mask(images: torch.Tensor, top: float = 0.2) -> torch.Tensor:
    """[N, 3, H, W] -> [N, H, W] bool: the ``top`` fraction of pixels with the largest Sobel gradient (the
    largest over R, G and B; flat pictures have fewer). Where the outlines are, not how strong: recolouring
    regions leaves it alone."""
    kx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]], device=images.device)[None, None]
    x = images.float().flatten(0, 1)[:, None]
    gx, gy = F.conv2d(x, kx, padding=1), F.conv2d(x, kx.transpose(2, 3), padding=1)
    magnitude = (gx.square() + gy.square()).sqrt().reshape(images.shape).amax(dim=1)
    threshold = magnitude.flatten(1).quantile(1 - top, dim=1)
    return (magnitude >= threshold[:, None, None]) & (magnitude > 0)  # ties at the threshold count as edges


def jaccard_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """1 - |a & b| / |a | b| per sample of boolean masks [N, ...]."""
    inter = (a & b).flatten(1).sum(1).float()
    union = (a | b).flatten(1).sum(1).float().clamp(min=1)
    return 1 - inter / union


def colour_histograms(images: torch.Tensor, bins: int = 4) -> torch.Tensor:
    """[N, 3, H, W] in [-1, 1] -> [N, bins**3] per-image pixel-count colour histograms (sum 1)."""
    q = ((images.float().clamp(-1, 1) + 1) / 2 * bins).long().clamp(max=bins - 1)
    idx = ((q[:, 0] * bins + q[:, 1]) * bins + q[:, 2]).flatten(1)
    ones = torch.ones_like(idx, dtype=torch.float)
    h = torch.zeros(idx.shape[0], bins ** 3, device=images.device).scatter_add_(1, idx, ones)
    return h / idx.shape[1]


def _changes(img_a: torch.Tensor):
    """A function of images [N, 3, H, W] giving (outline, palette): their mean change from ``img_a``."""
    edges_a, hist_a = edge_mask(img_a), colour_histograms(img_a)

    def change(img):
        outline = jaccard_distance(edge_mask(img), edges_a).mean().item()
        palette = 0.5 * (colour_histograms(img) - hist_a).abs().sum(dim=1).mean().item()
        return outline, palette
    return change


def _shares(change, whole: torch.Tensor, parts: dict) -> dict:
    """{'all': whole's absolute change, name: each part's change as a share of whole's}."""
    all_outline, all_palette = change(whole)
    report = {"all": {"outline": all_outline, "palette": all_palette}}
    for name, img in parts.items():
        outline, palette = change(img)
        report[name] = {"outline": outline / all_outline, "palette": palette / all_palette}
    return report


@torch.no_grad()
def layer_group_effects(G, n: int = 64, seed_a: int = 0, seed_b: int = 100_000) -> dict:
    """For each layer group, what swapping in another face's styles changes, as a fraction of what swapping
    all styles (a different face altogether) changes:

    - ``outline``: Jaccard distance between the edge masks (where the outlines of face, hair, eyes are);
    - ``palette``: total-variation distance between the images' colour histograms (which colours, and how
      much of each: skin, hair, eyes, background).

    Pairs: seeds seed_a.. and seed_b.., psi 1, constant noise. Returns {group: {outline, palette}} plus
    'all' with the absolute changes.
    """
    ws_a = G.mapping(z_from_seeds(range(seed_a, seed_a + n), G.z_dim).to(G.device))
    ws_b = G.mapping(z_from_seeds(range(seed_b, seed_b + n), G.z_dim).to(G.device))

    def swapped(rows):
        return G.synthesis(mix(ws_a, ws_b, rows), noise_mode="const")
    change = _changes(G.synthesis(ws_a, noise_mode="const"))
    parts = {name: swapped(rows) for name, rows in layer_groups(G.config).items()}
    return _shares(change, swapped(list(range(G.num_ws))), parts)


def dataset_swap_effects(n: int = 64, size: int = 64, seed_a: int = 0, seed_b: int = 100_000) -> dict:
    """``layer_group_effects`` measured on the dataset itself: face a drawn with face b's colour attributes
    ('colours') or with its shape attributes ('shape'), as shares of drawing face b. What a generator whose
    fine layers held exactly the colours, and its other layers exactly the shape, would score."""
    def draw(attrs):
        return identikit.to_tensor(np.stack([identikit.render_face(a, size) for a in attrs]))
    a = [identikit.sample_attributes(s) for s in range(seed_a, seed_a + n)]
    b = [identikit.sample_attributes(s) for s in range(seed_b, seed_b + n)]
    colours = [{**x, **{k: y[k] for k in identikit.COLOUR_ATTRIBUTES}} for x, y in zip(a, b)]
    shape = [{**y, **{k: x[k] for k in identikit.COLOUR_ATTRIBUTES}} for x, y in zip(a, b)]
    return _shares(_changes(draw(a)), draw(b), {"colours": draw(colours), "shape": draw(shape)})
