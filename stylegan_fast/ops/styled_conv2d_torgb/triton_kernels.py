"""styled_conv2d_torgb in Triton: the block's last conv layer and its toRGB in one kernel.

One program computes BLOCK_M pixels of one image for ALL O output channels (BLOCK_N >= O, so
O <= 128: StyleGAN2's blocks from 256 px up at channel_base 32768), with styled_conv2d's GEMM
(ops/styled_conv2d/triton_kernels.py: the style in the weight load, demodulation and the layer's
epilogue), then, while the tile is still in registers:

    img[n, c, p] = clamp(sum_o y[p, o] * rgb_w[c, o] * rgb_s[n, o] + rgb_b[c]) + upsample2d(skip)[n, c, p]

with the skip image upsampled in place from its four phase taps (torgb_skip.reference.phase_taps).
The feature map y is written only when something reads it (``keep_x``): the last block's never is.
Other layers (O > 128, up=2, other filters, more than 4 image channels, a forced "torch" strategy)
run the composition: ops.styled_conv2d then ops.torgb_skip.
"""
from __future__ import annotations

import itertools
import math

import torch
import triton
import triton.language as tl

from ..modulated_conv2d import triton_kernels as modulated
from ..styled_conv2d import triton_kernels as conv
from ..styled_conv2d.triton_kernels import ALPHA, GAIN, _conv_tile, _layer_epilogue
from ..torgb_skip.reference import phase_taps, phase_taps_apply
from ..triton_support import POINTER_TYPES, KernelSpec
from ..triton_tuning import conv_strategy_override, tuner
from ..weight_cache import weight_cache
from . import reference

MAX_RGB_CHANNELS = 4
# (BLOCK_M, BLOCK_K, num_warps, num_stages) per BLOCK_N (the output channels, rounded up) and dot dtype
TILES = {"half": {32: (64, 32, 4, 2), 64: (64, 32, 4, 2), 128: (32, 32, 4, 2)},
         "float32": {32: (16, 16, 4, 1), 64: (16, 16, 4, 1), 128: (16, 16, 4, 1)}}


