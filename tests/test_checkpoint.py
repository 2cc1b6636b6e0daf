"""Generator.save / Generator.load round trips and load errors."""
import json
import os
import re

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import stylegan_fast as sf


def _read(path):
    with safe_open(str(path), framework="pt") as f:
        return f.metadata(), {k: f.get_tensor(k) for k in f.keys()}


@pytest.mark.parametrize("overrides", [{}, {"img_channels": 1}])
def test_save_load_round_trip(tmp_path, make_generator, arch, overrides):
    G = make_generator(arch, 16, **overrides)
    path = tmp_path / "g.safetensors"
    G.save(path)
    assert os.listdir(tmp_path) == ["g.safetensors"]  # no temporary file left behind
    H = sf.Generator.load(path)
    assert H.config == G.config and H.config.to_dict() == G.config.to_dict()
    assert H.backend == "auto" and not H.training
    assert all(not p.requires_grad for p in H.parameters())
    assert torch.equal(H.mapping.w_avg, G.mapping.w_avg)
    for k, v in G.state_dict().items():
        assert torch.equal(H.state_dict()[k], v), k
    z = torch.randn(2, G.z_dim)
    for kwargs in ({}, {"truncation_psi": 0.5, "truncation_cutoff": 2}, {"noise_mode": "none"}):
        assert torch.equal(H(z, **kwargs), G(z, **kwargs)), kwargs


def test_save_load_conditional(tmp_path, make_generator):
    G = make_generator("stylegan2", 8, c_dim=2, conv_clamp=64.0)
    G.save(tmp_path / "c.safetensors")
    H = sf.Generator.load(tmp_path / "c.safetensors", backend="reference")
    assert H.config.c_dim == 2 and H.config.conv_clamp == 64.0 and H.backend == "reference"
    z, c = torch.randn(2, G.z_dim), torch.eye(2)
    G.backend = "reference"
    assert torch.equal(H(z, c), G(z, c))


def test_saved_file_metadata(tmp_path, make_generator):
    G = make_generator("stylegan1", 8)
    G.save(tmp_path / "g.safetensors")
    meta, tensors = _read(tmp_path / "g.safetensors")
    assert meta["format"] == "stylegan_fast.generator" and meta["format_version"] == "1"
    assert meta["stylegan_fast_version"] == sf.__version__
    assert json.loads(meta["config"]) == G.config.to_dict()
    assert set(tensors) == set(G.state_dict())
    assert "mapping.w_avg" in tensors and "synthesis.b4_const.noise.noise_const" in tensors


def test_save_overwrites_atomically(tmp_path, make_generator):
    path = tmp_path / "g.safetensors"
    make_generator("stylegan2", 8, seed=1).save(path)
    G2 = make_generator("stylegan2", 8, seed=2)
    G2.save(path)
    assert os.listdir(tmp_path) == ["g.safetensors"]
    z = torch.randn(1, G2.z_dim)
    assert torch.equal(sf.Generator.load(path)(z), G2(z))


# ---- errors ----

@pytest.fixture
def saved(tmp_path, make_generator):
    """(generator, metadata, tensors) of a saved tiny StyleGAN2, to build broken files from."""
    G = make_generator("stylegan2", 8)
    G.save(tmp_path / "good.safetensors")
    meta, tensors = _read(tmp_path / "good.safetensors")
    return G, meta, tensors


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no generator file at .*nothing.safetensors"):
        sf.Generator.load(tmp_path / "nothing.safetensors")
    with pytest.raises(FileNotFoundError):
        sf.Generator.load(tmp_path)  # a folder is not a file


@pytest.mark.parametrize("content", [b"", b"not a safetensors file at all", b"\xff" * 64])
def test_load_not_safetensors(tmp_path, content):
    path = tmp_path / "junk.pkl"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="is not a checkpoint stylegan_fast can read"):
        sf.Generator.load(path)


def test_load_safetensors_without_our_metadata(tmp_path, saved):
    _, _, tensors = saved
    path = tmp_path / "plain.safetensors"
    save_file(tensors, str(path))
    with pytest.raises(ValueError, match="not a stylegan_fast generator.*'format' is None"):
        sf.Generator.load(path)
    save_file({"x": torch.zeros(2)}, str(path), metadata={"format": "pt"})
    with pytest.raises(ValueError, match="'format' is 'pt'"):
        sf.Generator.load(path)


