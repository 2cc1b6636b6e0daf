"""Adaptive instance normalization (StyleGAN1), the specification.

    y[n, c] = scale[n, c] * (x[n, c] - mean) / sqrt(var + eps) + shift[n, c]
mean and var over H, W of x[n, c] (biased variance), computed in float32.
"""
from __future__ import annotations


def adain(x, scale, shift, eps):
    h = x.float()
    h = h - h.mean(dim=[2, 3], keepdim=True)
    h = h * (h.square().mean(dim=[2, 3], keepdim=True) + eps).rsqrt()
    h = h * scale.float()[:, :, None, None] + shift.float()[:, :, None, None]
    return h.to(x.dtype)
