"""stylegan1_conv2d on the cpu backend: one Winograd convolution with the noise/bias/lrelu epilogue.

The upsampling layer's upscale conv (nearest or fused) runs as its four sub-pixel phases on the
low-resolution input (ops/winograd.py); its [1, 2, 1] blur zero-pads the upsampled image, which no
phase kernel reproduces at the borders, so the blur and the epilogue follow as two more ops
(upfirdn2d and noise_bias_act on their cpu kernels).
"""
from __future__ import annotations

import torch

from .. import winograd
from ..weight_cache import weight_cache
from ..noise_bias_act import noise_bias_act
from ..upfirdn2d import filter2d
from ..upscale_conv2d import cpu as upscale


def transformed_weight(weight, weight_gain, mode, fused):
    """U [36, P * O, I] of the layer's convolution (cached until the weight changes)."""
    if mode == "up":
        return upscale.transformed_weight(weight, weight_gain, fused)
    return weight_cache.get(weight, ("same", weight_gain),
                                     lambda: winograd.transform_weight(weight.double() * weight_gain))


def stylegan1_conv2d(x, weight, weight_gain, mode, fused, blur_filter, bias, noise, noise_strength):
    """The reference's signature (arguments checked by ops.stylegan1_conv2d)."""
    u = transformed_weight(weight, weight_gain, mode, fused)
    out_channels = weight.shape[0]
    if mode == "up":
        y = winograd.winograd_conv(x, u, out_channels, 2)
        return noise_bias_act(filter2d(y, blur_filter), bias, noise, noise_strength, act="lrelu", gain=1)
    strength = None if noise is None else noise_strength.to(torch.float32)
    return winograd.winograd_conv(x, u, out_channels, 1, noise=noise, strength=strength, bias=bias, gain=1.0,
                                  lrelu=True, alpha=0.2)
