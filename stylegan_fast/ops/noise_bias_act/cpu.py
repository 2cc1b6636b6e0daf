"""noise_bias_act on the cpu backend: one pass of csrc/cpu/noise_bias_act.cpp into a new tensor."""
from __future__ import annotations

import math

import torch

from ..cpu_support import kernel_input, native, pointer, threads


def noise_bias_act(x, bias, noise, noise_strength, act, alpha, gain, clamp):
    """The reference's signature (arguments checked by ops.noise_bias_act). x: [N, C, ...]."""
    if not isinstance(x, torch.Tensor) or x.ndim < 2:
        raise ValueError(f"x must be a tensor [N, C, ...], got {getattr(x, 'shape', type(x).__name__)}")
    n, c = x.shape[:2]
    spatial = list(x.shape[2:])
    x = kernel_input("x", x)
    bias = kernel_input("bias", None if bias is None else bias.reshape(-1), [c])
    noise_batch_stride = strength_stride = 0
    if noise is not None:
        noise = kernel_input("noise", noise, [-1, 1] + spatial)
        if noise.shape[0] not in (1, n):
            raise ValueError(f"noise must have batch size 1 or {n} (x's), got {list(noise.shape)}")
        noise_batch_stride = 0 if noise.shape[0] == 1 else math.prod(spatial)
        noise_strength = kernel_input("noise_strength", torch.as_tensor(noise_strength).reshape(-1))
        if noise_strength.numel() not in (1, c):
            raise ValueError(f"noise_strength must be a scalar or have {c} values (x's channels), "
                             f"got shape {list(noise_strength.shape)}")
        strength_stride = 0 if noise_strength.numel() == 1 else 1
    else:
        noise_strength = None
    y = torch.empty_like(x)
    native().noise_bias_act(pointer(x), pointer(bias), pointer(noise), pointer(noise_strength), pointer(y), n, c,
                            math.prod(spatial), noise_batch_stride, strength_stride, float(gain), act != "linear",
                            0.0 if act == "relu" else float(alpha), -1.0 if clamp is None else float(clamp), threads())
    return y
