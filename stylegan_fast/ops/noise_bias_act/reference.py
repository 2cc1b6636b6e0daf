"""Noise injection + bias + activation + gain + clamp, the specification.

    y = clamp(act(x + noise * strength + bias, alpha) * gain, -clamp, clamp)     (gain > 0)
noise: [N or 1, 1, H, W] broadcast over channels; strength: a scalar (StyleGAN2)
or one weight per channel (StyleGAN1); bias: one value per channel (dim 1).
"""
from __future__ import annotations

import math

import torch.nn.functional as F

# name -> (function(x, alpha, inplace), default alpha, default gain)
ACTIVATIONS = {
    "linear": (lambda x, alpha, inplace: x, 0.0, 1.0),
    "relu": (lambda x, alpha, inplace: F.relu(x, inplace=inplace), 0.0, math.sqrt(2)),
    "lrelu": (lambda x, alpha, inplace: F.leaky_relu(x, alpha, inplace=inplace), 0.2, math.sqrt(2)),
}


def _per_channel(t, ndim):  # [C] or [] -> broadcastable over dim 1
    return t.reshape([1, -1] + [1] * (ndim - 2))


def noise_bias_act(x, bias, noise, noise_strength, act, alpha, gain, clamp):
    # One new tensor, then in-place updates of it. The gain goes before the activation
    # (act(y) * g == act(y * g) for g > 0), so that nothing modifies the activation's output,
    # which autograd keeps.
    y = x
    if noise is not None:
        y = y + noise.to(x.dtype) * _per_channel(noise_strength.to(x.dtype), x.ndim)
    if bias is not None:
        b = _per_channel(bias.to(x.dtype), x.ndim)
        y = y.add_(b) if y is not x else y + b
    if gain != 1:
        y = y.mul_(gain) if y is not x else y * gain
    y = ACTIVATIONS[act][0](y, alpha, y is not x)
    if clamp is not None:
        y = y.clamp(-clamp, clamp)
    return y
