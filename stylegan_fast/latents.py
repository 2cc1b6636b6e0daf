"""Seeds -> latents, compatible with NVlabs' scripts (seed 42 gives the same z as gen_images.py)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, Union

import numpy as np
import torch

MAX_SEED = 2 ** 32 - 1  # numpy.random.RandomState accepts 0 .. 2**32 - 1


def parse_seeds(spec: Union[str, int, Iterable[int]]) -> list[int]:
    """'0-7,12' -> [0, 1, ..., 7, 12] (NVlabs' range syntax; order kept, duplicates allowed)."""
    if isinstance(spec, int):
        items = [spec]
    elif isinstance(spec, str):
        items = []
        parts = [p.strip() for p in spec.split(",")]
        if not spec.strip() or any(not p for p in parts):
            raise ValueError(f"bad seeds {spec!r}: expected comma-separated seeds or ranges like 0-7,12")
        for part in parts:
            if re.fullmatch(r"\d+", part):
                items.append(int(part))
            elif m := re.fullmatch(r"(\d+)-(\d+)", part):
                lo, hi = int(m.group(1)), int(m.group(2))
                if lo > hi:
                    raise ValueError(f"bad seed range {part!r}: the start must not exceed the end")
                items.extend(range(lo, hi + 1))
            else:
                raise ValueError(f"bad seeds {spec!r}: {part!r} is neither a seed (a non-negative integer) "
                                 f"nor a range like 0-7")
    else:
        items = [int(s) for s in spec]
    bad = [s for s in items if not 0 <= s <= MAX_SEED]
    if bad:
        raise ValueError(f"seed {bad[0]} out of range: seeds must be integers from 0 to {MAX_SEED}")
    return items


def z_from_seeds(seeds: Union[str, int, Iterable[int]], z_dim: int) -> torch.Tensor:
    """[len(seeds), z_dim] float64, row i == np.random.RandomState(seeds[i]).randn(1, z_dim) bit for bit.

    The mapping network casts z to its own dtype, exactly as NVlabs' generators do.
    """
    seeds = parse_seeds(seeds)
    if not seeds:
        raise ValueError("no seeds given")
    z = np.concatenate([np.random.RandomState(s).randn(1, z_dim) for s in seeds])
    return torch.from_numpy(z)


def _read_w(path) -> np.ndarray:
    """The floating-point array 'w' of a .npz, or the array of a .npy; pickled objects are refused."""
    from .fileio import read_arrays

    path = Path(path)
    data = read_arrays(path, "latent file", "w", hint="save it with numpy.savez(path, w=ws)")
    if isinstance(data, dict):
        data = data["w"]
    w = np.asarray(data)
    if not np.issubdtype(w.dtype, np.floating):
        raise ValueError(f"{path}: w must be floating point, got {w.dtype}")
    if not np.isfinite(w).all():
        raise ValueError(f"{path}: w contains NaN or infinity")
    return w


def load_ws(path, num_ws: int, w_dim: int) -> torch.Tensor:
    """[num_ws, w_dim] float32 from a .npz (key 'w', as NVlabs' projector writes: [1, num_ws, w_dim]) or .npy.

    A single w ([w_dim] or [1, w_dim]) is repeated to every layer. Arrays only: pickled objects are refused.
    """
    w = _read_w(path)
    shape = list(w.shape)
    if w.ndim == 3 and w.shape[0] == 1:
        w = w[0]
    if w.ndim == 1 or (w.ndim == 2 and w.shape[0] == 1):
        w = np.broadcast_to(w.reshape(1, -1), (num_ws, w.shape[-1]))
    if w.shape != (num_ws, w_dim):
        raise ValueError(f"{path}: w has shape {shape}; this generator needs [1, {num_ws}, {w_dim}], "
                         f"[{num_ws}, {w_dim}] or a single [{w_dim}]")
    return torch.from_numpy(np.array(w, dtype=np.float32))


def load_ws_batch(path, num_ws: int, w_dim: int) -> torch.Tensor:
    """[N, num_ws, w_dim] float32: every ws in a latent file (NVlabs' gen_images.py --projected-w)."""
    w = _read_w(path)
    if w.ndim == 2:
        w = w[None]
    if w.ndim != 3 or w.shape[1:] != (num_ws, w_dim) or w.shape[0] == 0:
        raise ValueError(f"{path}: w has shape {list(w.shape)}; this generator needs [N, {num_ws}, {w_dim}] "
                         f"with N >= 1")
    return torch.from_numpy(np.array(w, dtype=np.float32))


def save_ws(path, ws: torch.Tensor) -> None:
    """Write ws as .npz with key 'w' (NVlabs' projected_w.npz): [num_ws, w_dim] is saved as [1, num_ws, w_dim],
    a batch [N, num_ws, w_dim] as it is (``load_ws_batch`` reads both)."""
    from .fileio import atomic_path

    if ws.ndim not in (2, 3):
        raise ValueError(f"ws must be [num_ws, w_dim] or [N, num_ws, w_dim], got shape {list(ws.shape)}")
    w = ws.detach().float().cpu().numpy()
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, w=w[None] if w.ndim == 2 else w)
