"""upscale_conv2d on the cpu backend: the four sub-pixel phases of the upscale conv as one Winograd
convolution of the low-resolution input (ops/winograd.py)."""
from __future__ import annotations

from .. import winograd
from ..weight_cache import weight_cache
from . import reference


def transformed_weight(weight, weight_gain, fused):
    """U [36, 4 * O, I] of the upscale conv of ``weight * weight_gain`` (cached until the weight changes)."""
    return weight_cache.get(weight, ("up", weight_gain, fused), lambda: winograd.transform_weight(
        winograd.phase_kernels(lambda x, w: reference.upscale_conv2d(x, w, fused), weight.double() * weight_gain)))


def upscale_conv2d(x, weight, fused):
    """The reference's signature (arguments checked by ops.upscale_conv2d)."""
    return winograd.winograd_conv(x, transformed_weight(weight, 1.0, fused), weight.shape[0], 2)
