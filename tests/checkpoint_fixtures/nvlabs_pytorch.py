"""Writes small network pickles shaped like NVlabs' stylegan2-ada-pytorch / stylegan3 snapshots.

No NVlabs code is used or needed. NVlabs' ``torch_utils.persistence`` pickles each network
object as a call ``_reconstruct_persistent_obj(meta)`` with
``meta = dict(type='class', version=6, module_src=<source of the module>, class_name=<name>,
state=<the object's __dict__>)``, the ``__dict__`` of a torch module (``_parameters``,
``_buffers``, ``_modules``, hooks, ``training``) plus the attributes the constructor set and
``_init_args`` / ``_init_kwargs``. Training snapshots are ``pickle.dump(dict(G=..., D=...,
G_ema=..., augment_pipe=..., training_set_kwargs=...), f)``.

To write such a file without NVlabs code, :func:`write_nvlabs_pickle` registers stand-in modules
``torch_utils``, ``torch_utils.persistence`` (holding a ``_reconstruct_persistent_obj`` that only
raises) and ``dnnlib``, ``dnnlib.util`` (holding an ``EasyDict``) in ``sys.modules`` for the
duration of ``pickle.dump``, and removes them afterwards, so a loader provably does not need them.

The tensors are random (nonzero biases, noise strengths and w_avg) and returned under NVlabs'
state-dict names, so a test can compute the network independently from them.
"""
from __future__ import annotations

import contextlib
import math
import pickle
import sys
import types
from collections import OrderedDict
from typing import Optional

import torch

PERSISTENCE_VERSION = 6
PICKLE_PROTOCOL = 4  # what pickle.dump writes by default on the Python 3.8/3.9 NVlabs trains with

ADA_SRC = ("# Stand-in for stylegan2-ada-pytorch training/networks.py (text only; never executed)\n"
           "class FullyConnectedLayer: pass\nclass MappingNetwork: pass\nclass SynthesisLayer: pass\n"
           "class ToRGBLayer: pass\nclass SynthesisBlock: pass\nclass SynthesisNetwork: pass\nclass Generator: pass\n")
SG3REPO_SG2_SRC = (ADA_SRC.replace("stylegan2-ada-pytorch training/networks.py",
                                   "stylegan3 training/networks_stylegan2.py")
                   + "# fused_modconv_default = True\n")
SG3_SRC = ("# Stand-in for stylegan3 training/networks_stylegan3.py (text only; never executed)\n"
           "from torch_utils.ops import filtered_lrelu\nclass SynthesisInput: pass\nclass SynthesisLayer: pass\n")
D_SRC = "# Stand-in for training/networks.py (Discriminator part; never executed)\nclass Discriminator: pass\n"


# --------------------------------------------------------------------------------------------
# Stand-in modules, present only while pickling
# --------------------------------------------------------------------------------------------

def _stand_in_reconstruct(meta):  # pragma: no cover - never called: the loader must not need it
    raise RuntimeError("stand-in torch_utils.persistence._reconstruct_persistent_obj must never be called")


class _StandInEasyDict(dict):
    """Pickled as dnnlib.util.EasyDict (a dict subclass, as in NVlabs)."""


@contextlib.contextmanager
def stand_in_modules():
    names = ("torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util")
    saved = {n: sys.modules[n] for n in names if n in sys.modules}
    tu, tup = types.ModuleType("torch_utils"), types.ModuleType("torch_utils.persistence")
    dn, dnu = types.ModuleType("dnnlib"), types.ModuleType("dnnlib.util")
    _stand_in_reconstruct.__module__ = "torch_utils.persistence"
    _stand_in_reconstruct.__name__ = _stand_in_reconstruct.__qualname__ = "_reconstruct_persistent_obj"
    tup._reconstruct_persistent_obj = _stand_in_reconstruct
    tu.persistence = tup
    _StandInEasyDict.__module__ = "dnnlib.util"
    _StandInEasyDict.__name__ = _StandInEasyDict.__qualname__ = "EasyDict"
    dnu.EasyDict = _StandInEasyDict
    dn.util, dn.EasyDict = dnu, _StandInEasyDict
    sys.modules.update({"torch_utils": tu, "torch_utils.persistence": tup, "dnnlib": dn, "dnnlib.util": dnu})
    try:
        yield
    finally:
        for n in names:
            sys.modules.pop(n, None)
        sys.modules.update(saved)


