"""torgb_skip on the CPU: csrc/cpu/torgb_skip.cpp, the 1x1 modulated conv, bias, clamp and the
upsampled skip image in one pass.

The styles are folded into a per-sample weight [N, img_C, C] here (float32). A 4x4 resample filter
(2-D, or 1-D of 4 taps: the separable outer product) is handed to the kernel as its 2x2 taps per
output phase; other filters upsample the skip image with upsample2d and add it after the kernel.
"""
from __future__ import annotations

import torch

from ..cpu_support import kernel_input, native, pointer, threads
from ..modulated_conv2d import check_modulated_conv_args
from ..upfirdn2d import upsample2d
from . import reference


def torgb_skip(x, weight, styles, bias, skip, resample_filter, clamp):
    """The reference's signature. x [N, C, H, W], weight [img_C, C, 1, 1], styles [N, C], bias [img_C] or
    None, skip [N, img_C, H/2, W/2] or None -> [N, img_C, H, W] float32."""
    check_modulated_conv_args(x, weight, styles, 1, None)  # the reference's errors
    x = kernel_input("x", x, [-1, -1, -1, -1])
    n, c, h, w = x.shape
    if tuple(weight.shape[2:]) != (1, 1):
        return reference.torgb_skip(x, weight, styles, bias, skip, resample_filter, clamp)  # not a toRGB layer
    weight = kernel_input("weight", weight, [-1, c, 1, 1])
    out_channels = weight.shape[0]
    styles = kernel_input("styles", styles, [n, c])
    bias = kernel_input("bias", bias, [out_channels])
    if x.numel() == 0 or skip is not None and (skip.dtype != torch.float32 or h % 2 or w % 2):
        # nothing to sum / the result has skip's dtype / the reference's shape error
        return reference.torgb_skip(x, weight, styles, bias, skip, resample_filter, clamp)
    skip = kernel_input("skip", skip, [n, out_channels, h // 2, w // 2])
    fused = skip is not None and reference.phase_taps_apply(resample_filter)
    taps = reference.phase_taps(resample_filter) if fused else None
    modulated = (weight.reshape(1, out_channels, c) * styles.reshape(n, 1, c)).contiguous()  # [N, img_C, C]
    y = torch.empty(n, out_channels, h, w)
    native().torgb_skip(pointer(x), pointer(modulated), pointer(bias), pointer(skip if fused else None),
                        pointer(taps), pointer(y), n, c, out_channels, h, w,
                        -1.0 if clamp is None else float(clamp), threads())
    if skip is not None and not fused:
        return upsample2d(skip, resample_filter) + y
    return y
