"""Building blocks shared by both architectures."""
from __future__ import annotations

import torch
from torch import nn

from .. import ops

NOISE_MODES = ("const", "random", "none")


class FullyConnected(nn.Module):
    """Dense layer with equalized learning rate: stored weights ~ N(0, 1/lr^2), scaled at run time."""

    def __init__(self, in_features, out_features, activation="linear", bias_init=0.0, lr_multiplier=1.0):
        super().__init__()
        self.activation = activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init)))
        self.weight_gain = lr_multiplier / in_features ** 0.5
        self.bias_gain = lr_multiplier

    def forward(self, x, backend="reference"):  # [N, in] -> [N, out]
        w = self.weight.to(x.dtype) * self.weight_gain
        x = torch.nn.functional.linear(x, w)
        return ops.noise_bias_act(x, self.bias * self.bias_gain, act=self.activation, backend=backend)

    def extra_repr(self):
        return f"in={self.weight.shape[1]}, out={self.weight.shape[0]}, activation={self.activation}"


class NoiseInput(nn.Module):
    """Per-pixel noise of one layer: a stored constant map, fresh Gaussian noise, or none."""

    def __init__(self, resolution):
        super().__init__()
        self.resolution = resolution
        self.register_buffer("noise_const", torch.randn([resolution, resolution]))

    def forward(self, x, noise_mode, explicit=None):  # -> [N|1, 1, res, res] or None
        r = self.resolution
        if explicit is not None:
            if explicit.ndim != 4 or explicit.shape[1:] != (1, r, r) or explicit.shape[0] not in (1, x.shape[0]):
                raise ValueError(f"noise for a {r}x{r} layer must have shape [N or 1, 1, {r}, {r}], "
                                 f"got {list(explicit.shape)}")
            return explicit
        if noise_mode == "const":
            return self.noise_const[None, None]
        if noise_mode == "random":
            return torch.randn([x.shape[0], 1, r, r], device=x.device, dtype=x.dtype)
        return None


def check_noise_args(noise_mode, noise, num_noise_layers):
    if noise_mode not in NOISE_MODES:
        raise ValueError(f"unknown noise_mode {noise_mode!r}; choose one of: {', '.join(NOISE_MODES)}")
    if noise is not None and len(noise) != num_noise_layers:
        raise ValueError(f"noise must be a list of {num_noise_layers} tensors (one per noise layer, "
                         f"see synthesis.noise_shapes()), got {len(noise)}")


def check_ws(ws, num_ws, w_dim):
    if ws.ndim != 3 or ws.shape[1] != num_ws or ws.shape[2] != w_dim:
        raise ValueError(f"ws must have shape [N, {num_ws}, {w_dim}], got {list(ws.shape)}")
