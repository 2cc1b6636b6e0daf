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
import contextlib
import math
import pickle
import re
from pathlib import Path
from typing import Optional, Union

import torch

from ..config import GeneratorConfig
from . import CheckpointError, ForeignCheckpoint
from .safe_pickle import UnsafePickleError, load_pickle

FORMAT = "rosinality"
# torch.save before torch 1.6 (_use_new_zipfile_serialization=False), as many published rosinality
# files are: a protocol-2 pickle of the magic number 0x1950a86a20f9469cfc6c, then the object.
LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"
ROSINALITY_CHANNEL_MAX = 512
ROSINALITY_LR_MLP = 0.01  # Generator(lr_mlp=0.01): not stored in files, train.py has no option for it


def read(source: Union[str, Path, dict], which: str = "G_ema", source_name: Optional[str] = None) -> ForeignCheckpoint:
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
    known = expected_shapes(config)
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
    return ForeignCheckpoint(format=FORMAT, config=config, tensors=tensors, notes=notes)


def is_legacy_torch_file(path) -> bool:
    """True for a file written by torch.save's pre-1.6 (non-zip) serialization."""
    with open(path, "rb") as f:
        return f.read(len(LEGACY_TORCH_MAGIC)) == LEGACY_TORCH_MAGIC


def _load(path: Path, name: str):
    """torch.load(weights_only=True), allowing argparse.Namespace (train.py's 'args') and nothing else."""
    with open(path, "rb") as f:
        head = f.read(len(LEGACY_TORCH_MAGIC))
    if not (head.startswith(b"PK\x03\x04") or head == LEGACY_TORCH_MAGIC):
        # a plain pickle (pickle.dump of the dict): our restricted unpickler
        try:
            return load_pickle(path)
        except UnsafePickleError as e:
            raise UnsafePickleError(f"{name}: {e}") from None
        except (EOFError, pickle.UnpicklingError, ValueError, TypeError, KeyError, AttributeError) as e:
            raise CheckpointError(f"{name} is truncated or corrupted: {type(e).__name__}: {e}") from None
    try:
        with _allow_namespace():
            return torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as e:
        m = re.search(r"GLOBAL ([\w.]+)", str(e))
        if m:
            raise UnsafePickleError(
                f"{name}: refused to load global '{m.group(1)}': rosinality checkpoints may only hold tensors, "
                f"plain Python data and argparse.Namespace") from None
        raise CheckpointError(f"{name}: torch.load(weights_only=True) failed: {_first_line(e)}") from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise CheckpointError(f"{name} is truncated or corrupted: {type(e).__name__}: {_first_line(e)}") from None


def _allow_namespace():
    """torch.serialization.safe_globals([argparse.Namespace]) where torch has it (>= 2.5)."""
    ser = torch.serialization
    if hasattr(ser, "safe_globals"):
        return ser.safe_globals([argparse.Namespace])
    if hasattr(ser, "add_safe_globals"):  # torch 2.4: process-wide, and Namespace is plain data
        ser.add_safe_globals([argparse.Namespace])
    return contextlib.nullcontext()


def _first_line(e) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    for ln in lines:  # torch's weights_only messages put the useful line after a long preamble
        if "Unsupported" in ln or "error" in ln.lower():
            return ln
    return lines[0] if lines else type(e).__name__


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

    multiplier = _arg(args, "channel_multiplier")
    channel_base, channel_max = fit_channel_schedule(channels, size, multiplier, name)
    try:
        return GeneratorConfig(arch="stylegan2", resolution=size, z_dim=style_dim, w_dim=style_dim,
                               mapping_layers=n_mlp, channel_base=channel_base, channel_max=channel_max,
                               img_channels=img_channels, mapping_lr_multiplier=ROSINALITY_LR_MLP)
    except ValueError as e:
        raise CheckpointError(f"{name}: unsupported rosinality generator: {e}") from None


