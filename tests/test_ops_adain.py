"""adain (StyleGAN1, Huang & Belongie 2017) against an instance norm written as float64 loops:
per (n, c) mean and biased variance over H, W, eps 1e-8, then scale * x_hat + shift.
"""
import math

import numpy as np
import pytest
import torch

from stylegan_fast.ops import adain
from tests.op_helpers import DTYPE_NAMES, randn, run_or_skip, with_threads
from tests.tolerances import assert_close


def adain_loops(x, scale, shift, eps=1e-8):
    x = np.asarray(x, dtype=np.float64)
    n_, c_, h, w = x.shape
    out = np.empty_like(x)
    for n in range(n_):
        for c in range(c_):
            total = 0.0
            for a in range(h):
                for b in range(w):
                    total += x[n, c, a, b]
            mean = total / (h * w)
            sq = 0.0
            for a in range(h):
                for b in range(w):
                    sq += (x[n, c, a, b] - mean) ** 2
            inv_std = 1.0 / math.sqrt(sq / (h * w) + eps)  # biased variance
            for a in range(h):
                for b in range(w):
                    out[n, c, a, b] = scale[n, c] * (x[n, c, a, b] - mean) * inv_std + shift[n, c]
    return torch.from_numpy(out)


def _inputs(shape, dtype, seed=80):
    # Activations with a non-zero mean and non-unit std, so the normalization does real work.
    x = (randn(shape, seed) * 2.5 + 1.3).to(dtype)
    scale = (randn(shape[:2], seed + 1) + 1.0).to(dtype)  # some negative scales too
    shift = randn(shape[:2], seed + 2, 0.5).to(dtype)
    return x, scale, shift


_SHAPES = [(2, 3, 5, 7), (1, 4, 6, 6), (3, 2, 1, 8), (2, 3, 1, 1)]
_PARAMS = [pytest.param(dt, s, id=f"{DTYPE_NAMES[dt]}-{'x'.join(map(str, s))}")
           for dt in (torch.float64, torch.float32, torch.float16, torch.bfloat16) for s in _SHAPES]


@pytest.mark.parametrize("dtype,shape", _PARAMS)
def test_adain_matches_instance_norm_loops(dtype, shape):
    x, scale, shift = _inputs(shape, dtype)
    got = run_or_skip(lambda: adain(x, scale, shift), dtype)
    expected = adain_loops(x.double().numpy(), scale.double().numpy(), shift.double().numpy())
    assert got.dtype == dtype  # bf16 / fp16 in -> same dtype out
    assert tuple(got.shape) == tuple(shape)
    assert expected.abs().max() > 0.1
    assert_close(got, expected, dtype=dtype)


def test_adain_float64_precision():
    x, scale, shift = _inputs((2, 3, 5, 7), torch.float64)
    assert_close(adain(x, scale, shift), adain_loops(x.numpy(), scale.numpy(), shift.numpy()))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["fp64", "fp32"])
def test_adain_output_statistics_match_formula(dtype):
    # Per (n, c): mean(y) = shift and biased std(y) = |scale| * sqrt(var / (var + eps)) ~= |scale|.
    x, scale, shift = _inputs((2, 3, 6, 5), dtype, seed=90)
    y = adain(x, scale, shift).double()
    mean = y.mean(dim=[2, 3])
    std = ((y - mean[:, :, None, None]) ** 2).mean(dim=[2, 3]).sqrt()
    assert_close(mean, shift.double(), dtype=torch.float32)
    assert_close(std, scale.double().abs(), dtype=torch.float32)
    assert (scale < 0).any(), "the case should cover negative scales"


def test_adain_invariant_to_affine_change_of_input():
    # Instance norm removes a per-(n, c) positive scale and offset of the input.
    x, scale, shift = _inputs((2, 3, 4, 5), torch.float64, seed=100)
    a = randn((2, 3, 1, 1), seed=101).abs() + 0.5
    b = randn((2, 3, 1, 1), seed=102) * 4
    assert adain(x, scale, shift).abs().max() > 0.1
    assert_close(adain(x * a + b, scale, shift), adain(x, scale, shift), dtype=torch.float32)
    assert_close(adain(-x, scale, shift), adain(x, -scale, shift), dtype=torch.float32)


def test_adain_constant_channel_gives_shift():
    # var = 0: x - mean = 0 exactly, eps keeps it finite, output = shift.
    x = torch.full((2, 3, 4, 4), 5.0)
    scale, shift = randn((2, 3), seed=110).float(), randn((2, 3), seed=111).float()
    y = adain(x, scale, shift)
    assert torch.isfinite(y).all()
    assert_close(y, shift.double()[:, :, None, None].expand(2, 3, 4, 4))


def test_adain_shape_errors():
    x = torch.zeros(2, 3, 4, 4)
    with pytest.raises(ValueError, match=r"x must be a 4-D tensor"):
        adain(torch.zeros(2, 3, 4), torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"scale must have shape \[N, C\] = \[2, 3\]"):
        adain(x, torch.zeros(2, 4), torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"shift must have shape \[N, C\] = \[2, 3\]"):
        adain(x, torch.zeros(2, 3), torch.zeros(3))


# ---------------------------------------------------------------------------------------------
# cpu backend (csrc/cpu/adain.cpp) against the reference
# ---------------------------------------------------------------------------------------------

