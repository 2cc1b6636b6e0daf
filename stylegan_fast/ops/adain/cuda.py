"""adain on the cuda backend: csrc/cuda/adain.cu, the planes' statistics in one pass over x (fixed
chunks and merge order: deterministic, no atomics), then the apply pass. Statistics and the affine
in float32; the output has x's memory format."""
from __future__ import annotations

import torch

from .. import cuda_support as cs


def adain(x, scale, shift, eps):
    """The reference's signature (arguments checked by ops.adain). x: [N, C, H, W]; scale, shift: [N, C]."""
    x = cs.kernel_input("x", x, [-1, -1, -1, -1])
    n, c, h, w = x.shape
    scale = cs.parameter("scale", scale, [n, c], x.device)
    shift = cs.parameter("shift", shift, [n, c], x.device)
    if h * w == 0:
        raise ValueError(f"adain needs planes with at least one element, got x of shape {list(x.shape)}")
    y = cs.empty(x.shape, x)
    C = cs.native()
    workspace = torch.empty(C.cuda_adain_workspace_floats(tuple(x.shape)), dtype=torch.float32, device=x.device)
    C.cuda_adain(cs.dtype_code(x), tuple(x.shape), x.data_ptr(), cs.strides(x), scale.data_ptr(), shift.data_ptr(),
                 float(eps), workspace.data_ptr(), y.data_ptr(), cs.strides(y), *cs.launch(x.device))
    return y
