"""styled_conv2d in Triton: StyleGAN2's conv layer as prologue, torch's convolution, one epilogue.

    s', d = modulation_kernel(styles, weight)                 # modulated_conv2d's kernels
    x'    = x * s'[n, i]                                      # scale_planes_kernel (prologue)
    y     = conv(x', weight)                                  # F.conv2d, or conv_transpose2d + upfirdn2d
    y     = clamp(lrelu(y * d[n, o] + noise * strength + bias) * sqrt(2))     # styled_epilogue_kernel

The epilogue reads the convolution's output once and writes the layer's output over it, where
the composition of the reference reads and writes the activations three more times (x d, then
noise/bias/activation). Everything is computed in float32 whatever the I/O dtype.
"""
from __future__ import annotations

import itertools

import torch
import triton
import triton.language as tl

from ..modulated_conv2d import triton_kernels as modulated
from ..noise_bias_act.reference import ACTIVATIONS
from ..triton_support import POINTER_TYPES, KernelSpec

_, ALPHA, GAIN = ACTIVATIONS["lrelu"]  # 0.2, sqrt(2)


@triton.jit
def styled_epilogue_kernel(y_ptr, d_ptr, bias_ptr, noise_ptr, strength_ptr, C, L, noise_batch_stride,
                           alpha, gain, clamp,
                           HAS_BIAS: tl.constexpr, HAS_NOISE: tl.constexpr, HAS_CLAMP: tl.constexpr,
                           BLOCK: tl.constexpr):
    """In place on y viewed as [N*C, L]: program (plane, block) handles BLOCK elements of plane n*C + c.

    d: [N, C] float32; bias: [C] float32; strength: [1] float32; noise: [N or 1, L] in y's dtype
    (noise_batch_stride 0 for one noise image shared by the batch).
    """
    plane = tl.program_id(0)  # n * C + c
    n = plane // C
    c = plane % C
    offs = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < L
    base = plane.to(tl.int64) * L
    v = tl.load(y_ptr + base + offs, mask=mask).to(tl.float32) * tl.load(d_ptr + plane)
    if HAS_NOISE:
        noise = tl.load(noise_ptr + n.to(tl.int64) * noise_batch_stride + offs, mask=mask).to(tl.float32)
        v += noise * tl.load(strength_ptr)
    if HAS_BIAS:
        v += tl.load(bias_ptr + c)
    v = v * gain  # before the activation: lrelu(v) * g == lrelu(v * g) for g > 0
    v = tl.where(v < 0.0, v * alpha, v)
    if HAS_CLAMP:
        v = tl.minimum(tl.maximum(v, -clamp), clamp)
    tl.store(y_ptr + base + offs, v.to(y_ptr.dtype.element_ty), mask=mask)


def styled_conv2d(x, weight, styles, bias, noise, noise_strength, up, resample_filter, clamp):
    """The reference's signature (arguments checked by ops.styled_conv2d)."""
    y, d = modulated.modulate_and_convolve(x, weight, styles, True, up, resample_filter)  # [N, O, H', W']
    n, c = y.shape[:2]
    length = y[0, 0].numel() if y.numel() else 0
    if length == 0:
        return y
    dummy = d  # never read when its flag is off
    if noise is not None:
        noise = noise.to(device=y.device, dtype=y.dtype).contiguous()
        strength = noise_strength.to(device=y.device, dtype=torch.float32).reshape(1)
        noise_batch_stride = 0 if noise.shape[0] == 1 else length
    else:
        strength, noise_batch_stride = dummy, 0
    if bias is not None:
        bias = bias.to(device=y.device, dtype=torch.float32).contiguous()
    block = modulated.block_for(length)
    styled_epilogue_kernel[(n * c, triton.cdiv(length, block))](
        y, d, dummy if bias is None else bias, dummy if noise is None else noise, strength, c, length,
        noise_batch_stride, float(ALPHA), float(GAIN), 0.0 if clamp is None else float(clamp),
        HAS_BIAS=bias is not None, HAS_NOISE=noise is not None, HAS_CLAMP=clamp is not None, BLOCK=block,
        num_warps=4)
    return y


def kernel_specs() -> list[KernelSpec]:
    """Every configuration of the fused epilogue, per dtype and flag (noise shared or per sample is a
    stride, not a flag); the prologue kernels it also runs are modulated_conv2d's, listed there."""
    configs = []
    for dtype, has_bias, has_noise, has_clamp, block in itertools.product(
            POINTER_TYPES, (False, True), (False, True), (False, True), modulated.BLOCKS):
        p = POINTER_TYPES[dtype]
        signature = {"y_ptr": p, "d_ptr": "*fp32", "bias_ptr": "*fp32", "noise_ptr": p if has_noise else "*fp32",
                     "strength_ptr": "*fp32", "C": "i32", "L": "i32", "noise_batch_stride": "i32",
                     "alpha": "fp32", "gain": "fp32", "clamp": "fp32"}
        constexprs = dict(HAS_BIAS=has_bias, HAS_NOISE=has_noise, HAS_CLAMP=has_clamp, BLOCK=block)
        configs.append(dict(signature={**signature, **{k: "constexpr" for k in constexprs}},
                            constexprs=constexprs, num_warps=4))
    return [KernelSpec("styled_epilogue_kernel", styled_epilogue_kernel, configs)]
