"""rosinality/stylegan2-pytorch .pt checkpoints: conversion checked against rosinality's forward pass."""
import pickle

import pytest
import torch

import stylegan_fast as sf
from stylegan_fast.checkpoints import CheckpointError, detect_format
from stylegan_fast.checkpoints.base import fit_channel_schedule
from stylegan_fast.checkpoints import rosinality as ros
from stylegan_fast.checkpoints.safe_pickle import UnsafePickleError

from .checkpoint_fixtures import rosinality as fx

STYLE_DIM, N_MLP = 32, 2


@pytest.fixture(scope="module")
def ckpt64(tmp_path_factory):
    path = tmp_path_factory.mktemp("ros") / "ros64.pt"
    return path, fx.write(path, size=64, style_dim=STYLE_DIM, n_mlp=N_MLP, seed=3)


def _max_err(G, ckpt, z, psi, cutoff):
    with torch.no_grad():
        got = G(z.float(), truncation_psi=psi, truncation_cutoff=cutoff, noise_mode="const").double()
        ref = fx.reference_forward(ckpt["g_ema"], ckpt["latent_avg"], z, psi, cutoff)
    assert got.shape == ref.shape
    return (got - ref).abs().max().item(), ref.abs().max().item()


def test_config_and_names(ckpt64):
    path, ckpt = ckpt64
    assert detect_format(path) == "rosinality"
    G = sf.Generator.load(path)
    c = G.config
    assert (c.arch, c.resolution, c.z_dim, c.w_dim, c.mapping_layers, c.img_channels) == \
        ("stylegan2", 64, STYLE_DIM, STYLE_DIM, N_MLP, 3)
    assert {r: c.channels(r) for r in c.block_resolutions} == fx.small_channels(64)
    assert G.num_ws == 10 and G.source_format == "rosinality"
    assert torch.equal(G.mapping.w_avg, ckpt["latent_avg"])
    g = ckpt["g_ema"]
    assert torch.equal(G.synthesis.b4.const, g["input.input"][0])
    assert torch.equal(G.synthesis.b8.conv0.noise.noise_const, g["noises.noise_1"][0, 0])
    assert torch.equal(G.synthesis.b64.conv1.noise.noise_const, g["noises.noise_8"][0, 0])
    assert G.synthesis.b16.conv1.noise_strength.item() == g["convs.3.noise.weight"].item()
    assert torch.equal(G.synthesis.b32.torgb.weight, g["to_rgbs.2.conv.weight"][0])
    assert torch.equal(G.mapping.fc1.weight, g["style.2.weight"])


@pytest.mark.parametrize("psi,cutoff", [(1.0, None), (0.5, None), (0.5, 8)])
def test_matches_rosinality_forward(ckpt64, psi, cutoff):
    path, ckpt = ckpt64
    G = sf.Generator.load(path, backend="reference")
    z = sf.z_from_seeds([0, 1, 2], STYLE_DIM)
    err, scale = _max_err(G, ckpt, z, psi, cutoff)
    assert scale > 0.1
    assert err < 2e-4 * max(1.0, scale), (err, scale)


def test_exact_in_float64(ckpt64):
    """Converted in float64 (no rounding of the rescaled conv weights) the two networks agree to 1e-12."""
    _, ckpt = ckpt64
    config = ros.infer_config(ckpt["g_ema"])
    tensors = ros.convert(ckpt["g_ema"], config, dtype=torch.float64)
    tensors["mapping.w_avg"] = ckpt["latent_avg"].double()
    G = sf.Generator(config, backend="reference").double()
    G.load_tensors(tensors)
    z = sf.z_from_seeds([0, 1, 2], STYLE_DIM)
    for psi, cutoff in ((1.0, None), (0.5, 8)):
        with torch.no_grad():
            got = G(z, truncation_psi=psi, truncation_cutoff=cutoff)
        ref = fx.reference_forward(ckpt["g_ema"], ckpt["latent_avg"], z, psi, cutoff)
        assert got.dtype == torch.float64
        assert (got - ref).abs().max().item() < 1e-10


