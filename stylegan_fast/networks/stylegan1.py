"""StyleGAN1 synthesis network (Karras et al. 2019), built from the ops in stylegan_fast.ops.

Per layer: [conv] -> [blur] -> noise (per-channel weight) -> bias -> lrelu(0.2)
-> instance norm -> style modulation x * (ys + 1) + yb  (AdaIN).
Equalized learning rate with He gain sqrt(2) (gain 1 for the styles and toRGB).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .. import ops
from ..backends import BackendChoice
from ..config import GeneratorConfig
from .layers import FullyConnected, NoiseInput, check_ws, init_normal, layer_noise, needs_grad

FIR_121 = ops.setup_filter([1, 2, 1])  # StyleGAN1's blur after upsampling (built once, on the CPU)
FUSED_UPSCALE_MIN_RESOLUTION = 128  # output resolution from which the fused transposed conv is used


class StyleGAN1Layer(nn.Module):
    """conv: 'none' (the 4x4 const layer), 'same' (3x3 conv) or 'up' (2x upscale conv + blur)."""

    def __init__(self, in_channels, out_channels, w_dim, resolution, conv):
        super().__init__()
        self.conv = conv
        if conv != "none":
            self.weight = nn.Parameter(init_normal([out_channels, in_channels, 3, 3]))
            self.weight_gain = math.sqrt(2) / math.sqrt(in_channels * 9)
        self.fused_upscale = conv == "up" and resolution >= FUSED_UPSCALE_MIN_RESOLUTION
        if conv == "up":
            self.register_buffer("blur_filter", FIR_121.clone(), persistent=False)
        self.noise_strength = nn.Parameter(torch.zeros([out_channels]))
        self.noise = NoiseInput(resolution)
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.style = FullyConnected(w_dim, 2 * out_channels)

    def forward(self, x, w, noise_mode, noise):
        noise = self.noise(noise_mode, noise)
        if self.conv == "none":
            x = ops.noise_bias_act(x, self.bias, noise, self.noise_strength, act="lrelu", gain=1)
        else:
            x = ops.stylegan1_conv2d(x, self.weight, self.weight_gain, self.conv, self.fused_upscale,
                                     getattr(self, "blur_filter", None), self.bias, noise, self.noise_strength)
        style = self.style(w)  # [N, 2C]: scale - 1, then shift
        scale, shift = style.chunk(2, dim=1)
        return ops.adain(x, scale + 1, shift)


class SynthesisNetwork(nn.Module):
    """ws [N, num_ws, w_dim] -> images [N, img_channels, res, res]."""

    def __init__(self, config: GeneratorConfig):
        super().__init__()
        self.w_dim, self.num_ws = config.w_dim, config.num_ws
        self.img_resolution, self.img_channels = config.resolution, config.img_channels
        self.backend_choice = BackendChoice()  # the Generator shares its own
        self.block_resolutions = config.block_resolutions
        c4 = config.channels(4)
        self.const = nn.Parameter(torch.ones([c4, 4, 4]))
        names = []
        for res in self.block_resolutions:
            c_in, c_out = config.channels(max(res // 2, 4)), config.channels(res)
            if res == 4:
                layers = [("const", StyleGAN1Layer(c4, c4, config.w_dim, 4, "none")),
                          ("conv", StyleGAN1Layer(c4, c4, config.w_dim, 4, "same"))]
            else:
                layers = [("conv0_up", StyleGAN1Layer(c_in, c_out, config.w_dim, res, "up")),
                          ("conv1", StyleGAN1Layer(c_out, c_out, config.w_dim, res, "same"))]
            for name, layer in layers:
                names.append(f"b{res}_{name}")
                setattr(self, names[-1], layer)
        self.layer_names = names
        c_last = config.channels(config.resolution)
        self.torgb_weight = nn.Parameter(init_normal([config.img_channels, c_last, 1, 1]))
        self.torgb_bias = nn.Parameter(torch.zeros([config.img_channels]))
        self.torgb_gain = 1 / math.sqrt(c_last)

    def noise_shapes(self):
        """[(layer name, [1, 1, res, res])] in the order ``noise=`` expects."""
        resolutions = [getattr(self, name).noise.resolution for name in self.layer_names]
        return [(name, [1, 1, r, r]) for name, r in zip(self.layer_names, resolutions)]

    def forward(self, ws, noise_mode="const", noise=None, noise_seeds=None):
        """ws [N, num_ws, w_dim] -> images; noise: see ``layers.layer_noise`` (and ``noise_shapes``)."""
        check_ws(ws, self.num_ws, self.w_dim)
        resolutions = [shape[-1] for _, shape in self.noise_shapes()]
        with self.backend_choice.dispatching(ws.device, needs_grad(self, ws)):
            noise = layer_noise(noise_mode, noise, noise_seeds, resolutions, ws.shape[0], ws.device)
            return self._layers(ws, noise_mode, noise)

    def _layers(self, ws, noise_mode, noise):
        dtype = self.const.dtype
        ws = ws.to(dtype)
        x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
        for i, name in enumerate(self.layer_names):
            x = getattr(self, name)(x, ws[:, i], noise_mode, noise[i])
        w = self.torgb_weight.to(dtype) * self.torgb_gain
        return ops.noise_bias_act(F.conv2d(x, w), self.torgb_bias)
