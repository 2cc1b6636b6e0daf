"""adain: the Triton kernels (interpreted) against the reference op in float64."""
import pytest
import torch

from stylegan_fast import ops
from stylegan_fast.backends import BackendUnavailableError
from stylegan_fast.ops.adain import triton_kernels
from tests.interpreter.conftest import DTYPES, dtype_id
from tests.tolerances import assert_close

ONE_BLOCK_MAX = max(triton_kernels.PLANE_BLOCKS)  # larger planes take the looped kernel
SHAPES = [
    (2, 5, 4, 4), (1, 3, 8, 8), (2, 2, 16, 16), (1, 2, 32, 32), (1, 2, 64, 64),  # StyleGAN1 planes, one block
    (1, 1, 1, 1), (3, 2, 1, 7), (2, 3, 5, 9), (1, 2, 33, 17),  # odd sizes, batch 1
    (1, 1, 1, ONE_BLOCK_MAX + 1), (2, 1, 67, 71), (1, 2, 128, 128),  # looped: tail of 1, odd tail, no tail
    (1, 1, 1024, 1024),  # StyleGAN1's largest plane
]
PATHS = {"one-block": (2, 3, 24, 24), "looped": (1, 2, 70, 90)}  # shapes taking each kernel
assert 24 * 24 <= ONE_BLOCK_MAX < 70 * 90


def shape_id(shape):
    return "x".join(map(str, shape))


def _inputs(shape, dtype, offset=1.3, std=2.5, seed=0):
    g = torch.Generator().manual_seed(seed + sum(shape))
    x = (torch.randn(shape, generator=g) * std + offset).to(dtype)
    scale = (torch.randn(shape[:2], generator=g) + 1.0).to(dtype)  # some negative scales too
    shift = (torch.randn(shape[:2], generator=g) * 0.5).to(dtype)
    return x, scale, shift


def _check(x, scale, shift, eps=1e-8, msg=""):
    got = ops.adain(x, scale, shift, eps, backend="triton")
    want = ops.adain(x.double(), scale.double(), shift.double(), eps, backend="reference")
    assert got.dtype == x.dtype and got.shape == x.shape
    assert_close(got, want.to(x.dtype), x.dtype, msg=msg)
    return got, want


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
def test_adain_matches_reference(dtype, shape):
    _check(*_inputs(shape, dtype), msg=shape_id(shape))


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("path", PATHS)
def test_constant_planes_give_shift(dtype, path):
    """var = 0: x - mean is exactly 0 and eps keeps 1/sqrt(var + eps) finite, so y = shift."""
    x, scale, shift = _inputs(PATHS[path], dtype)
    x[:, 0] = 5.0
    x[-1, -1] = -0.75
    got, _ = _check(x, scale, shift, msg="constant planes")
    assert torch.isfinite(got).all()
    assert torch.equal(got[:, 0], shift[:, 0, None, None].expand_as(got[:, 0]))
    assert torch.equal(got[-1, -1], shift[-1, -1].expand_as(got[-1, -1]))


@pytest.mark.parametrize("path", PATHS)
def test_eps_matters_for_near_constant_planes(path):
    """var 1e-8: eps 1e-8 halves the variance's weight, eps 1e-4 all but flattens the plane."""
    x, scale, shift = _inputs(PATHS[path], torch.float32, offset=3.0, std=1e-4)
    outs = [_check(x, scale, shift, eps, msg=f"eps {eps}")[0] for eps in (1e-8, 1e-4)]
    spread = [(y - shift[:, :, None, None]).abs().max().item() for y in outs]
    assert spread[0] > 10 * spread[1], spread


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("path", PATHS)
def test_large_offset_planes(dtype, path):
    """Mean 1000, std 1: the variance and x - mean keep float32 accuracy (statistics of x - x[0]).
    The float32 reference itself is further off here (it rounds the mean to float32 first)."""
    x, scale, shift = _inputs(PATHS[path], dtype, offset=1000.0, std=1.0)
    got, want = _check(x, scale, shift, msg="mean 1000 std 1")
    if dtype == torch.float32:
        ref32 = ops.adain(x, scale, shift, backend="reference")
        err, ref_err = ((t.double() - want).abs().max().item() for t in (got, ref32))
        print(f"mean-1000 {path}: triton max abs err {err:.2e}, float32 reference {ref_err:.2e}")
        assert err <= max(2 * ref_err, 2e-6)


def test_non_contiguous_input():
    x, scale, shift = _inputs((2, 3, 9, 10), torch.float32)
    x = x.to(memory_format=torch.channels_last)
    _check(x, scale, shift, msg="channels_last")


def test_float64_is_refused():
    x, scale, shift = _inputs((1, 2, 4, 4), torch.float64)
    # the dispatcher refuses before the kernel's own TypeError could: the kernel takes no float64
    with pytest.raises(BackendUnavailableError, match="for torch.float64 .*use backend 'auto' or 'reference'"):
        ops.adain(x, scale, shift, backend="triton")
    assert torch.isfinite(ops.adain(x, scale, shift, backend="auto")).all()  # auto falls back
