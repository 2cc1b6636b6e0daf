"""StyleGAN2 output branch: modulated 1x1 toRGB plus the FIR-upsampled skip image."""
from __future__ import annotations

from ..dispatch import Op, needs_grad, check_ndim
from ..cpu_support import register_cpu
from ..cuda_support import register_cuda
from ..triton_support import register_triton
from . import reference

_op = Op("torgb_skip", reference.torgb_skip)
register_triton(_op, f"{__name__}.triton_kernels", "torgb_skip")
register_cpu(_op, f"{__name__}.cpu", "torgb_skip")
register_cuda(_op, f"{__name__}.cuda", "torgb_skip")


def torgb_skip(x, weight, styles, bias, skip=None, resample_filter=None, clamp=None, backend=None):
    """x: [N, C, H, W]; weight: [img_C, C, 1, 1]; styles: [N, C]; skip: [N, img_C, H/2, W/2] or None."""
    check_ndim("x", x, 4, "[N, C, H, W]")
    clamp = check_torgb_args(x.shape, weight, skip, clamp)
    implementation = _op(x.device, backend, needs_grad(x, weight, styles, bias, skip), x.dtype)
    return implementation(x, weight, styles, bias, skip, resample_filter, clamp)


def check_torgb_args(x_shape, weight, skip, clamp):
    """The checks of toRGB's skip image for an input of ``x_shape`` [N, C, H, W] -> clamp or None."""
    if skip is not None:
        check_ndim("skip", skip, 4, "[N, img_C, H/2, W/2]")
        expected = [x_shape[0], weight.shape[0], x_shape[2] // 2, x_shape[3] // 2]
        if list(skip.shape) != expected:
            raise ValueError(f"skip must have shape {expected}, got {list(skip.shape)}")
    return None if clamp is not None and clamp < 0 else clamp
