"""NVlabs PyTorch network pickles (stylegan2-ada-pytorch, stylegan3's StyleGAN2) -> our config + tensors.

A training snapshot is ``pickle.dump(dict(G=..., D=..., G_ema=..., augment_pipe=...,
training_set_kwargs=...))`` whose networks are ``torch_utils.persistence`` objects. The restricted
unpickler turns each into an inert :class:`~.safe_pickle.PersistentRecord`: its class name, its
``__dict__`` (``_parameters``, ``_buffers``, ``_modules``, ``_init_args``, ``_init_kwargs`` and plain
attributes such as ``conv_clamp``) and the module source as text (never run).

This reader

* picks ``G_ema`` (what NVlabs renders with) or ``G``;
* collects the network's state dict by walking ``_modules`` (dotted names, as ``state_dict()``);
* derives our :class:`GeneratorConfig` from the constructor arguments that NVlabs stored
  (``_init_kwargs`` of the generator and of its synthesis/mapping sub-networks) and from the
  attributes the constructors set; both repositories' defaults differ (stylegan3's copy of the
  StyleGAN2 network defaults to ``conv_clamp=256``, ``num_fp16_res=4``), so a value the
  sub-network recorded wins over a default;
* checks every tensor's name and shape against that config, so a bad file fails here with the
  NVlabs key and the expected shape instead of half-loading.

Supported: the StyleGAN2 'skip' architecture (every official StyleGAN2/ADA generator), with or
without class conditioning, any conv_clamp / num_fp16_res / channel_base / channel_max.
Not supported (clear :class:`CheckpointError`): 'orig' and 'resnet' synthesis architectures,
StyleGAN3 generators (stylegan3-t / stylegan3-r), non-'lrelu' activations, a resampling filter
other than [1, 3, 3, 1], a mapping network whose embed/layer features differ from w_dim.

Constructor arguments that do not change the computed function are accepted:
``fp16_channels_last``, ``channels_last``, ``fused_modconv_default`` (memory layout and kernel
choice only) and ``use_noise=False`` (the layers then have no noise: we load zero noise
strengths, which computes the same image for every noise_mode; a note says so).
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import torch

from ..config import GeneratorConfig
from ..networks import state_shapes
from .base import Checkpoint, CheckpointError, checked
from .safe_pickle import PersistentRecord, Record

FORMAT = "nvlabs-pytorch"
SUPPORTED_ARCHITECTURE = "skip"
RESAMPLE_TAPS = (1.0, 3.0, 3.0, 1.0)

# Constructor signatures (positional order) of the networks we read, for files whose _init_args
# are not empty (NVlabs' own scripts always pass keywords, but nothing forbids positionals).
GENERATOR_ARGS = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs", "synthesis_kwargs")
GENERATOR_TOP_KWARGS = set(GENERATOR_ARGS)

# Arguments of SynthesisNetwork / SynthesisBlock / SynthesisLayer that the Generator forwards.
SYNTHESIS_KWARGS = {
    "channel_base", "channel_max", "num_fp16_res", "conv_clamp", "architecture", "resample_filter",
    "use_noise", "activation", "kernel_size", "fp16_channels_last", "channels_last", "fused_modconv_default",
}
HARMLESS_SYNTHESIS_KWARGS = {"fp16_channels_last", "channels_last", "fused_modconv_default"}
MAPPING_KWARGS = {"num_layers", "embed_features", "layer_features", "activation", "lr_multiplier", "w_avg_beta"}

# Signs of a StyleGAN3 (alias-free) generator: its synthesis arguments, layer names, classes.
STYLEGAN3_KWARGS = {
    "num_critical", "first_cutoff", "first_stopband", "last_stopband_rel", "margin_size", "output_scale",
    "conv_kernel", "filter_size", "lrelu_upsampling", "use_radial_filters", "magnitude_ema_beta",
}
STYLEGAN3_LAYER = re.compile(r"^L\d+_\d+_\d+$")
STYLEGAN3_SRC_MARKERS = ("class SynthesisInput", "filtered_lrelu")
STYLEGAN3_MSG = ("is a StyleGAN3 generator (alias-free, stylegan3-t/-r), which stylegan_fast does not support "
                 "yet; supported NVlabs PyTorch generators: StyleGAN2 / StyleGAN2-ADA ('skip' architecture)")

# Ours differs from NVlabs' state dict only in where the constant noise map lives.
_NOISE_CONST = ".noise_const"


def ours_name(nvlabs_name: str) -> str:
    if nvlabs_name.endswith(_NOISE_CONST):
        return nvlabs_name[: -len(_NOISE_CONST)] + ".noise.noise_const"
    return nvlabs_name


# --------------------------------------------------------------------------------------------
# Record access
# --------------------------------------------------------------------------------------------

def _state(rec, where: str, src: str) -> dict:
    state = getattr(rec, "state", None) if isinstance(rec, Record) else None
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{src}: {where} is not a pickled torch module (got {type(rec).__name__}); "
                              f"the file is not a stylegan2-ada-pytorch / stylegan3 network pickle")
    return state


def _class_name(rec) -> str:
    return str(getattr(rec, "name", type(rec).__name__))


def _init_kwargs(rec, signature: tuple = ()) -> dict:
    """The constructor arguments persistence recorded (positional ones named by ``signature``)."""
    state = rec.state
    kwargs = state.get("_init_kwargs", state.get("init_kwargs")) or {}
    args = state.get("_init_args", state.get("init_args")) or ()
    out = dict(kwargs) if isinstance(kwargs, Mapping) else {}
    for name, value in zip(signature, args):
        out.setdefault(name, value)
    return out


def _modules(rec) -> dict:
    state = getattr(rec, "state", None)
    mods = (state.get("_modules") if isinstance(state, Mapping) else None) or {}
    return dict(mods) if isinstance(mods, Mapping) else {}


def _collect(rec, prefix: str, out: dict, where: str, src: str) -> None:
    """Parameters and persistent buffers of ``rec`` and its children, under dotted names."""
    state = _state(rec, where, src)
    non_persistent = state.get("_non_persistent_buffers_set") or ()
    for group in ("_parameters", "_buffers"):
        tensors = state.get(group) or {}
        if not isinstance(tensors, Mapping):
            raise CheckpointError(f"{src}: {where}.{group} is {type(tensors).__name__}, not a dict of tensors")
        for name, t in tensors.items():
            if t is None or (group == "_buffers" and name in non_persistent):
                continue
            if not isinstance(t, torch.Tensor):
                raise CheckpointError(f"{src}: {prefix}{name} is a {type(t).__name__}, not a tensor")
            out[prefix + name] = t.detach()
    for name, child in _modules(rec).items():
        if child is not None:
            _collect(child, f"{prefix}{name}.", out, f"{where}.{name}", src)


def _attr(rec, name: str, default: Any = None) -> Any:
    state = getattr(rec, "state", None)
    return state.get(name, default) if isinstance(state, Mapping) else default


# --------------------------------------------------------------------------------------------
# Format checks
# --------------------------------------------------------------------------------------------

def _check_not_stylegan3(G, syn, kwargs: dict, src: str) -> None:
    reasons = []
    found = sorted(STYLEGAN3_KWARGS & set(kwargs))
    if found:
        reasons.append(f"synthesis arguments {found}")
    if syn is not None:
        names = sorted(n for n in _modules(syn) if STYLEGAN3_LAYER.match(n))
        if names or "input" in _modules(syn):
            reasons.append(f"layers {(names or ['input'])[:3]}")
    for rec in (G, syn):
        text = getattr(rec, "module_src", "") or ""
        hits = [m for m in STYLEGAN3_SRC_MARKERS if m in text]
        if hits:
            reasons.append(f"network source mentioning {hits[0]!r}")
            break
    if reasons:
        raise CheckpointError(f"{src} {STYLEGAN3_MSG} (found {'; '.join(reasons)})")


def _same(values: dict, what: str, src: str):
    """The one value the places of the file that record it agree on (_MISSING if none does); error if they differ."""
    present = {k: v for k, v in values.items() if v is not _MISSING}
    distinct = []
    for v in present.values():
        if not any(_eq(v, d) for d in distinct):
            distinct.append(v)
    if len(distinct) > 1:
        listed = ", ".join(f"{k}={v!r}" for k, v in present.items())
        raise CheckpointError(f"{src}: inconsistent {what} in the file ({listed})")
    return distinct[0] if distinct else _MISSING


def _eq(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return float(a) == float(b)
    return a == b


_MISSING = object()


def _get(d, key):
    return d.get(key, _MISSING) if isinstance(d, Mapping) else _MISSING


# --------------------------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------------------------

def _derive_config(G, src: str, notes: list) -> tuple:
    """(our config, whether the layers lack noise inputs) from the generator's recorded arguments."""
    g_kwargs = _init_kwargs(G, GENERATOR_ARGS)
    mods = _modules(G)
    syn, mapping = mods.get("synthesis"), mods.get("mapping")
    if syn is None or mapping is None:
        missing = [n for n, m in (("synthesis", syn), ("mapping", mapping)) if m is None]
        raise CheckpointError(f"{src}: the {_class_name(G)} has no {' / '.join(missing)} sub-network; "
                              f"not a StyleGAN2 generator (it has {sorted(mods)})")
    _state(syn, "synthesis", src)
    _state(mapping, "mapping", src)

    # stylegan2-ada: Generator(..., synthesis_kwargs={...}); stylegan3's StyleGAN2: Generator(..., **synthesis_kwargs).
    nested = g_kwargs.get("synthesis_kwargs") or {}
    flat = {k: v for k, v in g_kwargs.items() if k not in GENERATOR_TOP_KWARGS}
    syn_own = {k: v for k, v in _init_kwargs(syn).items() if k not in ("w_dim", "img_resolution", "img_channels")}
    syn_kwargs = {**syn_own, **dict(nested), **flat}
    map_kwargs = {**{k: v for k, v in _init_kwargs(mapping).items() if k not in ("z_dim", "c_dim", "w_dim", "num_ws")},
                  **dict(g_kwargs.get("mapping_kwargs") or {})}

    _check_not_stylegan3(G, syn, syn_kwargs, src)

    unknown = sorted(set(syn_kwargs) - SYNTHESIS_KWARGS)
    if unknown:
        raise CheckpointError(f"{src}: unknown synthesis argument {unknown[0]}={syn_kwargs[unknown[0]]!r} "
                              f"(all unknown: {unknown}); stylegan_fast reads StyleGAN2 generators built with "
                              f"{sorted(SYNTHESIS_KWARGS)} and cannot tell what {unknown[0]!r} changes")
    unknown = sorted(set(map_kwargs) - MAPPING_KWARGS)
    if unknown:
        raise CheckpointError(f"{src}: unknown mapping argument {unknown[0]}={map_kwargs[unknown[0]]!r} "
                              f"(all unknown: {unknown}); supported: {sorted(MAPPING_KWARGS)}")

    def top(name):
        v = _same({"Generator init_kwargs": _get(g_kwargs, name), f"Generator.{name}": _get(G.state, name)}, name, src)
        if v is _MISSING:
            raise CheckpointError(f"{src}: the generator records no {name} (neither in its init_kwargs nor "
                                  f"as an attribute)")
        return v

    z_dim, c_dim, w_dim = top("z_dim"), top("c_dim"), top("w_dim")
    resolution, img_channels = top("img_resolution"), top("img_channels")

    blocks = {n: b for n, b in _modules(syn).items() if re.fullmatch(r"b\d+", n) and b is not None}
    first = blocks.get("b4")
    first_layer = _modules(first).get("conv1") if first is not None else None

    # Architecture: 'skip' only. 'resnet' blocks also have a 'skip' conv; 'orig' has toRGB only at the end.
    arch = _same({"synthesis kwargs": _get(syn_kwargs, "architecture"),
                  **{f"synthesis.{n}.architecture": _get(b.state, "architecture") for n, b in blocks.items()}},
                 "architecture", src)
    if arch is _MISSING:
        arch = "skip"
    if arch != SUPPORTED_ARCHITECTURE:
        raise CheckpointError(f"{src}: synthesis architecture {arch!r} is not supported; stylegan_fast supports "
                              f"StyleGAN2 generators with architecture='skip' (NVlabs' default for generators)")

    for value in (_get(syn_kwargs, "activation"), _attr(first_layer, "activation", _MISSING)):
        if value is not _MISSING and value != "lrelu":
            raise CheckpointError(f"{src}: synthesis activation {value!r} is not supported (only 'lrelu')")
    for value in (_get(map_kwargs, "activation"), _attr(_modules(mapping).get("fc0"), "activation", _MISSING)):
        if value is not _MISSING and value != "lrelu":
            raise CheckpointError(f"{src}: mapping activation {value!r} is not supported (only 'lrelu')")
    rf = _get(syn_kwargs, "resample_filter")
    if rf is not _MISSING and [float(x) for x in rf] != list(RESAMPLE_TAPS):
        raise CheckpointError(f"{src}: resample_filter={list(rf)!r} is not supported (only [1, 3, 3, 1])")
    ks = _get(syn_kwargs, "kernel_size")
    if ks is not _MISSING and ks != 3:
        raise CheckpointError(f"{src}: kernel_size={ks!r} is not supported (StyleGAN2 uses 3x3 convolutions)")

    # Mapping network.
    fc_names = [n for n in _modules(mapping) if re.fullmatch(r"fc\d+", n)]
    num_layers = _same({"mapping_kwargs": _get(map_kwargs, "num_layers"),
                        "mapping.num_layers": _get(mapping.state, "num_layers")}, "num_layers", src)
    if num_layers is _MISSING:
        num_layers = len(fc_names) if fc_names else 8
    for key in ("embed_features", "layer_features"):
        v = _get(map_kwargs, key)
        if v is not _MISSING and v is not None and v != w_dim:
            raise CheckpointError(f"{src}: mapping {key}={v!r} differs from w_dim={w_dim}; stylegan_fast supports "
                                  f"only {key}=None (= w_dim)")
    fc0 = _modules(mapping).get("fc0")
    lr = _same({"mapping_kwargs": _get(map_kwargs, "lr_multiplier"),
                "mapping.fc0.bias_gain": _attr(fc0, "bias_gain", _MISSING)}, "mapping lr_multiplier", src)
    lr = 0.01 if lr is _MISSING else float(lr)
    beta = _same({"mapping_kwargs": _get(map_kwargs, "w_avg_beta"),
                  "mapping.w_avg_beta": _get(mapping.state, "w_avg_beta")}, "w_avg_beta", src)
    if beta is None:
        raise CheckpointError(f"{src}: the mapping network was built with w_avg_beta=None and has no w_avg "
                              f"(truncation is undefined); stylegan_fast needs mapping.w_avg")
    beta = 0.995 if beta is _MISSING else float(beta)

    # Synthesis network.
    channel_base = _get(syn_kwargs, "channel_base")
    channel_max = _get(syn_kwargs, "channel_max")
    channel_base = 32768 if channel_base is _MISSING else channel_base  # both repositories' default
    channel_max = 512 if channel_max is _MISSING else channel_max

    layers = {f"synthesis.{bn}.{ln}": l for bn, b in blocks.items() for ln, l in _modules(b).items()
              if ln in ("conv0", "conv1", "torgb") and l is not None}
    clamp = _same({"synthesis kwargs": _get(syn_kwargs, "conv_clamp"),
                   **{f"{n}.conv_clamp": _get(l.state, "conv_clamp") for n, l in layers.items()}}, "conv_clamp", src)
    if clamp is _MISSING:  # the defaults differ: stylegan2-ada None, stylegan3's StyleGAN2 256
        clamp = 256 if "fused_modconv_default" in (getattr(syn, "module_src", "") or "") else None
        notes.append(f"conv_clamp not recorded in the file; assumed {clamp} (the repository's default)")
    num_fp16 = _same({"synthesis kwargs": _get(syn_kwargs, "num_fp16_res"),
                      "synthesis.num_fp16_res": _get(syn.state, "num_fp16_res")}, "num_fp16_res", src)
    log2 = int(math.log2(resolution)) if isinstance(resolution, int) and resolution > 0 else 0
    fp16_res = [int(n[1:]) for n, b in blocks.items() if _get(b.state, "use_fp16") is True]
    if num_fp16 is _MISSING:  # only decides float16 use on CUDA; read it back from the blocks
        num_fp16 = (log2 + 1 - int(math.log2(min(fp16_res)))) if fp16_res else 0
    harmless = sorted(HARMLESS_SYNTHESIS_KWARGS & set(syn_kwargs))
    if harmless:
        notes.append(f"ignored {', '.join(f'{k}={syn_kwargs[k]!r}' for k in harmless)} (memory layout / kernel "
                     f"choice only)")
    use_noise = _same({"synthesis kwargs": _get(syn_kwargs, "use_noise"),
                       **{f"{n}.use_noise": _get(l.state, "use_noise") for n, l in layers.items()
                          if not n.endswith("torgb")}}, "use_noise", src)
    if use_noise is False:
        notes.append("the generator was built with use_noise=False: loaded with zero noise strengths "
                     "(the same images for every noise_mode)")

    try:
        config = GeneratorConfig(
            arch="stylegan2", resolution=resolution, z_dim=z_dim, w_dim=w_dim, c_dim=c_dim,
            mapping_layers=num_layers, channel_base=channel_base, channel_max=channel_max,
            img_channels=img_channels, num_fp16_res=num_fp16,
            conv_clamp=None if clamp is None else float(clamp), mapping_lr_multiplier=lr, w_avg_beta=beta)
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{src}: the generator's settings are outside what stylegan_fast supports: {e}") from None
    return config, use_noise is False


