"""noise_stream on the CPU: csrc/cpu/noise_stream.cpp draws the float32 maps, cast here to ``dtype``."""
from __future__ import annotations

import torch

from ..cpu_support import kernel_input, native, pointer, threads


def noise_stream(noise_seeds, layer, height, width, dtype=torch.float32, device=None):
    """The reference's signature (arguments checked by ops.noise_stream): seeds [N] -> [N, 1, H, W]."""
    device = noise_seeds.device if device is None else torch.device(device)
    if device.type != "cpu":
        raise ValueError(f"the cpu backend's noise_stream draws maps on the CPU, got device {device}")
    if noise_seeds.dtype.is_floating_point or noise_seeds.dtype.is_complex:
        raise ValueError(f"noise_seeds must be an integer tensor, got {noise_seeds.dtype}")
    seeds = kernel_input("noise_seeds", noise_seeds, [-1], dtype=torch.int64)  # [N]
    out = torch.empty(seeds.numel(), 1, height, width)  # [N, 1, H, W]
    native().noise_stream(pointer(seeds), pointer(out), seeds.numel(), height * width, int(layer), threads())
    return out if dtype == torch.float32 else out.to(dtype)
