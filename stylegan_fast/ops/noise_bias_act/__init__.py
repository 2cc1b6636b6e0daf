"""Fused epilogue of every synthesis layer: noise, bias, activation, gain, clamp."""
from __future__ import annotations

import torch

from ..cpu_support import register_cpu
from ..cuda_support import register_cuda
from ..dispatch import Op, check_dim, needs_grad
from ..triton_support import register_triton
from . import reference
from .reference import ACTIVATIONS

_op = Op("noise_bias_act", reference.noise_bias_act)
register_triton(_op, f"{__name__}.triton_kernels", "noise_bias_act")
register_cpu(_op, f"{__name__}.cpu", "noise_bias_act")
register_cuda(_op, f"{__name__}.cuda", "noise_bias_act")


def noise_bias_act(x, bias=None, noise=None, noise_strength=None, act="linear", alpha=None, gain=None,
                   clamp=None, backend=None):
    """x: [N, C, ...]; bias: [C]; noise: [N|1, 1, H, W] times noise_strength ([] or [C])."""
    if act not in ACTIVATIONS:
        raise ValueError(f"unknown activation {act!r}; choose one of: {', '.join(ACTIVATIONS)}")
    _, def_alpha, def_gain = ACTIVATIONS[act]
    if bias is not None:
        check_dim("bias", bias.reshape(1, -1), 1, x.shape[1], "values (x has channels)")
    if noise is not None:
        if noise_strength is None:
            raise ValueError("noise needs a noise_strength (a scalar or one weight per channel)")
        noise_strength = torch.as_tensor(noise_strength, device=x.device)
        if noise.ndim != 4 or noise.shape[1] != 1 or tuple(noise.shape[2:]) != tuple(x.shape[2:]):
            raise ValueError(f"noise must have shape [N or 1, 1] + {list(x.shape[2:])}, got {list(noise.shape)}")
    if gain is not None and not gain > 0:
        raise ValueError(f"gain must be positive, got {gain}")
    if clamp is not None and clamp < 0:
        clamp = None
    return _op(x.device, backend, needs_grad(x, bias, noise_strength), x.dtype)(
        x, bias, noise, noise_strength, act,
        def_alpha if alpha is None else alpha, def_gain if gain is None else gain, clamp,
    )
