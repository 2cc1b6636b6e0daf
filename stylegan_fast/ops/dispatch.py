"""The op registry: every op's reference implementation and the kernels registered beside it.

    _op = Op("modulated_conv2d", reference.modulated_conv2d)
    _op.register("triton", triton_modulated_conv2d)                # inference only
    _op.register("cuda", cuda_modulated_conv2d, differentiable=True)
    ...
    return _op(x.device, backend)(x, weight, styles, ...)          # in the op's public function

Which implementation runs is decided in one place, ``stylegan_fast.backends`` (see there).
"""
from __future__ import annotations

import functools
import importlib
from typing import Callable, Optional

import torch

from .. import backends

REGISTRY = backends.REGISTRY  # op name -> Op


class Op:
    """One operation: its implementations by backend; "reference" always exists and has a backward."""

    def __init__(self, name: str, reference: Callable):
        if name in REGISTRY:
            raise ValueError(f"op {name!r} is already registered")
        self.name = name
        self.implementations: dict[str, Callable] = {"reference": reference}
        self.differentiable: set[str] = {"reference"}
        self.dtypes: dict[str, Optional[tuple]] = {"reference": None}  # backend -> dtypes it takes (None: any)
        REGISTRY[name] = self

    def register(self, backend: str, fn: Callable, differentiable: bool = False,
                 dtypes: Optional[tuple] = None) -> None:
        """Add ``fn`` as this op's implementation for ``backend`` (any callable with the reference's
        signature, e.g. one calling torch's own convolution). ``differentiable``: it has a backward;
        ``dtypes``: the input dtypes it takes (None: any)."""
        if backend not in backends.BACKENDS or backend in ("auto", "reference"):
            raise ValueError(f"cannot register {backend!r} for op {self.name!r}; kernel backends: "
                             f"{', '.join(b for b in backends.BACKENDS if b not in ('auto', 'reference'))}")
        self.implementations[backend] = fn
        self.dtypes[backend] = None if dtypes is None else tuple(dtypes)
        if differentiable:
            self.differentiable.add(backend)
        backends.forget_plans()

    def __call__(self, device: torch.device, backend: Optional[str] = None, needs_grad: bool = False,
                 dtype: Optional[torch.dtype] = None) -> Callable:
        """The implementation to run on ``dtype`` inputs: ``backend`` if given, else the active forward's
        plan, else "auto"."""
        plan = backends.active_plan() if backend is None else None
        if plan is None:
            plan = backends.plan_for(backend, device, needs_grad and torch.is_grad_enabled())
        if backends.dynamo_compiling():  # torch.compile is tracing: a kernel is called as its custom op
            from . import custom_ops

            return custom_ops.traced_implementation(self, plan, dtype)
        return plan.pick(self, dtype)

    def __repr__(self):
        return f"Op({self.name!r}, backends={list(self.implementations)})"


def register_lazily(op: Op, backend: str, module: str, function: str, dtypes) -> None:
    """Register ``module.function`` as ``op``'s ``backend`` implementation for ``dtypes`` inputs; the module is
    imported at the first call, and each call shows in torch.profiler as ``<backend>::<function>``."""
    scope = f"{backend}::{function}"

    def implementation(*args, **kwargs):
        with torch.profiler.record_function(scope):
            return _load(module, function)(*args, **kwargs)

    implementation.__name__ = implementation.__qualname__ = f"{function}[{backend}]"
    op.register(backend, implementation, differentiable=False, dtypes=dtypes)


@functools.lru_cache(maxsize=None)
def _load(module: str, function: str) -> Callable:
    return getattr(importlib.import_module(module), function)


def needs_grad(*tensors) -> bool:
    """True when autograd will want a backward through an op on these tensors."""
    return torch.is_grad_enabled() and any(isinstance(t, torch.Tensor) and t.requires_grad for t in tensors)


def check_ndim(name: str, t, ndim: int, layout: str) -> None:
    if t.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D tensor {layout}, got shape {list(t.shape)}")


def check_dim(name: str, t, dim: int, expected: int, what: str) -> None:
    if t.shape[dim] != expected:
        raise ValueError(f"{name} has {t.shape[dim]} {what} (dim {dim} of shape {list(t.shape)}), expected {expected}")
