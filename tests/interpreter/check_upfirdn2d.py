"""upfirdn2d: the Triton kernel (interpreted) against the reference op run in float64."""
import pytest
import torch

from stylegan_fast import ops
from tests.interpreter.conftest import DTYPES, dtype_id
from tests.tolerances import assert_close

SHAPES = [(1, 3, 4, 4), (2, 5, 7, 9), (1, 64, 8, 8), (1, 3, 11, 37)]  # 37: two tiles wide


def _shape_id(shape):
    return "x".join(map(str, shape))


def _inputs(shape, taps, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g)
    if taps is None:
        return x, None
    f = torch.randn(taps, generator=g) if isinstance(taps, tuple) else torch.tensor(taps, dtype=torch.float32)
    return x, f / f.sum().abs() if isinstance(taps, list) else f / f.abs().sum() * f.numel() ** 0.5


def _check(fn, x, f, dtype, msg="", **kw):
    """fn(..., backend="triton") in ``dtype`` against fn(..., backend="reference") in float64."""
    got = fn(x.to(dtype), f, backend="triton", **kw)
    want = fn(x.double(), None if f is None else f.double(), backend="reference", **kw)
    assert got.dtype == dtype and got.shape == want.shape, (got.dtype, got.shape, want.shape)
    assert want.abs().max() > 0.1  # a zero output could not pass
    assert_close(got, want.to(dtype), dtype, msg=msg)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("shape", SHAPES, ids=_shape_id)
def test_upsample2d_1331_matches_reference(dtype, shape):
    """The skip image and the upsampling conv: [1, 3, 3, 1], up 2, gain 4 (a 4x4 2-D filter)."""
    x, _ = _inputs(shape, None, seed=1)
    _check(ops.upsample2d, x, ops.setup_filter([1, 3, 3, 1]), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("shape", [(1, 3, 4, 4), (2, 5, 9, 7), (1, 3, 10, 70)], ids=_shape_id)
def test_downsample2d_1331_matches_reference(dtype, shape):
    """The discriminator's downsampling (odd sizes drop the last row/column)."""
    x, _ = _inputs(shape, None, seed=2)
    _check(ops.downsample2d, x, ops.setup_filter([1, 3, 3, 1]), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_filter2d_121_matches_reference(dtype):
    """StyleGAN1's blur: [1, 2, 1] 3x3, same size."""
    x, _ = _inputs((2, 5, 7, 9), None, seed=3)
    _check(ops.filter2d, x, ops.setup_filter([1, 2, 1]), dtype)


# (up, down, taps: list = 1-D normalized, tuple = random 2-D or 1-D shape, None = no filter, flip, padding, gain)
RAW_CASES = [
    (1, 1, (3, 4), False, (1, 2, 1, 1), 1.0),  # non-square 2-D, asymmetric padding
    (1, 1, (3, 4), True, (-1, 2, 3, -2), 2.5),  # negative padding crops
    (2, 1, (4, 4), False, (2, 1, 0, 3), 1.0),
    (2, 1, [1, 3, 3, 1], True, (-1, 2, 1, -2), 4.0),
    (2, 2, (3, 4), False, (3, -1, -1, 3), 1.0),
    (1, 2, (4,), True, (1, 2, 0, 1), 1.0),
    (1, 4, [1, 3, 3, 1], False, (1, 1, 1, 1), 1.0),
    (4, 1, [1, 3, 3, 1], False, (2, 1, 2, 1), 16.0),
    (4, 2, (5, 3), True, (3, 0, -2, 4), 1.0),
    (2, 1, (8,), False, (4, 3, 4, 3), 4.0),  # separable 8-tap (outer product built on the host)
    (1, 1, (12, 12), True, (6, 5, 5, 6), 1.0),  # the largest filter the kernels cover
    (4, 4, (12,), False, (5, -3, 2, 7), 1.0),
    (2, 1, None, False, (1, -1, 1, -1), 4.0),  # no filter: zero insertion, shifted
    (1, 3, (3, 3), False, (0, 0, 2, 2), 1.0),  # any down runs (a runtime argument)
    (3, 1, (3,), False, (1, 1, 1, 1), 1.0),  # up 3: not compiled, runs the reference
    (1, 1, (13,), False, (6, 6, 6, 6), 1.0),  # 13 taps: runs the reference
]


def _raw_id(case):
    up, down, taps, flip, pad, gain = case
    f = "none" if taps is None else "1331" if isinstance(taps, list) else "x".join(map(str, taps))
    pad_s = "_".join(str(p).replace("-", "m") for p in pad)
    return f"up{up}-down{down}-f{f}-{'corr' if flip else 'conv'}-pad{pad_s}-gain{gain:g}"


@pytest.mark.parametrize("case", RAW_CASES, ids=_raw_id)
def test_upfirdn2d_every_configuration_matches_reference(case):
    up, down, taps, flip, pad, gain = case
    x, f = _inputs((2, 3, 7, 6), taps, seed=4)
    _check(ops.upfirdn2d, x, f, torch.float32, msg=_raw_id(case), up=up, down=down, padding=pad, flip_filter=flip,
           gain=gain)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_upfirdn2d_raw_low_precision(dtype):
    x, f = _inputs((1, 4, 5, 9), (4, 3), seed=5)
    _check(ops.upfirdn2d, x, f, dtype, up=2, down=1, padding=(2, -1, 1, 0), flip_filter=False, gain=2.0)


def test_non_contiguous_input_and_inf_outside_the_filter():
    """A channels-last input; an inf that only a zero-padded tap (3x4 filter padded to 4x4) could reach."""
    x, f = _inputs((2, 4, 6, 5), (3, 4), seed=6)
    _check(ops.upfirdn2d, x.to(memory_format=torch.channels_last), f, torch.float32, padding=(1, 2, 1, 1))
    x = torch.randn(1, 1, 4, 6)
    x[0, 0, 3, :] = float("inf")  # row 3 is met only by filter row 3 of output row 0; the filter has 3 rows
    got = ops.upfirdn2d(x, torch.ones(3, 4), padding=(0, 0, 0, 0), backend="triton")
    want = ops.upfirdn2d(x.double(), torch.ones(3, 4, dtype=torch.float64), padding=(0, 0, 0, 0), backend="reference")
    assert got.shape == want.shape == (1, 1, 2, 3)
    assert torch.isfinite(got[0, 0, 0]).all()
    assert torch.equal(torch.isinf(got), torch.isinf(want))