from stylegan_fast.ops import cpu_support  # noqa: E402

needs_cpu_kernels = pytest.mark.skipif(not cpu_support.kernels_built(),
                                       reason="stylegan_fast._C is not built with the C++ CPU kernels")



# The last two are split over two threads (>= 2 * 65536 elements).
_CPU_SHAPES = [(1, 67, 5, 7), (3, 1, 13, 11), (2, 5, 1, 1), (2, 3, 1, 9), (1, 2, 33, 17), (2, 3, 150, 230),
               (1, 67, 44, 45)]


@needs_cpu_kernels
@pytest.mark.parametrize("eps", [1e-8, 1e-3])
@pytest.mark.parametrize("offset,spread", [(1.3, 2.5), (5.0, 0.5), (0.0, 1e-3)], ids=["typical", "offset", "tiny"])
@pytest.mark.parametrize("shape", _CPU_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_adain_cpu_matches_reference(shape, offset, spread, eps):
    x = (randn(shape, seed=400) * spread + offset).float()
    scale = (randn(shape[:2], seed=401) + 1.0).float()  # some negative scales too
    shift = randn(shape[:2], seed=402, scale=0.5).float()
    one, two = (with_threads(lambda: adain(x, scale, shift, eps=eps, backend="cpu"), t) for t in (1, 2))
    ref = adain(x, scale, shift, eps=eps, backend="reference")
    assert one.dtype == torch.float32 and one.shape == x.shape
    assert torch.equal(one, two), "cpu result depends on the thread count"
    assert_close(one, ref)
    exact = adain(x.double(), scale.double(), shift.double(), eps=eps, backend="reference")
    assert_close(one, exact, dtype=torch.float32)
    if shape[2] * shape[3] > 1 and eps < spread ** 2:  # a real normalization: output std ~ |scale|
        assert (one - shift[:, :, None, None]).abs().amax(dim=[2, 3]).gt(0.5 * scale.abs()).all()


@needs_cpu_kernels
def test_adain_cpu_constant_planes_and_layouts():
    # A constant plane (variance 0) gives exactly the shift; non-contiguous and float64 inputs as the reference.
    x = randn((2, 3, 6, 5), seed=410).float()
    x[0, 1] = 7.25
    scale, shift = randn((2, 3), seed=411).float(), randn((2, 3), seed=412).float()
    y = adain(x, scale, shift, backend="cpu")
    assert torch.equal(y[0, 1], shift[0, 1].expand(6, 5))
    assert_close(y, adain(x, scale, shift, backend="reference"))
    xt = x.transpose(2, 3)
    assert_close(adain(xt, scale, shift, backend="cpu"), adain(xt, scale, shift, backend="reference"))
    assert_close(adain(x, scale.double(), shift.t().contiguous().t(), backend="cpu"),
                 adain(x, scale, shift, backend="reference"))


@needs_cpu_kernels
def test_adain_cpu_bad_input():
    import importlib

    cpu_adain = importlib.import_module("stylegan_fast.ops.adain.cpu").adain
    x, scale, shift = torch.zeros(2, 3, 4, 4), torch.ones(2, 3), torch.zeros(2, 3)
    with pytest.raises(ValueError, match=r"x is on meta; the cpu backend's kernels take CPU tensors"):
        cpu_adain(x.to("meta"), scale, shift, 1e-8)
    with pytest.raises(ValueError, match=r"x must be a floating-point tensor .*got torch.int32"):
        cpu_adain(x.int(), scale, shift, 1e-8)
    with pytest.raises(ValueError, match=r"x must have shape \[\*, \*, \*, \*\], got \[2, 3, 16\]"):
        cpu_adain(x.reshape(2, 3, 16), scale, shift, 1e-8)
    with pytest.raises(ValueError, match=r"scale must have shape \[2, 3\], got \[3, 2\]"):
        cpu_adain(x, scale.t(), shift, 1e-8)
    with pytest.raises(ValueError, match=r"shift must have shape \[2, 3\], got \[2, 3, 1\]"):
        cpu_adain(x, scale, shift[..., None], 1e-8)
    with pytest.raises(ValueError, match=r"adain needs planes with at least one element"):
        cpu_adain(torch.zeros(2, 3, 0, 4), scale, shift, 1e-8)


@needs_cpu_kernels
def test_adain_cpu_variance_of_planes_with_a_large_mean():
    # |mean| / std = 1e6: E[x^2] - mean^2 cancels (even in double); the output's std must still be |scale|
    # (the mean itself is float32-rounded, so only the spread is checked, against float64 statistics of x).
    x = (randn((2, 4, 64, 64), seed=420) * 1e-2 + 1e4).float()
    x[1, 2] = 7.25  # and a constant plane
    scale, shift = (randn((2, 4), seed=421) + 1.0).float(), randn((2, 4), seed=422).float()
    y = with_threads(lambda: adain(x, scale, shift, backend="cpu"), 2).double()
    var = x.double().var(dim=[2, 3], unbiased=False)
    expected_std = scale.double().abs() * (var / (var + 1e-8)).sqrt()
    assert_close(y.std(dim=[2, 3], unbiased=False), expected_std, dtype=torch.float32)
    assert torch.equal(y[1, 2].float(), shift[1, 2].expand(64, 64))
