"""StyleGAN1's conv layer up to its AdaIN, the specification: the composition of three ops.

    mode "same": y = conv2d(x, weight * weight_gain, padding 1)                        # [N, O, H, W]
    mode "up":   y = filter2d(upscale_conv2d(x, weight * weight_gain, fused), blur)    # [N, O, 2H, 2W]
    y = lrelu(y + noise * strength[o] + bias[o], 0.2)                                  # gain 1
noise: [N or 1, 1, H', W'] or None; strength: [O] (one weight per channel). The public ops are
called, so each dispatches as any other call would.
"""
from __future__ import annotations

import torch.nn.functional as F

from ..noise_bias_act import noise_bias_act
from ..upfirdn2d import filter2d
from ..upscale_conv2d import upscale_conv2d


def convolve(x, weight, weight_gain, mode, fused, blur_filter):
    """The layer's linear part: the 'same' conv, or the upscale conv followed by the blur."""
    w = weight.to(x.dtype) * weight_gain
    if mode == "same":
        return F.conv2d(x, w, padding=1)
    return filter2d(upscale_conv2d(x, w, fused), blur_filter.to(x.dtype))


def stylegan1_conv2d(x, weight, weight_gain, mode, fused, blur_filter, bias, noise, noise_strength):
    y = convolve(x, weight, weight_gain, mode, fused, blur_filter)
    return noise_bias_act(y, bias, noise, noise_strength, act="lrelu", gain=1)
