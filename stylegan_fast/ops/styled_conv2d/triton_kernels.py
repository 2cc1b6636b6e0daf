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
import math
import os

import torch
import triton
import triton.language as tl

from ..modulated_conv2d import reference as modulated_reference
from ..modulated_conv2d import triton_kernels as modulated
from ..noise_bias_act.reference import ACTIVATIONS
from ..triton_support import POINTER_TYPES, KernelSpec
from ..triton_tuning import conv_strategy_override, tuner
from ..weight_cache import weight_cache

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


def styled_conv2d_torch(x, weight, styles, bias, noise, noise_strength, up, resample_filter, clamp):
    """Strategy (b): prologue, torch's convolution (cuDNN on a GPU), one fused epilogue."""
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


# ---------------------------------------------------------------------------------------------
# Strategy (a): our implicit-GEMM convolution, prologue and epilogue fused (no torch conv).
#
#     A[m, (t, i)] = x[n, i, h + dy_t, w + dx_t] * s'[n, i]     m = (n, h, w): the batch is in M
#     B[(t, i), o] = weight[o, i, ky_t, kx_t]                    packed once per weight: [taps, I, O]
#     y[m, o]      = epilogue(d[n, o] * sum_(t, i) A B)          float32 accumulation (tl.dot)
# A 2x upsampling layer runs the stride-2 transposed conv as its four sub-pixel phases on the
# low-resolution input (program axis 2; taps ky = phase_y + 2 ty at row h - ty), 9 taps over the
# four phases instead of 36, and writes T = d * conv_transpose(x') [N, O, 2H+1, 2W+1]; then
# fir_epilogue_kernel applies the FIR (gain 4) and the layer's epilogue in one pass over T.
# Activations are read and written through their strides: NCHW or channels_last alike.
# ---------------------------------------------------------------------------------------------

# (BLOCK_M, BLOCK_N, BLOCK_K, num_warps, num_stages) a launch may use, per dot dtype (all compiled in CI;
# the tiles that spilled registers on sm_80/sm_90 were dropped: the float32 dot runs on FMA units and
# holds its product in registers, so its tiles are smaller)
GEMM_TILES = {"half": ((16, 64, 32, 4, 1), (64, 64, 32, 4, 2), (128, 64, 32, 8, 2), (64, 128, 32, 8, 2)),
              "float32": ((16, 32, 16, 4, 2), (32, 32, 16, 4, 2), (64, 64, 16, 8, 2), (16, 64, 16, 4, 1))}
FIR_TILE = (64, 32, 4)  # (BLOCK_M, BLOCK_N, num_warps) of fir_epilogue_kernel
# the FIR sizes fir_epilogue_kernel is built for: StyleGAN2's [1, 3, 3, 1] and StyleGAN1's [1, 2, 1] blur (others use
# torch's convolution)
FIR_TAPS = 4
FIR_SIZES = (FIR_TAPS, 3)


@triton.jit
def _layer_epilogue(v, noise_image, gh, gw, o, m_mask, o_mask, bias_ptr, strength_ptr, noise_h_stride,
                    alpha, gain, clamp, HAS_NOISE: tl.constexpr):
    """v [BLOCK_M, BLOCK_N] (float32, already demodulated) -> clamp(lrelu(v + noise*strength[o] + bias[o]) * gain).
    noise_image: this image's noise plane (row stride noise_h_stride)."""
    if HAS_NOISE:
        noise = tl.load(noise_image + gh * noise_h_stride + gw, mask=m_mask, other=0.0).to(tl.float32)
        v += noise[:, None] * tl.load(strength_ptr + o, mask=o_mask, other=0.0)[None, :]
    v += tl.load(bias_ptr + o, mask=o_mask, other=0.0)[None, :]
    v = v * gain
    v = tl.where(v < 0.0, v * alpha, v)
    return tl.minimum(tl.maximum(v, -clamp), clamp)  # clamp = inf: no clamping


