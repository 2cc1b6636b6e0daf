"""FIR resampling, the specification: upsample by zero insertion, pad, FIR filter, downsample.

For each channel independently:
    u[y, x] = x_in[y / up, x / up] where y, x are multiples of up, else 0
    p       = u padded by (px0, px1, py0, py1) (negative values crop)
    v[y, x] = gain * sum_ij p[y + i, x + j] * f[fh - 1 - i, fw - 1 - j]   (true convolution;
              flip_filter=True makes it a correlation)
    out     = v[::down, ::down]
A 1-D filter ``f`` means the separable filter outer(f, f); ``gain`` then applies once overall.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def upfirdn2d(x, f, up=1, down=1, padding=(0, 0, 0, 0), flip_filter=False, gain=1.0):
    n, c, h, w = x.shape
    if f is None:
        f = torch.ones([1, 1], dtype=torch.float32, device=x.device)
    px0, px1, py0, py1 = padding

    if up > 1:  # [N, C, H, W] -> [N, C, H*up, W*up] with zeros between samples
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)

    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]

    f = f.to(x.dtype)
    if not flip_filter:  # conv2d computes a correlation; flip for a true convolution
        f = f.flip(list(range(f.ndim)))
    if f.ndim == 2:
        f = f * gain
        x = F.conv2d(x, f[None, None].expand(c, 1, *f.shape), groups=c)
    else:  # separable: one horizontal and one vertical 1-D pass
        f = f * (gain ** 0.5)
        x = F.conv2d(x, f[None, None, None, :].expand(c, 1, 1, f.numel()), groups=c)
        x = F.conv2d(x, f[None, None, :, None].expand(c, 1, f.numel(), 1), groups=c)

    if down > 1:
        x = x[:, :, ::down, ::down]
    return x
