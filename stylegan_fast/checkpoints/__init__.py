"""Every StyleGAN checkpoint format behind one call, detected automatically, executed never.

    format               file                                              module
    stylegan_fast        our safetensors (config in metadata)              generator.py (Generator.save)
    nvlabs-pytorch       stylegan2-ada-pytorch / stylegan3 network pickle  checkpoints/nvlabs_pytorch.py
    nvlabs-tf-stylegan2  TensorFlow StyleGAN2 pickle (G, D, Gs)            checkpoints/nvlabs_tf.py
    nvlabs-tf-stylegan1  TensorFlow StyleGAN1 pickle (G, D, Gs)            checkpoints/nvlabs_tf.py
    rosinality           rosinality stylegan2-pytorch .pt                  checkpoints/rosinality.py

Each format module turns the file's raw objects into a :class:`ForeignCheckpoint`: our config and
a complete state dict under our names. :func:`load_generator` builds the Generator from it.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional, Union

import torch

from ..config import GeneratorConfig
from .safe_pickle import UnsafePickleError, load_pickle

FORMATS = ("stylegan_fast", "nvlabs-pytorch", "nvlabs-tf-stylegan2", "nvlabs-tf-stylegan1", "rosinality")
WHICH = ("G_ema", "G")  # for NVlabs pickles: the EMA generator (default) or the raw one
SAFETENSORS_SUFFIX = ".safetensors"
ZIP_MAGIC = b"PK\x03\x04"


class CheckpointError(ValueError):
    """A checkpoint that cannot be read: names the file, the key and what was expected."""


@dataclasses.dataclass
class ForeignCheckpoint:
    format: str
    config: GeneratorConfig
    tensors: dict  # our state-dict name -> tensor (complete: Generator.load_tensors checks it)
    notes: list = dataclasses.field(default_factory=list)  # what the reader chose, e.g. "used G_ema"


def is_url(s) -> bool:
    return isinstance(s, str) and s.startswith(("http://", "https://"))


def sniff_format(path: Path) -> str:
    """'safetensors', 'zip' (torch.save) or 'pickle', from the first bytes of the file."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(ZIP_MAGIC):
        return "zip"
    if len(head) >= 9 and head[8:9] == b"{":  # 8-byte little-endian header length, then JSON
        return "safetensors"
    if head[:1] == b"\x80" or head[:1] in (b"(", b"}", b"]", b"c"):
        return "pickle"
    raise CheckpointError(f"{str(path)!r} is not a checkpoint stylegan_fast can read (not safetensors, a torch "
                          f"zip file or a pickle); supported formats: {', '.join(FORMATS)}")


def read_foreign(path: Path, which: str = "G_ema") -> ForeignCheckpoint:
    """Read a non-safetensors checkpoint into our config + state dict."""
    if which not in WHICH:
        raise ValueError(f"which must be one of {WHICH}, got {which!r}")
    kind = sniff_format(path)
    from . import rosinality

    if kind == "zip" or rosinality.is_legacy_torch_file(path):  # torch.save: zip, or pre-1.6 legacy format
        return rosinality.read(path, which=which)
    try:
        obj = load_pickle(path)
    except UnsafePickleError as e:
        raise UnsafePickleError(f"{str(path)!r}: {e}") from None
    except (EOFError, *pickle_errors()) as e:
        raise CheckpointError(f"{str(path)!r} is truncated or corrupted: {type(e).__name__}: {e}") from None
    if isinstance(obj, dict) and any(k in obj for k in ("G_ema", "G", "D")):
        from . import nvlabs_pytorch

        return nvlabs_pytorch.read(obj, which=which, source=str(path))
    if isinstance(obj, tuple) and len(obj) == 3:
        from . import nvlabs_tf

        return nvlabs_tf.read(obj, source=str(path))
    if isinstance(obj, dict) and ("g_ema" in obj or "latent_avg" in obj):
        from . import rosinality

        return rosinality.read(path, which=which)
    raise CheckpointError(f"{str(path)!r} is a pickle but no known StyleGAN checkpoint (top level: "
                          f"{type(obj).__name__}); supported formats: {', '.join(FORMATS)}")


def pickle_errors():
    import pickle

    return (pickle.UnpicklingError, ValueError, TypeError, IndexError, KeyError, AttributeError)


def detect_format(path) -> str:
    """The format name of a local file (one of FORMATS)."""
    path = Path(path)
    kind = sniff_format(path)
    if kind == "safetensors":
        return "stylegan_fast"
    return read_foreign(path).format


def resolve_source(source, progress: bool = True, sha256: Optional[str] = None) -> Path:
    """A local path for ``source``: downloads (once, cached) when it is an http(s) URL."""
    if is_url(source):
        from .download import download

        return download(source, sha256=sha256, progress=progress)
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"no generator file at {str(path)!r}")
    return path


def load_generator(source: Union[str, Path], which: str = "G_ema", backend: str = "auto",
                   device: Union[str, torch.device] = "cpu", progress: bool = True):
    """A Generator from any supported file or URL (see FORMATS)."""
    from ..generator import Generator

    path = resolve_source(source, progress=progress)
    if sniff_format(path) == "safetensors":
        G = Generator.read_safetensors(path)
        G.source_format = "stylegan_fast"
    else:
        ckpt = read_foreign(path, which=which)
        G = Generator(ckpt.config)
        G.load_tensors(ckpt.tensors, source=f"{str(path)!r} ({ckpt.format})")
        G.source_format = ckpt.format
    G = G.to(device).eval().requires_grad_(False)
    G.backend = backend
    return G
