"""modulated_conv2d in Triton around torch's convolution (strategy (b)): no per-sample weights.

    s', d = modulation_kernel(styles, Wsq)       # [N, I] styles (rescaled for fp16), [N, O] d; Wsq[o, i] = sum_k w^2
    x'    = x * s'[n, i]                         # scale_planes_kernel, the prologue
    y     = conv(x', weight)                     # F.conv2d, or conv_transpose2d + upfirdn2d (up=2)
    y     = y * d[n, o]                          # scale_planes_kernel again, the epilogue (in place)

The convolution is linear in each input channel, so scaling the activations by s before it and
the output channels by d after it equals the per-sample weights w * s * d of the reference (see
reference.py); one shared weight serves the batch, and cuDNN runs it on a GPU. Kernels compute in
float32 whatever the I/O dtype; d is always float32, as in the reference.
"""
from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from ..triton_support import POINTER_TYPES, KernelSpec
from .reference import _conv

BLOCKS = (128, 1024)  # elements per program of scale_planes_kernel: small planes (4x4, 8x8) and the rest
BLOCK_O, BLOCK_J = 16, 128  # modulation_kernel: output channels per program, input channels per step
MODULATION_WARPS = 4


@triton.jit
def modulation_kernel(styles_ptr, wsq_ptr, styles_out_ptr, d_ptr, I, O,
                      RESCALE: tl.constexpr, BLOCK_O: tl.constexpr, BLOCK_J: tl.constexpr):
    """Program (n, o-block): s'[n, :] = s[n, :] (/ max_i |s[n, i]| when RESCALE), written by the
    first o-block, and d[n, o] = rsqrt(sum_i Wsq[o, i] * s'[n, i]^2 + 1e-8) for its o-block.

    styles: [N, I], Wsq: [O, I] (the weight squared, summed over its taps), both float32; each
    program reads Wsq, not the whole weight. Every sample is reduced in the same order whatever the
    batch, so an image does not change with the batch it is in.
    """
    n = tl.program_id(0)
    o_block = tl.program_id(1)
    s_row = styles_ptr + n.to(tl.int64) * I
    i_offs = tl.arange(0, BLOCK_J)
    scale = 1.0
    if RESCALE:  # fp16: the largest style of the sample becomes 1 (the reference's overflow guard)
        peak = tl.zeros([BLOCK_J], dtype=tl.float32)
        for i0 in range(0, I, BLOCK_J):
            s = tl.load(s_row + i0 + i_offs, mask=i0 + i_offs < I, other=0.0)
            peak = tl.maximum(peak, tl.abs(s))
        scale = 1.0 / tl.max(peak, axis=0)
    if o_block == 0:
        for i0 in range(0, I, BLOCK_J):
            mask = i0 + i_offs < I
            s = tl.load(s_row + i0 + i_offs, mask=mask, other=0.0)
            tl.store(styles_out_ptr + n.to(tl.int64) * I + i0 + i_offs, s * scale, mask=mask)
    o = o_block * BLOCK_O + tl.arange(0, BLOCK_O)  # [BLOCK_O]
    o_mask = o < O
    acc = tl.zeros([BLOCK_O, BLOCK_J], dtype=tl.float32)
    for i0 in range(0, I, BLOCK_J):
        i = i0 + i_offs
        i_mask = i < I
        wsq = tl.load(wsq_ptr + o[:, None] * I + i[None, :], mask=o_mask[:, None] & i_mask[None, :], other=0.0)
        s = tl.load(s_row + i, mask=i_mask, other=0.0) * scale
        acc += wsq * (s * s)[None, :]
    d = tl.rsqrt(tl.sum(acc, axis=1) + 1e-8)
    tl.store(d_ptr + n.to(tl.int64) * O + o, d, mask=o_mask)


@triton.jit
def scale_planes_kernel(x_ptr, scale_ptr, y_ptr, L, BLOCK: tl.constexpr):
    """y[plane, :] = x[plane, :] * scale[plane] for x viewed as [planes, L]; scale is float32.

    Program (plane, block) handles BLOCK elements of one (n, c) plane; y may be x (in place).
    """
    plane = tl.program_id(0)
    offs = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < L
    scale = tl.load(scale_ptr + plane)
    base = plane.to(tl.int64) * L
    x = tl.load(x_ptr + base + offs, mask=mask).to(tl.float32)
    tl.store(y_ptr + base + offs, (x * scale).to(y_ptr.dtype.element_ty), mask=mask)


def check_dtype(op: str, x: torch.Tensor) -> None:
    """The Triton launchers take the activation dtypes the kernels are built for (kernel_specs)."""
    if x.dtype not in POINTER_TYPES:
        names = ", ".join(str(t).removeprefix("torch.") for t in POINTER_TYPES)
        raise TypeError(f"the triton {op} takes {names} activations, got {x.dtype}; use backend='reference'")


def block_for(length: int) -> int:
    return BLOCKS[0] if length <= BLOCKS[0] else BLOCKS[1]


