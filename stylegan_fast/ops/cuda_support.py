"""What the CUDA kernels share on the Python side: registration, the checks before a launch, layouts.

Each op's launcher lives in ``ops/<op>/cuda.py`` and calls ``stylegan_fast._C`` (csrc/cuda/<op>.cu,
bound by csrc/cuda/bind_cuda.cpp) with data pointers, sizes, element strides, torch's current
stream and the device index. The kernels read and write raw device memory, so nothing reaches them
unchecked: ``kernel_input`` raises a ValueError naming the argument, what it is and what is accepted
(device, dtype, shape) before anything is launched.

Layout: the convolutions are torch's (cuDNN), run in channels_last, cuDNN's layout for tensor cores;
our kernels take element strides, so they read and write channels_last (and NCHW) directly, and
each writes its output in its input's memory format: activations stay channels_last between ops.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch

from .. import _native
from .dispatch import register_lazily
from .cpu_support import pointer  # noqa: F401 - the data pointer a kernel gets (0 for None)

KERNEL_DTYPES = (torch.float32, torch.float16, torch.bfloat16)  # what the CUDA kernels take (float32 math)
DTYPE_CODES = {torch.float32: 0, torch.float16: 1, torch.bfloat16: 2}  # csrc/cuda/kernels.h DType


def kernels_built() -> bool:
    """True when stylegan_fast._C was built with CUDA and holds the kernels (not only the device query)."""
    module = _native.get_module()
    return _native.cuda_compiled() and hasattr(module, "cuda_noise_bias_act")


def native():
    """The _C module (only called by an implementation registered by ``register_cuda``)."""
    return _native.get_module()


def register_cuda(op, module: str, function: str, dtypes=KERNEL_DTYPES) -> None:
    """Register ``module.function`` (imported at its first call) as ``op``'s cuda implementation for
    ``dtypes`` inputs, when the module was built with the CUDA kernels."""
    if not kernels_built():
        return
    register_lazily(op, "cuda", module, function, dtypes)


def kernel_input(name: str, t, shape: Optional[Sequence[int]] = None, dtypes: Sequence[torch.dtype] = KERNEL_DTYPES,
                 device: Optional[torch.device] = None):
    """``t`` unchanged after checking it is a tensor of one of ``dtypes``, with ``shape`` when given (-1:
    any size), on a CUDA device (``device``, the other inputs', when given). None passes through."""
    if t is None:
        return None
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in dtypes:
        raise ValueError(f"{name} has dtype {t.dtype}; the cuda backend's kernels take "
                         f"{', '.join(str(d).removeprefix('torch.') for d in dtypes)}")
    if shape is not None and (t.ndim != len(shape) or any(s != -1 and s != d for s, d in zip(shape, t.shape))):
        want = "[" + ", ".join("*" if s == -1 else str(s) for s in shape) + "]"
        raise ValueError(f"{name} must have shape {want}, got {list(t.shape)}")
    if t.device.type != "cuda":
        raise ValueError(f"{name} is on {t.device}; the cuda backend's kernels take tensors on a CUDA device")
    if device is not None and t.device != device:
        raise ValueError(f"{name} is on {t.device}, the other inputs on {device}: all must be on one device")
    return t


def parameter(name: str, t, shape: Sequence[int], device: torch.device) -> Optional[torch.Tensor]:
    """A small parameter (bias, strength, styles) as the kernels read it: float32, contiguous, on ``device``
    (any floating dtype is accepted and converted)."""
    if t is None:
        return None
    floating = (torch.float64, torch.float32, torch.float16, torch.bfloat16)
    return kernel_input(name, t, shape, floating, device).to(torch.float32).contiguous()


def strides(t: torch.Tensor) -> tuple:
    """Element strides (n, c, h, w) of a 4-D tensor."""
    return tuple(t.stride())


def memory_format(t: torch.Tensor) -> torch.memory_format:
    """channels_last for a channels_last 4-D tensor (not also contiguous), else contiguous."""
    if t.ndim == 4 and not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def empty(shape, like: torch.Tensor, dtype: Optional[torch.dtype] = None) -> torch.Tensor:
    """An output of ``shape`` in ``like``'s memory format, dtype (or ``dtype``) and device."""
    return torch.empty(shape, dtype=like.dtype if dtype is None else dtype, device=like.device,
                       memory_format=memory_format(like))


def channels_last(t: torch.Tensor) -> torch.Tensor:
    """The 4-D tensor in channels_last (itself when it already is)."""
    return t.contiguous(memory_format=torch.channels_last)


def launch(device: torch.device) -> tuple[int, int]:
    """(stream, device index): the last two arguments of every kernel binding."""
    return torch.cuda.current_stream(device).cuda_stream, device.index


def dtype_code(t: torch.Tensor) -> int:
    return DTYPE_CODES[t.dtype]


def noise_arguments(noise, noise_strength, x: torch.Tensor) -> tuple:
    """The epilogue's noise for activations x [N, C, H, W]: (noise [N or 1, 1, H, W] in x's dtype or None,
    its strides (n: 0 for one map), strength float32 [C] or [1] or None, strength stride 1 or 0)."""
    if noise is None:
        return None, (0, 0, 0, 0), None, 0
    n, c, h, w = x.shape
    noise = kernel_input("noise", noise, [-1, 1, h, w], device=x.device)
    if noise.shape[0] not in (1, n):
        raise ValueError(f"noise must have batch size 1 or {n} (x's), got {list(noise.shape)}")
    if noise_strength is None:
        raise ValueError("noise needs a noise_strength (a scalar or one weight per channel)")
    noise = noise.to(x.dtype)
    noise_strides = (0 if noise.shape[0] == 1 else noise.stride(0), 0, noise.stride(2), noise.stride(3))
    strength = noise_strength if isinstance(noise_strength, torch.Tensor) else torch.tensor(float(noise_strength))
    strength = parameter("noise_strength", strength.reshape(-1).to(x.device), [-1], x.device)
    if strength.numel() not in (1, c):
        raise ValueError(f"noise_strength must be a scalar or have {c} values (x's channels), "
                         f"got {strength.numel()} values")
    return noise, noise_strides, strength, 0 if strength.numel() == 1 else 1
