"""Shared fixtures: tiny seeded generators whose every parameter matters.

A freshly built generator has zero biases and zero noise strengths (as in training), which
would let a test pass while ignoring those terms; ``randomize`` sets them to nonzero values.
"""
import sys

import pytest
import torch

import stylegan_fast as sf

# Small enough for the whole suite to run in seconds on two CPU cores.
TINY = dict(z_dim=32, w_dim=32, mapping_layers=2, channel_max=16)


def randomize_(G, seed=1234, w_avg=True):
    """Give biases, noise strengths and (optionally) w_avg random nonzero values, in place."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in G.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            if leaf in ("bias", "torgb_bias") or leaf == "noise_strength":
                # 0.5 + U(0, 0.5) with a random sign: never (close to) zero.
                mag = 0.5 + 0.5 * torch.rand(p.shape, generator=gen)
                sign = torch.where(torch.rand(p.shape, generator=gen) < 0.5, -1.0, 1.0)
                value = mag * sign
                if name.startswith("mapping."):
                    value = value / G.config.mapping_lr_multiplier * 0.1  # bias_gain is lr: keep O(0.1)
                p.copy_(value.to(p.dtype))
            elif name == "synthesis.const":
                # StyleGAN1 initializes the 4x4 input to ones; a spatially constant map makes the first
                # instance norm divide rounding noise by sqrt(1e-8) when noise is off. Trained ones vary.
                p.copy_(torch.randn(p.shape, generator=gen).to(p.dtype))
        if w_avg:
            G.mapping.w_avg.copy_(torch.randn(G.w_dim, generator=gen).to(G.mapping.w_avg.dtype))
    return G


def build(arch="stylegan2", resolution=16, seed=0, randomize=True, **overrides):
    """A tiny generator with seeded weights (eval mode, no grad)."""
    kwargs = dict(TINY)
    kwargs.setdefault("channel_base", resolution * 16)
    kwargs.update(overrides)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G = sf.Generator.from_config(arch=arch, resolution=resolution, **kwargs)
    if randomize:
        randomize_(G, seed=seed + 1)
    return G.eval().requires_grad_(False)


@pytest.fixture(autouse=True)
def _seed_torch():
    """Every test starts from the same global torch RNG state (and ends with the thread count it began with)."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def make_generator():
    """Factory: make_generator(arch, resolution, seed=0, randomize=True, **config overrides)."""
    return build


@pytest.fixture(params=sf.config.ARCHS)
def arch(request):
    return request.param


@pytest.fixture
def g16(arch):
    """A randomized 16 px generator of each architecture (parametrized through ``arch``)."""
    return build(arch, 16)


@pytest.fixture
def g2_16():
    return build("stylegan2", 16)


@pytest.fixture
def g1_16():
    return build("stylegan1", 16)


@pytest.fixture
def marks(tmp_path, monkeypatch):
    """The canary of the hostile-pickle tests (tests/hostile_pickles.Marks): a payload that ran leaves a mark."""
    from tests.hostile_pickles import Marks

    m = Marks(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # so an import payload *could* find the module
    yield m
    sys.modules.pop(m.module, None)
