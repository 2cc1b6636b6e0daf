"""StyleGAN1 upsampling convolution, the specification.

Below 128 px: nearest-neighbour 2x upsampling, then a 3x3 convolution ('same').
From 128 px up ("fused"): the 3x3 kernel zero-padded to 5x5 and summed over its
four one-pixel shifts gives a 4x4 kernel, applied as a stride-2 transposed
convolution with padding 1 (StyleGAN1's fused upscale). Note the fused form
equals nearest upsampling followed by a true convolution (the kernel flipped).
"""
from __future__ import annotations

import torch.nn.functional as F


def fused_upscale_kernel(weight):
    """[O, I, 3, 3] -> [O, I, 4, 4]: sum of the four shifted copies of the padded kernel."""
    w = F.pad(weight, [1, 1, 1, 1])
    return w[:, :, 1:, 1:] + w[:, :, :-1, 1:] + w[:, :, 1:, :-1] + w[:, :, :-1, :-1]


def upscale_conv2d(x, weight, fused):
    w = weight.to(x.dtype)
    if fused:
        return F.conv_transpose2d(x, fused_upscale_kernel(w).transpose(0, 1), stride=2, padding=1)
    x = F.interpolate(x, scale_factor=2, mode="nearest")
    return F.conv2d(x, w, padding=w.shape[-1] // 2)
