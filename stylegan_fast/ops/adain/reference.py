"""Adaptive instance normalization (StyleGAN1), the specification.

    y[n, c] = scale[n, c] * (x[n, c] - mean) / sqrt(var + eps) + shift[n, c]
mean and var over H, W of x[n, c] (biased variance), computed in float32 (float64 stays float64).
"""
from __future__ import annotations

import torch


def adain(x, scale, shift, eps):
    compute = torch.promote_types(x.dtype, torch.float32)
    h = x.to(compute)
    h = h - h.mean(dim=[2, 3], keepdim=True)
    h = h * (h.square().mean(dim=[2, 3], keepdim=True) + eps).rsqrt()
    h = h * scale.to(compute)[:, :, None, None] + shift.to(compute)[:, :, None, None]
    return h.to(x.dtype)
