"""Modulated convolution (StyleGAN2), the specification.

For sample n with style s[n, i] and weight w[o, i, ky, kx]:
    w'[n, o, i, ky, kx] = w[o, i, ky, kx] * s[n, i]                        (modulation)
    w''[n, o, ...]      = w'[n, o, ...] / sqrt(sum_{i,ky,kx} w'^2 + 1e-8)  (demodulation)
    y[n]                = conv(x[n], w''[n])  with 'same' padding
With up=2 the convolution is a stride-2 transposed convolution followed by the
FIR ``resample_filter`` (gain 4), which is how StyleGAN2 upsamples.

The weight is shared by the batch: the activations are scaled by s before one convolution and
by the demodulation coefficients d after it (the convolution is linear in each input channel,
so this equals per-sample weights w * s * d). One algorithm for every batch size, so an image
is the same rendered alone or in a batch. Demodulation coefficients are computed in float32
(or float64). ``modulate_weight`` gives the per-sample weights themselves (for checks).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..rowwise import rowwise_linear
from ..upfirdn2d import filter_size, upfirdn2d


def squared_weight_sums(weight, dtype):
    """Wsq[o, i] = sum_{ky,kx} w[o, i, ky, kx]^2 in ``dtype``: demodulation's per-weight part."""
    return weight.to(dtype).square().sum(dim=[2, 3])  # [O, I]


def demodulation_coefficients(weight, styles, w_sq=None):
    """d[n, o] = rsqrt(sum_{i,ky,kx} (w[o, i, ky, kx] * s[n, i])^2 + 1e-8), in float32 or better.
    ``w_sq``: squared_weight_sums(weight, that dtype) when the caller keeps it."""
    dtype = torch.promote_types(torch.promote_types(weight.dtype, styles.dtype), torch.float32)
    if w_sq is None:
        w_sq = squared_weight_sums(weight, dtype)
    return (rowwise_linear(styles.to(dtype).square(), w_sq) + 1e-8).rsqrt()  # [N, O]


def modulate_weight(weight, styles, demodulate):
    """[O, I, kh, kw] x [N, I] -> per-sample weights [N, O, I, kh, kw] (float32 or better)."""
    dtype = torch.promote_types(torch.promote_types(weight.dtype, styles.dtype), torch.float32)
    n, in_channels = styles.shape
    w = weight.to(dtype).unsqueeze(0) * styles.to(dtype).reshape(n, 1, in_channels, 1, 1)
    if demodulate:
        w = w * demodulation_coefficients(weight, styles).reshape(n, -1, 1, 1, 1)
    return w


def _conv(x, w, up, resample_filter):
    """Plain (up=1) or transposed + FIR (up=2) convolution with one weight [O, I, kh, kw] for the batch."""
    out_channels, in_channels, kh, kw = w.shape
    if up == 1:
        return F.conv2d(x, w, padding=(kh // 2, kw // 2))
    # Transposed conv: [N, I, H, W] -> [N, O, (H-1)*up + kh, (W-1)*up + kw]
    x = F.conv_transpose2d(x, w.transpose(0, 1), stride=up)
    # FIR low-pass; the padding crops the result to [N, O, H*up, W*up].
    return upfirdn2d(x, resample_filter, padding=transposed_fir_padding(resample_filter, w.shape, up), gain=up * up)


def transposed_fir_padding(resample_filter, kernel_shape, up):
    """(px0, px1, py0, py1) of the FIR after the stride-``up`` transposed conv with ``kernel_shape`` [.., kh, kw]:
    what crops its output to H*up x W*up."""
    kh, kw = kernel_shape[-2:]
    fw, fh = filter_size(resample_filter)
    return ((fw + up - 1) // 2 + kw // 2 - (kw - 1), (fw - up) // 2 + kw // 2 - (kw - up),
            (fh + up - 1) // 2 + kh // 2 - (kh - 1), (fh - up) // 2 + kh // 2 - (kh - up))


def modulated_conv2d(x, weight, styles, demodulate=True, up=1, resample_filter=None):
    n = x.shape[0]
    if x.dtype == torch.float16 and demodulate:
        # Rescale so fp16 activations cannot overflow; demodulation divides the scale out again.
        _, in_channels, kh, kw = weight.shape
        weight = weight * (1 / (in_channels * kh * kw) ** 0.5 / weight.abs().amax(dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.abs().amax(dim=1, keepdim=True)
    x = x * styles.to(x.dtype).reshape(n, -1, 1, 1)
    x = _conv(x, weight.to(x.dtype), up, resample_filter)
    if demodulate:
        x = x * demodulation_coefficients(weight, styles).to(x.dtype).reshape(n, -1, 1, 1)
    return x