def fit_channel_schedule(channels: dict, size: int, multiplier=None, name="checkpoint") -> tuple[int, int]:
    """(channel_base, channel_max) with ``min(channel_base // res, channel_max) == channels[res]`` everywhere.

    rosinality's default schedule (512 up to 32 px, then 256 * channel_multiplier at 64 px, halving)
    is channel_base 16384 * channel_multiplier, channel_max 512, for multipliers 1 and 2.
    """
    channel_max = max(channels.values())
    candidates = []
    if multiplier is not None and float(multiplier).is_integer() and multiplier > 0:
        candidates.append(int(16384 * multiplier))
    candidates += [32768, 16384]
    candidates += [c * res for res, c in sorted(channels.items()) if c < channel_max]
    candidates.append(channel_max * size)
    for base in candidates:
        if all(min(base // res, channel_max) == c for res, c in channels.items()):
            return base, channel_max
    schedule = ", ".join(f"{res}: {c}" for res, c in sorted(channels.items()))
    mult = f" (channel_multiplier {multiplier})" if multiplier is not None else ""
    raise CheckpointError(f"{name}: the generator's channels per resolution{mult} {{{schedule}}} do not follow "
                          f"min(channel_base // res, channel_max) for any channel_base, which is the only "
                          f"schedule stylegan_fast supports")


# ---------------------------------------------------------------------------------------------
# tensor conversion

def expected_shapes(config: GeneratorConfig) -> dict:
    """The rosinality g_ema tensors we read, with their shapes (kernel buffers left out)."""
    sd_, c = config.w_dim, config.channels
    rgb = config.img_channels
    shapes = {}
    for i in range(1, config.mapping_layers + 1):
        shapes[f"style.{i}.weight"] = [sd_, sd_]
        shapes[f"style.{i}.bias"] = [sd_]

    def styled(prefix, cin, cout):
        shapes[f"{prefix}.conv.weight"] = [1, cout, cin, 3, 3]
        shapes[f"{prefix}.conv.modulation.weight"] = [cin, sd_]
        shapes[f"{prefix}.conv.modulation.bias"] = [cin]
        shapes[f"{prefix}.noise.weight"] = [1]
        shapes[f"{prefix}.activate.bias"] = [cout]

    def torgb(prefix, cin):
        shapes[f"{prefix}.conv.weight"] = [1, rgb, cin, 1, 1]
        shapes[f"{prefix}.conv.modulation.weight"] = [cin, sd_]
        shapes[f"{prefix}.conv.modulation.bias"] = [cin]
        shapes[f"{prefix}.bias"] = [1, rgb, 1, 1]

    shapes["input.input"] = [1, c(4), 4, 4]
    styled("conv1", c(4), c(4))
    torgb("to_rgb1", c(4))
    for k, res in enumerate(config.block_resolutions[1:]):
        styled(f"convs.{2 * k}", c(res // 2), c(res))
        styled(f"convs.{2 * k + 1}", c(res), c(res))
        torgb(f"to_rgbs.{k}", c(res))
    noise_res = [4] + [r for r in config.block_resolutions[1:] for _ in range(2)]
    for j, r in enumerate(noise_res):
        shapes[f"noises.noise_{j}"] = [1, 1, r, r]
    return shapes


def convert(sd: dict, config: GeneratorConfig, name: str = "checkpoint", dtype=torch.float32) -> dict:
    """rosinality g_ema tensors -> our state dict (without mapping.w_avg), in ``dtype``."""
    shapes = expected_shapes(config)
    for key, shape in shapes.items():
        if key not in sd:
            raise CheckpointError(f"{name}: missing tensor {key!r} (expected shape {shape}) in g_ema")
        if list(sd[key].shape) != shape:
            raise CheckpointError(f"{name}: tensor {key!r} has shape {list(sd[key].shape)}, expected {shape}")
    for key, v in sd.items():
        if not v.is_floating_point() and key in shapes:
            raise CheckpointError(f"{name}: tensor {key!r} has dtype {v.dtype}, expected floating point")

    def get(key):
        return sd[key].detach().to(dtype)

    out = {}
    for i in range(1, config.mapping_layers + 1):
        out[f"mapping.fc{i - 1}.weight"] = get(f"style.{i}.weight")
        out[f"mapping.fc{i - 1}.bias"] = get(f"style.{i}.bias")

    def styled(src, dst, noise_index):
        w = get(f"{src}.conv.weight")[0]
        fan_in = w.shape[1] * w.shape[2] * w.shape[3]
        out[f"{dst}.weight"] = w * (1 / math.sqrt(fan_in))  # rosinality's ModulatedConv2d.scale, see top
        out[f"{dst}.bias"] = get(f"{src}.activate.bias")
        out[f"{dst}.affine.weight"] = get(f"{src}.conv.modulation.weight")
        out[f"{dst}.affine.bias"] = get(f"{src}.conv.modulation.bias")
        out[f"{dst}.noise_strength"] = get(f"{src}.noise.weight").reshape([])
        out[f"{dst}.noise.noise_const"] = get(f"noises.noise_{noise_index}")[0, 0]

    def torgb(src, dst):
        out[f"{dst}.weight"] = get(f"{src}.conv.weight")[0]
        out[f"{dst}.bias"] = get(f"{src}.bias").reshape(-1)
        out[f"{dst}.affine.weight"] = get(f"{src}.conv.modulation.weight")
        out[f"{dst}.affine.bias"] = get(f"{src}.conv.modulation.bias")

    out["synthesis.b4.const"] = get("input.input")[0]
    styled("conv1", "synthesis.b4.conv1", 0)
    torgb("to_rgb1", "synthesis.b4.torgb")
    for k, res in enumerate(config.block_resolutions[1:]):
        styled(f"convs.{2 * k}", f"synthesis.b{res}.conv0", 2 * k + 1)
        styled(f"convs.{2 * k + 1}", f"synthesis.b{res}.conv1", 2 * k + 2)
        torgb(f"to_rgbs.{k}", f"synthesis.b{res}.torgb")
    return {k: v.contiguous() for k, v in out.items()}


def export(G) -> dict:
    """Our StyleGAN2 generator -> {'g_ema': rosinality state dict, 'latent_avg': w_avg} (inverse of convert)."""
    config = G.config
    if config.arch != "stylegan2" or config.c_dim:
        raise CheckpointError("rosinality checkpoints hold unconditional StyleGAN2 generators only")
    ours = {k: v.detach().float().cpu() for k, v in G.state_dict().items()}
    fir = torch.tensor([1.0, 3.0, 3.0, 1.0])
    kernel = torch.outer(fir, fir) / torch.outer(fir, fir).sum() * 4  # Blur / Upsample kernels (factor 2 -> x4)
    sd = {}
    for i in range(1, config.mapping_layers + 1):
        sd[f"style.{i}.weight"] = ours[f"mapping.fc{i - 1}.weight"]
        sd[f"style.{i}.bias"] = ours[f"mapping.fc{i - 1}.bias"]

    def styled(dst, src, noise_index, up):
        w = ours[f"{src}.weight"]
        sd[f"{dst}.conv.weight"] = (w * math.sqrt(w.shape[1] * w.shape[2] * w.shape[3]))[None]
        sd[f"{dst}.conv.modulation.weight"] = ours[f"{src}.affine.weight"]
        sd[f"{dst}.conv.modulation.bias"] = ours[f"{src}.affine.bias"]
        if up:
            sd[f"{dst}.conv.blur.kernel"] = kernel.clone()
        sd[f"{dst}.noise.weight"] = ours[f"{src}.noise_strength"].reshape([1])
        sd[f"{dst}.activate.bias"] = ours[f"{src}.bias"]
        sd[f"noises.noise_{noise_index}"] = ours[f"{src}.noise.noise_const"][None, None]

    def torgb(dst, src, up):
        sd[f"{dst}.conv.weight"] = ours[f"{src}.weight"][None]
        sd[f"{dst}.conv.modulation.weight"] = ours[f"{src}.affine.weight"]
        sd[f"{dst}.conv.modulation.bias"] = ours[f"{src}.affine.bias"]
        sd[f"{dst}.bias"] = ours[f"{src}.bias"].reshape(1, -1, 1, 1)
        if up:
            sd[f"{dst}.upsample.kernel"] = kernel.clone()

    sd["input.input"] = ours["synthesis.b4.const"][None]
    styled("conv1", "synthesis.b4.conv1", 0, up=False)
    torgb("to_rgb1", "synthesis.b4.torgb", up=False)
    for k, res in enumerate(config.block_resolutions[1:]):
        styled(f"convs.{2 * k}", f"synthesis.b{res}.conv0", 2 * k + 1, up=True)
        styled(f"convs.{2 * k + 1}", f"synthesis.b{res}.conv1", 2 * k + 2, up=False)
        torgb(f"to_rgbs.{k}", f"synthesis.b{res}.torgb", up=True)
    return {"g_ema": {k: v.contiguous() for k, v in sd.items()}, "latent_avg": ours["mapping.w_avg"]}
