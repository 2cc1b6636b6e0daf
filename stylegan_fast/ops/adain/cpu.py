"""adain on the cpu backend: csrc/cpu/adain.cpp (statistics in double, the rest in float32)."""
from __future__ import annotations

import torch

from ..cpu_support import kernel_input, native, pointer, threads


def adain(x, scale, shift, eps):
    """The reference's signature (arguments checked by ops.adain). x: [N, C, H, W]; scale, shift: [N, C]."""
    x = kernel_input("x", x, [-1, -1, -1, -1])
    n, c, h, w = x.shape
    scale = kernel_input("scale", scale, [n, c])
    shift = kernel_input("shift", shift, [n, c])
    if h * w == 0:
        raise ValueError(f"adain needs planes with at least one element, got x of shape {list(x.shape)}")
    y = torch.empty_like(x)
    native().adain(pointer(x), pointer(scale), pointer(shift), pointer(y), n * c, h * w, float(eps), threads())
    return y
