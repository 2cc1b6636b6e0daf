"""noise_bias_act on the cuda backend: one pass of csrc/cuda/noise_bias_act.cu into a new tensor.

The output has x's memory format (channels_last stays channels_last); x of other than 4 dims is
viewed as [N, C, S, 1].
"""
from __future__ import annotations

import math

from .. import cuda_support as cs


def launch(x, bias, noise, noise_strength, act, alpha, gain, clamp, out) -> None:
    """out [N, C, H, W] = the epilogue of x [N, C, H, W] (out may be x); arguments as the reference's."""
    bias = cs.parameter("bias", None if bias is None else bias.reshape(-1), [x.shape[1]], x.device)
    noise, noise_strides, strength, strength_stride = cs.noise_arguments(noise, noise_strength, x)
    cs.native().cuda_noise_bias_act(
        cs.dtype_code(x), tuple(x.shape), x.data_ptr(), cs.strides(x), cs.pointer(bias), cs.pointer(noise),
        noise_strides, cs.pointer(strength), strength_stride, float(gain), act != "linear",
        0.0 if act == "relu" else float(alpha), -1.0 if clamp is None else float(clamp), out.data_ptr(),
        cs.strides(out), *cs.launch(x.device))


def noise_bias_act(x, bias, noise, noise_strength, act, alpha, gain, clamp):
    """The reference's signature (arguments checked by ops.noise_bias_act). x: [N, C, ...]."""
    x = cs.kernel_input("x", x)
    if x.ndim < 2:
        raise ValueError(f"x must be a tensor [N, C, ...], got shape {list(x.shape)}")
    if x.ndim == 4:
        y = cs.empty(x.shape, x)
        launch(x, bias, noise, noise_strength, act, alpha, gain, clamp, y)
        return y
    if noise is not None:
        raise ValueError(f"noise needs x of shape [N, C, H, W], got {list(x.shape)}")
    shape = (x.shape[0], x.shape[1], math.prod(x.shape[2:]), 1)  # [N, C, S, 1]
    y = x.new_empty(x.shape)  # contiguous: its view below is the tensor itself
    launch(x.reshape(shape), bias, None, None, act, alpha, gain, clamp, y.view(shape))
    return y
