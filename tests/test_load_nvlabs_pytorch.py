"""Loading NVlabs PyTorch network pickles (stylegan2-ada-pytorch / stylegan3 repo) via Generator.load.

The files come from tests/checkpoint_fixtures/nvlabs_pytorch.py (no NVlabs code). Images are
compared with the same network computed here, independently, in float64 from the raw NVlabs
tensors with NVlabs' formulas (per-sample modulated convolutions, transposed-conv + FIR
upsampling, skip toRGB), not with stylegan_fast's ops.
"""
import math
import sys

import pytest
import torch
import torch.nn.functional as F

import stylegan_fast as sf
from stylegan_fast.checkpoints import CheckpointError
from tests.checkpoint_fixtures.nvlabs_pytorch import write_nvlabs_pickle

SQRT2 = math.sqrt(2)
SEEDS = [0, 1, 42]


# --------------------------------------------------------------------------------------------
# Independent float64 reference in NVlabs' naming
# --------------------------------------------------------------------------------------------

def _filter2d():
    f = torch.tensor([1.0, 3.0, 3.0, 1.0], dtype=torch.float64)
    f = torch.outer(f, f)
    return f / f.sum()


def _fir(x, pad, gain):
    """Depthwise 4x4 [1,3,3,1] filter with zero padding (x0, x1, y0, y1) and a gain."""
    c = x.shape[1]
    x = F.pad(x, list(pad))
    f = (_filter2d() * gain).flip([0, 1])[None, None].repeat(c, 1, 1, 1)
    return F.conv2d(x, f, groups=c)


def _upsample2d(img):  # NVlabs upfirdn2d.upsample2d(img, f): zero insertion, pad (2, 1), gain 4
    n, c, h, w = img.shape
    z = torch.zeros([n, c, h, 2, w, 2], dtype=img.dtype)
    z[:, :, :, 0, :, 0] = img
    return _fir(z.reshape(n, c, 2 * h, 2 * w), (2, 1, 2, 1), 4.0)


def _fc(sd, name, x, lr=1.0, act="linear"):
    w = sd[name + ".weight"]
    x = x @ (w * (lr / math.sqrt(w.shape[1]))).t() + sd[name + ".bias"] * lr
    return F.leaky_relu(x, 0.2) * SQRT2 if act == "lrelu" else x


