"""Our own format: safetensors with the generator config as JSON in the metadata.

    metadata: format = "stylegan_fast.generator", format_version = "1",
              config = GeneratorConfig.to_json(), stylegan_fast_version
    tensors:  the generator's state dict under our names (float32, or the dtype it was saved in)

The fastest format to load; ``stylegan-fast convert`` writes it from any other.
"""
from __future__ import annotations

import json
from pathlib import Path


from ..config import GeneratorConfig
from ..fileio import atomic_path
from ..version import __version__
from .base import Checkpoint, CheckpointError, checked

FORMAT = "stylegan_fast"
FORMAT_NAME = "stylegan_fast.generator"  # the metadata's 'format'
FORMAT_VERSION = "1"


def read(path, source: str = "") -> Checkpoint:
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    source = source or repr(str(path))
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except SafetensorError as e:
        raise CheckpointError(f"{source} is not a readable safetensors file: {e}") from None
    if metadata.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{source} is a safetensors file but not a stylegan_fast generator "
                              f"(metadata 'format' is {metadata.get('format')!r}, expected {FORMAT_NAME!r})")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{source} has format_version {metadata.get('format_version')!r}; "
                              f"this stylegan_fast reads version {FORMAT_VERSION}")
    try:
        config = GeneratorConfig.from_dict(json.loads(metadata["config"]))
    except (KeyError, json.JSONDecodeError, TypeError, ValueError) as e:
        raise CheckpointError(f"{source} has no valid generator config in its metadata: {e}") from None
    return checked(FORMAT, config, tensors, [], source)


def write(path, config: GeneratorConfig, tensors: dict) -> None:
    """Write ``tensors`` (a complete state dict for ``config``) atomically to ``path``."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    metadata = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "config": config.to_json(),
                "stylegan_fast_version": __version__}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def is_safetensors(head: bytes) -> bool:
    """True for the first bytes of a safetensors file: an 8-byte little-endian header length, then JSON."""
    return len(head) >= 9 and head[8:9] == b"{"


__all__ = ["FORMAT", "is_safetensors", "read", "write"]
