"""StyleGAN1 2x upsampling convolution (nearest + conv, or the fused transposed form)."""
from __future__ import annotations

from ..dispatch import Op, needs_grad, check_dim, check_ndim
from ..cpu_support import register_cpu
from ..cuda_support import register_cuda
from ..triton_support import register_triton
from . import reference

_op = Op("upscale_conv2d", reference.upscale_conv2d)
register_triton(_op, f"{__name__}.triton_kernels", "upscale_conv2d")
register_cpu(_op, f"{__name__}.cpu", "upscale_conv2d")
register_cuda(_op, f"{__name__}.cuda", "upscale_conv2d")


def upscale_conv2d(x, weight, fused, backend=None):
    """x: [N, I, H, W], weight: [O, I, 3, 3] -> [N, O, 2H, 2W]."""
    check_ndim("x", x, 4, "[N, I, H, W]")
    check_ndim("weight", weight, 4, "[O, I, k, k]")
    check_dim("x", x, 1, weight.shape[1], "input channels (weight expects)")
    if weight.shape[-1] != 3 or weight.shape[-2] != 3:
        raise ValueError(f"upscale_conv2d supports 3x3 kernels, got {list(weight.shape[-2:])}")
    return _op(x.device, backend, needs_grad(x, weight), x.dtype)(x, weight, bool(fused))
