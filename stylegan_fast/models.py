"""The built-in models: the trained demo model (used when no --network is given) and a random one."""
from __future__ import annotations

from pathlib import Path

import torch

from .generator import Generator

DEMO_MODEL_FILE = Path(__file__).with_name("data") / "demo_faces_64.safetensors"
DEFAULT_MODEL_NOTE = ("built-in demo model: a small StyleGAN2 (64x64) trained on procedural cartoon faces "
                      "(docs/demo_model.md)")

# A small StyleGAN2 with fixed, seeded, untrained weights (abstract texture): a baseline for the demo
# model's quality figures and a model for tests that need one without reading a file.
RANDOM_MODEL_CONFIG = dict(arch="stylegan2", resolution=64, z_dim=256, w_dim=256, mapping_layers=8,
                           channel_base=8192, channel_max=128)
RANDOM_MODEL_SEED = 20261127


def default_model(device="cpu", backend="auto") -> Generator:
    """The demo model shipped in the package (stylegan_fast/data/demo_faces_64.safetensors)."""
    if not DEMO_MODEL_FILE.is_file():
        raise FileNotFoundError(f"the built-in demo model {DEMO_MODEL_FILE} is missing from this installation; "
                                f"reinstall stylegan_fast or pass --network")
    return Generator.load(DEMO_MODEL_FILE, backend=backend, device=device)


def random_model(device="cpu", backend="auto", config=None, seed=RANDOM_MODEL_SEED) -> Generator:
    """An untrained generator with seeded weights (noise strengths 0.1, w_avg from 2048 samples)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G = Generator.from_config(**(config or RANDOM_MODEL_CONFIG))
        for name, p in G.named_parameters():  # give the noise inputs a visible effect
            if name.endswith("noise_strength"):
                p.data.fill_(0.1)
    G.compute_w_avg(num_samples=2048, seed=seed)
    G = G.to(device).eval().requires_grad_(False)
    G.backend = backend
    return G
