"""FIR resampling (``upfirdn2d``) and the up/down/filter helpers built on it."""
from __future__ import annotations

import torch

from ..cpu_support import register_cpu
from ..cuda_support import register_cuda
from ..dispatch import Op, needs_grad, check_ndim
from ..triton_support import register_triton
from . import reference

_op = Op("upfirdn2d", reference.upfirdn2d)
register_triton(_op, f"{__name__}.triton_kernels", "upfirdn2d")
register_cpu(_op, f"{__name__}.cpu", "upfirdn2d")
register_cuda(_op, f"{__name__}.cuda", "upfirdn2d")


def _normalize_padding(padding):
    if isinstance(padding, int):
        return (padding,) * 4
    if len(padding) == 2:  # (px, py)
        return (padding[0], padding[0], padding[1], padding[1])
    if len(padding) == 4:
        return tuple(int(p) for p in padding)
    raise ValueError(f"padding must be an int, (px, py) or (px0, px1, py0, py1); got {padding!r}")


def setup_filter(f, normalize=True, flip=False, gain=1.0, separable=None, device=None) -> torch.Tensor:
    """A FIR filter as a float32 tensor: 1-D taps -> 2-D outer product unless ``separable``.

    ``normalize`` scales the taps to sum to one; ``gain`` multiplies them afterwards.
    By default 1-D taps stay 1-D (two separable passes) from 8 taps up; shorter filters such as
    [1, 3, 3, 1] become 2-D, as one depthwise pass is faster than two for them.
    """
    f = torch.as_tensor([1.0] if f is None else f, dtype=torch.float32, device=device)
    if f.ndim not in (1, 2) or f.numel() == 0:
        raise ValueError(f"a FIR filter must be 1-D or 2-D and non-empty, got shape {list(f.shape)}")
    if separable is None:
        separable = f.ndim == 1 and f.numel() >= 8
    if f.ndim == 1 and not separable:
        f = torch.outer(f, f)
    if normalize:
        f = f / f.sum()
    if flip:
        f = f.flip(list(range(f.ndim)))
    return f * (gain ** (f.ndim / 2))


def filter_size(f) -> tuple[int, int]:
    if f is None:
        return 1, 1
    return (f.shape[-1], f.shape[0]) if f.ndim == 2 else (f.shape[0], f.shape[0])


def upfirdn2d(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1.0, backend=None):
    """Upsample by ``up``, pad, convolve with FIR ``f``, downsample by ``down``. x: [N, C, H, W]."""
    check_ndim("x", x, 4, "[N, C, H, W]")
    if f is not None and f.ndim not in (1, 2):
        raise ValueError(f"f must be 1-D (separable) or 2-D, got shape {list(f.shape)}")
    if int(up) < 1 or int(down) < 1:
        raise ValueError(f"up and down must be >= 1, got up={up}, down={down}")
    implementation = _op(x.device, backend, needs_grad(x), x.dtype)
    return implementation(x, f, int(up), int(down), _normalize_padding(padding), flip_filter, gain)


def upsample2d(x, f, up=2, padding=0, flip_filter=False, gain=1.0, backend=None):
    """Upsample x: [N, C, H, W] -> [N, C, H*up, W*up] with FIR interpolation filter ``f``."""
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = _normalize_padding(padding)
    p = (px0 + (fw + up - 1) // 2, px1 + (fw - up) // 2, py0 + (fh + up - 1) // 2, py1 + (fh - up) // 2)
    return upfirdn2d(x, f, up=up, padding=p, flip_filter=flip_filter, gain=gain * up * up, backend=backend)


def downsample2d(x, f, down=2, padding=0, flip_filter=False, gain=1.0, backend=None):
    """Downsample x: [N, C, H, W] -> [N, C, H/down, W/down] after FIR anti-aliasing with ``f``."""
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = _normalize_padding(padding)
    p = (px0 + (fw - down + 1) // 2, px1 + (fw - down) // 2, py0 + (fh - down + 1) // 2, py1 + (fh - down) // 2)
    return upfirdn2d(x, f, down=down, padding=p, flip_filter=flip_filter, gain=gain, backend=backend)


def filter2d(x, f, padding=0, flip_filter=False, gain=1.0, backend=None):
    """Filter x: [N, C, H, W] with ``f``, keeping its size (plus ``padding``)."""
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = _normalize_padding(padding)
    p = (px0 + fw // 2, px1 + (fw - 1) // 2, py0 + fh // 2, py1 + (fh - 1) // 2)
    return upfirdn2d(x, f, padding=p, flip_filter=flip_filter, gain=gain, backend=backend)
