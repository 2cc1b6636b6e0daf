"""Every StyleGAN checkpoint format behind two calls, detected automatically, executed never.

    checkpoints.read(source, which="G_ema") -> Checkpoint(format, config, tensors, notes, source)
    checkpoints.write(path, config, tensors, to="safetensors")

    format               file                                              module
    stylegan_fast        our safetensors (config in metadata)              checkpoints/stylegan_fast.py
    nvlabs-pytorch       stylegan2-ada-pytorch / stylegan3 network pickle  checkpoints/nvlabs_pytorch.py
    nvlabs-tf-stylegan2  TensorFlow StyleGAN2 pickle (G, D, Gs)            checkpoints/nvlabs_tf.py
    nvlabs-tf-stylegan1  TensorFlow StyleGAN1 pickle (G, D, Gs)            checkpoints/nvlabs_tf.py
    rosinality           rosinality stylegan2-pytorch .pt                  checkpoints/rosinality.py

Each reader turns a file into our config plus a complete state dict under our names, checked
against ``networks.state_shapes(config)``; ``Generator.load`` builds the generator from that.
This package reads and writes files only: it never imports the Generator.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

import torch

from ..fileio import atomic_path
from . import nvlabs_pytorch, nvlabs_tf, rosinality, stylegan_fast
from .base import FORMATS, WHICH, Checkpoint, CheckpointError
from .safe_pickle import UnsafePickleError, load_pickle

ZIP_MAGIC = b"PK\x03\x04"

# --to of `stylegan-fast convert` -> (writer, what it holds)
EXPORT_FORMATS = {
    "safetensors": "our format (fastest to load)",
    "nvlabs-state-dict": "a torch.save'd state dict under stylegan2-ada-pytorch's parameter names (StyleGAN2)",
    "rosinality": "a stylegan2-pytorch checkpoint {'g_ema', 'latent_avg'} (unconditional StyleGAN2)",
}


def is_url(s) -> bool:
    return isinstance(s, str) and s.startswith(("http://", "https://"))


def sniff_format(path: Path) -> str:
    """'safetensors', 'zip' (torch.save) or 'pickle', from the first bytes of the file."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(ZIP_MAGIC):
        return "zip"
    if stylegan_fast.is_safetensors(head):
        return "safetensors"
    if head[:1] == b"\x80" or head[:1] in (b"(", b"}", b"]", b"c"):
        return "pickle"
    raise CheckpointError(f"{str(path)!r} is not a checkpoint stylegan_fast can read (not safetensors, a torch "
                          f"zip file or a pickle); supported formats: {', '.join(FORMATS)}")


def resolve_source(source, progress: bool = True, sha256: Optional[str] = None) -> Path:
    """A local path for ``source``: downloads (once, cached) when it is an http(s) URL."""
    if is_url(source):
        from .download import download

        return download(source, sha256=sha256, progress=progress)
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"no generator file at {str(path)!r}")
    return path


def read(source: Union[str, Path], which: str = "G_ema", progress: bool = True) -> Checkpoint:
    """The generator in a file or http(s) URL, any supported format (see FORMATS), as a Checkpoint.

    ``which``: for training snapshots (NVlabs pickles, rosinality train.py files), 'G_ema' (what is
    rendered with) or 'G' (the raw training generator).
    """
    if which not in WHICH:
        raise ValueError(f"which must be one of {', '.join(WHICH)}, got {which!r}")
    ckpt = _read_file(resolve_source(source, progress=progress), which)
    ckpt.source = str(source)
    return ckpt


def _read_file(path: Path, which: str) -> Checkpoint:
    name = repr(str(path))
    kind = sniff_format(path)
    if kind == "safetensors":
        return stylegan_fast.read(path, source=name)
    if kind == "zip" or rosinality.is_legacy_torch_file(path):  # torch.save: zip, or pre-1.6 legacy format
        return rosinality.read(path, which=which, source_name=name)
    try:
        obj = load_pickle(path)
    except UnsafePickleError as e:
        raise UnsafePickleError(f"{name}: {e}") from None
    except (EOFError, *_pickle_errors()) as e:
        raise CheckpointError(f"{name} is truncated or corrupted: {type(e).__name__}: {e}") from None
    if isinstance(obj, dict) and any(k in obj for k in ("G_ema", "G", "D")):
        return nvlabs_pytorch.read(obj, which=which, source=str(path))
    if isinstance(obj, tuple) and len(obj) == 3:
        return nvlabs_tf.read(obj, source=str(path))
    if isinstance(obj, dict) and ("g_ema" in obj or "latent_avg" in obj):
        return rosinality.read(obj, which=which, source_name=name)
    raise CheckpointError(f"{name} is a pickle but no known StyleGAN checkpoint (top level: "
                          f"{type(obj).__name__}); supported formats: {', '.join(FORMATS)}")


def _pickle_errors():
    import pickle

    return (pickle.UnpicklingError, ValueError, TypeError, IndexError, KeyError, AttributeError)


def detect_format(path) -> str:
    """The format name of a local file (one of FORMATS)."""
    return read(path).format


def write(path, config, tensors: dict, to: str = "safetensors") -> None:
    """Write a generator (its config and state dict) to ``path`` as ``to`` (see EXPORT_FORMATS), atomically."""
    if to not in EXPORT_FORMATS:
        raise ValueError(f"cannot write {to!r}; choose one of: {', '.join(EXPORT_FORMATS)}")
    if to == "safetensors":
        stylegan_fast.write(path, config, tensors)
        return
    exported = (nvlabs_pytorch.export_state_dict if to == "nvlabs-state-dict" else rosinality.export)(config, tensors)
    with atomic_path(path) as tmp:
        torch.save(exported, tmp)


__all__ = ["EXPORT_FORMATS", "FORMATS", "WHICH", "Checkpoint", "CheckpointError", "UnsafePickleError",
           "detect_format", "read", "resolve_source", "sniff_format", "write"]