def EasyDict(**kwargs):
    return _StandInEasyDict(**kwargs)


class Persistent:
    """A network object as NVlabs' persistence decorator pickles it."""

    def __init__(self, class_name: str, state: dict, module_src: str = ADA_SRC):
        self.class_name, self.state, self.module_src = class_name, state, module_src

    def __reduce__(self):
        meta = dict(type="class", version=PERSISTENCE_VERSION, module_src=self.module_src,
                    class_name=self.class_name, state=self.state)
        return (_stand_in_reconstruct, (meta,))


def module_state(params=(), buffers=(), modules=(), attrs=(), init_args=(), init_kwargs=None) -> dict:
    """The ``__dict__`` of an eval-mode torch module with these members (torch's own bookkeeping kept)."""
    state = dict(torch.nn.Module().__dict__)
    state["training"] = False
    state["_parameters"] = OrderedDict((k, None if v is None else torch.nn.Parameter(v, requires_grad=False))
                                       for k, v in dict(params).items())
    state["_buffers"] = OrderedDict(buffers)
    state["_modules"] = OrderedDict(modules)
    state.update(dict(attrs))
    state["_init_args"] = tuple(init_args)
    state["_init_kwargs"] = dict(init_kwargs or {})
    return state


# --------------------------------------------------------------------------------------------
# Random tensors under NVlabs' names
# --------------------------------------------------------------------------------------------

def resample_filter():
    f = torch.tensor([1.0, 3.0, 3.0, 1.0])
    f = torch.outer(f, f)
    return f / f.sum()


