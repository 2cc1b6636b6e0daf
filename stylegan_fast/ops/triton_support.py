"""What the Triton kernels share without importing triton: lazy registration and kernel specs.

Each op's kernels live in ``ops/<op>/triton_kernels.py``, the only files that import triton.
They are registered here lazily (importing triton costs a second), and only where triton is
installed; the module is imported at the first call. Triton reads ``TRITON_INTERPRET`` when a
kernel is defined: set it before the first call to run the kernels on CPU tensors.

``KernelSpec`` lists every configuration a launcher can choose, so that all of them can be
compiled ahead of time for each GPU target (``stylegan-fast kernels``).
"""
from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.util
from typing import Callable

import torch

TRITON_INSTALLED = importlib.util.find_spec("triton") is not None

# torch dtype -> Triton pointer type names, for the ahead-of-time signatures
POINTER_TYPES = {torch.float32: "*fp32", torch.float16: "*fp16", torch.bfloat16: "*bf16"}


KERNEL_DTYPES = (torch.float32, torch.float16, torch.bfloat16)  # what the Triton kernels take


def register_triton(op, module: str, function: str, differentiable: bool = False, dtypes=KERNEL_DTYPES) -> None:
    """Register ``module.function`` (imported at its first call) as ``op``'s triton implementation
    for ``dtypes`` inputs (other dtypes run the next backend under "auto")."""
    if not TRITON_INSTALLED:
        return

    @functools.wraps(_placeholder)
    def implementation(*args, **kwargs):
        return _load(module, function)(*args, **kwargs)

    implementation.__name__ = implementation.__qualname__ = f"{function}[triton]"
    op.register("triton", implementation, differentiable=differentiable, dtypes=dtypes)


def _placeholder(*args, **kwargs):  # the signature the lazy wrapper shows
    raise NotImplementedError


@functools.lru_cache(maxsize=None)
def _load(module: str, function: str) -> Callable:
    return getattr(importlib.import_module(module), function)


@dataclasses.dataclass
class KernelSpec:
    """One @triton.jit kernel and every configuration its launcher may pick.

    ``configs``: one dict per configuration: ``signature`` (argument name -> Triton type, e.g.
    "*fp32", "i32", "fp32", "constexpr"), ``constexprs`` (name -> value) and ``num_warps``.
    """
    name: str
    fn: object  # the triton.jit function
    configs: list
