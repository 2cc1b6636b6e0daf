"""Every op of the generators, one dispatch point each (reference beside it).

    op                 module                          used by
    upfirdn2d          ops/upfirdn2d/                  FIR up/down/filter (both archs)
    modulated_conv2d   ops/modulated_conv2d/           StyleGAN2 conv layers
    noise_bias_act     ops/noise_bias_act/             every layer's epilogue, mapping
    torgb_skip         ops/torgb_skip/                 StyleGAN2 output branch
    adain              ops/adain/                      StyleGAN1 style modulation
    upscale_conv2d     ops/upscale_conv2d/             StyleGAN1 upsampling conv
    noise_stream       ops/noise_stream/               per-image random noise (noise_mode="random")
    styled_conv2d      ops/styled_conv2d/              StyleGAN2 conv layer: modulated_conv2d + noise_bias_act
    styled_conv2d_torgb ops/styled_conv2d_torgb/       a block's last conv layer + its toRGB: styled_conv2d + torgb_skip
    stylegan1_conv2d   ops/stylegan1_conv2d/           StyleGAN1 conv layer before AdaIN: [upscale] conv + blur
                                                       + noise_bias_act
The cpu backend's convolutions (styled_conv2d, stylegan1_conv2d) share ops/winograd.py.
"""
from .adain import adain
from .modulated_conv2d import modulated_conv2d
from .noise_bias_act import noise_bias_act
from .noise_stream import NOISE_SEED_MAX, layer_noise_maps, noise_stream
from .styled_conv2d import styled_conv2d
from .styled_conv2d_torgb import styled_conv2d_torgb
from .stylegan1_conv2d import stylegan1_conv2d
from .torgb_skip import torgb_skip
from .upfirdn2d import downsample2d, filter2d, setup_filter, upfirdn2d, upsample2d
from .upscale_conv2d import upscale_conv2d

__all__ = ["NOISE_SEED_MAX", "adain", "downsample2d", "filter2d", "layer_noise_maps", "modulated_conv2d",
           "noise_bias_act", "noise_stream", "setup_filter", "styled_conv2d", "styled_conv2d_torgb", "stylegan1_conv2d", "torgb_skip", "upfirdn2d",
           "upsample2d", "upscale_conv2d"]