def channels(cfg, res):
    return min(cfg["channel_base"] // res, cfg["channel_max"])


def block_resolutions(cfg):
    return [2 ** i for i in range(2, int(math.log2(cfg["resolution"])) + 1)]


def random_tensors(cfg: dict, seed: int) -> "OrderedDict[str, torch.Tensor]":
    """NVlabs state dict of a StyleGAN2 generator (resample filters included), random nonzero values."""
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape, scale=1.0, shift=0.0):
        return torch.randn(list(shape), generator=gen) * scale + shift

    def nonzero(*shape, scale=0.5):  # magnitude in [scale/2, scale], random sign
        mag = (0.5 + 0.5 * torch.rand(list(shape), generator=gen)) * scale
        return torch.where(torch.rand(list(shape), generator=gen) < 0.5, -mag, mag)

    lr, w_dim = cfg["lr_multiplier"], cfg["w_dim"]
    sd = OrderedDict()
    if cfg["c_dim"]:
        sd["mapping.embed.weight"] = randn(w_dim, cfg["c_dim"])
        sd["mapping.embed.bias"] = nonzero(w_dim, scale=0.3)
    features = [cfg["z_dim"] + (w_dim if cfg["c_dim"] else 0)] + [w_dim] * cfg["mapping_layers"]
    for i in range(cfg["mapping_layers"]):
        sd[f"mapping.fc{i}.weight"] = randn(features[i + 1], features[i], scale=1 / lr)
        sd[f"mapping.fc{i}.bias"] = nonzero(features[i + 1], scale=0.3 / lr)  # bias_gain = lr
    sd["mapping.w_avg"] = randn(w_dim)
    for res in block_resolutions(cfg):
        b = f"synthesis.b{res}"
        out_ch = channels(cfg, res)
        if res == 4:
            sd[f"{b}.const"] = randn(out_ch, res, res)
        sd[f"{b}.resample_filter"] = resample_filter()  # every block and layer registers one
        for name in (["conv1"] if res == 4 else ["conv0", "conv1"]):
            in_ch = out_ch if name == "conv1" else channels(cfg, res // 2)
            sd[f"{b}.{name}.resample_filter"] = resample_filter()
            sd[f"{b}.{name}.affine.weight"] = randn(in_ch, w_dim)
            sd[f"{b}.{name}.affine.bias"] = randn(in_ch, scale=0.2, shift=1.0)  # bias_init 1
            sd[f"{b}.{name}.weight"] = randn(out_ch, in_ch, 3, 3)
            if cfg["use_noise"]:
                sd[f"{b}.{name}.noise_const"] = randn(res, res)
                sd[f"{b}.{name}.noise_strength"] = nonzero(scale=0.3)
            sd[f"{b}.{name}.bias"] = nonzero(out_ch, scale=0.3)
        if cfg["architecture"] == "skip" or res == cfg["resolution"]:
            sd[f"{b}.torgb.affine.weight"] = randn(out_ch, w_dim)
            sd[f"{b}.torgb.affine.bias"] = randn(out_ch, scale=0.2, shift=1.0)
            sd[f"{b}.torgb.weight"] = randn(cfg["img_channels"], out_ch, 1, 1)
            sd[f"{b}.torgb.bias"] = nonzero(cfg["img_channels"], scale=0.3)
        if cfg["architecture"] == "resnet" and res > 4:
            sd[f"{b}.skip.resample_filter"] = resample_filter()
            sd[f"{b}.skip.weight"] = randn(out_ch, channels(cfg, res // 2), 1, 1)
    return sd


# --------------------------------------------------------------------------------------------
# Record tree from a state dict
# --------------------------------------------------------------------------------------------

def _pick(sd, prefix, names):
    return [(n, sd[prefix + n]) for n in names if prefix + n in sd]


def _fc(sd, prefix, in_f, out_f, activation="linear", lr=1.0, bias_init=None, src=ADA_SRC, sg3repo=False):
    kwargs = dict(activation=activation) if activation != "linear" else {}
    if lr != 1:
        kwargs["lr_multiplier"] = lr
    if bias_init is not None:
        kwargs["bias_init"] = bias_init
    attrs = dict(activation=activation, weight_gain=lr / math.sqrt(in_f), bias_gain=lr)
    if sg3repo:
        attrs.update(in_features=in_f, out_features=out_f)
    return Persistent("FullyConnectedLayer", module_state(
        params=_pick(sd, prefix, ["weight", "bias"]), attrs=attrs, init_args=(in_f, out_f), init_kwargs=kwargs), src)


def build_generator(sd: dict, cfg: dict) -> Persistent:
    """A Generator record tree holding ``sd`` (NVlabs names), shaped like NVlabs' pickles."""
    sg3repo = cfg["flavor"] == "stylegan3-repo"
    src = SG3REPO_SG2_SRC if sg3repo else ADA_SRC
    w_dim, lr = cfg["w_dim"], cfg["lr_multiplier"]
    # -- mapping
    mods = OrderedDict()
    if cfg["c_dim"]:
        mods["embed"] = _fc(sd, "mapping.embed.", cfg["c_dim"], w_dim, src=src, sg3repo=sg3repo)
    features = [cfg["z_dim"] + (w_dim if cfg["c_dim"] else 0)] + [w_dim] * cfg["mapping_layers"]
    for i in range(cfg["mapping_layers"]):
        mods[f"fc{i}"] = _fc(sd, f"mapping.fc{i}.", features[i], features[i + 1], "lrelu", lr, src=src, sg3repo=sg3repo)
    num_ws = 2 * int(math.log2(cfg["resolution"])) - 2
    mapping_kwargs = EasyDict(**cfg["mapping_kwargs"])
    mapping = Persistent("MappingNetwork", module_state(
        buffers=_pick(sd, "mapping.", ["w_avg"]), modules=mods,
        attrs=dict(z_dim=cfg["z_dim"], c_dim=cfg["c_dim"], w_dim=w_dim, num_ws=num_ws,
                   num_layers=cfg["mapping_layers"], w_avg_beta=cfg["w_avg_beta"]),
        init_kwargs=dict(z_dim=cfg["z_dim"], c_dim=cfg["c_dim"], w_dim=w_dim, num_ws=num_ws, **mapping_kwargs)), src)

    # -- synthesis
    log2 = int(math.log2(cfg["resolution"]))
    fp16_resolution = max(2 ** (log2 + 1 - cfg["num_fp16_res"]), 8)
    block_kwargs = {k: v for k, v in cfg["synthesis_kwargs"].items()
                    if k not in ("channel_base", "channel_max", "num_fp16_res")}
    clamp = cfg["conv_clamp"]
    blocks = OrderedDict()
    for res in block_resolutions(cfg):
        b = f"synthesis.b{res}."
        in_ch = channels(cfg, res // 2) if res > 4 else 0
        out_ch = channels(cfg, res)
        is_last = res == cfg["resolution"]
        use_fp16 = res >= fp16_resolution
        bmods = OrderedDict()
        layer_kwargs = {k: v for k, v in block_kwargs.items()
                        if k in ("use_noise", "activation", "kernel_size")}
        for name in (["conv1"] if res == 4 else ["conv0", "conv1"]):
            lin = out_ch if name == "conv1" else in_ch
            p = f"{b}{name}."
            up = 2 if name == "conv0" else 1
            lkw = dict(w_dim=w_dim, resolution=res, conv_clamp=clamp, channels_last=False, **layer_kwargs)
            if up == 2:
                lkw.update(up=2, resample_filter=[1, 3, 3, 1])
            attrs = dict(resolution=res, up=up, use_noise=cfg["use_noise"], activation="lrelu", conv_clamp=clamp,
                         padding=1, act_gain=math.sqrt(2))
            if sg3repo:
                attrs.update(in_channels=lin, out_channels=out_ch, w_dim=w_dim)
            bmods[name] = Persistent("SynthesisLayer", module_state(
                params=_pick(sd, p, ["weight", "noise_strength", "bias"]),
                buffers=_pick(sd, p, ["resample_filter", "noise_const"]),
                modules=[("affine", _fc(sd, p + "affine.", w_dim, lin, bias_init=1, src=src, sg3repo=sg3repo))],
                attrs=attrs, init_args=(lin, out_ch), init_kwargs=lkw), src)
        if f"{b}torgb.weight" in sd:
            attrs = dict(conv_clamp=clamp, weight_gain=1 / math.sqrt(out_ch))
            bmods["torgb"] = Persistent("ToRGBLayer", module_state(
                params=_pick(sd, b + "torgb.", ["weight", "bias"]),
                modules=[("affine", _fc(sd, b + "torgb.affine.", w_dim, out_ch, bias_init=1, src=src,
                                        sg3repo=sg3repo))],
                attrs=attrs, init_args=(out_ch, cfg["img_channels"]),
                init_kwargs=dict(w_dim=w_dim, conv_clamp=clamp, channels_last=False)), src)
        if f"{b}skip.weight" in sd:
            bmods["skip"] = Persistent("Conv2dLayer", module_state(
                params=_pick(sd, b + "skip.", ["weight"]), buffers=_pick(sd, b + "skip.", ["resample_filter"]),
                attrs=dict(activation="linear", up=2, down=1, conv_clamp=None, padding=0),
                init_args=(in_ch, out_ch), init_kwargs=dict(kernel_size=1, bias=False, up=2)), src)
        attrs = dict(in_channels=in_ch, w_dim=w_dim, resolution=res, img_channels=cfg["img_channels"],
                     is_last=is_last, architecture=cfg["architecture"], use_fp16=use_fp16, channels_last=False,
                     num_conv=1 if res == 4 else 2, num_torgb=1 if "torgb" in bmods else 0)
        if sg3repo:
            attrs["fused_modconv_default"] = cfg["synthesis_kwargs"].get("fused_modconv_default", True)
        params = _pick(sd, b, ["const"])
        blocks[f"b{res}"] = Persistent("SynthesisBlock", module_state(
            params=params, buffers=_pick(sd, b, ["resample_filter"]), modules=bmods, attrs=attrs,
            init_args=(in_ch, out_ch),
            init_kwargs=dict(w_dim=w_dim, resolution=res, img_channels=cfg["img_channels"], is_last=is_last,
                             use_fp16=use_fp16, **block_kwargs)), src)
    syn_attrs = dict(w_dim=w_dim, img_resolution=cfg["resolution"], img_resolution_log2=log2,
                     img_channels=cfg["img_channels"], block_resolutions=block_resolutions(cfg), num_ws=num_ws)
    if sg3repo:
        syn_attrs["num_fp16_res"] = cfg["num_fp16_res"]
    synthesis = Persistent("SynthesisNetwork", module_state(
        modules=blocks, attrs=syn_attrs,
        init_kwargs=dict(w_dim=w_dim, img_resolution=cfg["resolution"], img_channels=cfg["img_channels"],
                         **cfg["synthesis_kwargs"])), src)

    top = dict(z_dim=cfg["z_dim"], c_dim=cfg["c_dim"], w_dim=w_dim, img_resolution=cfg["resolution"],
               img_channels=cfg["img_channels"])
    # stylegan3: Generator(z_dim, c_dim, w_dim, img_resolution, img_channels, mapping_kwargs, **synthesis_kwargs)
    if sg3repo:
        init_kwargs = dict(top, mapping_kwargs=mapping_kwargs, **cfg["synthesis_kwargs"])
    else:
        init_kwargs = dict(top, mapping_kwargs=mapping_kwargs, synthesis_kwargs=EasyDict(**cfg["synthesis_kwargs"]))
    return Persistent("Generator", module_state(
        modules=[("synthesis", synthesis), ("mapping", mapping)], attrs=dict(top, num_ws=num_ws),
        init_kwargs=init_kwargs), src)


def build_stylegan3_generator(seed: int, signal: str = "all") -> Persistent:
    """A (heavily shrunk) StyleGAN3 generator record; ``signal`` picks which StyleGAN3 trait it shows:
    'kwargs' (synthesis init arguments), 'layers' (L0_36_512-style layer names), 'src' (module source), 'all'."""
    gen = torch.Generator().manual_seed(seed)
    src = SG3_SRC if signal in ("all", "src") else ADA_SRC
    kw3 = dict(channel_base=32768, channel_max=512, num_layers=14, num_critical=2, margin_size=10,
               magnitude_ema_beta=0.999, conv_kernel=3) if signal in ("all", "kwargs") else {}
    names = ["input", "L0_36_16", "L1_36_16"] if signal in ("all", "layers") else ["b4"]
    layers = OrderedDict()
    for n in names:
        layers[n] = Persistent("SynthesisLayer", module_state(
            params=[("weight", torch.randn([16, 16, 3, 3], generator=gen)), ("bias", torch.randn([16], generator=gen))],
            buffers=[("magnitude_ema", torch.ones([]))]), src)
    synthesis = Persistent("SynthesisNetwork", module_state(
        modules=layers, attrs=dict(w_dim=16, img_resolution=16, img_channels=3, num_ws=4),
        init_kwargs=dict(w_dim=16, img_resolution=16, img_channels=3, **kw3)), src)
    fc = Persistent("FullyConnectedLayer", module_state(
        params=[("weight", torch.randn([16, 16], generator=gen)), ("bias", torch.randn([16], generator=gen))]), src)
    mapping = Persistent("MappingNetwork", module_state(
        buffers=[("w_avg", torch.randn([16], generator=gen))], modules=[("fc0", fc)],
        init_kwargs=dict(z_dim=16, c_dim=0, w_dim=16, num_ws=4, num_layers=1)), src)
    top = dict(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3)
    return Persistent("Generator", module_state(
        modules=[("synthesis", synthesis), ("mapping", mapping)], attrs=top,
        init_kwargs=dict(top, mapping_kwargs=EasyDict(num_layers=1), **kw3)), src)


def build_discriminator(seed: int) -> Persistent:
    gen = torch.Generator().manual_seed(seed)
    out = Persistent("FullyConnectedLayer", module_state(
        params=[("weight", torch.randn([1, 16], generator=gen)), ("bias", torch.zeros([1]))],
        init_args=(16, 1)), D_SRC)
    return Persistent("Discriminator", module_state(modules=[("out", out)], init_kwargs=dict(c_dim=0)), D_SRC)


# --------------------------------------------------------------------------------------------

def write_nvlabs_pickle(path, *, resolution=16, z_dim=32, w_dim=32, c_dim=0, mapping_layers=2,
                        channel_base: Optional[int] = None, channel_max=16, img_channels=3, num_fp16_res=0,
                        conv_clamp=None, architecture="skip", lr_multiplier=0.01, w_avg_beta=0.995,
                        use_noise=True, flavor="ada", seed=0, networks=("G", "D", "G_ema"),
                        extra_synthesis_kwargs=None, extra_mapping_kwargs=None, record_defaults=True,
                        drop_tensor=None, reshape_tensor=None, stylegan3=None, protocol=PICKLE_PROTOCOL) -> dict:
    """Write an NVlabs-shaped snapshot pickle; returns {'G': sd, 'G_ema': sd, 'config': cfg} (NVlabs names).

    flavor: 'ada' (stylegan2-ada-pytorch: synthesis_kwargs nested) or 'stylegan3-repo' (stylegan3's
    networks_stylegan2: synthesis arguments flattened into the Generator's, fused_modconv_default).
    record_defaults=False leaves conv_clamp / num_fp16_res / architecture out of the init kwargs (the
    loader must then read the values the sub-networks recorded). G and G_ema get different tensors.
    stylegan3: write a StyleGAN3 generator instead ('all', 'kwargs', 'layers' or 'src').
    """
    channel_base = resolution * 16 if channel_base is None else channel_base
    syn_kwargs = dict(channel_base=channel_base, channel_max=channel_max)
    if record_defaults:
        syn_kwargs.update(num_fp16_res=num_fp16_res, conv_clamp=conv_clamp)
        if architecture != "skip" or flavor == "ada":
            syn_kwargs["architecture"] = architecture
    elif architecture != "skip":
        syn_kwargs["architecture"] = architecture
    if flavor == "stylegan3-repo":
        syn_kwargs["fused_modconv_default"] = "inference_only"
    if not use_noise:
        syn_kwargs["use_noise"] = False
    syn_kwargs.update(extra_synthesis_kwargs or {})
    map_kwargs = dict(num_layers=mapping_layers)
    if lr_multiplier != 0.01 or record_defaults:
        map_kwargs["lr_multiplier"] = lr_multiplier
    map_kwargs.update(extra_mapping_kwargs or {})
    cfg = dict(resolution=resolution, z_dim=z_dim, w_dim=w_dim, c_dim=c_dim, mapping_layers=mapping_layers,
               channel_base=channel_base, channel_max=channel_max, img_channels=img_channels,
               num_fp16_res=num_fp16_res, conv_clamp=conv_clamp, architecture=architecture,
               lr_multiplier=lr_multiplier, w_avg_beta=w_avg_beta, use_noise=use_noise, flavor=flavor,
               synthesis_kwargs=syn_kwargs, mapping_kwargs=map_kwargs)

    out = {"config": cfg}
    snapshot = {}
    for i, name in enumerate(("G", "D", "G_ema")):
        if name not in networks:
            continue
        if name == "D":
            snapshot["D"] = build_discriminator(seed + 100)
            continue
        if stylegan3:
            snapshot[name] = build_stylegan3_generator(seed + i, stylegan3)
            continue
        sd = random_tensors(cfg, seed + i)  # G and G_ema differ
        if drop_tensor:
            del sd[drop_tensor]
        if reshape_tensor:
            key, shape = reshape_tensor
            sd[key] = torch.randn(shape)
        out[name] = sd
        snapshot[name] = build_generator(sd, cfg)
    # NVlabs' order: G, D, G_ema, augment_pipe, training_set_kwargs (stylegan2-ada puts the latter first).
    data = dict(training_set_kwargs=dict(class_name="training.dataset.ImageFolderDataset", path="~/datasets/x.zip",
                                         use_labels=bool(c_dim), max_size=1000, xflip=False, resolution=resolution))
    data.update(snapshot)
    data["augment_pipe"] = None
    with stand_in_modules():
        data["training_set_kwargs"] = EasyDict(**data["training_set_kwargs"])
        with open(path, "wb") as f:
            pickle.dump(data, f, protocol=protocol)
    return out
