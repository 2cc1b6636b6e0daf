"""Modulated convolution (StyleGAN2), the specification.

For sample n with style s[n, i] and weight w[o, i, ky, kx]:
    w'[n, o, i, ky, kx] = w[o, i, ky, kx] * s[n, i]                        (modulation)
    w''[n, o, ...]      = w'[n, o, ...] / sqrt(sum_{i,ky,kx} w'^2 + 1e-8)  (demodulation)
    y[n]                = conv(x[n], w''[n])  with 'same' padding
With up=2 the convolution is a stride-2 transposed convolution followed by the
FIR ``resample_filter`` (gain 4), which is how StyleGAN2 upsamples.

Implemented by scaling the activations before and after one convolution shared
by the whole batch, which equals the per-sample weights above:
    y = conv(x * s, w) * d,   d[n, o] = rsqrt(sum_i s[n, i]^2 * sum_{ky,kx} w[o, i]^2 + 1e-8)
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..upfirdn2d import filter_size, upfirdn2d


def demodulation_coefficients(weight, styles):
    """d[n, o] = rsqrt(sum_{i,ky,kx} (w[o, i, ky, kx] * s[n, i])^2 + 1e-8), in float32 or better."""
    dtype = torch.promote_types(torch.promote_types(weight.dtype, styles.dtype), torch.float32)
    w_sq = weight.to(dtype).square().sum(dim=[2, 3])  # [O, I]
    return (styles.to(dtype).square() @ w_sq.t() + 1e-8).rsqrt()  # [N, O]


def modulated_conv2d(x, weight, styles, demodulate=True, up=1, resample_filter=None):
    n = x.shape[0]
    out_channels, in_channels, kh, kw = weight.shape
    dtype = x.dtype

    if dtype == torch.float16 and demodulate:
        # Rescale so fp16 cannot overflow; demodulation divides the scale out again.
        weight = weight * (1 / (in_channels * kh * kw) ** 0.5 / weight.abs().amax(dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.abs().amax(dim=1, keepdim=True)

    x = x * styles.to(dtype).reshape(n, in_channels, 1, 1)
    w = weight.to(dtype)
    if up == 1:
        x = F.conv2d(x, w, padding=(kh // 2, kw // 2))
    else:
        # Transposed conv: [N, I, H, W] -> [N, O, (H-1)*up + kh, (W-1)*up + kw]
        x = F.conv_transpose2d(x, w.transpose(0, 1), stride=up)
        # FIR low-pass; the padding crops the result to [N, O, H*up, W*up].
        fw, fh = filter_size(resample_filter)
        px0 = (fw + up - 1) // 2 + kw // 2 - (kw - 1)
        px1 = (fw - up) // 2 + kw // 2 - (kw - up)
        py0 = (fh + up - 1) // 2 + kh // 2 - (kh - 1)
        py1 = (fh - up) // 2 + kh // 2 - (kh - up)
        x = upfirdn2d(x, resample_filter, padding=(px0, px1, py0, py1), gain=up * up)
    if demodulate:
        x = x * demodulation_coefficients(weight, styles).to(dtype).reshape(n, out_channels, 1, 1)
    return x
