"""NVlabs TensorFlow pickles (G, D, Gs): StyleGAN2 / StyleGAN2-ADA (``G_main``) and StyleGAN1 (``G_style``).

The restricted unpickler turns every ``dnnlib.tflib.network.Network`` into an inert Record whose
``state`` is what ``Network.__getstate__`` wrote: version (3 for the StyleGAN repo, 4 for StyleGAN2),
name, static_kwargs, components, build_module_src (never run), build_func_name and ``variables``,
a list of (name, numpy array) relative to that network. Only Gs (the averaged generator) is read.

Our state dict is walked name by name; each of our tensors comes from exactly one TF variable
through one of a few layout rules (TF conv [kh, kw, in, out] -> ours [out, in, kh, kw], TF dense
[in, out] -> ours [out, in], ...). A missing or mis-shaped variable is reported under its TF name.
"""
from __future__ import annotations

import math
import re
from typing import Callable

import numpy as np
import torch

from ..config import GeneratorConfig
from ..networks import state_shapes
from .base import Checkpoint, CheckpointError, checked, fit_channel_schedule

FORMAT_STYLEGAN2 = "nvlabs-tf-stylegan2"
FORMAT_STYLEGAN1 = "nvlabs-tf-stylegan1"

# top-level build function -> (format, accepted mapping build funcs, accepted synthesis build funcs)
BUILD_FUNCS = {
    "G_main": (FORMAT_STYLEGAN2, ("G_mapping",), ("G_synthesis_stylegan2", "G_synthesis")),  # StyleGAN2 / -ADA
    "G_style": (FORMAT_STYLEGAN1, ("G_mapping",), ("G_synthesis",)),
}
SUPPORTED_VERSIONS = (2, 3, 4)


# ---------------------------------------------------------------------------------------------
# Layout rules: (TF shape from our shape, our tensor from the TF array)

def _tf_shape_conv(shape):  # ours [O, I, kh, kw] <- TF [kh, kw, I, O]
    o, i, kh, kw = shape
    return (kh, kw, i, o)


def _conv(a):
    return a.transpose(3, 2, 0, 1)


def _conv_flipped(a):  # StyleGAN2 Conv0_up: TF's upsample_conv_2d flips the kernel inside the op
    return a[::-1, ::-1].transpose(3, 2, 0, 1)


def _tf_shape_dense(shape):  # ours [out, in] <- TF [in, out]
    return (shape[1], shape[0])


def _dense(a):
    return a.T


def _same(a):
    return a


def _plus_one(a):  # StyleGAN2 TF adds 1 to the modulation styles after the bias; ours folds it in
    return a + 1


def _div_sqrt2(a):  # StyleGAN1 mapping: lrelu(sqrt2 * xW + b) == sqrt2 * lrelu(xW + b / sqrt2)
    return a / math.sqrt(2)


def _first(a):  # [1, C, 4, 4] -> [C, 4, 4]
    return a[0]


def _first2(a):  # [1, 1, r, r] -> [r, r]
    return a[0, 0]


SAME = (lambda s: tuple(s), _same)
RULES = {
    "conv": (_tf_shape_conv, _conv),
    "conv_flipped": (_tf_shape_conv, _conv_flipped),
    "dense": (_tf_shape_dense, _dense),
    "same": SAME,
    "plus_one": (lambda s: tuple(s), _plus_one),
    "div_sqrt2": (lambda s: tuple(s), _div_sqrt2),
    "const": (lambda s: (1,) + tuple(s), _first),
    "noise": (lambda s: (1, 1) + tuple(s), _first2),
}


# ---------------------------------------------------------------------------------------------
# Name maps: our state-dict name -> (TF variable name, rule), or None if the name is unknown.