def test_truncation_cutoff_matters(ckpt64):
    path, ckpt = ckpt64
    G = sf.Generator.load(path)
    z = sf.z_from_seeds([5], STYLE_DIM).float()
    a = G(z, truncation_psi=0.5, truncation_cutoff=8)
    b = G(z, truncation_psi=0.5)
    assert (a - b).abs().max() > 1e-3


def test_training_checkpoint(tmp_path):
    path = tmp_path / "050000.pt"
    ckpt = fx.write(path, size=32, style_dim=STYLE_DIM, n_mlp=N_MLP, seed=5, training=True)
    G = sf.Generator.load(path)
    assert G.config.resolution == 32 and G.num_ws == 8
    z = sf.z_from_seeds([7, 8], STYLE_DIM)
    err, _ = _max_err(G, ckpt, z, 0.7, None)
    assert err < 2e-4
    # g_ema, not g; which="G" picks g
    assert torch.equal(G.synthesis.b4.const, ckpt["g_ema"]["input.input"][0])
    G_raw = sf.Generator.load(path, which="G")
    assert torch.equal(G_raw.synthesis.b4.const, ckpt["g"]["input.input"][0])


@pytest.mark.parametrize("writer", ["legacy_torch_save", "plain_pickle"])
def test_other_serializations(tmp_path, writer):
    """Pre-1.6 torch.save files (many published rosinality checkpoints) and plain pickles of the dict."""
    ckpt = fx.checkpoint(size=16, style_dim=STYLE_DIM, n_mlp=N_MLP, seed=9, training=writer == "legacy_torch_save")
    path = tmp_path / "old.pt"
    if writer == "legacy_torch_save":
        torch.save(ckpt, path, _use_new_zipfile_serialization=False)
        assert ros.is_legacy_torch_file(path)
    else:
        with open(path, "wb") as f:
            pickle.dump(ckpt, f, protocol=4)
    assert detect_format(path) == "rosinality"
    G = sf.Generator.load(path)
    z = sf.z_from_seeds([1], STYLE_DIM)
    err, _ = _max_err(G, ckpt, z, 0.5, None)
    assert err < 2e-4


def test_no_latent_avg_gives_zero_w_avg_and_a_note(tmp_path):
    path = tmp_path / "nolatent.pt"
    fx.write(path, size=32, style_dim=STYLE_DIM, n_mlp=N_MLP, latent_avg=False)
    out = ros.read(path)
    assert torch.equal(out.tensors["mapping.w_avg"], torch.zeros(STYLE_DIM))
    assert any("latent_avg" in n for n in out.notes)
    sf.Generator(out.config).load_tensors(out.tensors)


def test_rosinality_default_schedule_is_channel_multiplier():
    for mult, base in ((1, 16384), (2, 32768)):
        ch = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * mult, 128: 128 * mult, 256: 64 * mult,
              512: 32 * mult, 1024: 16 * mult}
        assert fit_channel_schedule(ch, [16384 * mult]) == (base, 512)
        assert fit_channel_schedule(ch) == (base, 512)  # the only channel_base that fits (up to 1024 px)
        config = ros.infer_config(fx.checkpoint(size=64, style_dim=STYLE_DIM, n_mlp=N_MLP, channels={
            r: c for r, c in ch.items() if r <= 64})["g_ema"], {"channel_multiplier": mult})
        assert [config.channels(r) for r in (4, 8, 16, 32, 64)] == [512, 512, 512, 512, 256 * mult]
    ch4 = {4: 512, 8: 512, 16: 512, 32: 512, 64: 1024, 128: 512}  # channel_multiplier 4: wider at 64 than 4
    with pytest.raises(CheckpointError, match="do not follow"):
        fit_channel_schedule(ch4, [16384 * 4])


