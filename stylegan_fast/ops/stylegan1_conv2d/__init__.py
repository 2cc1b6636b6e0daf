"""StyleGAN1's conv layer up to its AdaIN: [upscale] conv -> [blur] -> noise -> bias -> lrelu."""
from __future__ import annotations

from ..cpu_support import register_cpu
from ..cuda_support import register_cuda
from ..dispatch import Op, check_dim, check_ndim, needs_grad
from ..triton_support import register_triton
from . import reference

_op = Op("stylegan1_conv2d", reference.stylegan1_conv2d)
register_triton(_op, f"{__name__}.triton_kernels", "stylegan1_conv2d")
register_cpu(_op, f"{__name__}.cpu", "stylegan1_conv2d")
register_cuda(_op, f"{__name__}.cuda", "stylegan1_conv2d")

MODES = ("same", "up")


def stylegan1_conv2d(x, weight, weight_gain, mode, fused, blur_filter, bias, noise=None, noise_strength=None,
                     backend=None):
    """x: [N, I, H, W], weight: [O, I, 3, 3] (times the scalar weight_gain), mode "same" or "up" (2x, with
    ``fused`` choosing the transposed form, then ``blur_filter``), bias: [O], noise: [N or 1, 1, H', W'] times
    noise_strength [O] -> [N, O, H', W'] (H' = H, or 2H for "up")."""
    check_ndim("x", x, 4, "[N, I, H, W]")
    check_ndim("weight", weight, 4, "[O, I, 3, 3]")
    check_dim("x", x, 1, weight.shape[1], "input channels (weight expects)")
    if tuple(weight.shape[2:]) != (3, 3):
        raise ValueError(f"stylegan1_conv2d takes 3x3 kernels, got {list(weight.shape[2:])}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "up" and blur_filter is None:
        raise ValueError("mode 'up' needs a blur_filter (e.g. setup_filter([1, 2, 1]))")
    check_ndim("bias", bias, 1, "[O]")
    check_dim("bias", bias, 0, weight.shape[0], "values (weight has output channels)")
    if noise is not None:
        size = [x.shape[2] * (2 if mode == "up" else 1), x.shape[3] * (2 if mode == "up" else 1)]
        if noise.ndim != 4 or noise.shape[0] not in (1, x.shape[0]) or noise.shape[1] != 1 \
                or list(noise.shape[2:]) != size:
            raise ValueError(f"noise must have shape [{x.shape[0]} or 1, 1] + {size} (the output's size), "
                             f"got {list(noise.shape)}")
        if noise_strength is None or noise_strength.shape != (weight.shape[0],):
            raise ValueError(f"noise needs a noise_strength of shape [{weight.shape[0]}] (one per output channel)")
    implementation = _op(x.device, backend, needs_grad(x, weight, bias, noise_strength), x.dtype)
    return implementation(x, weight, weight_gain, mode, bool(fused), blur_filter, bias, noise, noise_strength)
