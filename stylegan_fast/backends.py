"""Backend names, availability and the one resolver every op goes through.

A backend is a family of implementations ("reference", "triton", "cuda", "cpu").
Each op registers the backends it has (see ``stylegan_fast.ops.dispatch``); an
op that lacks the selected backend runs its reference implementation.

``STYLEGAN_FAST_BACKEND`` overrides the "auto" choice. An explicitly requested
backend that cannot run raises :class:`BackendUnavailableError` with the
reason; it is never silently replaced.
"""
from __future__ import annotations

import importlib.util
import os

import torch

BACKENDS = ("auto", "reference", "triton", "cuda", "cpu")
ENV_VAR = "STYLEGAN_FAST_BACKEND"

# Order in which "auto" tries backends, per device type.
AUTO_ORDER = {"cuda": ("triton", "cuda", "reference"), "cpu": ("cpu", "reference")}


class BackendUnavailableError(RuntimeError):
    """An explicitly requested backend cannot run here."""


def check_backend_name(name: str) -> str:
    if not isinstance(name, str) or name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of: {', '.join(BACKENDS)}")
    return name


def backend_status(name: str, device: torch.device | str = "cpu") -> tuple[bool, str]:
    """Whether backend ``name`` can run on ``device``, and why not."""
    check_backend_name(name)
    device = torch.device(device)
    if name == "auto":
        return True, "picks the fastest available backend per op"
    if name == "reference":
        return True, "pure PyTorch, runs on any device"
    if name == "triton":
        if importlib.util.find_spec("triton") is None:
            return False, "the triton package is not installed (pip install 'stylegan_fast[triton]')"
        if device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
            return False, f"Triton kernels need a CUDA device (got {device.type}); TRITON_INTERPRET=1 runs them slowly on CPU"
        return False, "no Triton kernels ship in this version yet"
    from . import _native  # local import: keeps `import stylegan_fast` cheap

    if not _native.native_available():
        return False, _native.native_error() or "the native module stylegan_fast._C is not built"
    if name == "cuda":
        if not _native.cuda_compiled():
            return False, "stylegan_fast._C was built without CUDA sources (nvcc not found at install time)"
        if device.type != "cuda":
            return False, f"the cuda backend needs a CUDA device (got {device.type})"
        return False, "no CUDA kernels ship in this version yet"
    # name == "cpu"
    if device.type != "cpu":
        return False, f"the cpu backend needs a CPU device (got {device.type})"
    return False, "no C++ CPU kernels ship in this version yet"


def resolve_backend(requested: str | None, device: torch.device | str) -> str:
    """Turn a requested backend (or None = environment/auto) into a concrete one."""
    if requested is None:
        requested = os.environ.get(ENV_VAR, "auto") or "auto"
    check_backend_name(requested)
    device = torch.device(device)
    if requested == "auto":
        env = os.environ.get(ENV_VAR)
        if env and env != "auto":
            return resolve_backend(env, device)
        for name in AUTO_ORDER.get(device.type, ("reference",)):
            if backend_status(name, device)[0]:
                return name
        return "reference"
    ok, reason = backend_status(requested, device)
    if not ok:
        raise BackendUnavailableError(f"backend {requested!r} is unavailable on {device}: {reason}")
    return requested
