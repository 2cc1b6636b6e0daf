"""upfirdn2d on the cpu backend: csrc/cpu/upfirdn2d.cpp, one pass over each plane.

The taps are made as the reference makes them (float32, flipped unless flip_filter, times the gain
in float32); a 1-D filter runs as the reference's two passes, horizontal then vertical, with the
square root of the gain in each (the kernel keeps the horizontal results of the rows in use only).
"""
from __future__ import annotations

import torch

from ..cpu_support import kernel_input, native, pointer, threads


def _output_size(size, up, pad0, pad1, taps, down, what):
    padded = size * up + pad0 + pad1
    if padded < taps:
        raise ValueError(f"upfirdn2d: the upsampled, padded {what} ({size} * {up} + {pad0} + {pad1} = {padded}) "
                         f"is smaller than the filter ({taps} taps)")
    return (padded - taps) // down + 1


def _run(x, f, separable, up, down, px0, px1, py0, py1):  # x [N, C, H, W]; f [fh, fw], or [fw] = [fh] when separable
    n, c, h, w = x.shape
    fh, fw = (f.numel(), f.numel()) if separable else f.shape
    oh = _output_size(h, up, py0, py1, fh, down, "height")
    ow = _output_size(w, up, px0, px1, fw, down, "width")
    y = torch.empty(n, c, oh, ow, dtype=torch.float32)
    f = f.contiguous()
    native().upfirdn2d(pointer(x), pointer(f), pointer(f) if separable else 0, pointer(y), n * c, h, w, oh, ow, fh,
                       fw, up, up, down, down, px0, py0, threads())
    return y


def upfirdn2d(x, f, up=1, down=1, padding=(0, 0, 0, 0), flip_filter=False, gain=1.0):
    """The reference's signature (arguments checked by ops.upfirdn2d). x: [N, C, H, W]."""
    x = kernel_input("x", x, [-1, -1, -1, -1])
    f = torch.ones([1, 1]) if f is None else kernel_input("f", f)
    if f.ndim not in (1, 2) or f.numel() == 0:
        raise ValueError(f"f must be 1-D (separable) or 2-D and non-empty, got shape {list(f.shape)}")
    if up < 1 or down < 1:
        raise ValueError(f"up and down must be >= 1, got up={up}, down={down}")
    px0, px1, py0, py1 = (int(p) for p in padding)
    if not flip_filter:  # the kernel correlates; flip for a true convolution
        f = f.flip(list(range(f.ndim)))
    if f.ndim == 2:
        return _run(x, f * gain, False, up, down, px0, px1, py0, py1)
    return _run(x, f * (gain ** 0.5), True, up, down, px0, px1, py0, py1)