# --------------------------------------------------------------------------------------------
# Tensors
# --------------------------------------------------------------------------------------------

def nvlabs_name(ours: str) -> str:
    """Our state-dict name -> NVlabs' (the inverse of ``ours_name``)."""
    suffix = ".noise" + _NOISE_CONST
    return ours[: -len(suffix)] + _NOISE_CONST if ours.endswith(suffix) else ours


def expected_shapes(config: GeneratorConfig, use_noise: bool = True) -> dict:
    """NVlabs state-dict names -> shapes for a StyleGAN2 'skip' generator (resample filters excluded)."""
    return {nvlabs_name(k): list(shape) for k, shape in state_shapes(config).items()
            if use_noise or not k.endswith(("noise_strength", _NOISE_CONST))}


def _resample_filter():
    f = torch.tensor(RESAMPLE_TAPS, dtype=torch.float32)
    f = torch.outer(f, f)
    return f / f.sum()


def _convert_tensors(theirs: dict, config: GeneratorConfig, no_noise: bool, src: str) -> dict:
    expected = expected_shapes(config, use_noise=not no_noise)
    hint = (f"for {config.resolution} px, z_dim {config.z_dim}, w_dim {config.w_dim}, c_dim {config.c_dim}, "
            f"{config.mapping_layers} mapping layers, channel_base {config.channel_base}, "
            f"channel_max {config.channel_max}, img_channels {config.img_channels}")
    for k, shape in expected.items():
        if k not in theirs:
            raise CheckpointError(f"{src}: missing tensor {k!r} (expected shape {shape} {hint})")
        got = list(theirs[k].shape)
        if got != shape:
            raise CheckpointError(f"{src}: tensor {k!r} has shape {got}, expected {shape} ({hint})")
    ref = _resample_filter()
    for k, t in theirs.items():
        if k in expected:
            continue
        if k.endswith(".resample_filter"):
            if tuple(t.shape) != tuple(ref.shape) or not torch.allclose(t.float(), ref, atol=1e-6):
                raise CheckpointError(f"{src}: {k!r} is not the [1, 3, 3, 1] filter stylegan_fast uses "
                                      f"(shape {list(t.shape)})")
            continue
        raise CheckpointError(f"{src}: unexpected tensor {k!r} (shape {list(t.shape)}) for a StyleGAN2 'skip' "
                              f"generator {hint}")
    tensors = {}
    for k in expected:
        t = theirs[k]
        if not t.is_floating_point():
            raise CheckpointError(f"{src}: tensor {k!r} has dtype {t.dtype}, expected a floating-point tensor")
        tensors[ours_name(k)] = t.to(torch.float32).contiguous()
    if no_noise:
        for res in config.block_resolutions:
            for name in (("conv1",) if res == 4 else ("conv0", "conv1")):
                tensors[f"synthesis.b{res}.{name}.noise_strength"] = torch.zeros([])
                tensors[f"synthesis.b{res}.{name}.noise.noise_const"] = torch.zeros([res, res])
    return tensors


