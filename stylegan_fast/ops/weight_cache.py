"""Values derived from a weight parameter (transformed or packed kernels), computed once and kept beside it.

    packed = weight_cache.get(weight, key, lambda: build(weight))

Used by the cpu backend (Winograd transforms) and the triton backend (packed GEMM weights).
"""
from __future__ import annotations

import weakref
from typing import Callable

import torch


class WeightCache:
    """Values derived from a weight tensor (transformed kernels), kept while the tensor lives and is
    not modified (its in-place version counter and storage are unchanged)."""

    def __init__(self):
        self._entries: dict[int, tuple] = {}  # id(weight) -> (weakref to it, {key: (stamp, value)})

    def get(self, weight: torch.Tensor, key, build: Callable[[], torch.Tensor]) -> torch.Tensor:
        ref, values = self._entries.get(id(weight), (None, None))
        if ref is None or ref() is not weight:
            values = {}
            self._entries[id(weight)] = (weakref.ref(weight, lambda _, i=id(weight): self._entries.pop(i, None)), values)
        stamp = (weight._version, weight.data_ptr())
        hit = values.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        with torch.no_grad():
            value = build()
        values[key] = (stamp, value)
        return value


weight_cache = WeightCache()