def test_bad_channel_schedule(tmp_path):
    path = tmp_path / "odd.pt"
    fx.write(path, size=16, style_dim=STYLE_DIM, n_mlp=N_MLP, channels={4: 16, 8: 8, 16: 16})
    with pytest.raises(CheckpointError, match=r"channels per resolution .*4: 16, 8: 8, 16: 16"):
        sf.Generator.load(path)


def _save_modified(tmp_path, edit):
    ckpt = fx.checkpoint(size=32, style_dim=STYLE_DIM, n_mlp=N_MLP)
    edit(ckpt)
    path = tmp_path / "bad.pt"
    torch.save(ckpt, path)
    return path


def test_missing_key(tmp_path):
    path = _save_modified(tmp_path, lambda c: c["g_ema"].pop("convs.3.conv.modulation.weight"))
    with pytest.raises(CheckpointError, match=r"missing tensor 'convs\.3\.conv\.modulation\.weight' "
                                              r"\(expected shape \[16, 32\]\)"):
        sf.Generator.load(path)


def test_missing_noise(tmp_path):
    path = _save_modified(tmp_path, lambda c: c["g_ema"].pop("noises.noise_4"))
    with pytest.raises(CheckpointError, match=r"'noises\.noise_4' \(expected shape \[1, 1, 16, 16\]\)"):
        sf.Generator.load(path)


def test_wrong_shape(tmp_path):
    def edit(c):
        c["g_ema"]["convs.4.activate.bias"] = torch.zeros(7)
    with pytest.raises(CheckpointError, match=r"'convs\.4\.activate\.bias' has shape \[7\], expected \[8\]"):
        sf.Generator.load(_save_modified(tmp_path, edit))


def test_wrong_latent_avg(tmp_path):
    path = _save_modified(tmp_path, lambda c: c.__setitem__("latent_avg", torch.zeros(5)))
    with pytest.raises(CheckpointError, match=r"'latent_avg' must have shape \[32\]"):
        sf.Generator.load(path)


def test_args_disagree_with_tensors(tmp_path):
    def edit(c):
        c["args"] = fx.train_args(size=256, style_dim=STYLE_DIM, n_mlp=N_MLP)
    with pytest.raises(CheckpointError, match="args say size=256 but g_ema's tensors have size=32"):
        sf.Generator.load(_save_modified(tmp_path, edit))


def test_no_generator(tmp_path):
    path = tmp_path / "d_only.pt"
    torch.save({"d": {"w": torch.zeros(1)}, "latent_avg": torch.zeros(4)}, path)
    with pytest.raises(CheckpointError, match="no 'g_ema'"):
        sf.Generator.load(path)
    with pytest.raises(CheckpointError, match="no 'g' generator"):
        sf.Generator.load(path, which="G")


class PrintOnLoad:
    def __reduce__(self):
        return (print, ("executed",))


class SystemOnLoad:
    def __reduce__(self):
        import os

        return (os.system, ("echo executed",))


@pytest.mark.parametrize("evil,refused", [(PrintOnLoad, r"(builtins\.)?print"), (SystemOnLoad, r"(posix|nt)\.system")])
def test_refused_global_is_named(tmp_path, capfd, evil, refused):
    path = _save_modified(tmp_path, lambda c: c.__setitem__("extra", evil()))
    with pytest.raises(UnsafePickleError, match=f"refused to load global '{refused}'"):
        sf.Generator.load(path)
    assert "executed" not in capfd.readouterr().out


def test_truncated_file(tmp_path):
    good = tmp_path / "good.pt"
    fx.write(good, size=32, style_dim=STYLE_DIM, n_mlp=N_MLP)
    data = good.read_bytes()
    bad = tmp_path / "trunc.pt"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises((CheckpointError, pickle.UnpicklingError)):
        sf.Generator.load(bad)
