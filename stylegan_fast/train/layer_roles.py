"""Layer-role regularization: teach the layer groups the roles the StyleGAN paper describes.

In the StyleGAN paper's FFHQ models the coarse styles (4-8 px) set pose and face shape and the fine styles
(64 px and up) set the colour scheme. A small 64 px model trained briefly settles on its own split: it
decides outlines in the coarse layers but colours in the 16 px layers. This regularizer, applied lazily
to the generator, asks for the paper's split directly on generated pairs (z1, z2):

- palette follows the fine styles: a face with z1's fine styles shows z1's palette, whatever gives its
  coarse and medium styles;
- outline does not follow the fine styles: swapping in z1's fine styles keeps z2's edges.

"Palette" is which colours appear (soft presence per colour bin, not how many pixels have them), so a
face may change shape without changing palette. The adversarial loss still decides what faces look like.
"""
from __future__ import annotations

import math

import torch

from ..styles import layer_groups, mix

BINS = 4  # per channel: 64 colour bins over [-1, 1]^3


def palette(img: torch.Tensor, sharpness: float = 20.0) -> torch.Tensor:
    """[N, 3, H, W] -> [N, BINS**3] soft presence of each colour bin (a smooth max over pixels)."""
    centres = torch.linspace(-1, 1, BINS, device=img.device, dtype=img.dtype)
    width = 2 / (BINS - 1)
    # Triangular weight of each pixel channel to each bin centre: [N, 3, BINS, H*W].
    x = img.clamp(-1, 1).flatten(2)[:, :, None, :]
    w = (1 - (x - centres[None, None, :, None]).abs() / width).clamp(min=0)
    joint = (w[:, 0, :, None, None] * w[:, 1, None, :, None] * w[:, 2, None, None, :]).flatten(1, 3)
    return (torch.logsumexp(joint * sharpness, dim=-1) - math.log(x.shape[-1])) / sharpness


def edges(img: torch.Tensor) -> torch.Tensor:
    """Forward-difference gradient magnitude of the grey image, [N, 1, H-1, W-1]."""
    grey = img.mean(dim=1, keepdim=True)
    dx, dy = grey[..., :-1, 1:] - grey[..., :-1, :-1], grey[..., 1:, :-1] - grey[..., :-1, :-1]
    return (dx.square() + dy.square() + 1e-8).sqrt()


def layer_role_loss(G, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """Mean palette and outline mismatch for the fine, coarse and medium swaps described above."""
    groups = layer_groups(G.config)
    ws1, ws2 = G.mapping(z1), G.mapping(z2)

    # One synthesis pass for all five images: ws2 with ws1's fine rows; ws1 with ws2's coarse, medium rows.
    batch = torch.cat([ws1, ws2, mix(ws2, ws1, groups["fine"]), mix(ws1, ws2, groups["coarse"]),
                       mix(ws1, ws2, groups["medium"])])
    x1, x2, x_fine, x_coarse, x_medium = G.synthesis(batch, noise_mode="const").chunk(5)
    p1 = palette(x1)
    palette_loss = sum((palette(x) - p1).abs().mean() for x in (x_fine, x_coarse, x_medium)) / 3
    outline_loss = (edges(x_fine) - edges(x2)).abs().mean()
    return palette_loss + outline_loss
