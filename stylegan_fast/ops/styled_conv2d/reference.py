"""StyleGAN2's whole conv layer, the specification: the composition of two ops.

    y = modulated_conv2d(x, weight, styles, demodulate=True, up, resample_filter)   # [N, O, H*up, W*up]
    y = clamp(lrelu(y + noise * strength + bias, 0.2) * sqrt(2), -clamp, clamp)     # noise_bias_act
noise: [N or 1, 1, H*up, W*up] or None; strength: a scalar tensor; bias: [O] or None; clamp: None
for no clamping. The public ops are called (not their references), so this composition dispatches
each of them as any other call would (their own kernels where they have some).
"""
from __future__ import annotations

from ..modulated_conv2d import modulated_conv2d
from ..noise_bias_act import noise_bias_act


def styled_conv2d(x, weight, styles, bias, noise, noise_strength, up, resample_filter, clamp):
    y = modulated_conv2d(x, weight, styles, demodulate=True, up=up, resample_filter=resample_filter)
    return noise_bias_act(y, bias, noise, noise_strength, act="lrelu", clamp=clamp)