@triton.jit
def styled_conv_torgb_kernel(x_ptr, w_ptr, s_ptr, d_ptr, bias_ptr, noise_ptr, strength_ptr, y_ptr,
                             rgb_w_ptr, rgb_s_ptr, rgb_b_ptr, skip_ptr, taps_ptr, img_ptr,
                             H, W, I, O, K, C, keep_x,
                             sx_n, sx_c, sx_h, sx_w, sy_n, sy_c, sy_h, sy_w, noise_n_stride, noise_h_stride,
                             alpha, gain, clamp, rgb_clamp,
                             HAS_NOISE: tl.constexpr, HAS_SKIP: tl.constexpr, DOT_FP32: tl.constexpr,
                             BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    """Program (pixel block, image n). As styled_conv_gemm_kernel (UP=1) for y [N, O, H, W] (strides sy_*,
    written when keep_x != 0); then img [N, C, H, W] (contiguous, img's dtype) from rgb_w [C, O],
    rgb_s [N, O], rgb_b [C] (float32) and the low-resolution skip [N, C, H/2, W/2] (contiguous) with the
    phase taps [2, 2, 2, 2] of its upsampling."""
    m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    m_mask = m < H * W
    gw = m % W
    gh = m // W
    n = tl.program_id(1)
    o = tl.arange(0, BLOCK_N)
    o_mask = o < O
    acc = _conv_tile(x_ptr + n.to(tl.int64) * sx_n, w_ptr, s_ptr + n * I, gh, gw, m_mask, o, o_mask, H, W, I, O, K,
                     sx_c, sx_h, sx_w, 0, 0, 1, DOT_FP32, BLOCK_M, BLOCK_N, BLOCK_K)
    v = acc * tl.load(d_ptr + n * O + o, mask=o_mask, other=0.0)[None, :]
    v = _layer_epilogue(v, noise_ptr + n.to(tl.int64) * noise_n_stride, gh, gw, o, m_mask, o_mask, bias_ptr,
                        strength_ptr, noise_h_stride, alpha, gain, clamp, HAS_NOISE)
    v = v.to(y_ptr.dtype.element_ty)  # y as the next op would read it
    if keep_x != 0:
        tl.store(y_ptr + n.to(tl.int64) * sy_n + ((gh * sy_h + gw * sy_w)[:, None] + o[None, :] * sy_c), v,
                 mask=m_mask[:, None] & o_mask[None, :])
    v = v.to(tl.float32)
    img_image = img_ptr + n.to(tl.int64) * C * H * W
    skip_h = H // 2
    skip_w = W // 2
    py = gh % 2
    px = gw % 2
    for c in range(0, C):
        rgb_w = tl.load(rgb_w_ptr + c * O + o, mask=o_mask, other=0.0) * tl.load(rgb_s_ptr + n * O + o, mask=o_mask,
                                                                                  other=0.0)
        r = tl.sum(v * rgb_w[None, :], axis=1) + tl.load(rgb_b_ptr + c)  # [BLOCK_M]
        r = tl.minimum(tl.maximum(r, -rgb_clamp), rgb_clamp)
        if HAS_SKIP:
            skip_plane = skip_ptr + (n.to(tl.int64) * C + c) * skip_h * skip_w
            for i in range(0, 2):
                sy = gh // 2 - 1 + py + i
                for j in range(0, 2):
                    sx = gw // 2 - 1 + px + j
                    inside = m_mask & (sy >= 0) & (sy < skip_h) & (sx >= 0) & (sx < skip_w)
                    tap = tl.load(taps_ptr + ((py * 2 + px) * 2 + i) * 2 + j, mask=m_mask, other=0.0)
                    r += tap * tl.load(skip_plane + sy * skip_w + sx, mask=inside, other=0.0).to(tl.float32)
        tl.store(img_image + c * H * W + m, r.to(img_ptr.dtype.element_ty), mask=m_mask)


def _phase_taps(resample_filter, device):
    """phase_taps on ``device``, computed once per filter buffer (no host copy per call: CUDA graphs capture it)."""
    return weight_cache.get(resample_filter, ("phase_taps", str(device)), lambda: phase_taps(resample_filter).to(device))


def _block_n(out_channels: int) -> int:
    return max(32, triton.next_power_of_2(out_channels))


def tiles(dtype) -> dict:
    return TILES["float32" if dtype == torch.float32 else "half"]


def fused_eligible(x, weight, rgb_weight, skip, resample_filter) -> bool:
    out_channels = weight.shape[0]
    return (conv.gemm_eligible(x, weight, 1, None) and _block_n(out_channels) in tiles(x.dtype)
            and rgb_weight.shape[0] <= MAX_RGB_CHANNELS and tuple(rgb_weight.shape[1:]) == (out_channels, 1, 1)
            and x.shape[2] % 2 == 0 and x.shape[3] % 2 == 0
            and (skip is None or phase_taps_apply(resample_filter)))


def styled_conv2d_torgb_fused(x, weight, styles, bias, noise, noise_strength, clamp, rgb_weight, rgb_styles, rgb_bias,
                              skip, resample_filter, rgb_clamp, keep_x):
    """The fused kernel (arguments as the reference's; fused_eligible(...) must hold)."""
    modulated.check_dtype("styled_conv2d_torgb", x)
    n, in_channels, h, w = x.shape
    out_channels, rgb_channels = weight.shape[0], rgb_weight.shape[0]
    packed, w_sq = conv.gemm_weights(weight, x.dtype)
    s, d = modulated.modulation(styles.to(x.device), None, x.dtype == torch.float16, w_sq=w_sq)
    f32 = dict(device=x.device, dtype=torch.float32)
    bias = torch.zeros(out_channels, **f32) if bias is None else bias.to(**f32).contiguous()
    rgb_w = rgb_weight.reshape(rgb_channels, out_channels).to(**f32).contiguous()
    rgb_s = rgb_styles.to(**f32).contiguous()
    rgb_b = torch.zeros(rgb_channels, **f32) if rgb_bias is None else rgb_bias.reshape(rgb_channels).to(**f32).contiguous()
    y = torch.empty(n, out_channels, h, w, dtype=x.dtype, device=x.device) if keep_x else None
    img = torch.empty(n, rgb_channels, h, w, dtype=x.dtype if skip is None else skip.dtype, device=x.device)
    if img.numel() == 0:
        return y, img
    strength = None if noise is None else noise_strength.reshape(1).expand(out_channels)
    noise, strength, noise_strides = conv.noise_arguments(noise, strength, x, d)
    block_n = _block_n(out_channels)
    block_m, block_k, warps, stages = tiles(x.dtype)[block_n]
    taps = _phase_taps(resample_filter, x.device) if skip is not None else d
    skip = skip.contiguous() if skip is not None else d
    out = y if keep_x else x  # never written when keep_x is false
    styled_conv_torgb_kernel[(triton.cdiv(h * w, block_m), n)](
        x, packed, s, d, bias, noise, strength, out, rgb_w, rgb_s, rgb_b, skip, taps, img,
        h, w, in_channels, out_channels, weight.shape[-1], rgb_channels, int(keep_x), *x.stride(), *out.stride(),
        *noise_strides, float(ALPHA), float(GAIN), math.inf if clamp is None else float(clamp),
        math.inf if rgb_clamp is None else float(rgb_clamp),
        HAS_NOISE=noise is not d, HAS_SKIP=skip is not d, DOT_FP32=conv.dot_in_float32(x.dtype),
        BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_K=block_k, num_warps=warps, num_stages=stages)
    return y, img


def styled_conv2d_torgb(x, weight, styles, bias, noise, noise_strength, clamp, rgb_weight, rgb_styles, rgb_bias, skip,
                        resample_filter, rgb_clamp, keep_x):
    """The reference's signature: the fused kernel where it applies and the strategy allows, else the
    composition (each op on its own Triton kernels); "auto" on a GPU measures both (ops/triton_tuning.py)."""
    args = (x, weight, styles, bias, noise, noise_strength, clamp, rgb_weight, rgb_styles, rgb_bias, skip,
            resample_filter, rgb_clamp, keep_x)
    if conv_strategy_override() == "torch" or not fused_eligible(x, weight, rgb_weight, skip, resample_filter):
        return reference.styled_conv2d_torgb(*args)
    candidates = [styled_conv2d_torgb_fused, reference.styled_conv2d_torgb]
    key = f"styled_conv2d_torgb {conv.layer_key(x, weight, 1, noise)} rgb{rgb_weight.shape[0]} keep{int(keep_x)}"
    return candidates[tuner.choose(x.device, key, candidates, lambda fn: fn(*args))](*args)


def kernel_specs() -> list[KernelSpec]:
    """Per (x dtype, img dtype: x's or float32 for NVlabs' mixed precision), noise flag, skip flag, BLOCK_N."""
    configs = []
    pairs = [(t, t) for t in POINTER_TYPES] + [(torch.float16, torch.float32), (torch.bfloat16, torch.float32)]
    for (dtype, img_dtype), has_noise, has_skip in itertools.product(pairs, (False, True), (False, True)):
        p, q = POINTER_TYPES[dtype], POINTER_TYPES[img_dtype]
        for block_n, (block_m, block_k, warps, stages) in tiles(dtype).items():
            signature = {"x_ptr": p, "w_ptr": p, "s_ptr": "*fp32", "d_ptr": "*fp32", "bias_ptr": "*fp32",
                         "noise_ptr": p if has_noise else "*fp32", "strength_ptr": "*fp32", "y_ptr": p,
                         "rgb_w_ptr": "*fp32", "rgb_s_ptr": "*fp32", "rgb_b_ptr": "*fp32",
                         "skip_ptr": q if has_skip else "*fp32", "taps_ptr": "*fp32", "img_ptr": q,
                         **conv.i32("H", "W", "I", "O", "K", "C", "keep_x"),
                         **conv.i32(*(f"sx_{a}" for a in conv.STRIDES), *(f"sy_{a}" for a in conv.STRIDES)),
                         **conv.i32("noise_n_stride", "noise_h_stride"), **conv.EPILOGUE_SCALARS, "rgb_clamp": "fp32"}
            constexprs = dict(HAS_NOISE=has_noise, HAS_SKIP=has_skip, DOT_FP32=dtype == torch.float32,
                              BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_K=block_k)
            configs.append(conv.with_constexprs(signature, constexprs, num_warps=warps, num_stages=stages))
    return [KernelSpec("styled_conv_torgb_kernel", styled_conv_torgb_kernel, configs)]
