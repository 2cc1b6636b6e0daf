"""An image is the same rendered alone or in a batch: what every backend must reproduce.

The reference on the CPU: the mapping network, the styles and the demodulation coefficients are
exactly batch invariant (row-wise products), the random noise of an image depends only on its noise
seed (ops.noise_stream), and modulated_conv2d uses one algorithm for every batch size. The
convolutions themselves are torch's, and oneDNN chooses its algorithm (and so its summation order)
by the batch size for small feature maps (up to 16x16 here): there the images may differ in the last
float bits, within one uint8 level after to_uint8.
"""
import pytest
import torch

import stylegan_fast as sf
from tests.tolerances import assert_close

SEEDS = list(range(32))


@pytest.fixture(scope="module")
def demo():
    return sf.default_model()


def _alone_and_batched(G, fn, n, batch):
    alone = torch.cat([fn(slice(i, i + 1)) for i in range(n)])
    batched = torch.cat([fn(slice(i, i + batch)) for i in range(0, n, batch)])
    return alone, batched


def test_mapping_is_exactly_batch_invariant(g16):
    G = g16
    z = torch.randn(12, G.z_dim)
    alone, batched = _alone_and_batched(G, lambda s: G.mapping(z[s], truncation_psi=0.7), 12, 12)
    assert torch.equal(alone, batched)


def test_demodulation_coefficients_are_exactly_batch_invariant():
    from stylegan_fast.ops.modulated_conv2d.reference import demodulation_coefficients

    weight, styles = torch.randn(64, 48, 3, 3), torch.randn(16, 48)
    d = demodulation_coefficients(weight, styles)
    assert torch.equal(d, torch.cat([demodulation_coefficients(weight, styles[i:i + 1]) for i in range(16)]))


@pytest.mark.parametrize("noise_mode", ["const", "random"])
def test_demo_images_alone_and_in_batches_of_8(demo, noise_mode):
    """32 demo seeds rendered one at a time and in batches of 8: at most one uint8 level apart."""
    z = sf.z_from_seeds(SEEDS, demo.z_dim)
    with torch.inference_mode():
        alone, batched = _alone_and_batched(
            demo, lambda s: demo(z[s], noise_mode=noise_mode, noise_seeds=SEEDS[s]), len(SEEDS), 8)
    assert_close(batched, alone, torch.float32, scale=5, msg=f"{noise_mode}: batch of 8 vs alone")
    levels = (sf.to_uint8(batched).int() - sf.to_uint8(alone).int()).abs()
    differing = int((levels.flatten(1).amax(1) > 0).sum())
    print(f"{noise_mode}: {differing} of {len(SEEDS)} images differ, by at most {int(levels.max())} uint8 level")
    assert levels.max() <= 1


def test_random_noise_follows_the_noise_seed_not_the_batch(g16):
    """noise_mode='random' with noise_seeds: an image's noise is its own (the const-noise render differs)."""
    G = g16
    ws = G.mapping(torch.randn(3, G.z_dim))
    batch = G.synthesis(ws, noise_mode="random", noise_seeds=[7, 8, 9])
    alone = G.synthesis(ws[1:2], noise_mode="random", noise_seeds=[8])
    shuffled = G.synthesis(ws[[1, 0]], noise_mode="random", noise_seeds=[8, 7])
    assert_close(batch[1:2], alone, torch.float32)
    assert_close(shuffled[0:1], alone, torch.float32)
    other = G.synthesis(ws[1:2], noise_mode="random", noise_seeds=[9])
    assert (other - alone).abs().max() > 1e-3  # the seed matters (noise strengths are nonzero)
    explicit = [sf.ops.noise_stream([8], layer, *shape[-2:]) for layer, (_, shape) in
                enumerate(G.synthesis.noise_shapes())]
    assert torch.equal(G.synthesis(ws[1:2], noise=explicit), alone)  # random mode = the stream's maps


def test_random_noise_without_seeds_follows_torch_manual_seed(g16):
    G = g16
    ws = G.mapping(torch.randn(2, G.z_dim))
    torch.manual_seed(5)
    a = G.synthesis(ws, noise_mode="random")
    torch.manual_seed(5)
    assert torch.equal(G.synthesis(ws, noise_mode="random"), a)
    assert not torch.equal(G.synthesis(ws, noise_mode="random"), a)


@pytest.mark.parametrize("seeds,match", [([1, 2], "one seed per image: 3 images, 2 seeds"),
                                         ([1, 2, -3], "noise_seeds\\[2\\] = -3 is out of range"),
                                         ([1, 2, 2 ** 32], "out of range")])
def test_bad_noise_seeds(g16, seeds, match):
    G = g16
    with pytest.raises(ValueError, match=match):
        G(torch.randn(3, G.z_dim), noise_mode="random", noise_seeds=seeds)
