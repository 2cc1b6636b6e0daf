"""noise_bias_act in Triton: one pass over x, computing in float32 whatever the I/O dtype.

    y = clamp(act(x + noise * strength + bias) * gain)        (see reference.py)

x is viewed as [N, C, L] (L = H*W, or 1 for [N, C]); program (plane, block) handles BLOCK
elements of plane n*C + c.
"""
from __future__ import annotations

import itertools

import torch
import triton
import triton.language as tl

from ..triton_support import POINTER_TYPES, KernelSpec

ACT_CODES = {"linear": 0, "relu": 1, "lrelu": 2}
BLOCKS = (128, 1024)  # elements per program: small planes (mapping, 4x4 layers) and the rest


@triton.jit
def noise_bias_act_kernel(x_ptr, y_ptr, bias_ptr, noise_ptr, strength_ptr, C, L, noise_batch_stride,
                          alpha, gain, clamp,
                          HAS_BIAS: tl.constexpr, HAS_NOISE: tl.constexpr, STRENGTH_PER_CHANNEL: tl.constexpr,
                          ACT: tl.constexpr, HAS_CLAMP: tl.constexpr, BLOCK: tl.constexpr):
    plane = tl.program_id(0)  # n * C + c
    n = plane // C
    c = plane % C
    offs = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < L
    x = tl.load(x_ptr + plane.to(tl.int64) * L + offs, mask=mask).to(tl.float32)
    if HAS_NOISE:
        if STRENGTH_PER_CHANNEL:
            strength = tl.load(strength_ptr + c).to(tl.float32)
        else:
            strength = tl.load(strength_ptr).to(tl.float32)
        noise = tl.load(noise_ptr + n.to(tl.int64) * noise_batch_stride + offs, mask=mask).to(tl.float32)
        x += noise * strength
    if HAS_BIAS:
        x += tl.load(bias_ptr + c).to(tl.float32)
    x = x * gain
    if ACT == 1:
        x = tl.maximum(x, 0.0)
    elif ACT == 2:
        x = tl.where(x < 0.0, x * alpha, x)
    if HAS_CLAMP:
        x = tl.minimum(tl.maximum(x, -clamp), clamp)
    tl.store(y_ptr + plane.to(tl.int64) * L + offs, x.to(y_ptr.dtype.element_ty), mask=mask)


def noise_bias_act(x, bias, noise, noise_strength, act, alpha, gain, clamp):
    """The reference's signature (arguments checked by ops.noise_bias_act)."""
    x = x.contiguous()
    n, c = x.shape[:2]
    length = x[0, 0].numel()
    y = torch.empty_like(x)
    dummy = x  # never read when its flag is off
    if noise is not None:
        noise = noise.contiguous()
        strength = noise_strength.to(device=x.device, dtype=torch.float32).reshape(-1).contiguous()
        noise_batch_stride = 0 if noise.shape[0] == 1 else length
    else:
        strength, noise_batch_stride = dummy, 0
    block = BLOCKS[0] if length <= BLOCKS[0] else BLOCKS[1]
    grid = (n * c, triton.cdiv(length, block))
    noise_bias_act_kernel[grid](
        x, y, dummy if bias is None else bias.to(x.device).contiguous(), dummy if noise is None else noise,
        strength, c, length, noise_batch_stride, float(alpha), float(gain), 0.0 if clamp is None else float(clamp),
        HAS_BIAS=bias is not None, HAS_NOISE=noise is not None,
        STRENGTH_PER_CHANNEL=noise is not None and strength.numel() > 1,
        ACT=ACT_CODES[act], HAS_CLAMP=clamp is not None, BLOCK=block, num_warps=4)
    return y


def kernel_specs() -> list[KernelSpec]:
    """Every configuration noise_bias_act's launcher can pick (the pointer types follow x's dtype)."""
    configs = []
    for dtype, has_bias, has_noise, per_channel, act, has_clamp, block in itertools.product(
            POINTER_TYPES, (False, True), (False, True), (False, True), ACT_CODES.values(), (False, True), BLOCKS):
        if per_channel and not has_noise:
            continue
        p = POINTER_TYPES[dtype]
        signature = {"x_ptr": p, "y_ptr": p, "bias_ptr": p, "noise_ptr": p, "strength_ptr": "*fp32", "C": "i32",
                     "L": "i32", "noise_batch_stride": "i32", "alpha": "fp32", "gain": "fp32", "clamp": "fp32"}
        constexprs = dict(HAS_BIAS=has_bias, HAS_NOISE=has_noise, STRENGTH_PER_CHANNEL=per_channel, ACT=act,
                          HAS_CLAMP=has_clamp, BLOCK=block)
        configs.append(dict(signature={**signature, **{k: "constexpr" for k in constexprs}},
                            constexprs=constexprs, num_warps=4))
    return [KernelSpec("noise_bias_act_kernel", noise_bias_act_kernel, configs)]