@triton.jit
def _conv_tile(x_image, w_ptr, s_row, gh, gw, m_mask, o, o_mask, H, W, I, O, K, sx_c, sx_h, sx_w, phase_y, phase_x,
               UP: tl.constexpr, DOT_FP32: tl.constexpr,
               BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    """[BLOCK_M, BLOCK_N] float32: sum over taps and input channels of x[pixel + tap, i] * w[tap, i, o] * s[i]
    for one image (x_image, s_row: its x and s' rows). UP=1: the KxK 'same' taps at (gh, gw); UP=2: the
    taps of phase (phase_y, phase_x) of the stride-2 transposed conv at grid position (gh, gw)."""
    if UP == 1:
        taps_y = K
        taps_x = K
    else:
        taps_y = (K - phase_y + 1) // 2
        taps_x = (K - phase_x + 1) // 2
    k_offs = tl.arange(0, BLOCK_K)
    acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    for ty in range(0, taps_y):
        for tx in range(0, taps_x):
            if UP == 1:
                ky = ty
                kx = tx
                ih = gh + ty - K // 2
                iw = gw + tx - K // 2
            else:
                ky = phase_y + 2 * ty
                kx = phase_x + 2 * tx
                ih = gh - ty
                iw = gw - tx
            pixel_mask = m_mask & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
            x_pixel = ih * sx_h + iw * sx_w  # [BLOCK_M] offsets in the image
            w_tap = w_ptr + (ky * K + kx) * I * O
            for i0 in range(0, I, BLOCK_K):
                i = i0 + k_offs  # [BLOCK_K]
                i_mask = i < I
                a = tl.load(x_image + (x_pixel[:, None] + i[None, :] * sx_c), mask=pixel_mask[:, None] & i_mask[None, :],
                            other=0.0)
                b = tl.load(w_tap + i[:, None] * O + o[None, :], mask=i_mask[:, None] & o_mask[None, :], other=0.0)
                s = tl.load(s_row + i, mask=i_mask, other=0.0)  # the style scales this image's weight rows:
                b = (b.to(tl.float32) * s[:, None]).to(w_ptr.dtype.element_ty)  # no per-sample weight in memory
                if DOT_FP32:
                    acc = tl.dot(a.to(tl.float32), b.to(tl.float32), acc, input_precision="ieee")
                else:
                    acc = tl.dot(a, b, acc)
    return acc


@triton.jit
def styled_conv_gemm_kernel(x_ptr, w_ptr, s_ptr, d_ptr, bias_ptr, noise_ptr, strength_ptr, y_ptr,
                            H, W, I, O, K, GH, GW, YH, YW,
                            sx_n, sx_c, sx_h, sx_w, sy_n, sy_c, sy_h, sy_w, noise_n_stride, noise_h_stride,
                            alpha, gain, clamp,
                            UP: tl.constexpr, HAS_NOISE: tl.constexpr, DOT_FP32: tl.constexpr,
                            BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    """Program (pixel block, o-block, image [x 4 phases]). x: [N, I, H, W] (strides sx_*), w: [K*K, I, O]
    in the dot dtype, s': [N, I] and d: [N, O] float32, y (strides sy_*): [N, O, YH, YW].

    A program's pixels lie in one image, so the style is a [BLOCK_K] vector per step and every
    offset inside the image is 32-bit (an image has fewer than 2^31 elements).
    DOT_FP32: the products in IEEE float32 (float32 I/O: no TF32), else on the dtype's tensor cores.
    UP=1: the 'same' KxK convolution and the whole layer epilogue; the grid (GH, GW) is y's (H, W).
    UP=2: phase p = program_id(2) % 4 of the transposed conv; grid position (a, b) is T[2a + py, 2b + px]
    (GH, GW = ceil(YH / 2), ceil(YW / 2)); the epilogue is x d only (the FIR kernel does the rest).
    """
    m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)  # [BLOCK_M] grid positions in the image
    m_mask = m < GH * GW
    gw = m % GW
    gh = m // GW
    o = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)  # [BLOCK_N] output channels
    o_mask = o < O
    if UP == 1:
        n = tl.program_id(2)
        phase_y = 0
        phase_x = 0
    else:
        n = tl.program_id(2) // 4
        phase_y = (tl.program_id(2) % 4) // 2
        phase_x = tl.program_id(2) % 2
    acc = _conv_tile(x_ptr + n.to(tl.int64) * sx_n, w_ptr, s_ptr + n * I, gh, gw, m_mask, o, o_mask, H, W, I, O, K,
                     sx_c, sx_h, sx_w, phase_y, phase_x, UP, DOT_FP32, BLOCK_M, BLOCK_N, BLOCK_K)
    v = acc * tl.load(d_ptr + n * O + o, mask=o_mask, other=0.0)[None, :]
    if UP == 1:
        v = _layer_epilogue(v, noise_ptr + n.to(tl.int64) * noise_n_stride, gh, gw, o, m_mask, o_mask, bias_ptr,
                            strength_ptr, noise_h_stride, alpha, gain, clamp, HAS_NOISE)
    if UP == 1:
        store_mask = m_mask
        yh = gh
        yw = gw
    else:
        yh = 2 * gh + phase_y
        yw = 2 * gw + phase_x
        store_mask = m_mask & (yh < YH) & (yw < YW)
    y_image = y_ptr + n.to(tl.int64) * sy_n
    tl.store(y_image + ((yh * sy_h + yw * sy_w)[:, None] + o[None, :] * sy_c), v.to(y_ptr.dtype.element_ty),
             mask=store_mask[:, None] & o_mask[None, :])


