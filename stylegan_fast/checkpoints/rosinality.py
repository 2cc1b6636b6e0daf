"""rosinality/stylegan2-pytorch checkpoints (``torch.save``d dicts) -> our StyleGAN2 generator.

A file holds ``{'g_ema': state_dict, 'latent_avg': [w_dim]}`` (convert_weight.py) or, from
train.py, also ``'g'``, ``'d'``, ``'g_optim'``, ``'d_optim'``, ``'args'`` (an argparse.Namespace)
and ``'ada_aug_p'``. It is read with ``torch.load(weights_only=True)``; the only global allowed
beyond torch's defaults is ``argparse.Namespace``. Nothing in the file is executed.

Names (rosinality -> ours; ``k`` counts the blocks after 4x4, ``res = 2 ** (k + 3)``)::

    style.{i}.weight / .bias              mapping.fc{i-1}.weight / .bias   (same lr_mul convention)
    input.input        [1, C, 4, 4]       synthesis.b4.const                [C, 4, 4]
    conv1.*                               synthesis.b4.conv1.*
    to_rgb1.*                             synthesis.b4.torgb.*
    convs.{2k}.* / convs.{2k+1}.*         synthesis.b{res}.conv0.* / .conv1.*
    to_rgbs.{k}.*                         synthesis.b{res}.torgb.*
    noises.noise_{j}   [1, 1, r, r]       ...noise.noise_const              [r, r]
    latent_avg         [w_dim]            mapping.w_avg

Inside a styled conv: ``conv.weight [1,O,I,k,k]`` -> ``weight``, ``conv.modulation`` -> ``affine``,
``noise.weight [1]`` -> ``noise_strength []``, ``activate.bias`` -> ``bias``. Blur and upsample
kernels (fixed [1,3,3,1] buffers) are not needed.

Scales: rosinality's ModulatedConv2d multiplies its weight by ``1/sqrt(I*k*k)`` before modulating.
For the demodulated 3x3 convs we store the weight times that factor, which reproduces rosinality's
demodulation (including where its 1e-8 epsilon sits) exactly. For toRGB (no demodulation) ours
multiplies the styles by ``1/sqrt(I)`` instead: the same product, so the weight is copied as is.
"""
from __future__ import annotations

import argparse
import math
import pickle
import re
from pathlib import Path
from typing import Optional, Union

import torch

from ..config import GeneratorConfig
from ..networks import state_shapes
from .base import Checkpoint, CheckpointError, checked, fit_channel_schedule
from .safe_pickle import UnsafePickleError, load_pickle, load_torch_file

FORMAT = "rosinality"
# torch.save before torch 1.6 (_use_new_zipfile_serialization=False), as many published rosinality
# files are: a protocol-2 pickle of the magic number 0x1950a86a20f9469cfc6c, then the object.
LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"
ROSINALITY_CHANNEL_MAX = 512
ROSINALITY_LR_MLP = 0.01  # Generator(lr_mlp=0.01): not stored in files, train.py has no option for it


