"""NVlabs TensorFlow pickles (StyleGAN2 G_main, StyleGAN1 G_style) through Generator.load.

Each loaded generator is compared with the same network evaluated in float64 straight from the
raw TF arrays, in TF layout, with the published TF formulas (networks_stylegan2.py /
networks_stylegan.py and their ops), written out independently below.
"""
import math
import pickle
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import stylegan_fast as sf
from stylegan_fast.checkpoints import CheckpointError

from .checkpoint_fixtures import nvlabs_tf as fx
from .tolerances import assert_close

SQRT2 = math.sqrt(2)


def T(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float64).copy())


# ---------------------------------------------------------------------------------------------
# TF ops in float64, NCHW activations, TF weight layouts

def tf_conv2d_same(x, w):  # tf.nn.conv2d(x, w [kh, kw, I, O], padding='SAME'), odd kernels
    return F.conv2d(x, w.permute(3, 2, 0, 1), padding=w.shape[0] // 2)


def tf_conv2d_transpose(x, f, stride, pad):  # tf.nn.conv2d_transpose, filter [kh, kw, out, in]
    return F.conv_transpose2d(x, f.permute(3, 2, 0, 1), stride=stride, padding=pad)


def tf_setup_kernel(k):
    k = torch.tensor(k, dtype=torch.float64)
    k = torch.outer(k, k)
    return k / k.sum()


def tf_upfirdn_2d(x, k, up, pad0, pad1):  # _upfirdn_2d_ref: zero-insert, pad, convolve with k flipped
    n, c, h, w = x.shape
    if up > 1:
        z = x.new_zeros([n, c, h * up, w * up])
        z[:, :, ::up, ::up] = x
        x = z
    x = F.pad(x, [pad0, pad1, pad0, pad1])
    kf = k.flip([0, 1])[None, None].repeat(c, 1, 1, 1)
    return F.conv2d(x, kf, groups=c)


def tf_upsample_2d(x, k=(1, 3, 3, 1), factor=2):
    kk = tf_setup_kernel(k) * factor ** 2
    p = kk.shape[0] - factor
    return tf_upfirdn_2d(x, kk, factor, (p + 1) // 2 + factor - 1, p // 2)


def tf_upsample_conv_2d(x, w, k=(1, 3, 3, 1), factor=2):  # w [kh, kw, I, O]
    kk = tf_setup_kernel(k) * factor ** 2
    p = (kk.shape[0] - factor) - (w.shape[1] - 1)
    wt = w.flip([0, 1]).permute(0, 1, 3, 2)  # [kh, kw, O, I]
    x = tf_conv2d_transpose(x, wt, factor, 0)  # VALID
    return tf_upfirdn_2d(x, kk, 1, (p + 1) // 2 + factor - 1, p // 2 + 1)


def lrelu(x, alpha=0.2):
    return torch.maximum(x, x * alpha)


def normalize(x, dim=1):
    return x * torch.rsqrt(x.square().mean(dim=dim, keepdim=True) + 1e-8)


def truncate(dl, avg, psi, cutoff):
    if psi == 1:
        return dl
    idx = torch.arange(dl.shape[1])[None, :, None]
    coef = torch.where(idx < (dl.shape[1] if cutoff is None else cutoff), torch.tensor(psi, dtype=dl.dtype),
                       torch.tensor(1.0, dtype=dl.dtype))
    return avg + (dl - avg) * coef  # tflib.lerp(avg, dl, coef)


# ---------------------------------------------------------------------------------------------
# StyleGAN2 (networks_stylegan2.py: G_main / G_mapping / G_synthesis_stylegan2, architecture 'skip')

def sg2_mapping(P, z, c, layers, lrmul=0.01):
    x = normalize(z)
    if c is not None:  # StyleGAN2-ADA: LabelEmbed dense + bias, normalized, concatenated
        y = c @ (P["mapping/LabelEmbed/weight"] / math.sqrt(c.shape[1])) + P["mapping/LabelEmbed/bias"]
        x = torch.cat([x, normalize(y)], dim=1)
    for i in range(layers):
        w = P[f"mapping/Dense{i}/weight"]
        x = x @ (w * (lrmul / math.sqrt(w.shape[0]))) + P[f"mapping/Dense{i}/bias"] * lrmul
        x = lrelu(x) * SQRT2  # fused_bias_act lrelu: gain sqrt(2)
    return x


def sg2_modconv(P, scope, x, y, up=False, demodulate=True):
    w = P[f"{scope}/weight"]
    kh, kw, cin, cout = w.shape
    w = w / math.sqrt(kh * kw * cin)
    mw = P[f"{scope}/mod_weight"]
    s = y @ (mw / math.sqrt(mw.shape[0])) + P[f"{scope}/mod_bias"] + 1  # [B, I]
    ww = w[None] * s[:, None, None, :, None]  # [B, kh, kw, I, O]
    if demodulate:
        d = torch.rsqrt(ww.square().sum(dim=[1, 2, 3]) + 1e-8)  # [B, O]
        ww = ww * d[:, None, None, None, :]
    outs = []
    for b in range(x.shape[0]):
        xb = x[b:b + 1]
        outs.append(tf_upsample_conv_2d(xb, ww[b]) if up else tf_conv2d_same(xb, ww[b]))
    return torch.cat(outs)


def sg2_layer(P, scope, x, y, noise_index, up=False):
    x = sg2_modconv(P, scope, x, y, up=up)
    x = x + P[f"synthesis/noise{noise_index}"] * P[f"{scope}/noise_strength"]
    return lrelu(x + P[f"{scope}/bias"][None, :, None, None]) * SQRT2


def sg2_torgb(P, scope, x, y):
    return sg2_modconv(P, scope, x, y, demodulate=False) + P[f"{scope}/bias"][None, :, None, None]


def sg2_reference(P, static, z, psi, cutoff, c=None):
    P = {k: T(v) for k, v in P.items()}
    log2 = int(math.log2(static["resolution"]))
    dl = sg2_mapping(P, z, c, static["mapping_layers"])
    dl = dl[:, None].repeat(1, 2 * log2 - 2, 1)
    dl = truncate(dl, P["dlatent_avg"], psi, cutoff)
    x = P["synthesis/4x4/Const/const"].repeat(z.shape[0], 1, 1, 1)
    x = sg2_layer(P, "synthesis/4x4/Conv", x, dl[:, 0], 0)
    y = sg2_torgb(P, "synthesis/4x4/ToRGB", x, dl[:, 1])
    for res in range(3, log2 + 1):
        s = f"synthesis/{2 ** res}x{2 ** res}"
        x = sg2_layer(P, f"{s}/Conv0_up", x, dl[:, res * 2 - 5], res * 2 - 5, up=True)
        x = sg2_layer(P, f"{s}/Conv1", x, dl[:, res * 2 - 4], res * 2 - 4)
        y = tf_upsample_2d(y) + sg2_torgb(P, f"{s}/ToRGB", x, dl[:, res * 2 - 3])
    return y


# ---------------------------------------------------------------------------------------------
# StyleGAN1 (networks_stylegan.py: G_style / G_mapping / G_synthesis, lod 0)

def sg1_mapping(P, z, layers, lrmul=0.01):
    x = normalize(z)  # pixel_norm
    for i in range(layers):
        w = P[f"mapping/Dense{i}/weight"]
        x = x @ (w * (SQRT2 / math.sqrt(w.shape[0]) * lrmul))  # dense, gain sqrt(2), use_wscale
        x = x + P[f"mapping/Dense{i}/bias"] * lrmul  # apply_bias(lrmul)
        x = lrelu(x)  # leaky_relu: no gain
    return x


def sg1_epilogue(P, scope, x, dlatent, noise_index):
    x = x + P[f"synthesis/noise{noise_index}"] * P[f"{scope}/Noise/weight"][None, :, None, None]
    x = lrelu(x + P[f"{scope}/bias"][None, :, None, None])
    x = x - x.mean(dim=[2, 3], keepdim=True)  # instance_norm
    x = x * torch.rsqrt(x.square().mean(dim=[2, 3], keepdim=True) + 1e-8)
    sw = P[f"{scope}/StyleMod/weight"]
    style = dlatent @ (sw / math.sqrt(sw.shape[0])) + P[f"{scope}/StyleMod/bias"]  # dense gain 1 + bias
    style = style.reshape(-1, 2, x.shape[1], 1, 1)
    return x * (style[:, 0] + 1) + style[:, 1]


def sg1_conv_weight(P, scope):
    w = P[f"{scope}/weight"]
    return w * (SQRT2 / math.sqrt(w.shape[0] * w.shape[1] * w.shape[2]))


def sg1_upscale2d_conv2d(x, w):  # w [3, 3, I, O], runtime-scaled
    if min(x.shape[2:]) * 2 >= 128:  # fused_scale='auto'
        wt = w.permute(0, 1, 3, 2)  # [k, k, O, I]
        wt = F.pad(wt.permute(2, 3, 0, 1), [1, 1, 1, 1]).permute(2, 3, 0, 1)  # pad kh, kw to 5
        wt = wt[1:, 1:] + wt[:-1, 1:] + wt[1:, :-1] + wt[:-1, :-1]  # [4, 4, O, I]
        return tf_conv2d_transpose(x, wt, 2, 1)  # SAME, output 2H: one pixel each side
    x = x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)  # upscale2d (tile)
    return tf_conv2d_same(x, w)


def sg1_blur(x):  # blur2d [1, 2, 1], normalized, depthwise, SAME
    f = tf_setup_kernel([1, 2, 1])
    return F.conv2d(x, f[None, None].repeat(x.shape[1], 1, 1, 1), padding=1, groups=x.shape[1])


def sg1_reference(P, static, z, psi, cutoff):
    P = {k: T(v) for k, v in P.items()}
    log2 = int(math.log2(static["resolution"]))
    dl = sg1_mapping(P, z, static["mapping_layers"])[:, None].repeat(1, 2 * log2 - 2, 1)
    dl = truncate(dl, P["dlatent_avg"], psi, cutoff)
    x = P["synthesis/4x4/Const/const"].repeat(z.shape[0], 1, 1, 1)
    x = sg1_epilogue(P, "synthesis/4x4/Const", x, dl[:, 0], 0)
    x = tf_conv2d_same(x, sg1_conv_weight(P, "synthesis/4x4/Conv"))
    x = sg1_epilogue(P, "synthesis/4x4/Conv", x, dl[:, 1], 1)
    for res in range(3, log2 + 1):
        s = f"synthesis/{2 ** res}x{2 ** res}"
        x = sg1_blur(sg1_upscale2d_conv2d(x, sg1_conv_weight(P, f"{s}/Conv0_up")))
        x = sg1_epilogue(P, f"{s}/Conv0_up", x, dl[:, res * 2 - 4], res * 2 - 4)
        x = tf_conv2d_same(x, sg1_conv_weight(P, f"{s}/Conv1"))
        x = sg1_epilogue(P, f"{s}/Conv1", x, dl[:, res * 2 - 3], res * 2 - 3)
    w = P["synthesis/ToRGB_lod0/weight"]
    return tf_conv2d_same(x, w / math.sqrt(w.shape[2])) + P["synthesis/ToRGB_lod0/bias"][None, :, None, None]


# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sg2_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("tf") / "stylegan2-64.pkl"
    P, static = fx.write_stylegan2(path, resolution=64)
    return path, P, static


@pytest.fixture(scope="module")
def sg1_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("tf") / "stylegan1-128.pkl"
    P, static = fx.write_stylegan1(path, resolution=128)
    return path, P, static


def _check(G, ref, z, psi, cutoff, c=None):
    with torch.no_grad():
        out = G(z.float(), c, truncation_psi=psi, truncation_cutoff=cutoff, noise_mode="const")
    # Tolerance relative to the image scale (random weights: images of a few units).
    assert_close(out, ref, dtype=torch.float32, scale=max(1.0, ref.abs().max().item()),
                 msg=f"psi={psi} cutoff={cutoff}")


TRUNCATIONS = [(1.0, None), (1.0, 8), (0.5, None), (0.5, 8)]


def test_stylegan2_matches_tf_formulas(sg2_file):
    path, P, static = sg2_file
    assert "dnnlib" not in sys.modules
    G = sf.Generator.load(path)
    assert "dnnlib" not in sys.modules
    assert G.source_format == "nvlabs-tf-stylegan2"
    cfg = G.config
    assert (cfg.arch, cfg.resolution, cfg.num_ws, cfg.z_dim, cfg.w_dim, cfg.mapping_layers) == \
        ("stylegan2", 64, 10, 16, 16, 3)
    assert (cfg.channel_base, cfg.channel_max) == (2 * static["fmap_base"], static["fmap_max"])
    assert [cfg.channels(r) for r in (4, 8, 16, 32, 64)] == [16, 16, 16, 8, 4]
    z = sf.z_from_seeds([0, 1, 7], G.z_dim)
    for psi, cutoff in TRUNCATIONS:
        _check(G, sg2_reference(P, static, z, psi, cutoff), z, psi, cutoff)


def test_stylegan2_ada_conditional(tmp_path):
    P, static = fx.write_stylegan2(tmp_path / "c.pkl", resolution=8, label_size=3)
    G = sf.Generator.load(tmp_path / "c.pkl")
    assert G.c_dim == 3
    z, c = sf.z_from_seeds([3, 4], G.z_dim), torch.eye(3, dtype=torch.float64)[[0, 2]]
    with torch.no_grad():
        out = G(z.float(), c.float(), truncation_psi=0.5)
    ref = sg2_reference(P, static, z, 0.5, None, c=c)
    assert_close(out, ref, dtype=torch.float32, scale=max(1.0, ref.abs().max().item()))


def test_stylegan1_matches_tf_formulas(sg1_file):
    path, P, static = sg1_file
    G = sf.Generator.load(path)
    assert "dnnlib" not in sys.modules
    assert G.source_format == "nvlabs-tf-stylegan1"
    cfg = G.config
    assert (cfg.arch, cfg.resolution, cfg.num_ws, cfg.channel_base, cfg.channel_max) == \
        ("stylegan1", 128, 12, 512, 16)
    assert G.paper_truncation == (0.7, 8)
    z = sf.z_from_seeds([0, 5], G.z_dim)
    for psi, cutoff in TRUNCATIONS + [G.paper_truncation]:
        _check(G, sg1_reference(P, static, z, psi, cutoff), z, psi, cutoff)


def test_stylegan1_mapping_bias_convention(sg1_file):
    """TF StyleGAN1 adds the mapping bias after the sqrt(2) gain: our bias is the TF bias / sqrt(2)."""
    path, P, static = sg1_file
    G = sf.Generator.load(path)
    z = sf.z_from_seeds([2], G.z_dim)
    ref = sg1_mapping({k: T(v) for k, v in P.items()}, z, static["mapping_layers"])
    with torch.no_grad():
        ws = G.mapping(z.float())
    assert_close(ws[:, 0], ref, dtype=torch.float32, scale=max(1.0, ref.abs().max().item()))
    torch.testing.assert_close(G.mapping.fc0.bias.double(), T(P["mapping/Dense0/bias"]) / SQRT2)


def test_raw_pickle_never_imports_dnnlib(sg2_file):
    path = sg2_file[0]
    with open(path, "rb") as f:
        data = f.read()
    assert data[:2] == b"\x80\x04" and b"dnnlib.tflib.network" in data  # protocol 4, real class path
    sys.modules.pop("dnnlib", None)
    sf.Generator.load(path)
    assert not any(m == "dnnlib" or m.startswith("dnnlib.") for m in sys.modules)


# ---------------------------------------------------------------------------------------------
# Errors

def _write_edited(tmp_path, arch="stylegan2", drop=(), replace=None, comp="synthesis", top=None, **kwargs):
    Gs, D = (fx.stylegan2_state if arch == "stylegan2" else fx.stylegan1_state)(resolution=8, **kwargs)
    target = Gs if comp is None else Gs.state["components"][comp]
    fx.edit_variables(target, drop=drop, replace=replace)
    Gs.state.update(top or {})
    return fx.write(tmp_path / "edited.pkl", Gs, D)


@pytest.mark.parametrize("arch,name", [("stylegan2", "8x8/Conv0_up/mod_bias"), ("stylegan2", "noise2"),
                                       ("stylegan1", "8x8/Conv1/StyleMod/weight"), ("stylegan1", "ToRGB_lod0/bias")])
def test_missing_variable(tmp_path, arch, name):
    path = _write_edited(tmp_path, arch, drop=[name])
    with pytest.raises(CheckpointError, match=f"missing TF variable 'synthesis/{name}' .*expected shape"):
        sf.Generator.load(path)


def test_missing_dlatent_avg(tmp_path):
    path = _write_edited(tmp_path, drop=["dlatent_avg"], comp=None)
    with pytest.raises(CheckpointError, match="missing TF variable 'dlatent_avg'"):
        sf.Generator.load(path)


def test_wrong_shape(tmp_path):
    path = _write_edited(tmp_path, replace={"8x8/ToRGB/mod_weight": np.zeros([16, 5], np.float32)})
    with pytest.raises(CheckpointError, match=r"'synthesis/8x8/ToRGB/mod_weight' has shape \[16, 5\], "
                                              r"expected \[16, 16\]"):
        sf.Generator.load(path)


def test_unknown_build_func(tmp_path):
    path = _write_edited(tmp_path, top={"build_func_name": "G_paper"})
    with pytest.raises(CheckpointError, match="'G_paper'.*supported: 'G_main'.*'G_style'"):
        sf.Generator.load(path)


def test_revised_synthesis_refused(tmp_path):
    Gs, D = fx.stylegan2_state(resolution=8)
    Gs.state["components"]["synthesis"].state["build_func_name"] = "G_synthesis_stylegan_revised"
    with pytest.raises(CheckpointError, match="G_synthesis_stylegan_revised"):
        sf.Generator.load(fx.write(tmp_path / "r.pkl", Gs, D))


@pytest.mark.parametrize("arch", ["orig", "resnet"])
def test_unsupported_architecture(tmp_path, arch):
    Gs, D = fx.stylegan2_state(resolution=8, static={"architecture": arch})
    with pytest.raises(CheckpointError, match=f"architecture='{arch}' is not supported"):
        sf.Generator.load(fx.write(tmp_path / "a.pkl", Gs, D))


def test_inexpressible_channel_schedule(tmp_path):
    Gs, D = fx.stylegan2_state(resolution=16, fmap_base=128, fmap_max=32)  # 32, 32, 16 maps at 4, 8, 16 px
    syn = Gs.state["components"]["synthesis"]
    rng = np.random.RandomState(0)
    fx.edit_variables(syn, replace={  # 8 maps at 16 px (as fmap_decay > 1 would give): no channel_base fits
        "16x16/Conv0_up/weight": rng.randn(3, 3, 32, 8).astype(np.float32),
        "16x16/Conv1/weight": rng.randn(3, 3, 8, 8).astype(np.float32)})
    with pytest.raises(CheckpointError, match=r"channels per resolution \{4: 32, 8: 32, 16: 8\} do not follow"):
        sf.Generator.load(fx.write(tmp_path / "s.pkl", Gs, D))


def test_not_a_network(tmp_path):
    path = tmp_path / "t.pkl"
    with open(path, "wb") as f:
        pickle.dump((1, 2, {"a": 3}), f, protocol=4)
    with pytest.raises(CheckpointError, match="not a dnnlib.tflib.network.Network"):
        sf.Generator.load(path)


def test_bad_version(tmp_path):
    path = _write_edited(tmp_path, top={"version": 7})
    with pytest.raises(CheckpointError, match="version 7"):
        sf.Generator.load(path)
