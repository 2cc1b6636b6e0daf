"""Which ws rows style which layers: named groups, index ranges, and style mixing."""
from __future__ import annotations

import re
from typing import Iterable, Union

import torch

from .config import GeneratorConfig

# The StyleGAN paper's groups, by the resolution of the layers a ws row styles.
LAYER_GROUPS = {"coarse": (4, 8), "medium": (16, 32), "fine": (64, 1 << 30)}

LayerSpec = Union[str, int, Iterable[int]]


def layer_groups(config: GeneratorConfig) -> dict[str, list[int]]:
    """{'coarse': [...], 'medium': [...], 'fine': [...]} ws indices for this architecture and resolution."""
    groups = {}
    for name, (lo, hi) in LAYER_GROUPS.items():
        groups[name] = [i for i in range(config.num_ws) if lo <= config.ws_resolution(i) <= hi]
    return groups


def parse_layers(spec: LayerSpec, num_ws: int, groups: dict[str, list[int]] | None = None) -> list[int]:
    """'coarse', 'fine', '0-3', '0-3,8', 5, [0, 1, 2] -> sorted ws indices, checked against num_ws."""
    if isinstance(spec, int):
        parts = [spec]
    elif isinstance(spec, str):
        parts = [p.strip() for p in spec.split(",") if p.strip()]
        if not parts:
            raise ValueError("empty layer selection; use a group (coarse, medium, fine), a range like 0-3, or indices")
    else:
        parts = list(spec)
    indices = set()
    for part in parts:
        if isinstance(part, int):
            indices.add(part)
        elif re.fullmatch(r"\d+", part):
            indices.add(int(part))
        elif m := re.fullmatch(r"(\d+)-(\d+)", part):
            lo, hi = int(m.group(1)), int(m.group(2))
            if lo > hi:
                raise ValueError(f"layer range {part!r} is empty: the start must not exceed the end")
            indices.update(range(lo, hi + 1))
        elif part in LAYER_GROUPS:
            if groups is None:
                raise ValueError(f"layer group {part!r} depends on the architecture: pass the generator "
                                 f"(mix(..., generator=G)) or use index ranges like 0-3")
            indices.update(groups[part])
        else:
            raise ValueError(f"cannot parse layer selection {part!r}; use {', '.join(LAYER_GROUPS)}, "
                             f"a range like 0-3, or an index")
    bad = sorted(i for i in indices if not 0 <= i < num_ws)
    if bad:
        raise ValueError(f"layer indices {bad} out of range: this generator has num_ws={num_ws} (0..{num_ws - 1})")
    return sorted(indices)


def mix(ws_a: torch.Tensor, ws_b: torch.Tensor, layers: LayerSpec, generator=None) -> torch.Tensor:
    """ws_a with the rows ``layers`` taken from ws_b. ws: [N, num_ws, w_dim] (ws_b may have N=1)."""
    if ws_a.ndim != 3 or ws_b.ndim != 3 or ws_a.shape[1:] != ws_b.shape[1:]:
        raise ValueError(f"ws_a and ws_b must both be [N, num_ws, w_dim] with equal num_ws and w_dim, "
                         f"got {list(ws_a.shape)} and {list(ws_b.shape)}")
    groups = layer_groups(generator.config) if generator is not None else None
    idx = parse_layers(layers, ws_a.shape[1], groups)
    out = ws_a.clone()
    out[:, idx] = ws_b[:, idx].to(out.dtype).expand(out.shape[0], -1, -1)
    return out
