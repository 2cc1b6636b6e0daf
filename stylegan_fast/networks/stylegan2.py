"""StyleGAN2 synthesis network ('skip' architecture), built from the ops in stylegan_fast.ops."""
from __future__ import annotations

import torch
from torch import nn

from .. import ops
from ..backends import BackendChoice
from ..config import GeneratorConfig
from .layers import FullyConnected, NoiseInput, check_ws, init_normal, layer_noise, needs_grad

FIR_1331 = ops.setup_filter([1, 3, 3, 1])  # StyleGAN2's up/down-sampling filter (built once, on the CPU)


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (optionally 2x upsampling) -> noise -> bias -> lrelu*sqrt(2) -> clamp: ops.styled_conv2d."""

    def __init__(self, in_channels, out_channels, w_dim, resolution, up=1, conv_clamp=None, kernel_size=3):
        super().__init__()
        self.up, self.conv_clamp = up, conv_clamp
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(init_normal([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.noise = NoiseInput(resolution)
        if up > 1:
            self.register_buffer("resample_filter", FIR_1331.clone(), persistent=False)
        else:
            self.resample_filter = None

    def forward(self, x, w, noise_mode, noise):
        styles = self.affine(w)  # [N, in_channels]
        noise = self.noise(noise_mode, noise)
        return ops.styled_conv2d(x, self.weight, styles, self.bias, noise, self.noise_strength, self.up,
                                 self.resample_filter, self.conv_clamp)

    def forward_with_torgb(self, x, w, noise_mode, noise, torgb, w_rgb, skip, resample_filter, keep_x):
        """This layer (up=1) then ``torgb``, as one op: -> (x or None when not ``keep_x``, img)."""
        return ops.styled_conv2d_torgb(x, self.weight, self.affine(w), self.bias, self.noise(noise_mode, noise),
                                       self.noise_strength, self.conv_clamp, torgb.weight, torgb.styles(w_rgb),
                                       torgb.bias, skip, resample_filter, torgb.conv_clamp, keep_x)


class ToRGBLayer(nn.Module):
    """Modulated 1x1 conv without demodulation, bias, clamp; adds the upsampled skip image."""

    def __init__(self, in_channels, img_channels, w_dim, conv_clamp=None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(init_normal([img_channels, in_channels, 1, 1]))
        self.bias = nn.Parameter(torch.zeros([img_channels]))
        self.weight_gain = 1 / in_channels ** 0.5

    def styles(self, w):
        return self.affine(w) * self.weight_gain  # [N, in_channels]

    def forward(self, x, w, skip, resample_filter):
        return ops.torgb_skip(x, self.weight, self.styles(w), self.bias, skip, resample_filter, self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution: [const | conv0 (up 2x)] -> conv1 -> toRGB into the skip image."""

    def __init__(self, in_channels, out_channels, w_dim, resolution, img_channels, use_fp16, conv_clamp):
        super().__init__()
        self.resolution, self.use_fp16 = resolution, use_fp16
        if in_channels == 0:
            self.const = nn.Parameter(init_normal([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2, conv_clamp=conv_clamp)
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp)
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        self.register_buffer("resample_filter", FIR_1331.clone(), persistent=False)
        self.num_conv = 1 if in_channels == 0 else 2

    @property
    def conv_names(self):
        return ["conv1"] if self.num_conv == 1 else ["conv0", "conv1"]

    def forward(self, x, img, ws, noise_mode, noise, dtype, keep_x=True):
        # ws: [N, num_conv + 1, w_dim]; noise: list with one entry (tensor or None) per conv layer.
        # conv1 and toRGB run as one op (ops.styled_conv2d_torgb); keep_x=False: x is not needed after.
        if self.num_conv == 1:
            x = self.const.to(dtype).unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
        else:
            x = self.conv0(x.to(dtype), ws[:, 0], noise_mode, noise[0])
        return self.conv1.forward_with_torgb(x, ws[:, self.num_conv - 1], noise_mode, noise[-1], self.torgb,
                                             ws[:, self.num_conv], img, self.resample_filter, keep_x)


class SynthesisNetwork(nn.Module):
    """ws [N, num_ws, w_dim] -> images [N, img_channels, res, res]."""

    def __init__(self, config: GeneratorConfig):
        super().__init__()
        self.w_dim, self.num_ws = config.w_dim, config.num_ws
        self.img_resolution, self.img_channels = config.resolution, config.img_channels
        self.backend_choice = BackendChoice()  # the Generator shares its own
        self.block_resolutions = config.block_resolutions
        for res in self.block_resolutions:
            in_channels = config.channels(res // 2) if res > 4 else 0
            block = SynthesisBlock(in_channels, config.channels(res), config.w_dim, res, config.img_channels,
                                   use_fp16=res >= config.fp16_resolution, conv_clamp=config.conv_clamp)
            setattr(self, f"b{res}", block)

    def blocks(self):
        return [getattr(self, f"b{res}") for res in self.block_resolutions]

    def noise_shapes(self):
        """[(layer name, [1, 1, res, res])] in the order ``noise=`` expects."""
        return [(f"b{b.resolution}.{name}", [1, 1, b.resolution, b.resolution])
                for b in self.blocks() for name in b.conv_names]

    def forward(self, ws, noise_mode="const", noise=None, noise_seeds=None):
        """ws [N, num_ws, w_dim] -> images; noise: see ``layers.layer_noise`` (and ``noise_shapes``)."""
        check_ws(ws, self.num_ws, self.w_dim)
        resolutions = [shape[-1] for _, shape in self.noise_shapes()]
        with self.backend_choice.dispatching(ws.device, needs_grad(self, ws)):
            noise = layer_noise(noise_mode, noise, noise_seeds, resolutions, ws.shape[0], ws.device)
            return self._blocks(ws, noise_mode, noise)

    def _blocks(self, ws, noise_mode, noise):
        base_dtype = self.b4.const.dtype
        ws = ws.to(base_dtype)
        x = img = None
        w_idx = n_idx = 0
        blocks = self.blocks()
        for block in blocks:
            dtype = torch.float16 if block.use_fp16 and ws.device.type == "cuda" else base_dtype
            x, img = block(x, img, ws[:, w_idx: w_idx + block.num_conv + 1], noise_mode,
                           noise[n_idx: n_idx + block.num_conv], dtype, keep_x=block is not blocks[-1])
            img = img.to(base_dtype)
            w_idx += block.num_conv
            n_idx += block.num_conv
        return img
