"""Mapping network z (+ c) -> ws against a float64 derivation from the published formulas, and truncation."""
import math

import pytest
import torch

import stylegan_fast as sf
from tests.tolerances import assert_close


def pixel_norm64(x):
    return x / torch.sqrt((x * x).mean(dim=1, keepdim=True) + 1e-8)


def lrelu64(x, alpha=0.2):
    return torch.where(x >= 0, x, alpha * x)


def reference_ws(G, z, c=None, psi=1.0, cutoff=None):
    """ws in float64 from G's raw parameters (NVlabs StyleGAN2-ADA MappingNetwork, written out)."""
    p = {k: v.detach().double() for k, v in G.mapping.state_dict().items()}
    cfg = G.config
    lr = cfg.mapping_lr_multiplier
    x = pixel_norm64(z.double())
    if cfg.c_dim:
        # embed: plain linear layer, learning rate 1, weight gain 1/sqrt(c_dim)
        e = c.double() @ (p["embed.weight"] / math.sqrt(cfg.c_dim)).T + p["embed.bias"]
        x = torch.cat([x, pixel_norm64(e)], dim=1)
    for i in range(cfg.mapping_layers):
        W, b = p[f"fc{i}.weight"], p[f"fc{i}.bias"]
        x = lrelu64(x @ (W * (lr / math.sqrt(W.shape[1]))).T + b * lr) * math.sqrt(2)
    ws = x[:, None, :].repeat(1, cfg.num_ws, 1)
    if psi != 1:
        n = cfg.num_ws if cutoff is None else min(cutoff, cfg.num_ws)
        w_avg = p["w_avg"]
        ws[:, :n] = w_avg + psi * (ws[:, :n] - w_avg)
    return ws


@pytest.mark.parametrize("mapping_layers", [1, 2, 8])
def test_mapping_matches_float64_derivation(make_generator, arch, mapping_layers):
    G = make_generator(arch, 16, mapping_layers=mapping_layers)
    z = torch.randn(5, G.z_dim) * 3  # pixel norm must remove the scale
    ws = G.mapping(z)
    assert ws.dtype == torch.float32 and ws.shape == (5, G.num_ws, G.w_dim)
    assert_close(ws, reference_ws(G, z), dtype=torch.float32, msg=f"{arch} mapping")
    # every ws row is the same w before truncation
    assert torch.equal(ws, ws[:, :1].expand_as(ws))


def test_mapping_float64_z_accepted(make_generator):
    """z_from_seeds gives float64 z; the mapping casts it to its own dtype as NVlabs does."""
    G = make_generator("stylegan2", 16)
    z = sf.z_from_seeds([0, 1], G.z_dim)
    assert z.dtype == torch.float64
    torch.testing.assert_close(G.mapping(z), G.mapping(z.float()), rtol=0, atol=0)


def test_mapping_class_conditional_matches_derivation(make_generator):
    G = make_generator("stylegan2", 16, c_dim=4)
    z = torch.randn(4, G.z_dim)
    c = torch.nn.functional.one_hot(torch.tensor([0, 3, 1, 3]), 4).float()
    ws = G.mapping(z, c)
    assert_close(ws, reference_ws(G, z, c), dtype=torch.float32, msg="conditional mapping")
    # the label matters: same z, other class -> other w
    c2 = torch.nn.functional.one_hot(torch.tensor([1, 0, 2, 2]), 4).float()
    assert (G.mapping(z, c2) - ws).abs().amax(dim=(1, 2)).min() > 1e-4


@pytest.mark.parametrize("psi,cutoff", [(0.5, None), (0.7, 3), (-0.3, 1), (1.5, 100)])
def test_truncation_matches_derivation(make_generator, arch, psi, cutoff):
    G = make_generator(arch, 32)
    z = torch.randn(3, G.z_dim)
    ws = G.mapping(z, truncation_psi=psi, truncation_cutoff=cutoff)
    assert_close(ws, reference_ws(G, z, psi=psi, cutoff=cutoff), dtype=torch.float32, msg=f"psi={psi} cutoff={cutoff}")


def test_truncation_psi0_gives_w_avg_exactly(make_generator, arch):
    G = make_generator(arch, 32)
    z = torch.randn(3, G.z_dim)
    w_avg = G.mapping.w_avg
    assert w_avg.abs().min() > 0  # randomized by the fixture, so this is not the zero vector
    ws = G.mapping(z, truncation_psi=0.0)
    assert torch.equal(ws, w_avg.expand_as(ws))
    ws = G.mapping(z, truncation_psi=0.0, truncation_cutoff=3)
    assert torch.equal(ws[:, :3], w_avg.expand(3, 3, -1))
    untruncated = G.mapping(z)
    assert torch.equal(ws[:, 3:], untruncated[:, 3:])
    assert not torch.equal(ws[:, :3], untruncated[:, :3])


