"""Access to the optional compiled extension ``stylegan_fast._C``.

Importing this module never raises and never compiles anything: if ``_C`` was
not built (or fails to load) the package runs on its pure PyTorch/Triton paths
and :func:`native_error` says why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

__all__ = [
    "native_available",
    "native_error",
    "build_info",
    "cuda_compiled",
    "get_module",
]

_C: Any = None
_error: Optional[str] = None

try:
    from stylegan_fast import _C as _C  # type: ignore[attr-defined,no-redef]
except ImportError as exc:  # not built, wrong ABI, missing shared lib, ...
    _C = None
    _error = f"stylegan_fast._C not built: {exc}"
except Exception as exc:  # noqa: BLE001 - a broken module must not break the package
    _C = None
    _error = f"stylegan_fast._C failed to load: {type(exc).__name__}: {exc}"

if _C is None:  # setup.py leaves the reason of a failed build beside the package
    _build_error = Path(__file__).with_name("_native_build_error.txt")
    if _build_error.is_file():
        _error += f"; the native build failed at install time: {_build_error.read_text(errors='replace').strip()}"

_build_info_cache: Optional[Dict[str, Any]] = None


def native_available() -> bool:
    """True if the compiled extension was imported."""
    return _C is not None


def native_error() -> Optional[str]:
    """Why the extension is unavailable, or None if it loaded."""
    return _error


def get_module() -> Any:
    """The ``_C`` module, or None."""
    return _C


def build_info() -> Optional[Dict[str, Any]]:
    """``_C.build_info()`` (a fresh dict) or None when the extension is absent."""
    global _build_info_cache
    if _C is None:
        return None
    if _build_info_cache is None:
        _build_info_cache = dict(_C.build_info())
    return dict(_build_info_cache)


def cuda_compiled() -> bool:
    """True if ``_C`` contains CUDA code (it then has ``cuda_device_count()``)."""
    info = build_info()
    return bool(info and info.get("cuda_compiled"))
