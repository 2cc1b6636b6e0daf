"""What the C++ CPU kernels share on the Python side: registration and the checks before a call.

Each op's binding lives in ``ops/<op>/cpu.py`` and calls ``stylegan_fast._C`` (csrc/cpu/<op>.cpp)
with data pointers. The kernels read and write raw memory, so nothing reaches them unchecked:
``kernel_input`` checks device, dtype, shape and layout and raise a ValueError
that says what was given and what is accepted. ``threads()`` is torch's intra-op thread count,
so ``torch.set_num_threads`` governs our kernels too (results do not depend on it).
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch

from .. import _native
from .dispatch import register_lazily

KERNEL_DTYPES = (torch.float32,)  # what the C++ CPU kernels take


def kernels_built() -> bool:
    """True when stylegan_fast._C has the CPU kernels (a module built before them has not)."""
    module = _native.get_module()
    return module is not None and hasattr(module, "winograd_input")


def native():
    """The _C module (only called by an implementation registered by ``register_cpu``)."""
    return _native.get_module()


def register_cpu(op, module: str, function: str, dtypes=KERNEL_DTYPES) -> None:
    """Register ``module.function`` (imported at its first call) as ``op``'s cpu implementation
    for ``dtypes`` inputs, when the CPU kernels are built."""
    if not kernels_built():
        return
    register_lazily(op, "cpu", module, function, dtypes)


def threads() -> int:
    return max(1, torch.get_num_threads())


def pointer(t: Optional[torch.Tensor]) -> int:
    """The data pointer a kernel gets (0 for None)."""
    return 0 if t is None else t.data_ptr()


def kernel_input(name: str, t: Optional[torch.Tensor], shape: Optional[Sequence[int]] = None,
                 dtype: torch.dtype = torch.float32) -> Optional[torch.Tensor]:
    """``t`` as the kernel reads it: on the CPU, ``dtype``, contiguous (a copy if it was not), with
    ``shape`` when given (-1: any size). Raises ValueError naming ``name`` otherwise."""
    if t is None:
        return None
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.device.type != "cpu":
        raise ValueError(f"{name} is on {t.device}; the cpu backend's kernels take CPU tensors")
    if shape is not None:
        _check_shape(name, t, shape)
    if t.dtype != dtype:
        if not t.dtype.is_floating_point and dtype.is_floating_point:
            raise ValueError(f"{name} must be a floating-point tensor ({dtype} for this kernel), got {t.dtype}")
        t = t.to(dtype)
    return t.contiguous()


def _check_shape(name, t, shape):
    if t.ndim != len(shape) or any(s != -1 and s != d for s, d in zip(shape, t.shape)):
        want = "[" + ", ".join("*" if s == -1 else str(s) for s in shape) + "]"
        raise ValueError(f"{name} must have shape {want}, got {list(t.shape)}")