@triton.jit
def fir_epilogue_kernel(t_ptr, taps_ptr, bias_ptr, noise_ptr, strength_ptr, y_ptr,
                        TH, TW, YH, YW, O, pad_y, pad_x,
                        st_n, st_c, st_h, st_w, sy_n, sy_c, sy_h, sy_w, noise_n_stride, noise_h_stride,
                        alpha, gain, clamp,
                        HAS_NOISE: tl.constexpr, FH: tl.constexpr, FW: tl.constexpr,
                        BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    """y[n, o, Y, X] = epilogue(sum_(j, i) taps[j, i] * T[n, o, Y + j - pad_y, X + i - pad_x]).

    T: [N, O, TH, TW] (strides st_*), zero outside; taps: [FH, FW] float32 correlation taps (the
    filter flipped, times its gain); program (pixel block, o-block, image n).
    """
    m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    m_mask = m < YH * YW
    xo = m % YW
    yo = m // YW
    o = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    o_mask = o < O
    n = tl.program_id(2)
    t_channels = t_ptr + n.to(tl.int64) * st_n + o * st_c  # [BLOCK_N] pointers
    acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    for j in range(0, FH):
        ty = yo + j - pad_y
        row_mask = m_mask & (ty >= 0) & (ty < TH)
        for i in range(0, FW):
            tx = xo + i - pad_x
            mask = row_mask & (tx >= 0) & (tx < TW)
            t = tl.load(t_channels[None, :] + (ty * st_h + tx * st_w)[:, None], mask=mask[:, None] & o_mask[None, :],
                        other=0.0)
            acc += t.to(tl.float32) * tl.load(taps_ptr + j * FW + i)
    v = _layer_epilogue(acc, noise_ptr + n.to(tl.int64) * noise_n_stride, yo, xo, o, m_mask, o_mask, bias_ptr,
                        strength_ptr, noise_h_stride, alpha, gain, clamp, HAS_NOISE)
    y_image = y_ptr + n.to(tl.int64) * sy_n
    tl.store(y_image + (yo * sy_h + xo * sy_w)[:, None] + o[None, :] * sy_c, v.to(y_ptr.dtype.element_ty),
             mask=m_mask[:, None] & o_mask[None, :])


def gemm_weights(weight, dtype):
    """-> (packed [K*K, I, O] in ``dtype``, Wsq [O, I] float32) of the weight as the kernels use it
    (float16: rescaled as modulated_weight_and_styles does); cached beside the weight parameter."""
    def build():
        w = weight.to(torch.float32)
        if dtype == torch.float16:
            w = modulated.rescaled_for_float16(w)
        return packed_weight(w, dtype), w.square().sum(dim=[2, 3]).contiguous()
    return weight_cache.get(weight, ("triton-gemm", dtype), build)


def packed_weight(w, dtype):
    """[O, I, k, k] -> [k*k, I, O] in ``dtype``: the GEMM's B operand, one [I, O] matrix per tap."""
    out_channels, in_channels, k, _ = w.shape
    return w.permute(2, 3, 1, 0).reshape(k * k, in_channels, out_channels).to(dtype).contiguous()


def dot_in_float32(dtype) -> bool:
    """float32 I/O multiplies in IEEE float32. So does bfloat16 under the interpreter: Triton 3.9's
    interpreter computes a bf16 tl.dot wrongly (errors of 1e10 on a 16x16 product), and widening bf16
    operands to float32 is exact, so the float32 dot there is what the tensor cores compute (products
    exact, float32 sums). On a GPU the bf16 kernel runs the bf16 dot, checked by tests/test_triton_gpu.py."""
    return dtype == torch.float32 or (dtype == torch.bfloat16 and os.environ.get("TRITON_INTERPRET") == "1")


def fir_taps(resample_filter, gain):
    """[FH, FW] float32 correlation taps of upfirdn2d(f, gain): the 2-D filter flipped, times the gain."""
    f = resample_filter.to(torch.float32)
    if f.ndim == 1:
        f = torch.outer(f, f)
    return (f.flip([0, 1]) * gain).contiguous()


def gemm_tiles(dtype) -> tuple:
    return GEMM_TILES["float32" if dtype == torch.float32 else "half"]


def gemm_tile_candidates(dtype, pixels: int, out_channels: int, planes: int) -> list[int]:
    """Indices of gemm_tiles(dtype) to try for ``planes`` outputs [pixels, out_channels], the heuristic pick
    first: the largest tile that still gives at least 264 programs (two per SM of an H100), else the
    smallest."""
    tiles = gemm_tiles(dtype)
    fits = [t for t, (bm, bn, *_) in enumerate(tiles)
            if triton.cdiv(pixels, bm) * triton.cdiv(out_channels, bn) * planes >= 264]
    first = max(fits, key=lambda t: tiles[t][0] * tiles[t][1]) if fits else 0
    return [first] + [t for t in range(len(tiles)) if t != first]


def gemm_eligible(x, weight, up, resample_filter) -> bool:
    """What styled_conv_gemm_kernel (+ fir_epilogue_kernel) computes: square odd kernels; up=2 with a
    FIR_TAPS-tap filter."""
    k = weight.shape[-1]
    if weight.shape[-2] != k or k % 2 == 0:
        return False
    return up == 1 or (k == 3 and tuple(fir_taps(resample_filter, 1).shape) == (FIR_TAPS, FIR_TAPS))


def styled_conv2d_gemm(x, weight, styles, bias, noise, noise_strength, up, resample_filter, clamp, tile=None):
    """Strategy (a): the layer as styled_conv_gemm_kernel (+ fir_epilogue_kernel for up=2). ``tile``: an
    index of gemm_tiles(x.dtype) (default: the heuristic's)."""
    modulated.check_dtype("styled_conv2d", x)
    packed, w_sq = gemm_weights(weight, x.dtype)
    s, d = modulated.modulation(styles.to(x.device), None, x.dtype == torch.float16, w_sq=w_sq)
    fir = None
    if up == 2:
        px0, _, py0, _ = modulated_reference.transposed_fir_padding(resample_filter, weight.shape, up)
        fir = (fir_taps(resample_filter.to(x.device), up * up), py0, px0, 0)
    strength = None if noise is None else noise_strength.reshape(1).expand(weight.shape[0])
    return gemm_layer(x, packed, weight.shape[-1], s, d, bias, noise, strength, fir, GAIN, clamp, tile)


def gemm_layer(x, packed, k, s, d, bias, noise, strength, fir, gain, clamp, tile=None):
    """One conv layer on styled_conv_gemm_kernel [+ fir_epilogue_kernel] -> [N, O, H', W'] in x's dtype.

    x [N, I, H, W]; packed [k*k, I, O] (gemm_weights); s [N, I], d [N, O] float32 (the style and the
    demodulation: ones for a plain conv); bias [O] or None; noise [N or 1, 1, H', W'] or None times
    strength [O]; epilogue lrelu(0.2) x gain, then clamp (None: none).
    fir None: the 'same' kxk conv (H' = H). fir = (taps [FH, FW], pad_y, pad_x, crop): the stride-2
    transposed conv T [N, O, 2(H-1) + k, 2(W-1) + k], cropped by ``crop`` on each side, then the FIR
    (correlation taps) with padding (pad_y, pad_x) and the epilogue (H' = 2H).
    """
    n, in_channels, h, w = x.shape
    out_channels = packed.shape[-1]
    up = 1 if fir is None else 2
    f32 = dict(device=x.device, dtype=torch.float32)
    bias = torch.zeros(out_channels, **f32) if bias is None else bias.to(**f32).contiguous()
    y = torch.empty(n, out_channels, h * up, w * up, dtype=x.dtype, device=x.device)
    if y.numel() == 0:
        return y
    noise, strength, noise_strides = noise_arguments(noise, strength, x, d)
    epilogue = (float(ALPHA), float(gain), math.inf if clamp is None else float(clamp))
    if up == 1:
        t, (gh, gw) = y, (h, w)
    else:  # T = d * conv_transpose(x') [N, O, (H-1)*2 + k, (W-1)*2 + k], on a grid of phases
        t = torch.empty(n, out_channels, (h - 1) * 2 + k, (w - 1) * 2 + k, dtype=x.dtype, device=x.device)
        gh, gw = (t.shape[2] + 1) // 2, (t.shape[3] + 1) // 2
    tile = gemm_tile_candidates(x.dtype, gh * gw, out_channels, n * up * up)[0] if tile is None else tile
    block_m, block_n, block_k, warps, stages = gemm_tiles(x.dtype)[tile]
    grid = (triton.cdiv(gh * gw, block_m), triton.cdiv(out_channels, block_n), n * up * up)
    styled_conv_gemm_kernel[grid](
        x, packed, s, d, bias, noise if up == 1 else d, strength, t, h, w, in_channels, out_channels, k, gh, gw,
        t.shape[2], t.shape[3], *x.stride(), *t.stride(), *noise_strides, *epilogue,
        UP=up, HAS_NOISE=noise is not d and up == 1, DOT_FP32=dot_in_float32(x.dtype),
        BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_K=block_k, num_warps=warps, num_stages=stages)
    if up == 2:
        taps, pad_y, pad_x, crop = fir
        if crop:
            t = t[:, :, crop:t.shape[2] - crop, crop:t.shape[3] - crop]  # a view: the kernel reads strides
        fh, fw = taps.shape
        block_m, block_n, warps = FIR_TILE
        fir_epilogue_kernel[(triton.cdiv(y.shape[2] * y.shape[3], block_m), triton.cdiv(out_channels, block_n), n)](
            t, taps, bias, noise, strength, y, t.shape[2], t.shape[3], y.shape[2], y.shape[3], out_channels,
            pad_y, pad_x, *t.stride(), *y.stride(), *noise_strides, *epilogue,
            HAS_NOISE=noise is not d, FH=fh, FW=fw, BLOCK_M=block_m, BLOCK_N=block_n, num_warps=warps)
    return y


def noise_arguments(noise, strength, x, dummy):
    """-> (noise [N or 1, 1, H', W'] in x's dtype, strength [O] float32, (batch stride, row stride)) for the
    kernels (``strength``: one per output channel); (dummy, dummy, (0, 0)) without noise (then never read)."""
    if noise is None:
        return dummy, dummy, (0, 0)
    noise = noise.to(device=x.device, dtype=x.dtype).contiguous()
    strength = strength.to(device=x.device, dtype=torch.float32).contiguous()
    return noise, strength, (0 if noise.shape[0] == 1 else noise[0].numel(), noise.shape[-1])


def layer_key(x, weight, up, noise) -> str:
    """What the tuner's choice for a layer depends on."""
    layout = "cl" if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous() else "nchw"
    return (f"{str(x.dtype).removeprefix('torch.')} n{x.shape[0]} i{x.shape[1]} {x.shape[2]}x{x.shape[3]} "
            f"o{weight.shape[0]} k{weight.shape[-1]} up{up} noise{int(noise is not None)} {layout}")


def styled_conv2d(x, weight, styles, bias, noise, noise_strength, up, resample_filter, clamp):
    """The reference's signature (arguments checked by ops.styled_conv2d): strategy (a) or (b), per layer
    shape as STYLEGAN_FAST_TRITON_CONV says (auto: measured on the GPU, see ops/triton_tuning.py)."""
    args = (x, weight, styles, bias, noise, noise_strength, up, resample_filter, clamp)
    strategy = conv_strategy_override()
    if strategy == "torch" or not gemm_eligible(x, weight, up, resample_filter):
        return styled_conv2d_torch(*args)
    tiles = gemm_tile_candidates(x.dtype, x.shape[2] * x.shape[3], weight.shape[0], x.shape[0] * up * up)
    candidates = [("gemm", t) for t in tiles]
    if strategy == "auto" and x.device.type == "cuda":
        candidates.append(("torch", None))
    key = f"styled_conv2d {layer_key(x, weight, up, noise)}"

    def run(candidate):
        kind, tile = candidate
        return styled_conv2d_torch(*args) if kind == "torch" else styled_conv2d_gemm(*args, tile=tile)
    return run(candidates[tuner.choose(x.device, key, candidates, run)])


def kernel_specs() -> list[KernelSpec]:
    """Every configuration of strategy (b)'s fused epilogue (per dtype and flag; noise shared or per
    sample is a stride, not a flag; its prologue kernels are modulated_conv2d's, listed there) and of
    strategy (a): the GEMM kernel per dtype, noise flag (UP=1) and tile, and the FIR epilogue."""
    return [KernelSpec("styled_epilogue_kernel", styled_epilogue_kernel, _epilogue_configs()),
            KernelSpec("styled_conv_gemm_kernel", styled_conv_gemm_kernel, _gemm_configs()),
            KernelSpec("fir_epilogue_kernel", fir_epilogue_kernel, _fir_configs())]


def with_constexprs(signature, constexprs, **options):
    return dict(signature={**signature, **{k: "constexpr" for k in constexprs}}, constexprs=constexprs, **options)


def i32(*names):
    return {name: "i32" for name in names}


STRIDES = ("n", "c", "h", "w")
EPILOGUE_SCALARS = {"alpha": "fp32", "gain": "fp32", "clamp": "fp32"}


def _gemm_configs():
    configs = []
    for dtype, up, has_noise in itertools.product(POINTER_TYPES, (1, 2), (False, True)):
        if up == 2 and has_noise:  # the up layer's noise is added by fir_epilogue_kernel
            continue
        configs += [_gemm_config(dtype, up, has_noise, tile) for tile in gemm_tiles(dtype)]
    return configs


def _gemm_config(dtype, up, has_noise, tile):
    p = POINTER_TYPES[dtype]
    block_m, block_n, block_k, warps, stages = tile
    signature = {"x_ptr": p, "w_ptr": p, "s_ptr": "*fp32", "d_ptr": "*fp32", "bias_ptr": "*fp32",
                 "noise_ptr": p if has_noise else "*fp32", "strength_ptr": "*fp32", "y_ptr": p,
                 **i32("H", "W", "I", "O", "K", "GH", "GW", "YH", "YW"),
                 **i32(*(f"sx_{a}" for a in STRIDES), *(f"sy_{a}" for a in STRIDES)),
                 **i32("noise_n_stride", "noise_h_stride"), **EPILOGUE_SCALARS}
    constexprs = dict(UP=up, HAS_NOISE=has_noise, DOT_FP32=dtype == torch.float32, BLOCK_M=block_m,
                      BLOCK_N=block_n, BLOCK_K=block_k)
    return with_constexprs(signature, constexprs, num_warps=warps, num_stages=stages)


def _fir_configs():
    configs = []
    block_m, block_n, warps = FIR_TILE
    for dtype, has_noise, taps in itertools.product(POINTER_TYPES, (False, True), FIR_SIZES):
        p = POINTER_TYPES[dtype]
        signature = {"t_ptr": p, "taps_ptr": "*fp32", "bias_ptr": "*fp32", "noise_ptr": p if has_noise else "*fp32",
                     "strength_ptr": "*fp32", "y_ptr": p, **i32("TH", "TW", "YH", "YW", "O", "pad_y", "pad_x"),
                     **i32(*(f"st_{a}" for a in STRIDES), *(f"sy_{a}" for a in STRIDES)),
                     **i32("noise_n_stride", "noise_h_stride"), **EPILOGUE_SCALARS}
        constexprs = dict(HAS_NOISE=has_noise, FH=taps, FW=taps, BLOCK_M=block_m, BLOCK_N=block_n)
        configs.append(with_constexprs(signature, constexprs, num_warps=warps))
    return configs


def _epilogue_configs():
    configs = []
    for dtype, has_bias, has_noise, has_clamp, block in itertools.product(
            POINTER_TYPES, (False, True), (False, True), (False, True), modulated.BLOCKS):
        p = POINTER_TYPES[dtype]
        signature = {"y_ptr": p, "d_ptr": "*fp32", "bias_ptr": "*fp32", "noise_ptr": p if has_noise else "*fp32",
                     "strength_ptr": "*fp32", "C": "i32", "L": "i32", "noise_batch_stride": "i32",
                     "alpha": "fp32", "gain": "fp32", "clamp": "fp32"}
        constexprs = dict(HAS_BIAS=has_bias, HAS_NOISE=has_noise, HAS_CLAMP=has_clamp, BLOCK=block)
        configs.append(with_constexprs(signature, constexprs, num_warps=4))
    return configs
