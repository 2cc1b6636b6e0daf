"""Noise injection + bias + activation + gain + clamp, the specification.

    y = clamp(act(x + noise * strength + bias, alpha) * gain, -clamp, clamp)
noise: [N or 1, 1, H, W] broadcast over channels; strength: a scalar (StyleGAN2)
or one weight per channel (StyleGAN1); bias: one value per channel (dim 1).
"""
from __future__ import annotations

import math

import torch.nn.functional as F

# name -> (function(x, alpha), default alpha, default gain)
ACTIVATIONS = {
    "linear": (lambda x, alpha: x, 0.0, 1.0),
    "relu": (lambda x, alpha: F.relu(x), 0.0, math.sqrt(2)),
    "lrelu": (lambda x, alpha: F.leaky_relu(x, alpha), 0.2, math.sqrt(2)),
}


def _per_channel(t, ndim):  # [C] or [] -> broadcastable over dim 1
    return t.reshape([1, -1] + [1] * (ndim - 2))


def noise_bias_act(x, bias, noise, noise_strength, act, alpha, gain, clamp):
    if noise is not None:
        x = x + noise.to(x.dtype) * _per_channel(noise_strength.to(x.dtype), x.ndim)
    if bias is not None:
        x = x + _per_channel(bias.to(x.dtype), x.ndim)
    fn = ACTIVATIONS[act][0]
    x = fn(x, alpha)
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x
