"""Per-op registry: the reference implementation plus any fast backends."""
from __future__ import annotations

from typing import Callable


class Op:
    """One operation: its reference implementation and the backends registered for it.

    ``implementation(backend)`` returns the function registered for ``backend``,
    or the reference when this op has no kernel for that backend yet.
    """

    def __init__(self, name: str, reference: Callable):
        self.name = name
        self._impls: dict[str, Callable] = {"reference": reference}

    def register(self, backend: str, fn: Callable) -> None:
        self._impls[backend] = fn

    def implementation(self, backend: str) -> Callable:
        return self._impls.get(backend, self._impls["reference"])

    @property
    def backends(self) -> tuple[str, ...]:
        return tuple(self._impls)


def check_ndim(name: str, t, ndim: int, layout: str) -> None:
    if t.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D tensor {layout}, got shape {list(t.shape)}")


def check_dim(name: str, t, dim: int, expected: int, what: str) -> None:
    if t.shape[dim] != expected:
        raise ValueError(f"{name} has {t.shape[dim]} {what} (dim {dim} of shape {list(t.shape)}), expected {expected}")
