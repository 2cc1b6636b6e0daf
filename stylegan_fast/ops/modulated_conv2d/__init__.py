"""Modulated (optionally upsampling) convolution of StyleGAN2."""
from __future__ import annotations

from ..dispatch import Op, needs_grad, check_dim, check_ndim
from ..cpu_support import register_cpu
from ..cuda_support import register_cuda
from ..triton_support import register_triton
from . import reference

_op = Op("modulated_conv2d", reference.modulated_conv2d)
register_triton(_op, f"{__name__}.triton_kernels", "modulated_conv2d")
register_cpu(_op, f"{__name__}.cpu", "modulated_conv2d")
register_cuda(_op, f"{__name__}.cuda", "modulated_conv2d")


def modulated_conv2d(x, weight, styles, demodulate=True, up=1, resample_filter=None, backend=None):
    """x: [N, I, H, W], weight: [O, I, k, k], styles: [N, I] -> [N, O, H*up, W*up]."""
    check_modulated_conv_args(x, weight, styles, up, resample_filter)
    implementation = _op(x.device, backend, needs_grad(x, weight, styles), x.dtype)
    return implementation(x, weight, styles, demodulate, up, resample_filter)


def check_modulated_conv_args(x, weight, styles, up, resample_filter) -> None:
    """The checks every modulated convolution op makes (modulated_conv2d, styled_conv2d)."""
    check_ndim("x", x, 4, "[N, I, H, W]")
    check_ndim("weight", weight, 4, "[O, I, kh, kw]")
    check_ndim("styles", styles, 2, "[N, I]")
    check_dim("x", x, 1, weight.shape[1], "input channels (weight expects)")
    check_dim("styles", styles, 1, weight.shape[1], "channels (weight expects)")
    check_dim("styles", styles, 0, x.shape[0], "samples (x has)")
    if up not in (1, 2):
        raise ValueError(f"up must be 1 or 2, got {up}")
    if up == 2 and resample_filter is None:
        raise ValueError("up=2 needs a resample_filter (e.g. setup_filter([1, 3, 3, 1]))")
