"""stylegan1_conv2d on the cuda backend: torch's convolution (cuDNN, channels_last), the cuda FIR for
the up layer's [1, 2, 1] blur, and the noise/bias/lrelu epilogue in place (noise_bias_act's kernel).

    mode "same": y = conv2d(x, weight * weight_gain, padding 1)
    mode "up":   y = filter2d(upscale_conv2d(x, weight * weight_gain, fused), blur)   (upfirdn2d_3x3_kernel)
    y = lrelu(y + noise * strength[o] + bias[o], 0.2)                                    (in place, gain 1)

The scaled weight (and the fused form's 4x4 kernel) is computed once per weight in the reference's
dtype and order, in channels_last.
"""
from __future__ import annotations

import torch.nn.functional as F

from .. import cuda_support as cs
from ..noise_bias_act.cuda import launch as noise_bias_act_into
from ..upfirdn2d import filter2d
from ..upscale_conv2d.reference import fused_upscale_kernel
from ..weight_cache import weight_cache


def conv_weight(weight, weight_gain, mode, fused, dtype):
    """The layer's convolution weight in ``dtype``, channels_last: [O, I, 3, 3], or the fused transposed
    conv's [I, O, 4, 4] (cached until the weight changes)."""
    def build():
        w = weight.to(dtype) * weight_gain
        if mode == "up" and fused:
            w = fused_upscale_kernel(w).transpose(0, 1)
        return cs.channels_last(w)
    return weight_cache.get(weight, ("cuda-stylegan1", dtype, float(weight_gain), mode, bool(fused)), build)


def stylegan1_conv2d(x, weight, weight_gain, mode, fused, blur_filter, bias, noise, noise_strength):
    """The reference's signature (arguments checked by ops.stylegan1_conv2d)."""
    x = cs.channels_last(cs.kernel_input("x", x, [-1, weight.shape[1], -1, -1]))
    cs.kernel_input("weight", weight, [-1, x.shape[1], 3, 3], device=x.device)
    w = conv_weight(weight, weight_gain, mode, fused, x.dtype)
    if mode == "same":
        y = F.conv2d(x, w, padding=1)
    elif fused:
        y = F.conv_transpose2d(x, w, stride=2, padding=1)
    else:
        y = F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), w, padding=1)
    if mode == "up":
        y = filter2d(y, blur_filter, backend="cuda")
    noise_bias_act_into(y, bias, noise, noise_strength, "lrelu", 0.2, 1.0, None, y)
    return y
