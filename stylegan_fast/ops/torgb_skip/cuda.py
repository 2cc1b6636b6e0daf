"""torgb_skip on the cuda backend: csrc/cuda/torgb_skip.cu, the 1x1 modulated conv, bias, clamp and the
upsampled skip image in one pass, the image written once.

The styles are folded into a per-sample weight [N, img_C, C] (float32) here. A 4x4 resample filter
(2-D, or 1-D of 4 taps) is handed to the kernel as its 2x2 taps per output phase (kept beside the
filter); other filters, skip images of another dtype than x's or float32, and odd sizes upsample the
skip image with the cuda upfirdn2d and add it after the kernel, as the reference does. More than 4
image channels or a weight that is not 1x1 run the reference (its ops on the cuda backend). The image
has x's memory format.
"""
from __future__ import annotations

import torch

from ... import backends
from .. import cuda_support as cs
from ..upfirdn2d import upsample2d
from ..weight_cache import weight_cache
from . import reference


def skip_taps(f, device) -> torch.Tensor:
    """reference.phase_taps(f) [2, 2, 2, 2] float32 on ``device`` (cached until the filter changes)."""
    return weight_cache.get(f, ("cuda-phase-taps", device), lambda: reference.phase_taps(f).to(device))


def torgb_skip(x, weight, styles, bias, skip, resample_filter, clamp):
    """The reference's signature. x [N, C, H, W], weight [img_C, C, 1, 1], styles [N, C], bias [img_C] or
    None, skip [N, img_C, H/2, W/2] or None -> [N, img_C, H, W] in skip's dtype (x's without skip)."""
    x = cs.kernel_input("x", x, [-1, -1, -1, -1])
    n, c, h, w = x.shape
    out_channels = weight.shape[0]
    if tuple(weight.shape[1:]) != (c, 1, 1) or out_channels > cs.native().CUDA_TORGB_MAX_CHANNELS \
            or x.numel() == 0:
        with backends.overriding("cuda", x.device):  # the reference's ops on their cuda kernels
            return reference.torgb_skip(x, weight, styles, bias, skip, resample_filter, clamp)
    weights = cs.parameter("weight", weight, [out_channels, c, 1, 1], x.device).reshape(1, out_channels, c)
    weights = (weights * cs.parameter("styles", styles, [n, c], x.device).reshape(n, 1, c)).contiguous()  # [N, O, C]
    bias = cs.parameter("bias", bias, [out_channels], x.device)
    skip = cs.kernel_input("skip", skip, [n, out_channels, h // 2, w // 2], device=x.device)
    fused = (skip is not None and skip.dtype in (x.dtype, torch.float32) and h % 2 == 0 and w % 2 == 0
             and reference.phase_taps_apply(resample_filter))
    y = cs.empty([n, out_channels, h, w], x, skip.dtype if fused else x.dtype)
    cs.native().cuda_torgb_skip(
        cs.dtype_code(x), cs.dtype_code(y), tuple(x.shape), x.data_ptr(), cs.strides(x), weights.data_ptr(),
        cs.pointer(bias), out_channels, cs.pointer(skip if fused else None),
        cs.strides(skip) if fused else (0, 0, 0, 0), skip_taps(resample_filter, x.device).data_ptr() if fused else 0,
        -1.0 if clamp is None else float(clamp), y.data_ptr(), cs.strides(y), *cs.launch(x.device))
    if skip is not None and not fused:
        return upsample2d(skip, resample_filter, backend="cuda") + y.to(skip.dtype)
    return y
