"""torgb_skip in Triton: the modulated 1x1 toRGB conv with its epilogue in one pass over x.

    y[n, o, p] = clamp(sum_i w[o, i] * s[n, i] * x[n, i, p] + b[o])             (see reference.py)
    img        = upsample2d(skip) + y        (or y alone)

Program ``pid`` computes BLOCK_P pixels of one image for all O <= 4 output channels: it walks the
input channels BLOCK_I at a time, loading an x tile [BLOCK_I, BLOCK_P] once and accumulating
w[o, i] * s[n, i] * x elementwise into one float32 [BLOCK_I, BLOCK_P] accumulator per output
channel (reduced over i once, at the end). The skip image is upsampled by the Triton upfirdn2d
(the [1, 3, 3, 1] filter, gain 4) in its own pass and added in the epilogue, in float32.
"""
from __future__ import annotations

import itertools

import torch
import triton
import triton.language as tl

from ..triton_support import POINTER_TYPES, KernelSpec
from ..upfirdn2d import filter_size
from ..upfirdn2d.triton_kernels import upfirdn2d
from . import reference

MAX_OUT_CHANNELS = 4  # more image channels run the reference
# (BLOCK_P, BLOCK_I), 1024 elements a step (8 per thread per accumulator: no spills with O = 4), for
# images up to 16 pixels (4x4: few pixels, many channels), up to MID_PIXELS (64x64), and the rest
BLOCKS = ((16, 64), (64, 16), (128, 8))
MID_PIXELS = 64 * 64


@triton.jit
def _output_channel(acc, o, b_ptr, skip_ptr, y_ptr, out_base, p, p_mask, P, clamp,
                    HAS_SKIP: tl.constexpr, HAS_CLAMP: tl.constexpr):
    """Reduce one output channel's accumulator, add bias, clamp, add the upsampled skip, store."""
    y = tl.sum(acc, axis=0) + tl.load(b_ptr + o)  # [BLOCK_P]
    if HAS_CLAMP:
        y = tl.minimum(tl.maximum(y, -clamp), clamp)
    offs = out_base + o * P + p
    if HAS_SKIP:
        y += tl.load(skip_ptr + offs, mask=p_mask, other=0.0).to(tl.float32)
    tl.store(y_ptr + offs, y.to(y_ptr.dtype.element_ty), mask=p_mask)


@triton.jit
def torgb_skip_kernel(x_ptr, w_ptr, s_ptr, b_ptr, skip_ptr, y_ptr, I, P, TILES, clamp,
                      O: tl.constexpr, HAS_SKIP: tl.constexpr, HAS_CLAMP: tl.constexpr,
                      BLOCK_P: tl.constexpr, BLOCK_I: tl.constexpr):
    # x: [N, I, P]; w: [O, I], s: [N, I], b: [O] float32; skip (upsampled) and y: [N, O, P]
    pid = tl.program_id(0)
    n = pid // TILES
    p = (pid % TILES) * BLOCK_P + tl.arange(0, BLOCK_P)  # [BLOCK_P]
    p_mask = p < P
    x_image = x_ptr + n.to(tl.int64) * I * P
    s_image = s_ptr + n * I
    acc0 = tl.zeros([BLOCK_I, BLOCK_P], dtype=tl.float32)
    acc1 = tl.zeros([BLOCK_I, BLOCK_P], dtype=tl.float32)
    acc2 = tl.zeros([BLOCK_I, BLOCK_P], dtype=tl.float32)
    acc3 = tl.zeros([BLOCK_I, BLOCK_P], dtype=tl.float32)
    for i0 in range(0, I, BLOCK_I):
        i = i0 + tl.arange(0, BLOCK_I)  # [BLOCK_I]
        i_mask = i < I
        x = tl.load(x_image + i[:, None] * P + p[None, :], mask=i_mask[:, None] & p_mask[None, :],
                    other=0.0).to(tl.float32)
        s = tl.load(s_image + i, mask=i_mask, other=0.0)
        acc0 += x * (tl.load(w_ptr + i, mask=i_mask, other=0.0) * s)[:, None]
        if O > 1:
            acc1 += x * (tl.load(w_ptr + I + i, mask=i_mask, other=0.0) * s)[:, None]
        if O > 2:
            acc2 += x * (tl.load(w_ptr + 2 * I + i, mask=i_mask, other=0.0) * s)[:, None]
        if O > 3:
            acc3 += x * (tl.load(w_ptr + 3 * I + i, mask=i_mask, other=0.0) * s)[:, None]
    out_base = n.to(tl.int64) * O * P
    _output_channel(acc0, 0, b_ptr, skip_ptr, y_ptr, out_base, p, p_mask, P, clamp, HAS_SKIP, HAS_CLAMP)
    if O > 1:
        _output_channel(acc1, 1, b_ptr, skip_ptr, y_ptr, out_base, p, p_mask, P, clamp, HAS_SKIP, HAS_CLAMP)
    if O > 2:
        _output_channel(acc2, 2, b_ptr, skip_ptr, y_ptr, out_base, p, p_mask, P, clamp, HAS_SKIP, HAS_CLAMP)
    if O > 3:
        _output_channel(acc3, 3, b_ptr, skip_ptr, y_ptr, out_base, p, p_mask, P, clamp, HAS_SKIP, HAS_CLAMP)


