"""styled_conv2d on the cpu backend: StyleGAN2's conv layer as one Winograd convolution.

The style scales the input in the input transform, demodulation, noise, bias, leaky ReLU x sqrt(2)
and the clamp run in the output transform (ops/winograd.py); an upsampling layer runs as the four
phases of its transposed conv + FIR. Kernels other than 3x3 use torch's convolution for the
product and the same epilogue.
"""
from __future__ import annotations

import torch

from .. import winograd
from ..modulated_conv2d import reference as modulated
from ..noise_bias_act import noise_bias_act
from ..noise_bias_act.reference import ACTIVATIONS
from ..rowwise import rowwise_linear

_, ALPHA, GAIN = ACTIVATIONS["lrelu"]


def _probe(x, w, resample_filter):
    """The reference's upsampling convolution (styles 1, no demodulation), for phase_kernels."""
    return modulated.modulated_conv2d(x, w, torch.ones(x.shape[0], w.shape[1], dtype=w.dtype), demodulate=False,
                                      up=2, resample_filter=resample_filter.to(w.dtype))


def transformed_weight(weight, up, resample_filter):
    """U [36, up*up*O, I] for this layer's weight (cached until the weight changes)."""
    if up == 1:
        return winograd.weight_cache.get(weight, "winograd", lambda: winograd.transform_weight(weight))
    key = ("winograd-up2", tuple(resample_filter.flatten().tolist()))
    return winograd.weight_cache.get(weight, key, lambda: winograd.transform_weight(
        winograd.phase_kernels(lambda x, w: _probe(x, w, resample_filter), weight)))


def demodulation_coefficients(weight, styles):
    """d[n, o] = rsqrt(sum_i s[n, i]^2 * Wsq[o, i] + 1e-8), Wsq = sum over the taps of w^2 cached per weight
    (the reference's formula and rounding: ops/modulated_conv2d/reference.py)."""
    w_sq = winograd.weight_cache.get(weight, "w_sq", lambda: weight.to(torch.float32).square().sum(dim=[2, 3]))
    return (rowwise_linear(styles.to(torch.float32).square(), w_sq) + 1e-8).rsqrt()


def styled_conv2d(x, weight, styles, bias, noise, noise_strength, up, resample_filter, clamp):
    """The reference's signature (arguments checked by ops.styled_conv2d)."""
    out_channels = weight.shape[0]
    demod = demodulation_coefficients(weight, styles)  # [N, O]
    strength = None if noise is None else noise_strength.to(torch.float32).expand(out_channels)
    if weight.shape[-2:] == (3, 3):
        u = transformed_weight(weight, up, resample_filter)
        return winograd.winograd_conv(x, u, out_channels, up, styles, demod, noise, strength, bias,
                                      gain=GAIN, lrelu=True, alpha=ALPHA, clamp=clamp)
    y = modulated.modulated_conv2d(x, weight, styles, demodulate=True, up=up, resample_filter=resample_filter)
    return noise_bias_act(y, bias, noise, noise_strength, act="lrelu", clamp=clamp)
