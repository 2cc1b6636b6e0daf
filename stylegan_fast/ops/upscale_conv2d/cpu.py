"""upscale_conv2d on the cpu backend: the four sub-pixel phases of the upscale conv as one Winograd
convolution of the low-resolution input (ops/winograd.py; the phase kernels are stylegan1_conv2d's)."""
from __future__ import annotations

from .. import winograd
from ..stylegan1_conv2d.cpu import transformed_weight


def upscale_conv2d(x, weight, fused):
    """The reference's signature (arguments checked by ops.upscale_conv2d)."""
    return winograd.winograd_conv(x, transformed_weight(weight, 1.0, "up", fused), weight.shape[0], 2)