def _name_stylegan2(name: str, config: GeneratorConfig):
    m = re.fullmatch(r"mapping\.fc(\d+)\.(weight|bias)", name)
    if m:
        return f"mapping/Dense{m.group(1)}/{m.group(2)}", "dense" if m.group(2) == "weight" else "same"
    m = re.fullmatch(r"mapping\.embed\.(weight|bias)", name)
    if m:
        return f"mapping/LabelEmbed/{m.group(1)}", "dense" if m.group(1) == "weight" else "same"
    if name == "mapping.w_avg":
        return "dlatent_avg", "same"
    if name == "synthesis.b4.const":
        return "synthesis/4x4/Const/const", "const"
    m = re.fullmatch(r"synthesis\.b(\d+)\.(conv0|conv1|torgb)\.(.+)", name)
    if not m:
        return None
    res, layer, leaf = int(m.group(1)), m.group(2), m.group(3)
    log2 = int(math.log2(res))
    if layer == "torgb":
        scope = f"synthesis/{res}x{res}/ToRGB"
    elif res == 4:
        scope = "synthesis/4x4/Conv"
    else:
        scope = f"synthesis/{res}x{res}/" + ("Conv0_up" if layer == "conv0" else "Conv1")
    if leaf == "weight":
        return f"{scope}/weight", "conv_flipped" if layer == "conv0" else "conv"
    if leaf in ("bias", "noise_strength"):
        return f"{scope}/{leaf}", "same"
    if leaf == "affine.weight":
        return f"{scope}/mod_weight", "dense"
    if leaf == "affine.bias":
        return f"{scope}/mod_bias", "plus_one"
    if leaf == "noise.noise_const":
        index = 0 if res == 4 else 2 * log2 - (5 if layer == "conv0" else 4)
        return f"synthesis/noise{index}", "noise"
    return None


STYLEGAN1_LAYER_SCOPES = {"const": "Const", "conv": "Conv", "conv0_up": "Conv0_up", "conv1": "Conv1"}


def _name_stylegan1(name: str, config: GeneratorConfig):
    m = re.fullmatch(r"mapping\.fc(\d+)\.(weight|bias)", name)
    if m:
        return f"mapping/Dense{m.group(1)}/{m.group(2)}", "dense" if m.group(2) == "weight" else "div_sqrt2"
    if name == "mapping.w_avg":
        return "dlatent_avg", "same"
    if name == "synthesis.const":
        return "synthesis/4x4/Const/const", "const"
    if name == "synthesis.torgb_weight":
        return "synthesis/ToRGB_lod0/weight", "conv"
    if name == "synthesis.torgb_bias":
        return "synthesis/ToRGB_lod0/bias", "same"
    m = re.fullmatch(r"synthesis\.b(\d+)_(const|conv|conv0_up|conv1)\.(.+)", name)
    if not m:
        return None
    res, layer, leaf = int(m.group(1)), m.group(2), m.group(3)
    scope = f"synthesis/{res}x{res}/{STYLEGAN1_LAYER_SCOPES[layer]}"
    if leaf == "weight":
        return f"{scope}/weight", "conv"
    if leaf == "noise_strength":
        return f"{scope}/Noise/weight", "same"
    if leaf == "bias":
        return f"{scope}/bias", "same"
    if leaf == "style.weight":
        return f"{scope}/StyleMod/weight", "dense"
    if leaf == "style.bias":
        return f"{scope}/StyleMod/bias", "same"
    if leaf == "noise.noise_const":
        index = 2 * (int(math.log2(res)) - 2) + (1 if layer in ("conv", "conv1") else 0)
        return f"synthesis/noise{index}", "noise"
    return None


# ---------------------------------------------------------------------------------------------
# Reading the pickle's network states

def _state(net, what: str, source: str) -> dict:
    state = getattr(net, "state", None)
    if getattr(net, "name", None) != "Network" or not isinstance(state, dict):
        raise CheckpointError(f"{source}: {what} is not a dnnlib.tflib.network.Network "
                              f"(got {type(net).__name__}); not an NVlabs TensorFlow pickle")
    for key in ("version", "build_func_name", "static_kwargs", "variables"):
        if key not in state:
            raise CheckpointError(f"{source}: {what} has no {key!r} in its pickled state")
    if state["version"] not in SUPPORTED_VERSIONS:
        raise CheckpointError(f"{source}: {what} has Network pickle version {state['version']!r}; "
                              f"supported: {', '.join(map(str, SUPPORTED_VERSIONS))}")
    if not isinstance(state["static_kwargs"], dict):
        raise CheckpointError(f"{source}: {what} static_kwargs is a {type(state['static_kwargs']).__name__}, "
                              f"expected a dict")
    return state