def _norm2(x):
    return x * (x.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()


def _synthesis_layer(sd, name, x, w, up, clamp):
    styles = _fc(sd, name + ".affine", w)
    weight = sd[name + ".weight"]
    out = []
    for i in range(x.shape[0]):
        wi = weight * styles[i][None, :, None, None]
        wi = wi * (wi.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8).rsqrt()
        xi = x[i: i + 1]
        if up == 1:
            yi = F.conv2d(xi, wi, padding=1)
        else:  # transposed conv (weight [I, O, k, k], not flipped), then FIR pad 1, gain 4
            yi = F.conv_transpose2d(xi, wi.transpose(0, 1), stride=2)
            yi = _fir(yi, (1, 1, 1, 1), 4.0)
        out.append(yi)
    x = torch.cat(out)
    if name + ".noise_const" in sd:
        x = x + sd[name + ".noise_const"] * sd[name + ".noise_strength"]
    x = F.leaky_relu(x + sd[name + ".bias"][None, :, None, None], 0.2) * SQRT2
    return x.clamp(-clamp, clamp) if clamp is not None else x


def _torgb(sd, name, x, w, clamp):
    weight = sd[name + ".weight"]
    styles = _fc(sd, name + ".affine", w) / math.sqrt(weight.shape[1])
    y = torch.einsum("oi,ni,nihw->nohw", weight[:, :, 0, 0], styles, x) + sd[name + ".bias"][None, :, None, None]
    return y.clamp(-clamp, clamp) if clamp is not None else y


def reference_generate(sd, cfg, z, c=None, psi=1.0, cutoff=None):
    sd = {k: v.double() for k, v in sd.items()}
    z = z.double()
    x = _norm2(z)
    if cfg["c_dim"]:
        x = torch.cat([x, _norm2(_fc(sd, "mapping.embed", c.double()))], dim=1)
    for i in range(cfg["mapping_layers"]):
        x = _fc(sd, f"mapping.fc{i}", x, lr=cfg["lr_multiplier"], act="lrelu")
    log2 = int(math.log2(cfg["resolution"]))
    num_ws = 2 * log2 - 2
    ws = x[:, None].repeat(1, num_ws, 1)
    if psi != 1:
        cut = num_ws if cutoff is None else cutoff
        ws[:, :cut] = sd["mapping.w_avg"].lerp(ws[:, :cut], psi)
    clamp = cfg["conv_clamp"]
    x = img = None
    w_idx = 0
    for res in [2 ** i for i in range(2, log2 + 1)]:
        b = f"synthesis.b{res}"
        if res == 4:
            x = sd[b + ".const"][None].repeat(z.shape[0], 1, 1, 1)
            x = _synthesis_layer(sd, b + ".conv1", x, ws[:, w_idx], 1, clamp)
            n_conv = 1
        else:
            x = _synthesis_layer(sd, b + ".conv0", x, ws[:, w_idx], 2, clamp)
            x = _synthesis_layer(sd, b + ".conv1", x, ws[:, w_idx + 1], 1, clamp)
            n_conv = 2
        y = _torgb(sd, b + ".torgb", x, ws[:, w_idx + n_conv], clamp)
        img = y if img is None else _upsample2d(img) + y
        w_idx += n_conv
    return img


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These networks are tiny: one thread is faster, and immune to other processes stalling a second one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


MAX_ERR = {}  # label -> max abs error seen (printed by -s; reported in the summary)


def _compare(G, sd, cfg, label, c=None, psis=(1.0, 0.5), cutoffs=(None, 8)):
    z = sf.z_from_seeds(SEEDS, cfg["z_dim"])
    worst = 0.0
    for psi in psis:
        for cutoff in cutoffs:
            got = G(z, c, truncation_psi=psi, truncation_cutoff=cutoff, noise_mode="const").double()
            ref = reference_generate(sd, cfg, z, c, psi, cutoff)
            assert got.shape == ref.shape
            err = (got - ref).abs().max().item()
            scale = max(1.0, ref.abs().max().item())
            assert err <= 2e-5 * scale, f"{label} psi={psi} cutoff={cutoff}: max abs err {err:.3g} (|ref| {scale:.3g})"
            worst = max(worst, err / scale)
    MAX_ERR[label] = worst
    print(f"{label}: max abs err / max(1, |ref|) = {worst:.3g}")
    return worst


# --------------------------------------------------------------------------------------------
# Equivalence
# --------------------------------------------------------------------------------------------

TINY64 = dict(resolution=64, z_dim=32, w_dim=32, mapping_layers=2, channel_base=256, channel_max=16)


def test_load_matches_independent_reference(tmp_path):
    path = tmp_path / "network-snapshot.pkl"
    info = write_nvlabs_pickle(path, seed=3, **TINY64)
    for m in ("torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util"):
        assert m not in sys.modules  # the writer removed its stand-ins
    G = sf.Generator.load(path)
    assert "torch_utils" not in sys.modules and "dnnlib" not in sys.modules
    assert G.source_format == "nvlabs-pytorch" and G.num_ws == 10 and not G.training
    c = G.config
    assert (c.arch, c.resolution, c.z_dim, c.w_dim, c.c_dim, c.mapping_layers, c.channel_base, c.channel_max,
            c.img_channels, c.num_fp16_res, c.conv_clamp, c.mapping_lr_multiplier, c.w_avg_beta) == \
        ("stylegan2", 64, 32, 32, 0, 2, 256, 16, 3, 0, None, 0.01, 0.995)
    _compare(G, info["G_ema"], info["config"], "64px uncond")


def test_load_conditional_clamped(tmp_path):
    path = tmp_path / "cond.pkl"
    info = write_nvlabs_pickle(path, seed=5, c_dim=4, conv_clamp=2.0, num_fp16_res=2, img_channels=1, **TINY64)
    G = sf.Generator.load(path)
    assert (G.config.c_dim, G.config.conv_clamp, G.config.num_fp16_res, G.config.img_channels) == (4, 2.0, 2, 1)
    c = torch.nn.functional.one_hot(torch.tensor([0, 3, 1]), 4).double()
    _compare(G, info["G_ema"], info["config"], "64px c_dim=4 clamp=2", c=c.float())


def test_stylegan3_repo_stylegan2_defaults_from_subnetworks(tmp_path):
    # stylegan3's networks_stylegan2: flattened synthesis kwargs, conv_clamp=256 / num_fp16_res=4 by default and
    # not written into init_kwargs: the loader must take them from what the layers recorded.
    path = tmp_path / "sg3repo.pkl"
    info = write_nvlabs_pickle(path, seed=7, flavor="stylegan3-repo", record_defaults=False, conv_clamp=256,
                               num_fp16_res=4, w_avg_beta=0.998, resolution=32, channel_base=256, channel_max=16)
    G = sf.Generator.load(path)
    assert (G.config.conv_clamp, G.config.num_fp16_res, G.config.w_avg_beta) == (256.0, 4, 0.998)
    _compare(G, info["G_ema"], info["config"], "32px stylegan3-repo", cutoffs=(None,))


def test_use_noise_false_and_protocol_2(tmp_path):
    path = tmp_path / "nonoise.pkl"
    info = write_nvlabs_pickle(path, seed=9, use_noise=False, protocol=2, resolution=16)
    ck = sf.checkpoints.read(path)
    assert any("use_noise=False" in n for n in ck.notes)
    G = sf.Generator.load(path)
    _compare(G, info["G_ema"], info["config"], "16px use_noise=False", cutoffs=(None,))
    z = sf.z_from_seeds([1], 32).float()
    assert torch.equal(G(z, noise_mode="random"), G(z, noise_mode="const"))


# --------------------------------------------------------------------------------------------
# which= and missing networks
# --------------------------------------------------------------------------------------------

def test_which_g_gives_raw_generator(tmp_path):
    path = tmp_path / "snap.pkl"
    info = write_nvlabs_pickle(path, seed=11, resolution=16)
    G_ema, G_raw = sf.Generator.load(path), sf.Generator.load(path, which="G")
    for name, key in (("mapping.fc0.weight", "mapping.fc0.weight"),
                      ("synthesis.b8.conv1.noise.noise_const", "synthesis.b8.conv1.noise_const")):
        assert torch.equal(G_ema.state_dict()[name], info["G_ema"][key])
        assert torch.equal(G_raw.state_dict()[name], info["G"][key])
    assert not torch.equal(info["G"]["mapping.fc0.weight"], info["G_ema"]["mapping.fc0.weight"])
    _compare(G_raw, info["G"], info["config"], "16px which=G", cutoffs=(None,))
    notes = sf.checkpoints.read(path, which="G").notes
    assert notes[0].startswith("used G ")


def test_file_without_g_ema(tmp_path):
    path = tmp_path / "g_only.pkl"
    info = write_nvlabs_pickle(path, networks=("G", "D"), resolution=8)
    with pytest.raises(CheckpointError, match=r"no 'G_ema'.*\['G', 'D'\].*which='G'"):
        sf.Generator.load(path)
    G = sf.Generator.load(path, which="G")
    assert torch.equal(G.mapping.w_avg, info["G"]["mapping.w_avg"])


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------

def test_missing_tensor_names_key_and_shape(tmp_path):
    path = tmp_path / "missing.pkl"
    write_nvlabs_pickle(path, resolution=16, drop_tensor="synthesis.b8.conv0.weight")
    with pytest.raises(CheckpointError, match=r"missing tensor 'synthesis\.b8\.conv0\.weight' \(expected shape "
                                              r"\[16, 16, 3, 3\]") as e:
        sf.Generator.load(path)
    assert isinstance(e.value, ValueError) and "missing.pkl" in str(e.value)


def test_wrong_shape_names_key_and_shape(tmp_path):
    path = tmp_path / "shape.pkl"
    write_nvlabs_pickle(path, resolution=16, reshape_tensor=("mapping.fc1.weight", [32, 31]))
    with pytest.raises(CheckpointError, match=r"'mapping\.fc1\.weight' has shape \[32, 31\], expected \[32, 32\]"):
        sf.Generator.load(path)


def test_unknown_architecture_kwarg(tmp_path):
    path = tmp_path / "unknown.pkl"
    write_nvlabs_pickle(path, resolution=8, extra_synthesis_kwargs=dict(mystery_layers=3))
    with pytest.raises(CheckpointError, match=r"unknown synthesis argument mystery_layers=3"):
        sf.Generator.load(path)
    write_nvlabs_pickle(path, resolution=8, extra_mapping_kwargs=dict(layer_features=64))
    with pytest.raises(CheckpointError, match=r"layer_features=64 differs from w_dim=32"):
        sf.Generator.load(path)


def test_harmless_kwargs_accepted(tmp_path):
    path = tmp_path / "harmless.pkl"
    write_nvlabs_pickle(path, resolution=8, extra_synthesis_kwargs=dict(fp16_channels_last=True),
                        extra_mapping_kwargs=dict(embed_features=None, layer_features=None))
    assert sf.Generator.load(path).config.resolution == 8


@pytest.mark.parametrize("architecture", ["resnet", "orig"])
def test_unsupported_architecture(tmp_path, architecture):
    path = tmp_path / f"{architecture}.pkl"
    write_nvlabs_pickle(path, resolution=16, architecture=architecture)
    with pytest.raises(CheckpointError, match=rf"architecture '{architecture}' is not supported.*'skip'"):
        sf.Generator.load(path)


@pytest.mark.parametrize("signal", ["all", "kwargs", "layers", "src"])
def test_stylegan3_detected(tmp_path, signal):
    path = tmp_path / "sg3.pkl"
    write_nvlabs_pickle(path, stylegan3=signal)
    with pytest.raises(CheckpointError, match=r"StyleGAN3 generator .* not support"):
        sf.Generator.load(path)
    assert "torch_utils" not in sys.modules


def test_loader_never_imports_nvlabs_modules(tmp_path):
    path = tmp_path / "snap.pkl"
    write_nvlabs_pickle(path, resolution=8)
    import builtins

    real_import = builtins.__import__

    def guarded(name, *args, **kwargs):
        if name.split(".")[0] in ("torch_utils", "dnnlib"):
            raise AssertionError(f"the loader imported {name}")
        return real_import(name, *args, **kwargs)

    builtins.__import__ = guarded
    try:
        G = sf.Generator.load(path)
    finally:
        builtins.__import__ = real_import
    assert G.config.resolution == 8
    assert not any(m.split(".")[0] in ("torch_utils", "dnnlib") for m in sys.modules)