# --------------------------------------------------------------------------------------------

def read(obj: dict, which: str = "G_ema", source: str = "checkpoint") -> Checkpoint:
    """An NVlabs network pickle's ``obj[which]`` as our config + state dict."""
    src = f"{source!r} [{which}]"
    available = [k for k, v in obj.items() if v is not None and isinstance(v, Record)]
    if obj.get(which) is None:
        gens = [k for k in available if k in ("G_ema", "G")]
        hint = f"; pass which={gens[0]!r} to load it" if gens else ""
        raise CheckpointError(f"{source!r} has no {which!r} network (networks in the file: {available or 'none'}; "
                              f"all keys: {sorted(map(str, obj))}){hint}")
    G = obj[which]
    _state(G, which, src)
    if not isinstance(G, PersistentRecord):
        raise CheckpointError(f"{src}: {which} is a {_class_name(G)}, not an NVlabs persistent network")
    notes = [f"used {which}" + (" (the EMA generator NVlabs renders with)" if which == "G_ema"
                                else " (the raw training generator, not its EMA)")]
    if _class_name(G) != "Generator":
        raise CheckpointError(f"{src}: {which} is a {_class_name(G)!r}, expected an NVlabs 'Generator'")
    config, no_noise = _derive_config(G, src, notes)
    theirs: dict = {}
    _collect(G, "", theirs, which, src)
    tensors = _convert_tensors(theirs, config, no_noise, src)
    ignored = [k for k in available if k != which]
    if ignored:
        notes.append(f"ignored {', '.join(ignored)}")
    return checked(FORMAT, config, tensors, notes, src)


def export_state_dict(config: GeneratorConfig, tensors: dict) -> dict:
    """Our StyleGAN2 state dict under stylegan2-ada-pytorch's names, with the [1, 3, 3, 1] filter buffers
    NVlabs keeps in every block and every conv layer (what ``G.load_state_dict`` there expects)."""
    if config.arch != "stylegan2":
        raise CheckpointError(f"an NVlabs state dict holds a StyleGAN2 generator; this one is {config.arch}")
    state = {nvlabs_name(k): v.detach().cpu().contiguous() for k, v in tensors.items()}
    prefixes = {f"synthesis.b{res}" for res in config.block_resolutions}
    prefixes |= {k[: -len(".noise_strength")] for k in state if k.endswith(".noise_strength")}
    state.update({f"{p}.resample_filter": _resample_filter() for p in sorted(prefixes)})
    return state
