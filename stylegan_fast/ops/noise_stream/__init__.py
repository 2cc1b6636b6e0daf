"""Per-pixel noise as a function of (image noise seed, layer, pixel): Triton's tl.randn stream.

Pixel (y, x) of layer ``layer`` for the image with noise seed s is
``tl.randn(s | (layer << 32), y * width + x)``, so a kernel can generate it in place and an
image's noise is the same in any batch. See ``reference`` for the formulas.
"""
from __future__ import annotations

import numbers

import torch

from ..cpu_support import register_cpu
from ..cuda_support import register_cuda
from ..dispatch import Op
from ..triton_support import register_triton
from . import reference
from .reference import philox4x32, stream_key

_op = Op("noise_stream", reference.noise_stream)
register_triton(_op, f"{__name__}.triton_kernels", "noise_stream")
register_cpu(_op, f"{__name__}.cpu", "noise_stream")
register_cuda(_op, f"{__name__}.cuda", "noise_stream")

NOISE_SEED_MAX = 2**32 - 1  # noise seeds are the low key word: integers in [0, NOISE_SEED_MAX]
LAYER_MAX = 2**31 - 1  # the high key word; < 2^31 keeps the 64-bit seed a positive int64
MAX_PIXELS = 2**31  # offsets y * width + x stay valid int32 offsets in a kernel

__all__ = ["LAYER_MAX", "NOISE_SEED_MAX", "layer_noise_maps", "noise_stream", "philox4x32", "stream_key"]

_INT_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.uint16, torch.uint32,
               torch.uint64)


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _check_seeds(noise_seeds) -> torch.Tensor:
    """A 1-D integer tensor or a list/tuple of ints in [0, 2^32) -> int64 tensor [N]."""
    if isinstance(noise_seeds, torch.Tensor):
        if noise_seeds.dtype not in _INT_DTYPES:
            raise TypeError(f"noise_seeds must hold integers in [0, {NOISE_SEED_MAX}], "
                            f"got a tensor of {noise_seeds.dtype}")
        if noise_seeds.ndim != 1:
            raise ValueError(f"noise_seeds must be a 1-D tensor [N] (one seed per image), "
                             f"got shape {list(noise_seeds.shape)}")
        seeds = noise_seeds.to(torch.int64)  # uint64 >= 2^63 wraps negative: still caught below
        bad = seeds[(seeds < 0) | (seeds > NOISE_SEED_MAX)]
        if bad.numel():
            value = int(bad[0]) % 2**64 if noise_seeds.dtype == torch.uint64 else int(bad[0])
            raise ValueError(f"noise seeds must be in [0, {NOISE_SEED_MAX}] (32-bit unsigned), got {value}")
        return seeds
    if isinstance(noise_seeds, (list, tuple)):
        for i, s in enumerate(noise_seeds):
            if not _is_int(s):
                raise TypeError(f"noise_seeds[{i}] must be an int in [0, {NOISE_SEED_MAX}], "
                                f"got {s!r} ({type(s).__name__})")
            if not 0 <= s <= NOISE_SEED_MAX:
                raise ValueError(f"noise_seeds[{i}] = {s} is out of range: "
                                 f"noise seeds must be in [0, {NOISE_SEED_MAX}]")
        return torch.tensor([int(s) for s in noise_seeds], dtype=torch.int64)
    raise TypeError(f"noise_seeds must be a 1-D integer tensor or a list of ints, got {type(noise_seeds).__name__}")


def noise_stream(noise_seeds, layer: int, height: int, width: int, dtype=torch.float32, device=None,
                 backend=None) -> torch.Tensor:
    """noise_seeds: [N] ints in [0, 2^32) (tensor or list) -> standard normal noise [N, 1, H, W]
    for ``layer``; row n depends only on noise_seeds[n], layer and the pixel.

    ``device`` defaults to the seeds' device (CPU for a list)."""
    seeds = _check_seeds(noise_seeds)
    device = torch.device(device) if device is not None else seeds.device
    return _stream(seeds.to(device), layer, height, width, dtype, device, backend)


def layer_noise_maps(noise_seeds, sizes, dtype=torch.float32, device=None, backend=None) -> list[torch.Tensor]:
    """noise_stream of layers 0, 1, ... with ``sizes`` [(H, W), ...]: what a generator's noise layers get.

    The seeds are checked and moved to ``device`` once for all layers."""
    seeds = _check_seeds(noise_seeds)
    device = torch.device(device) if device is not None else seeds.device
    seeds = seeds.to(device)
    return [_stream(seeds, layer, h, w, dtype, device, backend) for layer, (h, w) in enumerate(sizes)]


def _stream(seeds, layer, height, width, dtype, device, backend) -> torch.Tensor:
    if not _is_int(layer) or not 0 <= layer <= LAYER_MAX:
        raise ValueError(f"layer must be an int in [0, {LAYER_MAX}], got {layer!r}")
    for name, v in (("height", height), ("width", width)):
        if not _is_int(v) or v <= 0:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if height * width > MAX_PIXELS:
        raise ValueError(f"height * width = {height * width} exceeds {MAX_PIXELS} pixels (the per-layer counter range)")
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")
    return _op(device, backend)(seeds, int(layer), int(height), int(width), dtype=dtype, device=device)