def modulation(styles, weight, rescale, w_sq=None):
    """-> (s' [N, I] float32, d [N, O] float32): the styles the prologue multiplies by (divided by
    their per-sample maximum when ``rescale``) and the demodulation coefficients for ``weight``
    (``w_sq``: its squared sums [O, I] float32 when the caller keeps them; then weight may be None)."""
    n, in_channels = styles.shape
    styles = styles.to(torch.float32).contiguous()
    if w_sq is None:  # [O, I]: once per call, not per sample
        w_sq = weight.to(torch.float32).square().sum(dim=[2, 3]).contiguous()
    out_channels = w_sq.shape[0]
    styles_out = torch.empty_like(styles)
    d = torch.empty(n, out_channels, dtype=torch.float32, device=styles.device)
    if n == 0:
        return styles_out, d
    grid = (n, triton.cdiv(out_channels, BLOCK_O))
    modulation_kernel[grid](styles, w_sq, styles_out, d, in_channels, out_channels,
                            RESCALE=bool(rescale), BLOCK_O=BLOCK_O, BLOCK_J=BLOCK_J, num_warps=MODULATION_WARPS)
    return styles_out, d


def scale_planes(x, scale, out=None):
    """x: [N, C, H, W] contiguous, scale: [N, C] float32 -> x * scale per plane (into ``out``)."""
    out = torch.empty_like(x) if out is None else out
    length = x[0, 0].numel() if x.numel() else 0
    if length == 0:
        return out
    block = block_for(length)
    scale_planes_kernel[(x.shape[0] * x.shape[1], triton.cdiv(length, block))](
        x, scale, out, length, BLOCK=block, num_warps=4)
    return out


def modulated_weight_and_styles(x, weight, styles, demodulate):
    """-> (weight [O, I, k, k] float32, s' [N, I] float32, d [N, O] float32 or None) for ``x``'s dtype.

    float16 with demodulation rescales as the reference does: the weight per output channel to
    max |w| = 1/sqrt(I*kh*kw) (here, in float32: it is the size of the parameter, not of the
    activations) and the styles per sample to max |s| = 1 (in modulation_kernel); d divides
    both scales out again.
    """
    check_dtype("modulated_conv2d", x)
    weight = weight.to(device=x.device, dtype=torch.float32)
    if not demodulate:
        return weight, styles.to(device=x.device, dtype=torch.float32).contiguous(), None
    rescale = x.dtype == torch.float16
    if rescale:
        weight = rescaled_for_float16(weight)
    s, d = modulation(styles.to(x.device), weight, rescale)
    return weight, s, d


def rescaled_for_float16(weight):
    """The float32 weight [O, I, kh, kw] scaled per output channel to max |w| = 1/sqrt(I*kh*kw)."""
    _, in_channels, kh, kw = weight.shape
    return weight * (1 / math.sqrt(in_channels * kh * kw) / weight.abs().amax(dim=[1, 2, 3], keepdim=True))


def modulate_and_convolve(x, weight, styles, demodulate, up, resample_filter):
    """Prologue and convolution shared with styled_conv2d -> (y [N, O, H*up, W*up], d or None)."""
    weight, s, d = modulated_weight_and_styles(x, weight, styles, demodulate)
    x = scale_planes(x.contiguous(), s)  # [N, I, H, W]
    y = _conv(x, weight.to(x.dtype), up, resample_filter).contiguous()  # [N, O, H*up, W*up]
    return y, d


def modulated_conv2d(x, weight, styles, demodulate, up, resample_filter):
    """The reference's signature (arguments checked by ops.modulated_conv2d)."""
    y, d = modulate_and_convolve(x, weight, styles, demodulate, up, resample_filter)
    return y if d is None else scale_planes(y, d, out=y)


def _signature(names_and_types, constexprs):
    return {**names_and_types, **{k: "constexpr" for k in constexprs}}


def kernel_specs() -> list[KernelSpec]:
    """Every configuration the launchers here can pick: the modulation kernel with and without the
    fp16 rescaling (float32 pointers whatever the I/O dtype), the plane scaling per dtype and BLOCK."""
    modulation_configs = []
    for rescale in (False, True):
        constexprs = dict(RESCALE=rescale, BLOCK_O=BLOCK_O, BLOCK_J=BLOCK_J)
        signature = {"styles_ptr": "*fp32", "wsq_ptr": "*fp32", "styles_out_ptr": "*fp32", "d_ptr": "*fp32",
                     "I": "i32", "O": "i32"}
        modulation_configs.append(dict(signature=_signature(signature, constexprs), constexprs=constexprs,
                                       num_warps=MODULATION_WARPS))
    scale_configs = []
    for dtype, block in ((dtype, block) for dtype in POINTER_TYPES for block in BLOCKS):
        p = POINTER_TYPES[dtype]
        constexprs = dict(BLOCK=block)
        signature = {"x_ptr": p, "scale_ptr": "*fp32", "y_ptr": p, "L": "i32"}
        scale_configs.append(dict(signature=_signature(signature, constexprs), constexprs=constexprs, num_warps=4))
    return [KernelSpec("modulation_kernel", modulation_kernel, modulation_configs),
            KernelSpec("scale_planes_kernel", scale_planes_kernel, scale_configs)]