def test_truncation_psi1_is_identity(make_generator, arch):
    G = make_generator(arch, 32)
    z = torch.randn(3, G.z_dim)
    plain = G.mapping(z)
    for cutoff in (None, 0, 4, 99):
        assert torch.equal(G.mapping(z, truncation_psi=1.0, truncation_cutoff=cutoff), plain)
        assert torch.equal(G.mapping(z, truncation_psi=1, truncation_cutoff=cutoff), plain)


@pytest.mark.parametrize("cutoff", [0, 1, 5, 7])
def test_truncation_cutoff_rows(make_generator, arch, cutoff):
    G = make_generator(arch, 32)  # num_ws = 8
    psi = 0.6
    z = torch.randn(4, G.z_dim)
    plain = G.mapping(z)
    ws = G.mapping(z, truncation_psi=psi, truncation_cutoff=cutoff)
    # rows >= cutoff untouched, bit for bit
    assert torch.equal(ws[:, cutoff:], plain[:, cutoff:])
    # rows < cutoff pulled towards w_avg
    w_avg = G.mapping.w_avg.double()
    expected = w_avg + psi * (plain[:, :cutoff].double() - w_avg)
    if cutoff:  # (tolerances.assert_close cannot describe an empty difference)
        assert_close(ws[:, :cutoff], expected, dtype=torch.float32)
        assert (ws[:, :cutoff] - plain[:, :cutoff]).abs().max() > 1e-3


def test_truncation_cutoff_none_truncates_all(make_generator, arch):
    G = make_generator(arch, 32)
    z = torch.randn(2, G.z_dim)
    ws_none = G.mapping(z, truncation_psi=0.5, truncation_cutoff=None)
    ws_all = G.mapping(z, truncation_psi=0.5, truncation_cutoff=G.num_ws)
    assert torch.equal(ws_none, ws_all)
    assert torch.equal(ws_none, ws_none[:, :1].expand_as(ws_none))  # all rows truncated alike
    assert not torch.equal(ws_none, G.mapping(z))


def test_generator_truncation_reaches_synthesis(make_generator, arch):
    """G(z, psi=0) renders w_avg for every z."""
    G = make_generator(arch, 16)
    z = torch.randn(2, G.z_dim)
    img = G(z, truncation_psi=0.0)
    assert_close(img[0], img[1], msg="two z at psi=0")
    expected = G.synthesis(G.mapping.w_avg.expand(1, G.num_ws, -1))
    assert_close(img[:1], expected, msg="psi=0 vs synthesis(w_avg)")  # batch 2 vs 1: fp32 rounding


@pytest.mark.parametrize("cutoff", [-1, 1.5, "3"])
def test_bad_truncation_cutoff(make_generator, cutoff):
    G = make_generator("stylegan2", 16)
    with pytest.raises(ValueError, match="truncation_cutoff"):
        G.mapping(torch.randn(1, G.z_dim), truncation_psi=0.5, truncation_cutoff=cutoff)


def test_mapping_input_errors(make_generator):
    G = make_generator("stylegan2", 16)
    with pytest.raises(ValueError, match=r"z must have shape \[N, 32\]"):
        G.mapping(torch.randn(2, G.z_dim + 1))
    with pytest.raises(ValueError, match="z must have shape"):
        G.mapping(torch.randn(G.z_dim))
    with pytest.raises(ValueError, match="unconditional"):
        G.mapping(torch.randn(2, G.z_dim), torch.ones(2, 3))
    # an empty c is what NVlabs scripts pass to unconditional generators
    torch.testing.assert_close(G.mapping(torch.zeros(2, G.z_dim) + 1, torch.zeros(2, 0)),
                               G.mapping(torch.zeros(2, G.z_dim) + 1), rtol=0, atol=0)


def test_paper_truncation(make_generator):
    assert make_generator("stylegan1", 8).paper_truncation == (0.7, 8)
    assert make_generator("stylegan2", 8).paper_truncation == (1.0, None)


def test_compute_w_avg_is_mean_w(make_generator):
    G = make_generator("stylegan2", 16, randomize=False)
    n, seed = 64, 5
    w_avg = G.compute_w_avg(num_samples=n, seed=seed, batch_size=n)
    z = torch.randn([n, G.z_dim], generator=torch.Generator().manual_seed(seed))
    expected = reference_ws(G, z)[:, 0].mean(dim=0)
    assert_close(w_avg, expected, dtype=torch.float32)
    assert torch.equal(G.mapping.w_avg, w_avg)