def read(source: Union[str, Path, dict], which: str = "G_ema", source_name: Optional[str] = None) -> Checkpoint:
    """A rosinality checkpoint (path, or the dict ``torch.load`` returned) -> our config + tensors.

    ``which``: 'G_ema' reads 'g_ema' (or 'g' when a file has no 'g_ema', with a note); 'G' reads
    the training generator 'g'.
    """
    if which not in ("G_ema", "G"):
        raise ValueError(f"which must be 'G_ema' or 'G', got {which!r}")
    if isinstance(source, dict):
        obj, name = source, source_name or "rosinality checkpoint"
    else:
        path = Path(source)
        name = source_name or repr(str(path))
        obj = _load(path, name)
    if not isinstance(obj, dict):
        raise CheckpointError(f"{name}: a rosinality checkpoint is a dict with 'g_ema', got {type(obj).__name__}")

    notes = []
    key = "g_ema" if which == "G_ema" else "g"
    if key in obj:
        sd = obj[key]
        notes.append(f"used {key!r}")
    elif which == "G_ema" and "g" in obj:
        key, sd = "g", obj["g"]
        notes.append("no 'g_ema' in the file: used the training generator 'g'")
    else:
        raise CheckpointError(f"{name}: no {key!r} generator state dict; top-level keys: "
                              f"{sorted(map(str, obj))}")
    if not isinstance(sd, dict):
        raise CheckpointError(f"{name}: {key!r} must be a state dict, got {type(sd).__name__}")
    if not all(isinstance(k, str) for k in sd):
        raise CheckpointError(f"{name}: {key!r} must be a state dict with string keys")
    if sd and all(isinstance(k, str) and k.startswith("module.") for k in sd):  # saved from DataParallel
        sd = {k[len("module."):]: v for k, v in sd.items()}
        notes.append("stripped the 'module.' prefix (DataParallel)")
    bad = [k for k, v in sd.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{name}: {key!r} entry {bad[0]!r} is a {type(sd[bad[0]]).__name__}, not a tensor")

    args = obj.get("args")
    config = infer_config(sd, args, name)
    tensors = convert(sd, config, name)
    known = {theirs for _, theirs, _ in name_map(config)}
    unused = [k for k in sd if k not in known and not k.endswith(".kernel")]  # blur / upsample kernels
    if unused:
        notes.append(f"ignored {len(unused)} g_ema tensor(s) with no counterpart, e.g. {unused[0]!r}")

    latent_avg = obj.get("latent_avg")
    if latent_avg is None:
        tensors["mapping.w_avg"] = torch.zeros([config.w_dim])
        notes.append("no 'latent_avg' in the file: w_avg is zero, so truncation pulls towards w = 0 "
                     "(call G.compute_w_avg() to estimate it)")
    else:
        if not isinstance(latent_avg, torch.Tensor) or latent_avg.numel() != config.w_dim or \
                latent_avg.ndim not in (1, 2):
            got = list(latent_avg.shape) if isinstance(latent_avg, torch.Tensor) else type(latent_avg).__name__
            raise CheckpointError(f"{name}: 'latent_avg' must have shape [{config.w_dim}], got {got}")
        tensors["mapping.w_avg"] = latent_avg.detach().reshape(config.w_dim).float().clone()
    return checked(FORMAT, config, tensors, notes, name)


def is_legacy_torch_file(path) -> bool:
    """True for a file written by torch.save's pre-1.6 (non-zip) serialization."""
    with open(path, "rb") as f:
        return f.read(len(LEGACY_TORCH_MAGIC)) == LEGACY_TORCH_MAGIC


def _load(path: Path, name: str):
    """The file's dict: torch.load(weights_only=True) allowing argparse.Namespace (train.py's 'args'), or
    our restricted unpickler for a plain pickle of the dict."""
    with open(path, "rb") as f:
        head = f.read(len(LEGACY_TORCH_MAGIC))
    torch_file = head.startswith(b"PK\x03\x04") or head == LEGACY_TORCH_MAGIC
    try:
        return load_torch_file(path, allow=(argparse.Namespace,)) if torch_file else load_pickle(path)
    except UnsafePickleError as e:
        raise UnsafePickleError(f"{name}: {e}") from None
    except (EOFError, pickle.UnpicklingError, ValueError, TypeError, KeyError, AttributeError) as e:
        raise CheckpointError(f"{name} is truncated or corrupted: {type(e).__name__}: {e}") from None


# ---------------------------------------------------------------------------------------------
# config inference

def _indices(sd, pattern) -> list[int]:
    rx = re.compile(pattern)
    return sorted({int(m.group(1)) for k in sd if (m := rx.fullmatch(k))})


def _shape(sd, key) -> Optional[list]:
    v = sd.get(key)
    return list(v.shape) if isinstance(v, torch.Tensor) else None


def _arg(args, key):
    if args is None:
        return None
    value = args.get(key) if isinstance(args, dict) else getattr(args, key, None)
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def infer_config(sd: dict, args=None, name: str = "checkpoint") -> GeneratorConfig:
    """Our GeneratorConfig from the g_ema tensor shapes (and train.py's args, cross-checked)."""
    # Mapping: style.1 .. style.n_mlp (style.0 is the PixelNorm).
    mlp = _indices(sd, r"style\.(\d+)\.weight")
    if not mlp:
        raise CheckpointError(f"{name}: no mapping layers ('style.1.weight' ...) in g_ema; is this a rosinality "
                              f"StyleGAN2 generator?")
    n_mlp = len(mlp)
    if mlp != list(range(1, n_mlp + 1)):
        missing = sorted(set(range(1, max(mlp) + 1)) - set(mlp))
        raise CheckpointError(f"{name}: missing tensor 'style.{missing[0]}.weight' (mapping layers must be "
                              f"style.1 .. style.{max(mlp)})")
    w_shape = _shape(sd, "style.1.weight")
    if len(w_shape) != 2 or w_shape[0] != w_shape[1]:
        raise CheckpointError(f"{name}: 'style.1.weight' must be square [style_dim, style_dim], got {w_shape}")
    style_dim = w_shape[0]

    # Resolution: one to_rgbs / two convs per block after 4x4, 2 * blocks + 1 noise maps.
    counts = [max(_indices(sd, r"to_rgbs\.(\d+)\.conv\.weight"), default=-1) + 1,
              (max(_indices(sd, r"convs\.(\d+)\.conv\.weight"), default=-1) + 2) // 2,
              max(_indices(sd, r"noises\.noise_(\d+)"), default=0) // 2]
    blocks = max(counts)
    size = 2 ** (blocks + 2)
    if blocks < 1:
        raise CheckpointError(f"{name}: g_ema has no upsampling blocks ('convs.0.conv.weight', 'to_rgbs.0...'); "
                              f"stylegan_fast needs a resolution of at least 8")

    # Channels per resolution, from whichever of a block's tensors is present (all are checked later).
    channels = {}
    for res_log2 in range(2, blocks + 3):
        res, k = 2 ** res_log2, res_log2 - 3
        if res == 4:
            candidates = [("input.input", 1), ("conv1.conv.weight", 1), ("to_rgb1.conv.weight", 2)]
        else:
            candidates = [(f"to_rgbs.{k}.conv.weight", 2), (f"convs.{2 * k + 1}.conv.weight", 1),
                          (f"convs.{2 * k}.conv.weight", 1)]
        for key, dim in candidates:
            s = _shape(sd, key)
            if s is not None and len(s) > dim:
                channels[res] = s[dim]
                break
        else:
            raise CheckpointError(f"{name}: missing tensor {candidates[0][0]!r} (the {res}x{res} block)")
    img_channels = 3
    s = _shape(sd, "to_rgb1.conv.weight")
    if s is not None and len(s) == 5:
        img_channels = s[1]

    # Cross-check train.py's args.
    for key, value in (("size", size), ("latent", style_dim), ("n_mlp", n_mlp)):
        given = _arg(args, key)
        if given is not None and given != value:
            raise CheckpointError(f"{name}: the file's args say {key}={given} but g_ema's tensors have {key}="
                                  f"{value}")

    # rosinality's default schedule (512 up to 32 px, then 256 * channel_multiplier at 64 px, halving)
    # is channel_base 16384 * channel_multiplier, channel_max 512.
    multiplier = _arg(args, "channel_multiplier")
    preferred = [int(16384 * multiplier)] if multiplier and float(multiplier).is_integer() and multiplier > 0 else []
    try:
        channel_base, channel_max = fit_channel_schedule(channels, preferred + [32768, 16384], name)
    except CheckpointError as e:
        mult = f" (channel_multiplier {multiplier})" if multiplier is not None else ""
        raise CheckpointError(str(e).replace("channels per resolution", f"channels per resolution{mult}")) from None
    try:
        return GeneratorConfig(arch="stylegan2", resolution=size, z_dim=style_dim, w_dim=style_dim,
                               mapping_layers=n_mlp, channel_base=channel_base, channel_max=channel_max,
                               img_channels=img_channels, mapping_lr_multiplier=ROSINALITY_LR_MLP)
    except ValueError as e:
        raise CheckpointError(f"{name}: unsupported rosinality generator: {e}") from None


# ---------------------------------------------------------------------------------------------
# tensor conversion

# Layout rules between one of our tensors and its rosinality counterpart:
#   rule -> (their shape from ours, ours from theirs, theirs from ours)
def _fan_in(shape) -> int:  # rosinality's ModulatedConv2d.scale is 1 / sqrt(fan_in), see the top
    return shape[-3] * shape[-2] * shape[-1]


RULES = {
    "same": (lambda s: tuple(s), lambda t: t, lambda t: t),
    "lead1": (lambda s: (1, *s), lambda t: t[0], lambda t: t[None]),  # [1, ...] around ours
    "lead2": (lambda s: (1, 1, *s), lambda t: t[0, 0], lambda t: t[None, None]),
    "scalar": (lambda s: (1,), lambda t: t.reshape([]), lambda t: t.reshape([1])),
    "rgb_bias": (lambda s: (1, s[0], 1, 1), lambda t: t.reshape(-1), lambda t: t.reshape(1, -1, 1, 1)),
    "conv": (lambda s: (1, *s), lambda t: t[0] * (1 / math.sqrt(_fan_in(t.shape))),
             lambda t: (t * math.sqrt(_fan_in(t.shape)))[None]),
}


def name_map(config: GeneratorConfig) -> list[tuple[str, str, str]]:
    """(our name, rosinality g_ema name, rule) for every tensor but mapping.w_avg (the file's 'latent_avg')."""
    names = []
    for i in range(1, config.mapping_layers + 1):
        names += [(f"mapping.fc{i - 1}.{leaf}", f"style.{i}.{leaf}", "same") for leaf in ("weight", "bias")]

    def styled(dst, src, noise_index):
        names.extend([(f"{dst}.weight", f"{src}.conv.weight", "conv"),
                      (f"{dst}.bias", f"{src}.activate.bias", "same"),
                      (f"{dst}.affine.weight", f"{src}.conv.modulation.weight", "same"),
                      (f"{dst}.affine.bias", f"{src}.conv.modulation.bias", "same"),
                      (f"{dst}.noise_strength", f"{src}.noise.weight", "scalar"),
                      (f"{dst}.noise.noise_const", f"noises.noise_{noise_index}", "lead2")])

    def torgb(dst, src):
        names.extend([(f"{dst}.weight", f"{src}.conv.weight", "lead1"),  # no demodulation: no scale, see the top
                      (f"{dst}.bias", f"{src}.bias", "rgb_bias"),
                      (f"{dst}.affine.weight", f"{src}.conv.modulation.weight", "same"),
                      (f"{dst}.affine.bias", f"{src}.conv.modulation.bias", "same")])

    names.append(("synthesis.b4.const", "input.input", "lead1"))
    styled("synthesis.b4.conv1", "conv1", 0)
    torgb("synthesis.b4.torgb", "to_rgb1")
    for k, res in enumerate(config.block_resolutions[1:]):
        styled(f"synthesis.b{res}.conv0", f"convs.{2 * k}", 2 * k + 1)
        styled(f"synthesis.b{res}.conv1", f"convs.{2 * k + 1}", 2 * k + 2)
        torgb(f"synthesis.b{res}.torgb", f"to_rgbs.{k}")
    return names


def convert(sd: dict, config: GeneratorConfig, name: str = "checkpoint", dtype=torch.float32) -> dict:
    """rosinality g_ema tensors -> our state dict (without mapping.w_avg), in ``dtype``."""
    ours_shapes = state_shapes(config)
    out = {}
    for ours, theirs, rule in name_map(config):
        their_shape, to_ours, _ = RULES[rule]
        want = list(their_shape(ours_shapes[ours]))
        if theirs not in sd:
            raise CheckpointError(f"{name}: missing tensor {theirs!r} (expected shape {want}) in g_ema")
        t = sd[theirs]
        if list(t.shape) != want:
            raise CheckpointError(f"{name}: tensor {theirs!r} has shape {list(t.shape)}, expected {want}")
        if not t.is_floating_point():
            raise CheckpointError(f"{name}: tensor {theirs!r} has dtype {t.dtype}, expected floating point")
        out[ours] = to_ours(t.detach().to(dtype)).contiguous()
    return out


def export(config: GeneratorConfig, tensors: dict) -> dict:
    """Our StyleGAN2 state dict -> {'g_ema': rosinality state dict, 'latent_avg': w_avg} (inverse of convert)."""
    if config.arch != "stylegan2" or config.c_dim:
        raise CheckpointError("rosinality checkpoints hold unconditional StyleGAN2 generators only")
    ours = {k: v.detach().float().cpu() for k, v in tensors.items()}
    sd = {theirs: RULES[rule][2](ours[o]) for o, theirs, rule in name_map(config)}
    fir = torch.tensor([1.0, 3.0, 3.0, 1.0])
    kernel = torch.outer(fir, fir) / torch.outer(fir, fir).sum() * 4  # Blur / Upsample kernels (factor 2 -> x4)
    for k in range(len(config.block_resolutions) - 1):  # the fixed kernels of the upsampling layers
        sd[f"convs.{2 * k}.conv.blur.kernel"] = kernel.clone()
        sd[f"to_rgbs.{k}.upsample.kernel"] = kernel.clone()
    return {"g_ema": {k: v.contiguous() for k, v in sd.items()}, "latent_avg": ours["mapping.w_avg"]}
