"""stylegan1_conv2d in Triton: StyleGAN1's conv layer on styled_conv2d's implicit-GEMM kernels.

    "same": styled_conv_gemm_kernel (UP=1) with the style 1 and no demodulation: the 3x3 conv of x with
            weight * weight_gain, then noise * strength[o] + bias, lrelu(0.2) (gain 1) in its epilogue.
    "up":   the upscale conv is the stride-2 transposed conv with the 4x4 kernel of
            upscale_conv2d.reference.fused_upscale_kernel (of the weight flipped when not ``fused``:
            nearest 2x + a correlation equals the fused form of the flipped kernel), run as its four
            sub-pixel phases (UP=2), cropped by 1 on each side; fir_epilogue_kernel then applies the
            [1, 2, 1] blur and the same epilogue in one pass.
Packed weights are cached beside the parameter. The StyleGAN1 AdaIN after it is the adain op's kernel.
Other blur filters, a forced "torch" strategy, or a GPU measurement that prefers it run the composition
(torch's convolution + the Triton upfirdn2d and noise_bias_act kernels).
"""
from __future__ import annotations

import torch

from ..styled_conv2d import triton_kernels as conv
from ..triton_support import POINTER_TYPES, KernelSpec
from ..triton_tuning import conv_strategy_override, tuner
from ..upscale_conv2d.reference import fused_upscale_kernel
from ..weight_cache import weight_cache
from . import reference


def _packed(weight, weight_gain, mode, fused, dtype):
    def build():
        w = weight.to(torch.float32) * weight_gain
        if mode == "up":
            w = fused_upscale_kernel(w if fused else w.flip([2, 3]))  # [O, I, 4, 4]
        return conv.packed_weight(w, dtype)
    return weight_cache.get(weight, ("triton-gemm-stylegan1", float(weight_gain), mode, bool(fused), dtype), build)


def _eligible(x, blur_filter, mode) -> bool:
    return x.dtype in POINTER_TYPES and (mode == "same" or tuple(conv.fir_taps(blur_filter, 1).shape) == (3, 3))


def stylegan1_conv2d_gemm(x, weight, weight_gain, mode, fused, blur_filter, bias, noise, noise_strength, tile=None):
    n, in_channels = x.shape[:2]
    out_channels = weight.shape[0]
    packed = _packed(weight, weight_gain, mode, fused, x.dtype)
    ones = dict(device=x.device, dtype=torch.float32)
    s, d = torch.ones(n, in_channels, **ones), torch.ones(n, out_channels, **ones)
    fir = None if mode == "same" else (conv.fir_taps(blur_filter.to(x.device), 1.0), 1, 1, 1)
    return conv.gemm_layer(x, packed, 3 if mode == "same" else 4, s, d, bias, noise, noise_strength, fir, 1.0, None,
                           tile)


def stylegan1_conv2d(x, weight, weight_gain, mode, fused, blur_filter, bias, noise, noise_strength):
    """The reference's signature (arguments checked by ops.stylegan1_conv2d)."""
    args = (x, weight, weight_gain, mode, fused, blur_filter, bias, noise, noise_strength)
    if conv_strategy_override() == "torch" or not _eligible(x, blur_filter, mode):
        return reference.stylegan1_conv2d(*args)
    up = 1 if mode == "same" else 2
    candidates = [("gemm", t) for t in conv.gemm_tile_candidates(x.dtype, x.shape[2] * x.shape[3], weight.shape[0],
                                                                  x.shape[0] * up * up)]
    if x.device.type == "cuda" and conv_strategy_override() == "auto":
        candidates.append(("torch", None))
    key = f"stylegan1_conv2d {conv.layer_key(x, weight, up, noise)} fused{int(fused)}"

    def run(candidate):
        kind, tile = candidate
        return reference.stylegan1_conv2d(*args) if kind == "torch" else stylegan1_conv2d_gemm(*args, tile=tile)
    return run(candidates[tuner.choose(x.device, key, candidates, run)])


def kernel_specs() -> list[KernelSpec]:
    """The kernels are styled_conv2d's (its GEMM kernel with K=3/4 and the 3x3 FIR epilogue), listed there."""
    return []
