"""styled_conv2d on the cpu backend: StyleGAN2's conv layer as one Winograd convolution.

modulated_conv2d's cpu path (the style in the input transform, demodulation in the output
transform, an upsampling layer as the four phases of its transposed conv + FIR) with noise, bias,
leaky ReLU x sqrt(2) and the clamp added to the output transform's epilogue (ops/winograd.py).
Kernels other than 3x3 use torch's convolution for the product and the same epilogue op.
"""
from __future__ import annotations

import torch

from .. import winograd
from ..modulated_conv2d import cpu as modulated
from ..modulated_conv2d import reference as modulated_reference
from ..noise_bias_act import noise_bias_act
from ..noise_bias_act.reference import ACTIVATIONS

_, ALPHA, GAIN = ACTIVATIONS["lrelu"]


def styled_conv2d(x, weight, styles, bias, noise, noise_strength, up, resample_filter, clamp):
    """The reference's signature (arguments checked by ops.styled_conv2d)."""
    if weight.shape[-2:] != (3, 3):
        y = modulated_reference.modulated_conv2d(x, weight, styles, True, up, resample_filter)
        return noise_bias_act(y, bias, noise, noise_strength, act="lrelu", clamp=clamp)
    out_channels = weight.shape[0]
    strength = None if noise is None else noise_strength.to(torch.float32).expand(out_channels)
    return winograd.winograd_conv(x, modulated.transformed_weight(weight, up, resample_filter), out_channels, up,
                                  scale=styles, demod=modulated.demodulation_coefficients(weight, styles),
                                  noise=noise, strength=strength, bias=bias, gain=GAIN, lrelu=True, alpha=ALPHA,
                                  clamp=clamp)
