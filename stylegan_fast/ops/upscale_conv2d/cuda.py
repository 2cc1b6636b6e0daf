"""upscale_conv2d on the cuda backend: torch's own convolution (cuDNN) in channels_last, no kernel of ours.

StyleGAN1's upsampling convolution is a dense convolution and nothing else (its noise, bias and
activation follow in noise_bias_act), so the reference's computation runs on a channels_last input:
cuDNN then writes channels_last, the layout the cuda backend keeps between ops.
"""
from __future__ import annotations

from .. import cuda_support as cs
from . import reference


def upscale_conv2d(x, weight, fused):
    """The reference's signature (arguments checked by ops.upscale_conv2d)."""
    x = cs.kernel_input("x", x, [-1, -1, -1, -1])
    cs.kernel_input("weight", weight, [-1, x.shape[1], 3, 3], device=x.device)
    return reference.upscale_conv2d(cs.channels_last(x), weight, fused)