def test_load_wrong_format_version(tmp_path, saved):
    _, meta, tensors = saved
    path = tmp_path / "v2.safetensors"
    save_file(tensors, str(path), metadata={**meta, "format_version": "2"})
    with pytest.raises(ValueError, match="format_version '2'"):
        sf.Generator.load(path)


@pytest.mark.parametrize("config", [None, "{not json", "{\"resolution\": \"16\"}"])
def test_load_bad_config_metadata(tmp_path, saved, config):
    _, meta, tensors = saved
    meta = dict(meta)
    if config is None:
        del meta["config"]
    else:
        meta["config"] = config
    path = tmp_path / "cfg.safetensors"
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(ValueError, match="no valid generator config|resolution"):
        sf.Generator.load(path)


def test_load_unknown_config_key(tmp_path, saved):
    G, meta, tensors = saved
    cfg = {**G.config.to_dict(), "fancy_new_option": 3}
    path = tmp_path / "cfg.safetensors"
    save_file(tensors, str(path), metadata={**meta, "config": json.dumps(cfg)})
    with pytest.raises(ValueError, match=r"unknown generator config keys \['fancy_new_option'\]"):
        sf.Generator.load(path)


def test_load_invalid_config_value(tmp_path, saved):
    G, meta, tensors = saved
    cfg = {**G.config.to_dict(), "resolution": 12}
    path = tmp_path / "cfg.safetensors"
    save_file(tensors, str(path), metadata={**meta, "config": json.dumps(cfg)})
    with pytest.raises(ValueError, match="resolution"):
        sf.Generator.load(path)


def test_load_missing_tensor(tmp_path, saved):
    _, meta, tensors = saved
    key = "synthesis.b8.conv0.weight"
    expected_shape = list(tensors[key].shape)
    del tensors[key]
    path = tmp_path / "missing.safetensors"
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(ValueError, match=re.escape(f"missing tensor '{key}' (expected shape {expected_shape})")):
        sf.Generator.load(path)


def test_load_wrong_shape(tmp_path, saved):
    _, meta, tensors = saved
    key = "mapping.fc1.weight"
    good = list(tensors[key].shape)
    tensors[key] = torch.zeros(good[0], good[1] + 1)
    path = tmp_path / "shape.safetensors"
    save_file(tensors, str(path), metadata=meta)
    bad = [good[0], good[1] + 1]
    with pytest.raises(ValueError, match=re.escape(f"tensor '{key}' has shape {bad}, expected {good}")):
        sf.Generator.load(path)


def test_load_unexpected_tensor(tmp_path, saved):
    _, meta, tensors = saved
    tensors["synthesis.b16.conv0.weight"] = torch.zeros(1)
    path = tmp_path / "extra.safetensors"
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(ValueError, match="unexpected tensor 'synthesis.b16.conv0.weight'"):
        sf.Generator.load(path)


def test_load_tensors_directly(make_generator):
    G = make_generator("stylegan1", 8, seed=3)
    H = make_generator("stylegan1", 8, seed=4)
    z = torch.randn(1, G.z_dim)
    assert not torch.equal(H(z), G(z))
    H.load_tensors(G.state_dict())
    assert torch.equal(H(z), G(z))
    with pytest.raises(ValueError, match="mytensors: missing tensor"):
        H.load_tensors({}, source="mytensors")


@pytest.mark.parametrize("arch,overrides", [("stylegan2", {}), ("stylegan2", {"c_dim": 3}), ("stylegan1", {})])
def test_state_shapes_match_a_built_generator(arch, overrides):
    """state_shapes (networks built on the meta device) lists exactly a real generator's state dict, in order."""
    from stylegan_fast.networks import state_shapes

    config = sf.GeneratorConfig(arch=arch, resolution=32, channel_base=256, channel_max=16, z_dim=8, w_dim=8,
                                mapping_layers=2, **overrides)
    expected = [(k, tuple(v.shape)) for k, v in sf.Generator(config).state_dict().items()]
    assert list(state_shapes(config).items()) == expected


def test_checkpoints_never_import_the_generator():
    """Data flows one way: the readers hand config and tensors to the Generator, never the reverse."""
    import ast
    from pathlib import Path

    folder = Path(sf.__file__).parent / "checkpoints"
    for path in sorted(folder.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [a.name for a in node.names]
                assert not any(n in ("generator", "Generator", "models", "cli") for n in names), \
                    f"{path.name} imports {names}"
