"""Seeds -> latents, compatible with NVlabs' scripts (seed 42 gives the same z as gen_images.py)."""
from __future__ import annotations

import re
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
