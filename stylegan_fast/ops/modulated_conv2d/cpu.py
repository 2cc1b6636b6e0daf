"""modulated_conv2d on the cpu backend: one Winograd convolution (ops/winograd.py).

The style scales the input in the input transform and demodulation multiplies the output in the
output transform; the weight's Winograd transform (and, for upsampling, its four phase kernels)
and its squared sums for demodulation are computed once per weight. Kernels other than 3x3 run
the reference's torch convolution.
"""
from __future__ import annotations

import torch

from .. import winograd
from ..weight_cache import weight_cache
from . import reference


def _probe(x, w, resample_filter):
    """The reference's upsampling convolution (styles 1, no demodulation), for phase_kernels."""
    return reference.modulated_conv2d(x, w, torch.ones(x.shape[0], w.shape[1], dtype=w.dtype), demodulate=False,
                                      up=2, resample_filter=resample_filter.to(w.dtype))


def transformed_weight(weight, up, resample_filter):
    """U [36, up*up*O, I] of a 3x3 weight (cached until the weight changes)."""
    if up == 1:
        return weight_cache.get(weight, "winograd", lambda: winograd.transform_weight(weight))
    key = ("winograd-up2", tuple(resample_filter.flatten().tolist()))
    return weight_cache.get(weight, key, lambda: winograd.transform_weight(
        winograd.phase_kernels(lambda x, w: _probe(x, w, resample_filter), weight)))


def demodulation_coefficients(weight, styles):
    """The reference's coefficients (float32 inputs) with the weight's squared sums cached beside it."""
    w_sq = weight_cache.get(weight, "w_sq", lambda: reference.squared_weight_sums(weight, torch.float32))
    return reference.demodulation_coefficients(weight, styles, w_sq)


def modulated_conv2d(x, weight, styles, demodulate, up, resample_filter):
    """The reference's signature (arguments checked by ops.modulated_conv2d)."""
    if weight.shape[-2:] != (3, 3):
        return reference.modulated_conv2d(x, weight, styles, demodulate, up, resample_filter)
    demod = demodulation_coefficients(weight, styles) if demodulate else None
    return winograd.winograd_conv(x, transformed_weight(weight, up, resample_filter), weight.shape[0], up,
                                  scale=styles, demod=demod)