def _variables(state: dict, prefix: str, what: str, source: str) -> dict:
    out = {}
    try:
        items = list(state["variables"])
        for name, value in items:
            if not isinstance(name, str) or not isinstance(value, (np.ndarray, np.generic)):
                raise TypeError(f"entry {name!r} holds a {type(value).__name__}")
            out[prefix + name] = np.asarray(value)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{source}: {what} variables must be (name, numpy array) pairs: {e}") from None
    return out


def _collect(Gs, source: str):
    """(top state, {'mapping': state, 'synthesis': state}, {TF path: array}) for Gs."""
    top = _state(Gs, "Gs", source)
    comps = top.get("components") or {}
    if not isinstance(comps, dict):
        raise CheckpointError(f"{source}: Gs components is a {type(comps).__name__}, expected a dict")
    params = _variables(top, "", "Gs", source)
    states = {}
    for comp in ("mapping", "synthesis"):
        if comp not in comps:
            raise CheckpointError(f"{source}: Gs has no {comp!r} component (components: {sorted(comps)})")
        states[comp] = _state(comps[comp], f"Gs/{comp}", source)
        params.update(_variables(states[comp], comp + "/", f"Gs/{comp}", source))
    if "dlatent_avg" not in params and "mapping/dlatent_avg" in params:
        params["dlatent_avg"] = params["mapping/dlatent_avg"]
    return top, states, params


class _Kwargs:
    """Lookups in the static kwargs of Gs and one component (the component's win), with TF defaults."""

    def __init__(self, *dicts):
        self.d = {}
        for d in dicts:
            self.d.update(d)
        self.used = set()

    def get(self, name, default=None):
        self.used.add(name)
        value = self.d.get(name, default)
        return default if value is None else value

    def require(self, name, allowed, default, source, why=""):
        value = self.get(name, default)
        ok = value in allowed if not isinstance(value, (list, tuple, np.ndarray)) else \
            any(list(np.asarray(value).ravel()) == list(a) for a in allowed if isinstance(a, (list, tuple)))
        if not ok:
            raise CheckpointError(f"{source}: static kwarg {name}={value!r} is not supported by stylegan_fast "
                                  f"(supported: {allowed!r}){why}")
        return value


def _tf_shape(params: dict, name: str, source: str, hint: str) -> tuple:
    if name not in params:
        raise CheckpointError(f"{source}: missing TF variable {name!r} ({hint})")
    return tuple(params[name].shape)


def _fmap_base_to_channel_base(fmap_base):
    """TF's nf(stage) = fmap_base / 2**stage with stage = log2(res) - 1 is channel_base // res for 2 * fmap_base."""
    return None if fmap_base is None else 2 * int(fmap_base)


def _fp(value, name, source, kind=int):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise CheckpointError(f"{source}: static kwarg {name}={value!r} is not a number")
    return kind(value)


# ---------------------------------------------------------------------------------------------

