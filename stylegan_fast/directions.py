"""Latent directions: their file format, the ``FILE:INDEX`` spec, and moving ws along one.

A directions file is what ``stylegan-fast directions`` and ``boundary`` write and ``edit``, ``serve``
and the Python API read:

- ``.npz`` with ``directions`` [K, w_dim] float32 (one unit vector per row), optionally ``names`` [K]
  (strings), ``layers`` [K, num_ws] bool (the ws rows a direction was found for, e.g. SeFa per layer
  group; absent means all rows) and ``scores`` [K] (explained variance, eigenvalue or held-out accuracy).
- ``.npy`` [w_dim] or [1, w_dim] (InterFaceGAN's boundary.npy) or [K, w_dim].

Arrays only: pickled objects are refused.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from .fileio import atomic_path


@dataclass
class Directions:
    """K directions in W: ``vectors`` [K, w_dim] float32, unit length."""

    vectors: torch.Tensor
    names: list[str] = field(default_factory=list)
    layers: Optional[torch.Tensor] = None  # [K, num_ws] bool, or None: every ws row
    scores: Optional[torch.Tensor] = None  # [K] float

    def __post_init__(self):
        if self.vectors.ndim != 2 or self.vectors.shape[0] == 0:
            raise ValueError(f"directions must be [K, w_dim] with K >= 1, got shape {list(self.vectors.shape)}")
        if not self.names:
            self.names = [f"direction {i}" for i in range(len(self))]
        if len(self.names) != len(self):
            raise ValueError(f"{len(self.names)} names for {len(self)} directions")
        if self.layers is not None and (self.layers.ndim != 2 or self.layers.shape[0] != len(self)):
            raise ValueError(f"layers must be [K={len(self)}, num_ws], got shape {list(self.layers.shape)}")
        if self.scores is not None and self.scores.shape != (len(self),):
            raise ValueError(f"scores must be [K={len(self)}], got shape {list(self.scores.shape)}")

    def __len__(self) -> int:
        return self.vectors.shape[0]

    @property
    def w_dim(self) -> int:
        return self.vectors.shape[1]

    def layer_rows(self, index: int, num_ws: int) -> list[int]:
        """The ws rows direction ``index`` was found for (all rows when the file says nothing)."""
        if self.layers is None:
            return list(range(num_ws))
        if self.layers.shape[1] != num_ws:
            raise ValueError(f"the directions were found for a generator with num_ws={self.layers.shape[1]}, "
                             f"this one has num_ws={num_ws}")
        return [i for i in range(num_ws) if bool(self.layers[index, i])]


def unit_rows(vectors: torch.Tensor) -> torch.Tensor:
    """Each row scaled to length 1 (a zero row is an error: it has no direction)."""
    norms = vectors.norm(dim=1, keepdim=True)
    if bool((norms == 0).any()):
        raise ValueError("a direction of length zero has no direction")
    return vectors / norms


def save_directions(path, directions: Directions) -> None:
    """Write ``directions`` as .npz (the format above), atomically."""
    arrays = {"directions": directions.vectors.detach().float().cpu().numpy(),
              "names": np.array(directions.names, dtype=np.str_)}
    if directions.layers is not None:
        arrays["layers"] = directions.layers.cpu().numpy().astype(bool)
    if directions.scores is not None:
        arrays["scores"] = directions.scores.detach().float().cpu().numpy()
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def load_directions(path, w_dim: Optional[int] = None) -> Directions:
    """Read a directions file (.npz or .npy, see the module doc); ``w_dim`` checks it fits a generator."""
    path = Path(path)
    if path.suffix.lower() not in (".npz", ".npy"):
        raise ValueError(f"{path}: a directions file must be .npz (key 'directions') or .npy")
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"directions file {path} does not exist") from None
    except ValueError as e:
        raise ValueError(f"{path}: not a plain numpy array file ({e})") from None
    names, layers, scores = [], None, None
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            if "directions" not in data.files:
                raise ValueError(f"{path}: no array named 'directions' (has: {', '.join(data.files) or 'nothing'})"
                                 f"; expected directions [K, w_dim] as `stylegan-fast directions` writes")
            vectors = data["directions"]
            if "names" in data.files:
                names = [str(n) for n in data["names"]]
            if "layers" in data.files:
                layers = torch.from_numpy(np.array(data["layers"], dtype=bool))
            if "scores" in data.files:
                scores = torch.from_numpy(np.array(data["scores"], dtype=np.float32))
    else:
        vectors = data
    vectors = np.asarray(vectors)
    if not np.issubdtype(vectors.dtype, np.floating):
        raise ValueError(f"{path}: directions must be floating point, got {vectors.dtype}")
    if vectors.ndim == 1:
        vectors = vectors[None]
    if vectors.ndim != 2 or vectors.shape[0] == 0:
        raise ValueError(f"{path}: directions have shape {list(vectors.shape)}; expected [w_dim], [1, w_dim] "
                         f"or [K, w_dim]")
    if not np.isfinite(vectors).all():
        raise ValueError(f"{path}: directions contain NaN or infinity")
    if w_dim is not None and vectors.shape[1] != w_dim:
        raise ValueError(f"{path}: directions are {vectors.shape[1]}-dimensional; this generator's w has "
                         f"w_dim={w_dim}")
    vectors = unit_rows(torch.from_numpy(np.array(vectors, dtype=np.float32)))
    return Directions(vectors, names, layers, scores)


def parse_direction_spec(spec: str) -> tuple[str, Optional[int]]:
    """'dirs.npz:3' -> ('dirs.npz', 3); 'smile.npy' -> ('smile.npy', None)."""
    head, sep, tail = spec.rpartition(":")
    if sep and tail.isdigit() and head:
        return head, int(tail)
    if sep and head and not tail.isdigit() and head.lower().endswith((".npz", ".npy")):
        raise ValueError(f"bad direction {spec!r}: after ':' comes the index of a direction, e.g. {head}:0")
    return spec, None


def load_direction(spec: str, w_dim: Optional[int] = None, num_ws: Optional[int] = None
                   ) -> tuple[torch.Tensor, Optional[list[int]], str]:
    """One direction from ``FILE`` or ``FILE:INDEX``: (unit vector [w_dim], its ws rows or None, its name)."""
    path, index = parse_direction_spec(spec)
    directions = load_directions(path, w_dim)
    if index is None:
        if len(directions) > 1:
            raise ValueError(f"{path} holds {len(directions)} directions: pick one as {path}:INDEX "
                             f"(0..{len(directions) - 1})")
        index = 0
    if not 0 <= index < len(directions):
        raise ValueError(f"{path} holds {len(directions)} directions (0..{len(directions) - 1}); "
                         f"there is no direction {index}")
    rows = directions.layer_rows(index, num_ws) if (num_ws is not None and directions.layers is not None) else None
    return directions.vectors[index], rows, directions.names[index]


def move(ws: torch.Tensor, direction: torch.Tensor, strengths: Sequence[float],
         layers: Optional[Sequence[int]] = None) -> torch.Tensor:
    """ws [num_ws, w_dim] moved along ``direction`` by each strength: [len(strengths), num_ws, w_dim].

    w' = w + strength * direction on the ws rows ``layers`` (all rows when None); the rest unchanged.
    """
    if ws.ndim != 2:
        raise ValueError(f"ws must be [num_ws, w_dim], got shape {list(ws.shape)}")
    if direction.shape != (ws.shape[1],):
        raise ValueError(f"the direction has shape {list(direction.shape)}; this generator's w needs "
                         f"[{ws.shape[1]}] (w_dim)")
    rows = list(range(ws.shape[0])) if layers is None else list(layers)
    bad = [i for i in rows if not 0 <= i < ws.shape[0]]
    if bad:
        raise ValueError(f"layer indices {bad} out of range: num_ws={ws.shape[0]}")
    s = torch.as_tensor(list(strengths), dtype=ws.dtype, device=ws.device)
    out = ws.unsqueeze(0).repeat(len(s), 1, 1)
    out[:, rows] += s.view(-1, 1, 1) * direction.to(ws.device, ws.dtype).view(1, 1, -1)
    return out


def parse_strengths(spec: str) -> list[float]:
    """'-3:3:7' -> 7 evenly spaced strengths from -3 to 3; '1.5' -> [1.5]; '-2,0,2' -> [-2, 0, 2]."""
    try:
        if ":" in spec:
            parts = spec.split(":")
            if len(parts) != 3:
                raise ValueError
            lo, hi, n = float(parts[0]), float(parts[1]), int(parts[2])
            if n < 1:
                raise ValueError
            return [lo] if n == 1 else np.linspace(lo, hi, n).tolist()
        return [float(p) for p in spec.split(",")]
    except ValueError:
        raise ValueError(f"bad strengths {spec!r}: use START:STOP:COUNT (e.g. -3:3:7), a number, "
                         f"or a list like -2,0,2") from None
