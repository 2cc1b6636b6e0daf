"""Mapping network z (+ class) -> ws, with truncation; shared by StyleGAN1 and StyleGAN2."""
from __future__ import annotations

import torch
from torch import nn

from ..backends import BackendChoice
from ..config import GeneratorConfig
from .layers import FullyConnected, needs_grad


def normalize_2nd_moment(x, eps=1e-8):  # pixel norm: x / sqrt(mean(x^2) + eps)
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class MappingNetwork(nn.Module):
    """Each layer computes sqrt(2) * lrelu(x @ W.T * lr / sqrt(in) + b * lr, 0.2) (StyleGAN2's form).

    StyleGAN1's TF code adds the bias after the sqrt(2) gain: the same function with b / sqrt(2).
    """
    def __init__(self, config: GeneratorConfig):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = config.z_dim, config.c_dim, config.w_dim, config.num_ws
        self.num_layers = config.mapping_layers
        self.backend_choice = BackendChoice()  # the Generator shares its own
        if self.c_dim:
            self.embed = FullyConnected(self.c_dim, self.w_dim)
        features = [self.z_dim + (self.w_dim if self.c_dim else 0)] + [self.w_dim] * self.num_layers
        for i in range(self.num_layers):
            setattr(self, f"fc{i}", FullyConnected(features[i], features[i + 1], activation="lrelu",
                                                   lr_multiplier=config.mapping_lr_multiplier))
        self.register_buffer("w_avg", torch.zeros([self.w_dim]))

    def forward(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None):  # -> ws [N, num_ws, w_dim]
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape [N, {self.z_dim}], got {list(z.shape)}")
        if self.c_dim:
            if c is None or c.ndim != 2 or c.shape != (z.shape[0], self.c_dim):
                got = None if c is None else list(c.shape)
                raise ValueError(f"this generator is class-conditional: c must have shape "
                                 f"[{z.shape[0]}, {self.c_dim}] (one-hot labels), got {got}")
        elif c is not None and c.numel() > 0:
            raise ValueError(f"this generator is unconditional (c_dim=0) but c of shape {list(c.shape)} was given")
        if truncation_cutoff is not None and not (isinstance(truncation_cutoff, int) and 0 <= truncation_cutoff):
            raise ValueError(f"truncation_cutoff must be None or an integer >= 0, got {truncation_cutoff!r}")

        with self.backend_choice.dispatching(z.device, needs_grad(self, z)):
            x = self._layers(z, c)

        ws = x.unsqueeze(1).repeat(1, self.num_ws, 1)  # [N, num_ws, w_dim]
        if truncation_psi != 1:
            cutoff = self.num_ws if truncation_cutoff is None else min(truncation_cutoff, self.num_ws)
            ws[:, :cutoff] = self.w_avg.lerp(ws[:, :cutoff], truncation_psi)
        return ws

    def _layers(self, z, c):  # -> w [N, w_dim]
        dtype = self.w_avg.dtype
        x = normalize_2nd_moment(z.to(dtype))
        if self.c_dim:
            x = torch.cat([x, normalize_2nd_moment(self.embed(c.to(dtype)))], dim=1)
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        return x
