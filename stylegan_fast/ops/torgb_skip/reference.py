"""toRGB with skip connection (StyleGAN2), the specification.

    y   = clamp(modulated_conv2d(x, weight, styles, demodulate=False) + bias)   (1x1 conv)
    img = upsample2d(skip, resample_filter) + y      (or y alone for the first block)
"""
from __future__ import annotations

from ..modulated_conv2d import modulated_conv2d
from ..noise_bias_act import noise_bias_act
from ..upfirdn2d import upsample2d


def torgb_skip(x, weight, styles, bias, skip, resample_filter, clamp):
    y = modulated_conv2d(x, weight, styles, demodulate=False)
    y = noise_bias_act(y, bias, clamp=clamp)
    if skip is None:
        return y
    return upsample2d(skip, resample_filter) + y.to(skip.dtype)
