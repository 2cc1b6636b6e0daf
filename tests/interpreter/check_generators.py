"""Whole small generators through backend "triton" (interpreted) against backend "reference"."""
import pytest
import torch

import stylegan_fast as sf
from stylegan_fast.ops.triton_tuning import CONV_ENV
from tests.conftest import build
from tests.tolerances import assert_close

# Small: the interpreter runs every program of every launch in Python.
CONFIGS = {"stylegan2": dict(resolution=16, channel_base=128, channel_max=8),
           "stylegan2-clamp": dict(resolution=8, channel_base=64, channel_max=8, conv_clamp=0.5),
           "stylegan1": dict(resolution=16, channel_base=128, channel_max=8)}
CASES = [("stylegan2", "random"), ("stylegan2", "const"), ("stylegan2-clamp", "none"), ("stylegan1", "random"),
         ("stylegan1", "const")]


@pytest.mark.parametrize("name,noise_mode", CASES)
def test_generator_on_triton_matches_reference(name, noise_mode):
    G = build(name.split("-")[0], **CONFIGS[name])
    z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(1))
    seeds = [5, 6]
    G.backend = "reference"
    want = G(z, truncation_psi=0.7, noise_mode=noise_mode, noise_seeds=seeds)
    G.backend = "triton"
    got = G(z, truncation_psi=0.7, noise_mode=noise_mode, noise_seeds=seeds)
    ran = G.last_dispatch
    assert ran and set(ran.values()) == {"triton"}, ran  # every op of the forward ran on Triton
    assert_close(got, want, torch.float32, scale=10, msg=f"{name} {noise_mode}")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_stylegan2_on_torchs_convolution_strategy(monkeypatch, dtype):
    """The tests above run the default strategy off a GPU (our GEMM kernels); this one strategy (b)."""
    monkeypatch.setenv(CONV_ENV, "torch")
    G = build("stylegan2", **CONFIGS["stylegan2"], num_fp16_res=2 if dtype == torch.float16 else 0)
    z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(3))
    G.backend = "reference"
    want = G(z, noise_mode="random", noise_seeds=[7, 8])
    G.backend = "triton"
    got = G(z, noise_mode="random", noise_seeds=[7, 8])
    assert set(G.last_dispatch.values()) == {"triton"}
    assert_close(got, want, dtype, scale=10, msg=f"stylegan2 torch strategy {dtype}")


def test_stylegan2_fp16_blocks_on_the_gemm_strategy():
    G = build("stylegan2", **CONFIGS["stylegan2"], num_fp16_res=2)
    z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(4))
    G.backend = "reference"
    want = G(z, noise_mode="const")
    G.backend = "triton"
    got = G(z, noise_mode="const")
    assert set(G.last_dispatch.values()) == {"triton"}
    assert_close(got, want, torch.float16, scale=10, msg="stylegan2 fp16 blocks, gemm strategy")


def test_one_image_alone_and_in_a_batch():
    G = build("stylegan2", **CONFIGS["stylegan2"])
    G.backend = "triton"
    z = torch.randn(3, G.z_dim, generator=torch.Generator().manual_seed(2))
    batch = G(z, noise_mode="random", noise_seeds=[1, 2, 3])
    alone = G(z[1:2], noise_mode="random", noise_seeds=[2])
    assert_close(batch[1:2], alone, torch.float32, scale=10)
    assert (sf.to_uint8(batch[1:2]).int() - sf.to_uint8(alone).int()).abs().max() <= 1