def _config_stylegan2(top, states, params, source, notes):
    kw_map = _Kwargs(top["static_kwargs"], states["mapping"]["static_kwargs"])
    kw_syn = _Kwargs(top["static_kwargs"], states["synthesis"]["static_kwargs"])
    resolution = _fp(kw_syn.get("resolution", 1024), "resolution", source)
    kw_syn.require("architecture", ("skip",), "skip", source,
                   " (the 'orig' and 'resnet' StyleGAN2 generators are not implemented)")
    kw_syn.require("resample_kernel", ([1, 3, 3, 1],), [1, 3, 3, 1], source)
    kw_syn.require("nonlinearity", ("lrelu",), "lrelu", source)
    kw_syn.require("use_noise", (True,), True, source)
    kw_map.require("mapping_nonlinearity", ("lrelu",), "lrelu", source)
    kw_map.require("normalize_latents", (True,), True, source)
    if "mapping/LabelConcat/weight" in params:
        raise CheckpointError(f"{source}: conditional StyleGAN2 generators that concatenate labels before "
                              f"normalization (mapping/LabelConcat) are not supported; StyleGAN2-ADA's "
                              f"LabelEmbed is")
    c_dim = _fp(kw_map.get("label_size", 0), "label_size", source)
    conv_clamp = kw_syn.get("conv_clamp", None)
    w_dim = _tf_shape(params, "dlatent_avg", source, "the average w, shape [w_dim]")[0]
    mapping_layers = len([k for k in params if re.fullmatch(r"mapping/Dense\d+/weight", k)])
    z_dim = _tf_shape(params, "mapping/Dense0/weight", source, "the first mapping layer, [z_dim (+ w_dim), w_dim]")[0]
    z_dim = _fp(kw_map.get("latent_size", z_dim - (w_dim if c_dim else 0)), "latent_size", source)

    channels = {4: _tf_shape(params, "synthesis/4x4/Conv/weight", source, "shape [3, 3, C, C]")[-1]}
    for res in [2 ** i for i in range(3, int(math.log2(resolution)) + 1)]:
        name = f"synthesis/{res}x{res}/Conv1/weight"
        channels[res] = _tf_shape(params, name, source, f"the {res}x{res} conv, shape [3, 3, C, C]")[-1]
    channel_base, channel_max = fit_channel_schedule(channels, [_fmap_base_to_channel_base(kw_syn.get("fmap_base"))],
                                                     source)
    img_channels = _fp(kw_syn.get("num_channels", 3), "num_channels", source)
    return GeneratorConfig(
        arch="stylegan2", resolution=resolution, z_dim=z_dim, w_dim=w_dim, c_dim=c_dim,
        mapping_layers=mapping_layers, channel_base=channel_base, channel_max=channel_max,
        img_channels=img_channels, num_fp16_res=_fp(kw_syn.get("num_fp16_res", 0), "num_fp16_res", source),
        conv_clamp=None if conv_clamp is None else float(conv_clamp),
        mapping_lr_multiplier=_fp(kw_map.get("mapping_lrmul", 0.01), "mapping_lrmul", source, float),
        w_avg_beta=float(kw_map.get("dlatent_avg_beta", 0.995)))


def _config_stylegan1(top, states, params, source, notes):
    kw_map = _Kwargs(top["static_kwargs"], states["mapping"]["static_kwargs"])
    kw_syn = _Kwargs(top["static_kwargs"], states["synthesis"]["static_kwargs"])
    resolution = _fp(kw_syn.get("resolution", 1024), "resolution", source)
    for name, allowed, default in (("use_styles", (True,), True), ("const_input_layer", (True,), True),
                                   ("use_noise", (True, 1), True), ("use_pixel_norm", (False,), False),
                                   ("use_instance_norm", (True,), True), ("use_wscale", (True,), True),
                                   ("nonlinearity", ("lrelu",), "lrelu"), ("fused_scale", ("auto",), "auto"),
                                   ("blur_filter", ([1, 2, 1],), [1, 2, 1])):
        kw_syn.require(name, allowed, default, source)
    for name, allowed, default in (("mapping_nonlinearity", ("lrelu",), "lrelu"),
                                   ("normalize_latents", (True,), True), ("use_wscale", (True,), True),
                                   ("label_size", (0,), 0)):
        kw_map.require(name, allowed, default, source, " (conditional StyleGAN1 is not supported)"
                       if name == "label_size" else "")
    w_dim = _tf_shape(params, "dlatent_avg", source, "the average w, shape [w_dim]")[0]
    mapping_layers = len([k for k in params if re.fullmatch(r"mapping/Dense\d+/weight", k)])
    z_dim = _tf_shape(params, "mapping/Dense0/weight", source, "the first mapping layer, [z_dim, w_dim]")[0]
    z_dim = _fp(kw_map.get("latent_size", z_dim), "latent_size", source)
    channels = {4: _tf_shape(params, "synthesis/4x4/Conv/weight", source, "shape [3, 3, C, C]")[-1]}
    for res in [2 ** i for i in range(3, int(math.log2(resolution)) + 1)]:
        name = f"synthesis/{res}x{res}/Conv1/weight"
        channels[res] = _tf_shape(params, name, source, f"the {res}x{res} conv, shape [3, 3, C, C]")[-1]
    channel_base, channel_max = fit_channel_schedule(
        channels, [_fmap_base_to_channel_base(kw_syn.get("fmap_base", 8192))], source)
    lod = params.get("synthesis/lod")
    if lod is not None and np.size(lod) == 1 and float(np.asarray(lod).ravel()[0]) != 0:
        notes.append(f"synthesis lod is {float(np.asarray(lod).ravel()[0])} (training had not finished growing); "
                     f"the full-resolution output (ToRGB_lod0) is used")
    psi, cutoff = top["static_kwargs"].get("truncation_psi", 0.7), top["static_kwargs"].get("truncation_cutoff", 8)
    if (psi, cutoff) != (0.7, 8):
        notes.append(f"the pickle's default truncation is psi={psi}, cutoff={cutoff} (G.paper_truncation "
                     f"gives StyleGAN1's 0.7, 8)")
    return GeneratorConfig(
        arch="stylegan1", resolution=resolution, z_dim=z_dim, w_dim=w_dim, mapping_layers=mapping_layers,
        channel_base=channel_base, channel_max=channel_max,
        img_channels=_fp(kw_syn.get("num_channels", 3), "num_channels", source),
        mapping_lr_multiplier=_fp(kw_map.get("mapping_lrmul", 0.01), "mapping_lrmul", source, float),
        w_avg_beta=float(top["static_kwargs"].get("dlatent_avg_beta", 0.995) or 0.995))


