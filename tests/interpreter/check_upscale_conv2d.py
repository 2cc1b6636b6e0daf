"""upscale_conv2d on the triton backend (torch's convolution, no Triton kernel) against the reference."""
import math

import pytest
import torch

from stylegan_fast import ops
from stylegan_fast.backends import REGISTRY
from stylegan_fast.ops.upscale_conv2d import triton_kernels as tk
from tests.interpreter.conftest import DTYPES, dtype_id
from tests.tolerances import assert_close

SHAPES = [(1, 3, 5, 7, 4), (3, 16, 4, 4, 8), (3, 64, 3, 5, 32)]  # (N, I, H, W, O)


@pytest.mark.parametrize("fused", [False, True], ids=["nearest", "fused"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s[:4])) + f"-o{s[4]}")
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_upscale_conv2d_matches_reference(dtype, shape, fused):
    n, i, h, w, o = shape
    g = torch.Generator().manual_seed(sum(shape))
    x = torch.randn(n, i, h, w, generator=g).to(dtype)
    weight = (torch.randn(o, i, 3, 3, generator=g) / math.sqrt(9 * i)).to(dtype)
    got = ops.upscale_conv2d(x, weight, fused, backend="triton")
    want = ops.upscale_conv2d(x.double(), weight.double(), fused, backend="reference")
    assert got.dtype == dtype and got.shape == (n, o, 2 * h, 2 * w)
    assert want.abs().max() > 0.1
    assert_close(got, want, dtype, msg=f"fused={fused}")


def test_no_triton_kernel_to_compile():
    assert tk.kernel_specs() == []
    assert "triton" in REGISTRY["upscale_conv2d"].implementations
