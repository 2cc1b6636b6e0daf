"""A residual StyleGAN2 discriminator (equalized learning rate), for training the demo model."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .. import ops
from ..networks.layers import FullyConnected
from ..ops.noise_bias_act import ACTIVATIONS


class DiscriminatorConv(nn.Module):
    """[blur + 2x downsample] -> k x k conv (equalized lr) -> bias + activation."""

    def __init__(self, in_channels, out_channels, kernel_size, bias=True, activation="lrelu", down=False, gain=1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels])) if bias else None
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)
        self.activation, self.down, self.gain = activation, down, gain
        self.register_buffer("resample_filter", ops.setup_filter([1, 3, 3, 1]), persistent=False)

    def forward(self, x):
        if self.down:
            x = ops.downsample2d(x, self.resample_filter)
        x = F.conv2d(x, self.weight * self.weight_gain, padding=self.weight.shape[-1] // 2)
        act_gain = ACTIVATIONS[self.activation][2] * self.gain
        return ops.noise_bias_act(x, self.bias, act=self.activation, gain=act_gain)


class DiscriminatorBlock(nn.Module):
    """conv 3x3 -> conv 3x3 with 2x downsampling, plus a 1x1 downsampled skip; both scaled by sqrt(1/2)."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv0 = DiscriminatorConv(in_channels, in_channels, 3)
        self.conv1 = DiscriminatorConv(in_channels, out_channels, 3, down=True, gain=math.sqrt(0.5))
        self.skip = DiscriminatorConv(in_channels, out_channels, 1, bias=False, activation="linear", down=True,
                                      gain=math.sqrt(0.5))

    def forward(self, x):
        return self.skip(x) + self.conv1(self.conv0(x))


def minibatch_stddev(x, group_size=4):
    """Append the mean over features of the per-group standard deviation as one extra channel."""
    n, c, h, w = x.shape
    g = min(group_size, n) if n % min(group_size, n) == 0 else 1
    y = x.reshape(g, -1, c, h, w)  # [G, N/G, C, H, W]
    y = (y - y.mean(dim=0)).square().mean(dim=0).add(1e-8).sqrt()  # [N/G, C, H, W]
    y = y.mean(dim=[1, 2, 3]).reshape(-1, 1, 1, 1).repeat(g, 1, h, w)  # [N, 1, H, W]
    return torch.cat([x, y], dim=1)


class Discriminator(nn.Module):
    def __init__(self, resolution=64, img_channels=3, channel_base=4096, channel_max=128):
        super().__init__()
        ch = lambda r: min(channel_base // r, channel_max)  # noqa: E731
        self.resolution = resolution
        self.fromrgb = DiscriminatorConv(img_channels, ch(resolution), 1)
        self.block_resolutions = [2 ** i for i in range(int(math.log2(resolution)), 2, -1)]
        for res in self.block_resolutions:
            setattr(self, f"b{res}", DiscriminatorBlock(ch(res), ch(res // 2)))
        self.conv = DiscriminatorConv(ch(4) + 1, ch(4), 3)
        self.fc = FullyConnected(ch(4) * 16, ch(4), activation="lrelu")
        self.out = FullyConnected(ch(4), 1)

    def forward(self, img):  # [N, C, H, W] -> logits [N]
        x = self.fromrgb(img)
        for res in self.block_resolutions:
            x = getattr(self, f"b{res}")(x)
        x = self.conv(minibatch_stddev(x))
        return self.out(self.fc(x.flatten(1)))[:, 0]
