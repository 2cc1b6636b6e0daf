"""Building blocks shared by both architectures."""
from __future__ import annotations

import torch
from torch import nn

from .. import ops
from ..ops.dispatch import needs_grad as ops_needs_grad
from ..ops.rowwise import rowwise_linear

NOISE_MODES = ("const", "random", "none")


def init_normal(shape) -> torch.Tensor:
    """torch.randn(shape) for initial weights; just the shape when building on the meta device.

    ``state_shapes`` builds the networks on the meta device, where random ops cost a second
    (they import sympy) and arithmetic imports torch._dynamo; initial values need neither there.
    """
    if torch.get_default_device().type == "meta":
        return torch.empty(shape)
    return torch.randn(shape)


class FullyConnected(nn.Module):
    """Dense layer with equalized learning rate: stored weights ~ N(0, 1/lr^2), scaled at run time."""

    def __init__(self, in_features, out_features, activation="linear", bias_init=0.0, lr_multiplier=1.0):
        super().__init__()
        self.activation = activation
        weight = init_normal([out_features, in_features])
        self.weight = nn.Parameter(weight if weight.is_meta else weight / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init)))
        self.weight_gain = lr_multiplier / in_features ** 0.5
        self.bias_gain = lr_multiplier

    def forward(self, x):  # [N, in] -> [N, out]
        w = self.weight.to(x.dtype) * self.weight_gain
        x = rowwise_linear(x, w)  # a row (an image's w) gives the same result in any batch
        return ops.noise_bias_act(x, self.bias * self.bias_gain, act=self.activation)

    def extra_repr(self):
        return f"in={self.weight.shape[1]}, out={self.weight.shape[0]}, activation={self.activation}"


class NoiseInput(nn.Module):
    """Per-pixel noise of one layer: the given map (explicit, or random from the image's stream), the
    stored constant map, or none."""

    def __init__(self, resolution):
        super().__init__()
        self.resolution = resolution
        self.register_buffer("noise_const", init_normal([resolution, resolution]))

    def forward(self, noise_mode, given=None):  # -> [N|1, 1, res, res] or None
        if given is not None:
            return given
        if noise_mode == "const":
            return self.noise_const[None, None]
        return None


def layer_noise(noise_mode, noise, noise_seeds, resolutions, batch, device) -> list:
    """The noise map each noise layer gets (None: the layer's own const map, or no noise).

    ``noise``: explicit maps, one per layer ([N or 1, 1, r, r]). ``noise_mode="random"``: each
    image's maps come from its noise seed (``ops.noise_stream``: the same in any batch and on every
    backend); without ``noise_seeds`` the seeds are drawn from torch's global RNG. ``noise_seeds`` is
    ignored by the other modes.
    """
    if noise_mode not in NOISE_MODES:
        raise ValueError(f"unknown noise_mode {noise_mode!r}; choose one of: {', '.join(NOISE_MODES)}")
    if noise is not None:
        if len(noise) != len(resolutions):
            raise ValueError(f"noise must be a list of {len(resolutions)} tensors (one per noise layer, "
                             f"see synthesis.noise_shapes()), got {len(noise)}")
        for t, r in zip(noise, resolutions):
            if t.ndim != 4 or tuple(t.shape[1:]) != (1, r, r) or t.shape[0] not in (1, batch):
                raise ValueError(f"noise for a {r}x{r} layer must have shape [N or 1, 1, {r}, {r}], got "
                                 f"{list(t.shape)} (N = {batch} images)")
        return list(noise)
    if noise_mode != "random":
        return [None] * len(resolutions)
    if noise_seeds is None:
        noise_seeds = torch.randint(0, ops.NOISE_SEED_MAX + 1, [batch], dtype=torch.int64)
    elif len(noise_seeds) != batch:
        raise ValueError(f"noise_seeds must give one seed per image: {batch} images, {len(noise_seeds)} seeds")
    return ops.layer_noise_maps(noise_seeds, [(r, r) for r in resolutions], device=device)


def check_ws(ws, num_ws, w_dim):
    if ws.ndim != 3 or ws.shape[1] != num_ws or ws.shape[2] != w_dim:
        raise ValueError(f"ws must have shape [N, {num_ws}, {w_dim}], got {list(ws.shape)}")


def needs_grad(module: nn.Module, *inputs) -> bool:
    """True when autograd will want a backward through this forward (training, projection)."""
    return torch.is_grad_enabled() and ops_needs_grad(*inputs, *module.parameters())
