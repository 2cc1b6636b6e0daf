"""The built-in default model (used when no --network is given)."""
from __future__ import annotations

import torch

from .generator import Generator

# A small StyleGAN2 with fixed, seeded, UNTRAINED weights: it renders abstract texture, not faces.
DEFAULT_MODEL_NAME = "builtin:untrained-stylegan2-64"
DEFAULT_MODEL_NOTE = "built-in default model: a small StyleGAN2 with fixed seeded weights, untrained (abstract texture)"
DEFAULT_MODEL_CONFIG = dict(arch="stylegan2", resolution=64, z_dim=256, w_dim=256, mapping_layers=8,
                            channel_base=8192, channel_max=128)
DEFAULT_MODEL_SEED = 20261127


def default_model(device="cpu", backend="auto") -> Generator:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(DEFAULT_MODEL_SEED)
        G = Generator.from_config(**DEFAULT_MODEL_CONFIG)
        for name, p in G.named_parameters():  # give the noise inputs a visible effect
            if name.endswith("noise_strength"):
                p.data.fill_(0.1)
    G.compute_w_avg(num_samples=2048, seed=DEFAULT_MODEL_SEED)
    G = G.to(device).eval().requires_grad_(False)
    G.backend = backend
    return G
