"""upscale_conv2d for the triton backend: torch's own convolution (cuDNN on a GPU), no Triton kernel.

StyleGAN1's upsampling convolution is a dense convolution and nothing else: no per-sample weights,
no epilogue to fuse (its noise, bias and activation follow in noise_bias_act, which has a Triton
kernel). A Triton kernel would have to beat cuDNN's transposed convolution at its own job, so the
triton backend registers this function, which runs the reference's computation (the stride-2
transposed convolution with the 4x4 kernel, or nearest 2x then a 3x3 convolution) with the
reference's own code: one definition of the op, and a generator on the triton backend runs every
op of StyleGAN1 without falling back. ``kernel_specs()`` is empty: there is nothing to compile.
"""
from __future__ import annotations

from ..triton_support import KernelSpec
from . import reference


def upscale_conv2d(x, weight, fused):
    """The reference's signature (arguments checked by ops.upscale_conv2d)."""
    return reference.upscale_conv2d(x, weight, fused)


def kernel_specs() -> list[KernelSpec]:
    """No @triton.jit kernel here (torch's convolution does the work), so no configuration to compile."""
    return []
