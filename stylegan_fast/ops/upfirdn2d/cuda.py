"""upfirdn2d on the cuda backend: csrc/cuda/upfirdn2d.cu, one pass, one output element per thread.

The filter becomes the kernels' correlation taps (flipped unless flip_filter, gain applied; a 1-D
filter as the outer product of its two passes' taps, f * sqrt(gain) each), float32 on the device,
kept beside the filter tensor. 4x4 filters (up 1 or 2) and 3x3 filters (up 1) run kernels with the
tap loops unrolled. The output has x's memory format.
"""
from __future__ import annotations

import torch

from .. import cuda_support as cs
from ..weight_cache import weight_cache
from .cpu import _output_size as output_size  # the output size, or the error for a too small input


def correlation_taps(f, flip_filter, gain, device) -> torch.Tensor:
    """[fh, fw] float32 on ``device``: what the kernels multiply by (cached until the filter changes)."""
    def build():
        g = f.to(device=device, dtype=torch.float32)
        if not flip_filter:  # the kernels correlate; flip for a true convolution
            g = g.flip(list(range(g.ndim)))
        if g.ndim == 1:
            g = g * (gain ** 0.5)
            return torch.outer(g, g).contiguous()
        return (g * gain).contiguous()
    return weight_cache.get(f, ("cuda-taps", bool(flip_filter), float(gain), device), build)


def upfirdn2d(x, f, up=1, down=1, padding=(0, 0, 0, 0), flip_filter=False, gain=1.0):
    """The reference's signature (arguments checked by ops.upfirdn2d). x: [N, C, H, W]."""
    x = cs.kernel_input("x", x, [-1, -1, -1, -1])
    if f is None:
        f = torch.ones([1, 1], dtype=torch.float32, device=x.device)
    if not isinstance(f, torch.Tensor) or f.ndim not in (1, 2) or f.numel() == 0:
        raise ValueError(f"f must be a 1-D (separable) or 2-D non-empty tensor, got {getattr(f, 'shape', f)!r}")
    if up < 1 or down < 1:
        raise ValueError(f"up and down must be >= 1, got up={up}, down={down}")
    taps = correlation_taps(f, flip_filter, gain, x.device)
    n, c, h, w = x.shape
    fh, fw = taps.shape
    px0, px1, py0, py1 = (int(p) for p in padding)
    oh = output_size(h, up, py0, py1, fh, down, "height")
    ow = output_size(w, up, px0, px1, fw, down, "width")
    y = cs.empty([n, c, oh, ow], x)
    cs.native().cuda_upfirdn2d(cs.dtype_code(x), tuple(x.shape), x.data_ptr(), cs.strides(x), taps.data_ptr(), fh, fw,
                               up, down, px0, py0, oh, ow, y.data_ptr(), cs.strides(y), *cs.launch(x.device))
    return y
