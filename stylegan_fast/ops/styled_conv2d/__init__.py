"""StyleGAN2's conv layer as one op: modulated conv (demodulated) -> noise -> bias -> lrelu -> clamp."""
from __future__ import annotations

import torch

from ..dispatch import Op, check_dim, check_ndim, needs_grad
from ..modulated_conv2d import check_modulated_conv_args
from ..cpu_support import register_cpu
from ..cuda_support import register_cuda
from ..triton_support import register_triton
from . import reference

_op = Op("styled_conv2d", reference.styled_conv2d)
register_triton(_op, f"{__name__}.triton_kernels", "styled_conv2d")
register_cpu(_op, f"{__name__}.cpu", "styled_conv2d")
register_cuda(_op, f"{__name__}.cuda", "styled_conv2d")


def styled_conv2d(x, weight, styles, bias=None, noise=None, noise_strength=None, up=1, resample_filter=None,
                  clamp=None, backend=None):
    """x: [N, I, H, W], weight: [O, I, k, k], styles: [N, I], bias: [O] or None,
    noise: [N or 1, 1, H*up, W*up] or None times the scalar noise_strength -> [N, O, H*up, W*up].

    ``clamp``: None (or negative) for no clamping. The layer is
    clamp(lrelu(modulated_conv2d(x, weight, styles, demodulate=True) + noise * strength + bias) * sqrt(2)).
    """
    noise_strength, clamp = check_styled_conv_args(x, weight, styles, bias, noise, noise_strength, up,
                                                   resample_filter, clamp)
    implementation = _op(x.device, backend, needs_grad(x, weight, styles, bias, noise_strength), x.dtype)
    return implementation(x, weight, styles, bias, noise, noise_strength, up, resample_filter, clamp)


def check_styled_conv_args(x, weight, styles, bias, noise, noise_strength, up, resample_filter, clamp):
    """The checks of a StyleGAN2 conv layer's arguments -> (noise_strength as a scalar tensor or None, clamp or None)."""
    check_modulated_conv_args(x, weight, styles, up, resample_filter)
    if bias is not None:
        check_ndim("bias", bias, 1, "[O]")
        check_dim("bias", bias, 0, weight.shape[0], "values (weight has output channels)")
    if noise is not None:
        out_hw = [x.shape[2] * up, x.shape[3] * up]
        if noise.ndim != 4 or noise.shape[0] not in (1, x.shape[0]) or noise.shape[1] != 1 \
                or list(noise.shape[2:]) != out_hw:
            raise ValueError(f"noise must have shape [{x.shape[0]} or 1, 1] + {out_hw} (the output's size), "
                             f"got {list(noise.shape)}")
        if noise_strength is None:
            raise ValueError("noise needs a noise_strength (a scalar)")
        if not isinstance(noise_strength, torch.Tensor):  # a Python number keeps its float64 precision
            noise_strength = torch.tensor(noise_strength, dtype=torch.float64)
        noise_strength = noise_strength.to(x.device)
        if noise_strength.numel() != 1:
            raise ValueError(f"noise_strength must be a scalar (one per layer), got shape {list(noise_strength.shape)}")
        noise_strength = noise_strength.reshape([])
    if clamp is not None and clamp < 0:
        clamp = None
    return noise_strength, clamp
