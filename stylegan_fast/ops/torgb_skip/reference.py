"""toRGB with skip connection (StyleGAN2), the specification.

    y   = clamp(modulated_conv2d(x, weight, styles, demodulate=False) + bias)   (1x1 conv)
    img = upsample2d(skip, resample_filter) + y      (or y alone for the first block)
"""
from __future__ import annotations

import torch

from ..modulated_conv2d import modulated_conv2d
from ..noise_bias_act import noise_bias_act
from ..upfirdn2d import upsample2d


def torgb_skip(x, weight, styles, bias, skip, resample_filter, clamp):
    y = modulated_conv2d(x, weight, styles, demodulate=False)
    y = noise_bias_act(y, bias, clamp=clamp)
    if skip is None:
        return y
    return upsample2d(skip, resample_filter) + y.to(skip.dtype)


def phase_taps(f: torch.Tensor) -> torch.Tensor:
    """A 4x4 (or 4-tap 1-D) filter -> taps [2, 2, 2, 2] float32: output pixel (2b + py, 2c + px) of
    upsample2d (gain 4) is sum_ij taps[py, px, i, j] * skip[b - 1 + py + i, c - 1 + px + j]."""
    f = f.to(device="cpu", dtype=torch.float32)
    k = torch.tensor([[3, 1], [2, 0]])  # filter index of phase p, tap i: 3 - p - 2 i (true convolution)
    if f.ndim == 1:  # separable: two passes of gain 2, as upfirdn2d applies them
        g = f * 2.0
        return (g[k][:, None, :, None] * g[k][None, :, None, :]).contiguous()
    f = f * 4.0
    return f[k[:, None, :, None], k[None, :, None, :]].contiguous()


def phase_taps_apply(f) -> bool:
    """Whether ``phase_taps`` describes upsample2d with filter ``f`` (4 taps, 1-D or 4x4)."""
    return f is not None and f.ndim in (1, 2) and all(s == 4 for s in f.shape)
