"""StyleGAN2's last conv layer of a block fused with its toRGB: styled_conv2d then torgb_skip.

Kernel backends without a fused kernel run the composition (reference.py) with their own ops.
"""
from __future__ import annotations

from ..cpu_support import register_cpu
from ..cuda_support import register_cuda
from ..dispatch import Op, needs_grad
from ..styled_conv2d import check_styled_conv_args
from ..torgb_skip import check_torgb_args
from ..triton_support import register_triton
from . import reference

_op = Op("styled_conv2d_torgb", reference.styled_conv2d_torgb)
register_triton(_op, f"{__name__}.triton_kernels", "styled_conv2d_torgb")
register_cpu(_op, f"{__name__}.reference", "styled_conv2d_torgb")  # the cpu backend's two ops
register_cuda(_op, f"{__name__}.reference", "styled_conv2d_torgb")  # the cuda backend's two ops


def styled_conv2d_torgb(x, weight, styles, bias, noise, noise_strength, clamp, rgb_weight, rgb_styles, rgb_bias,
                        skip=None, resample_filter=None, rgb_clamp=None, keep_x=True, backend=None):
    """x: [N, I, H, W] -> (y [N, O, H, W] or None, img [N, img_C, H, W]): ops.styled_conv2d (up=1) then
    ops.torgb_skip on its output; ``keep_x=False`` when nothing reads y (its kernel may never write it)."""
    noise_strength, clamp = check_styled_conv_args(x, weight, styles, bias, noise, noise_strength, 1, None, clamp)
    y_shape = [x.shape[0], weight.shape[0], x.shape[2], x.shape[3]]
    rgb_clamp = check_torgb_args(y_shape, rgb_weight, skip, rgb_clamp)
    implementation = _op(x.device, backend, needs_grad(x, weight, styles, bias, noise_strength, rgb_weight, rgb_styles,
                                                       rgb_bias, skip), x.dtype)
    return implementation(x, weight, styles, bias, noise, noise_strength, clamp, rgb_weight, rgb_styles, rgb_bias, skip,
                          resample_filter, rgb_clamp, bool(keep_x))
