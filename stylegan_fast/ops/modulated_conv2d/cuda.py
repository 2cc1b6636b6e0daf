"""modulated_conv2d on the cuda backend around torch's convolution (cuDNN), no per-sample weights:

    s', d = demodulation_kernel(styles, Wsq)      # [N, I] styles (rescaled for fp16), [N, O] d
    x'    = x * s'[n, i]                          # scale_planes_kernel (prologue), written channels_last
    y     = conv(x', weight)                      # F.conv2d, or conv_transpose2d + upfirdn2d (up=2)
    y     = y * d[n, o]                           # scale_planes_kernel in place (epilogue)

The convolution is linear in each input channel, so scaling the activations by s before it and its
output channels by d after it equals the reference's per-sample weights w * s * d. The convolution
runs in channels_last (input and weight), so cuDNN writes channels_last and our kernels keep it.
The weight in the activations' dtype and layout, and its squared sums Wsq [O, I] (float32) for d,
are computed once per weight (ops/weight_cache.py).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import cuda_support as cs
from ..upfirdn2d import upfirdn2d
from ..weight_cache import weight_cache
from .reference import transposed_fir_padding


def conv_weights(weight, dtype, rescale: bool, up: int):
    """-> (the convolution's weight in ``dtype``, channels_last: [O, I, kh, kw], or [I, O, kh, kw] for the
    transposed conv (up=2); Wsq [O, I] float32), cached beside the weight parameter. ``rescale``: the
    float16 path's weight, max |w| = 1/sqrt(I*kh*kw) per output channel, as the reference does."""
    def build():
        w = weight.to(torch.float32)
        if rescale:
            _, in_channels, kh, kw = w.shape
            w = w * (1 / (in_channels * kh * kw) ** 0.5 / w.abs().amax(dim=[1, 2, 3], keepdim=True))
        conv = w.to(dtype) if up == 1 else w.to(dtype).transpose(0, 1)
        return cs.channels_last(conv), w.square().sum(dim=[2, 3]).contiguous()
    return weight_cache.get(weight, ("cuda", dtype, rescale, up), build)


def modulation(styles, w_sq, rescale: bool):
    """styles [N, I] (any float dtype), Wsq [O, I] float32 -> (s' [N, I], d [N, O]) float32 (demodulation_kernel)."""
    styles = cs.parameter("styles", styles, [-1, w_sq.shape[1]], w_sq.device)
    n, in_channels = styles.shape
    out_channels = w_sq.shape[0]
    s = torch.empty_like(styles)
    d = torch.empty(n, out_channels, dtype=torch.float32, device=styles.device)
    if d.numel():
        cs.native().cuda_demodulation(styles.data_ptr(), w_sq.data_ptr(), s.data_ptr(), d.data_ptr(), n, in_channels,
                                      out_channels, bool(rescale), *cs.launch(styles.device))
    else:  # no output channel (or sample): nothing reads s'
        s.copy_(styles)
    return s, d


def scale_planes(x, scale, out):
    """out [N, C, H, W] = x * scale[n, c] (scale float32 [N, C]); out may be x."""
    cs.native().cuda_scale_planes(cs.dtype_code(x), tuple(x.shape), x.data_ptr(), cs.strides(x), scale.data_ptr(),
                                  out.data_ptr(), cs.strides(out), *cs.launch(x.device))
    return out


def convolve(x, conv_weight, kernel_shape, up, resample_filter):
    """The reference's _conv with the weight from conv_weights: 'same' conv2d, or the stride-2 transposed
    conv and the FIR (cuda upfirdn2d, gain 4) cropping it to [N, O, 2H, 2W]."""
    kh, kw = kernel_shape[-2:]
    if up == 1:
        return F.conv2d(x, conv_weight, padding=(kh // 2, kw // 2))
    y = F.conv_transpose2d(x, conv_weight, stride=up)  # [N, O, (H-1)*up + kh, (W-1)*up + kw]
    return upfirdn2d(y, resample_filter, padding=transposed_fir_padding(resample_filter, kernel_shape, up),
                     gain=up * up, backend="cuda")


def modulate_and_convolve(x, weight, styles, demodulate, up, resample_filter):
    """Prologue and convolution shared with styled_conv2d -> (y [N, O, H*up, W*up] channels_last, d or None)."""
    x = cs.kernel_input("x", x, [-1, weight.shape[1], -1, -1])
    weight = cs.kernel_input("weight", weight, [-1, -1, -1, -1], cs.KERNEL_DTYPES + (torch.float64,), x.device)
    rescale = demodulate and x.dtype == torch.float16
    conv_weight, w_sq = conv_weights(weight, x.dtype, rescale, up)
    if demodulate:
        s, d = modulation(styles, w_sq, rescale)
    else:
        s, d = cs.parameter("styles", styles, [x.shape[0], x.shape[1]], x.device), None
    x = scale_planes(x, s, torch.empty(x.shape, dtype=x.dtype, device=x.device, memory_format=torch.channels_last))
    return convolve(x, conv_weight, weight.shape, up, resample_filter), d


def modulated_conv2d(x, weight, styles, demodulate, up, resample_filter):
    """The reference's signature (arguments checked by ops.modulated_conv2d)."""
    y, d = modulate_and_convolve(x, weight, styles, demodulate, up, resample_filter)
    return y if d is None else scale_planes(y, d, y)