def read(obj, source: str = "checkpoint") -> Checkpoint:
    """An NVlabs TF pickle's (G, D, Gs) tuple -> our config and state dict (from Gs)."""
    if not (isinstance(obj, tuple) and len(obj) == 3):
        raise CheckpointError(f"{source}: an NVlabs TensorFlow pickle holds a (G, D, Gs) tuple, "
                              f"got {type(obj).__name__}")
    top, states, params = _collect(obj[2], source)
    func = top["build_func_name"]
    if func not in BUILD_FUNCS:
        raise CheckpointError(f"{source}: Gs was built by {func!r}, which stylegan_fast does not know; "
                              f"supported: 'G_main' (StyleGAN2, StyleGAN2-ADA) and 'G_style' (StyleGAN1)")
    fmt, mapping_funcs, synthesis_funcs = BUILD_FUNCS[func]
    for comp, allowed in (("mapping", mapping_funcs), ("synthesis", synthesis_funcs)):
        got = states[comp]["build_func_name"]
        if got not in allowed:
            raise CheckpointError(f"{source}: Gs/{comp} was built by {got!r}; for {func} stylegan_fast "
                                  f"supports {', '.join(map(repr, allowed))}")
    notes = [f"used Gs (the averaged generator) of a version-{top['version']} {func} pickle"]
    if fmt == FORMAT_STYLEGAN2:
        config = _config_stylegan2(top, states, params, source, notes)
        name_of: Callable = _name_stylegan2
    else:
        config = _config_stylegan1(top, states, params, source, notes)
        name_of = _name_stylegan1

    tensors, used = {}, set()
    for ours, shape in state_shapes(config).items():
        found = name_of(ours, config)
        if found is None:
            raise CheckpointError(f"{source}: internal error: no TF variable for {ours!r}")
        tf_name, rule = found
        tf_shape_of, convert = RULES[rule]
        want = tf_shape_of(shape)
        if tf_name not in params:
            raise CheckpointError(f"{source}: missing TF variable {tf_name!r} (expected shape {list(want)}) "
                                  f"for a {config.arch} generator at {config.resolution} px")
        value = params[tf_name]
        if tuple(value.shape) != want:
            raise CheckpointError(f"{source}: TF variable {tf_name!r} has shape {list(value.shape)}, "
                                  f"expected {list(want)} (from {config.arch} at {config.resolution} px, "
                                  f"channel_base {config.channel_base}, channel_max {config.channel_max})")
        if not np.issubdtype(value.dtype, np.floating):
            raise CheckpointError(f"{source}: TF variable {tf_name!r} has dtype {value.dtype}, expected float")
        used.add(tf_name)
        tensors[ours] = torch.from_numpy(np.array(convert(value), dtype=np.float32, order="C"))
    ignorable = re.compile(r"(.*/)?lod|synthesis/ToRGB_lod[1-9]\d*/.*|mapping/dlatent_avg")
    unused = sorted(k for k in params if k not in used and not ignorable.fullmatch(k))
    if unused:
        notes.append(f"ignored {len(unused)} TF variable(s) with no counterpart: {', '.join(unused[:5])}"
                     + (" ..." if len(unused) > 5 else ""))
    return checked(fmt, config, tensors, notes, repr(source))
