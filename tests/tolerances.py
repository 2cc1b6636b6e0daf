"""The one tolerance table: (atol, rtol) per dtype for comparisons against a float64 derivation.

Fast paths are compared to the reference with the same table; low-precision entries are sized
for values of order 1 (as activations and images are in these networks).
"""
import torch

TOLERANCES = {
    torch.float64: dict(atol=1e-10, rtol=1e-10),
    torch.float32: dict(atol=2e-5, rtol=2e-5),
    torch.float16: dict(atol=2e-2, rtol=2e-2),
    torch.bfloat16: dict(atol=1e-1, rtol=5e-2),
}

# Winograd F(4x4, 3x3) in float32 (the cpu backend's convolution): the transforms multiply by up to
# 8 and add up to 36 terms, so its error is a few times a direct convolution's; against float64 it
# measures 2e-6 to 1e-5 relative to the largest output (tests/test_winograd.py). Passed as
# ``assert_close(..., **WINOGRAD_FP32)``: atol and rtol 1e-4 relative to values of order 1.
WINOGRAD_FP32 = dict(dtype=torch.float32, scale=5.0)


def assert_close(actual, expected, dtype=None, msg="", scale=1.0):
    """torch.testing.assert_close with the table's tolerance for ``dtype`` (default: actual.dtype),
    both multiplied by ``scale``; the failure message gives the max and mean absolute error."""
    dtype = dtype or actual.dtype
    tol = TOLERANCES[dtype]
    a, e = actual.detach().double().cpu(), expected.detach().double().cpu()
    err = (a - e).abs() if a.shape == e.shape else None
    detail = (f"{msg} max abs err {err.max().item():.3e}, mean abs err {err.mean().item():.3e} ({dtype})"
              if err is not None and err.numel() else f"{msg} ({dtype})")
    torch.testing.assert_close(a, e, atol=tol["atol"] * scale, rtol=tol["rtol"] * scale, msg=lambda m: f"{detail}\n{m}")
