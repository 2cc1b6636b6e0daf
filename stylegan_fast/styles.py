"""Which ws rows style which layers: named groups, index ranges, style mixing and its figures."""
from __future__ import annotations

import re
from typing import Iterable, Union

import numpy as np
import torch

from .config import GeneratorConfig
from .images import make_grid, to_uint8

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


def _render(G, ws: torch.Tensor, noise_mode: str) -> np.ndarray:
    """ws [N, num_ws, w_dim] -> uint8 images [N, H, W, C] (one synthesis batch)."""
    return to_uint8(G.synthesis(ws, noise_mode=noise_mode)).cpu().numpy()


def _check_ws_batch(name: str, ws: torch.Tensor, G) -> None:
    if ws.ndim != 3 or ws.shape[0] < 1 or ws.shape[1:] != (G.num_ws, G.w_dim):
        raise ValueError(f"{name} must be [N, {G.num_ws}, {G.w_dim}] with N >= 1 (ws of this generator), "
                         f"got {list(ws.shape)}")


def style_mixing_grid(G, row_ws: torch.Tensor, col_ws: torch.Tensor, layers: LayerSpec,
                      noise_mode: str = "const") -> np.ndarray:
    """NVlabs' style-mixing figure as one uint8 image [(R + 1) * H, (C + 1) * W, channels].

    row_ws [R, num_ws, w_dim], col_ws [C, num_ws, w_dim]. The top row is a blank corner and then
    the column faces; below it, one row per row face: the face itself, then that face with the
    ``layers`` ws rows (a group such as 'coarse', a range like '0-3', or indices) of each column face.
    """
    _check_ws_batch("row_ws", row_ws, G)
    _check_ws_batch("col_ws", col_ws, G)
    idx = G.style_layers(layers)
    with torch.inference_mode():
        rows_img, cols_img = _render(G, row_ws, noise_mode), _render(G, col_ws, noise_mode)
        cells = [_render(G, mix(row_ws, col_ws[j:j + 1], idx), noise_mode) for j in range(len(col_ws))]
    tiles = [np.zeros_like(rows_img[0]), *cols_img]
    for i in range(len(row_ws)):
        tiles += [rows_img[i], *(cell[i] for cell in cells)]
    return make_grid(np.stack(tiles), cols=len(col_ws) + 1)


def family_strip(G, ws_a: torch.Tensor, ws_b: torch.Tensor, layers: LayerSpec,
                 noise_mode: str = "const") -> tuple[np.ndarray, torch.Tensor]:
    """Two parents and their children as one uint8 strip [H, 4 * W, channels], and the child's ws.

    Left to right: parent A | the child (A's ``layers`` ws rows, B's others) | the reverse child
    (B's ``layers``, A's others) | parent B. ws_a and ws_b: [1, num_ws, w_dim] or [num_ws, w_dim];
    the child's ws come back in the shape of ws_a.
    """
    a, b = (ws[None] if ws.ndim == 2 else ws for ws in (ws_a, ws_b))
    for name, ws in (("ws_a", a), ("ws_b", b)):
        _check_ws_batch(name, ws, G)
        if ws.shape[0] != 1:
            raise ValueError(f"{name} must be one face's ws, [1, {G.num_ws}, {G.w_dim}] or "
                             f"[{G.num_ws}, {G.w_dim}], got {list(ws.shape)}")
    idx = G.style_layers(layers)
    child, reverse_child = mix(b, a, idx), mix(a, b, idx)
    with torch.inference_mode():
        images = _render(G, torch.cat([a, child, reverse_child, b]), noise_mode)
    return np.concatenate(list(images), axis=1), (child if ws_a.ndim == 3 else child[0])
