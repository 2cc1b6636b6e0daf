"""Instance normalization followed by a per-sample, per-channel affine (AdaIN)."""
from __future__ import annotations

from ..cpu_support import register_cpu
from ..cuda_support import register_cuda
from ..dispatch import Op, needs_grad, check_ndim
from ..triton_support import register_triton
from . import reference

_op = Op("adain", reference.adain)
register_triton(_op, f"{__name__}.triton_kernels", "adain")
register_cpu(_op, f"{__name__}.cpu", "adain")
register_cuda(_op, f"{__name__}.cuda", "adain")


def adain(x, scale, shift, eps=1e-8, backend=None):
    """x: [N, C, H, W]; scale, shift: [N, C] -> [N, C, H, W]."""
    check_ndim("x", x, 4, "[N, C, H, W]")
    for name, t in (("scale", scale), ("shift", shift)):
        if tuple(t.shape) != tuple(x.shape[:2]):
            raise ValueError(f"{name} must have shape [N, C] = {list(x.shape[:2])}, got {list(t.shape)}")
    return _op(x.device, backend, needs_grad(x, scale, shift), x.dtype)(x, scale, shift, eps)
