"""The last conv layer of a StyleGAN2 block and its toRGB, the specification: two ops in a row.

    y   = styled_conv2d(x, weight, styles, bias, noise, strength, up=1, clamp=clamp)       # [N, O, H, W]
    img = torgb_skip(y, rgb_weight, rgb_styles, rgb_bias, skip, resample_filter, rgb_clamp)  # [N, img_C, H, W]
returns (y, img), or (None, img) when ``keep_x`` is false (the last block: nothing reads y). The
public ops are called, so each part dispatches as any other call would.
"""
from __future__ import annotations

from ..styled_conv2d import styled_conv2d
from ..torgb_skip import torgb_skip


def styled_conv2d_torgb(x, weight, styles, bias, noise, noise_strength, clamp, rgb_weight, rgb_styles, rgb_bias, skip,
                        resample_filter, rgb_clamp, keep_x):
    y = styled_conv2d(x, weight, styles, bias, noise, noise_strength, 1, None, clamp)
    img = torgb_skip(y, rgb_weight, rgb_styles, rgb_bias, skip, resample_filter, rgb_clamp)
    return (y if keep_x else None), img