def _upsample2d(skip, f):
    """upsample2d(skip, f) (up 2, gain 4) with the Triton upfirdn2d, called directly."""
    fw, fh = filter_size(f)
    padding = ((fw + 1) // 2, (fw - 2) // 2, (fh + 1) // 2, (fh - 2) // 2)
    return upfirdn2d(skip, f, 2, 1, padding, False, 4.0)


def _supported(x, weight, styles, bias, skip) -> bool:
    n, c, h, w = x.shape
    if x.dtype not in POINTER_TYPES or weight.shape[0] > MAX_OUT_CHANNELS or n * c * h * w == 0:
        return False
    if tuple(weight.shape[1:]) != (c, 1, 1) or tuple(styles.shape) != (n, c):
        return False  # the reference's checks raise
    if bias is not None and bias.numel() != weight.shape[0]:
        return False
    return skip is None or (skip.dtype == x.dtype and tuple(skip.shape) == (n, weight.shape[0], h // 2, w // 2)
                            and h % 2 == 0 and w % 2 == 0)


def torgb_skip(x, weight, styles, bias, skip, resample_filter, clamp):
    """The reference's signature (arguments checked by ops.torgb_skip).

    Runs the reference for what the kernel does not cover: more than 4 image channels, dtypes
    other than float32/16, bfloat16, a skip image of another dtype, and malformed arguments
    (whose errors the reference reports).
    """
    if not _supported(x, weight, styles, bias, skip):
        return reference.torgb_skip(x, weight, styles, bias, skip, resample_filter, clamp)
    n, c, h, w = x.shape
    out_channels = weight.shape[0]
    pixels = h * w
    x = x.contiguous()
    w2 = weight.reshape(out_channels, c).to(device=x.device, dtype=torch.float32).contiguous()
    s = styles.to(device=x.device, dtype=torch.float32).contiguous()
    b = (torch.zeros(out_channels, dtype=torch.float32, device=x.device) if bias is None
         else bias.reshape(out_channels).to(device=x.device, dtype=torch.float32).contiguous())
    up = None if skip is None else _upsample2d(skip, resample_filter).contiguous()  # [N, O, H, W]
    y = torch.empty([n, out_channels, h, w], dtype=x.dtype, device=x.device)
    block_p, block_i = _block(pixels)
    tiles = triton.cdiv(pixels, block_p)
    torgb_skip_kernel[(n * tiles,)](
        x, w2, s, b, y if up is None else up, y, c, pixels, tiles, 0.0 if clamp is None else float(clamp),
        O=out_channels, HAS_SKIP=up is not None, HAS_CLAMP=clamp is not None,
        BLOCK_P=block_p, BLOCK_I=block_i, num_warps=4)
    return y


def _block(pixels: int):
    if pixels <= BLOCKS[0][0]:
        return BLOCKS[0]
    return BLOCKS[1] if pixels <= MID_PIXELS else BLOCKS[2]


def kernel_specs() -> list[KernelSpec]:
    """Every configuration the launcher can pick: dtype x O x skip x clamp x block."""
    configs = []
    for dtype, o, has_skip, has_clamp, (block_p, block_i) in itertools.product(
            POINTER_TYPES, range(1, MAX_OUT_CHANNELS + 1), (False, True), (False, True), BLOCKS):
        p = POINTER_TYPES[dtype]
        signature = {"x_ptr": p, "w_ptr": "*fp32", "s_ptr": "*fp32", "b_ptr": "*fp32", "skip_ptr": p, "y_ptr": p,
                     "I": "i32", "P": "i32", "TILES": "i32", "clamp": "fp32"}
        constexprs = dict(O=o, HAS_SKIP=has_skip, HAS_CLAMP=has_clamp, BLOCK_P=block_p, BLOCK_I=block_i)
        configs.append(dict(signature={**signature, **{k: "constexpr" for k in constexprs}},
                            constexprs=constexprs, num_warps=4))
    return [KernelSpec("torgb_skip_kernel", torgb_skip_kernel, configs)]
