"""upscale_conv2d (StyleGAN1 2x upsampling convolution) against explicit float64 loops.

non-fused: nearest-neighbour 2x upsampling (each pixel repeated 2x2), then a 3x3 'same' correlation.
fused:     4x4 kernel K = sum of the four one-pixel shifts of the 3x3 kernel zero-padded to 5x5,
           applied as a stride-2 transposed convolution (a scatter), cropped by 1 on each side.
Identity: fused == nearest upsampling followed by a TRUE convolution (kernel flipped in y and x).
"""
import math

import numpy as np
import pytest
import torch

from stylegan_fast.ops import cpu_support, upscale_conv2d
from tests.op_helpers import DTYPE_NAMES, randn, run_or_skip
from tests.tolerances import WINOGRAD_FP32, assert_close


def _nearest2x_loops(x):
    n, c, h, w = x.shape
    u = np.zeros((n, c, 2 * h, 2 * w))
    for a in range(h):
        for b in range(w):
            for dy in range(2):
                for dx in range(2):
                    u[:, :, 2 * a + dy, 2 * b + dx] = x[:, :, a, b]
    return u


def _conv3x3_same_loops(u, w, true_convolution=False):
    """'same' (zero padding 1) correlation, or a true convolution (taps mirrored about the centre)."""
    n, i_ch, h, wd = u.shape
    o_ch = w.shape[0]
    out = np.zeros((n, o_ch, h, wd))
    for yy in range(h):
        for xx in range(wd):
            for ky in range(3):
                for kx in range(3):
                    if true_convolution:  # out[y] = sum_k w[k] u[y - (k - 1)]
                        sy, sx = yy - (ky - 1), xx - (kx - 1)
                    else:  # out[y] = sum_k w[k] u[y + (k - 1)]
                        sy, sx = yy + (ky - 1), xx + (kx - 1)
                    if 0 <= sy < h and 0 <= sx < wd:
                        out[:, :, yy, xx] += np.einsum("ni,oi->no", u[:, :, sy, sx], w[:, :, ky, kx])
    return out


def _fused_kernel_loops(w):
    o_ch, i_ch = w.shape[:2]
    padded = np.zeros((o_ch, i_ch, 5, 5))
    for ky in range(3):
        for kx in range(3):
            padded[:, :, ky + 1, kx + 1] = w[:, :, ky, kx]
    k = np.zeros((o_ch, i_ch, 4, 4))
    for sy in range(2):
        for sx in range(2):
            for p in range(4):
                for q in range(4):
                    k[:, :, p, q] += padded[:, :, p + sy, q + sx]
    return k


def _fused_loops(x, w):
    n, i_ch, h, wd = x.shape
    k = _fused_kernel_loops(w)
    o_ch = w.shape[0]
    t = np.zeros((n, o_ch, 2 * (h - 1) + 4, 2 * (wd - 1) + 4))  # = 2H + 2
    for a in range(h):
        for b in range(wd):
            for ky in range(4):
                for kx in range(4):
                    # t[n, o, 2a+ky, 2b+kx] += sum_i x[n, i, a, b] * k[o, i, ky, kx]
                    t[:, :, 2 * a + ky, 2 * b + kx] += np.einsum("ni,oi->no", x[:, :, a, b], k[:, :, ky, kx])
    return t[:, :, 1:-1, 1:-1]


def upscale_conv2d_loops(x, w, fused):
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    if fused:
        return torch.from_numpy(_fused_loops(x, w))
    return torch.from_numpy(_conv3x3_same_loops(_nearest2x_loops(x), w))


# (N, I, H, W, O)
_SHAPES = [(2, 3, 4, 4, 2), (1, 2, 3, 5, 3), (2, 1, 1, 1, 2), (1, 4, 5, 2, 1)]


def _id(dtype, s, fused):
    return f"{DTYPE_NAMES[dtype]}-{'x'.join(map(str, s[:4]))}-o{s[4]}-{'fused' if fused else 'nearest'}"


_PARAMS = [pytest.param(dt, s, fused, id=_id(dt, s, fused))
           for dt in (torch.float64, torch.float32) for s in _SHAPES for fused in (False, True)]
_PARAMS += [pytest.param(dt, _SHAPES[i], fused, id=_id(dt, _SHAPES[i], fused))
            for dt in (torch.float16, torch.bfloat16) for i in (0, 1) for fused in (False, True)]


def _inputs(n, i, h, w, o, dtype, seed=140):
    x = randn((n, i, h, w), seed).to(dtype)
    weight = randn((o, i, 3, 3), seed + 1, scale=1 / math.sqrt(9 * i)).to(dtype)
    return x, weight


@pytest.mark.parametrize("dtype,shp,fused", _PARAMS)
def test_upscale_conv2d_matches_explicit_loops(dtype, shp, fused):
    n, i, h, w, o = shp
    x, weight = _inputs(n, i, h, w, o, dtype)
    got = run_or_skip(lambda: upscale_conv2d(x, weight, fused=fused), dtype)
    expected = upscale_conv2d_loops(x.double(), weight.double(), fused)
    assert got.dtype == dtype
    assert tuple(got.shape) == (n, o, 2 * h, 2 * w)
    assert expected.abs().max() > 0.1
    assert_close(got, expected, dtype=dtype)


@pytest.mark.parametrize("shp", _SHAPES, ids=lambda s: "x".join(map(str, s[:4])) + f"-o{s[4]}")
def test_upscale_conv2d_fused_matches_nearest_then_true_convolution(shp):
    n, i, h, w, o = shp
    x, weight = _inputs(n, i, h, w, o, torch.float64, seed=150)
    fused = upscale_conv2d(x, weight, fused=True)
    # Derivation: nearest 2x, then a true convolution, as loops.
    derived = _conv3x3_same_loops(_nearest2x_loops(x.numpy()), weight.numpy(), true_convolution=True)
    assert_close(fused, torch.from_numpy(derived))
    # The same identity through the op: fused(w) == non-fused(w flipped in both spatial dims).
    assert_close(fused, upscale_conv2d(x, weight.flip(2, 3), fused=False))
    if h > 1 or w > 1:  # with a generic kernel the two modes really differ (fused is not nearest + corr)
        assert (fused - upscale_conv2d(x, weight, fused=False)).abs().max() > 1e-3


def test_fused_kernel_matches_hand_computed():
    # A 3x3 kernel with one tap at (0, 0): its four shifts cover the top-left 2x2 of the 4x4 kernel.
    w = np.zeros((1, 1, 3, 3))
    w[0, 0, 0, 0] = 1.0
    k = _fused_kernel_loops(w)[0, 0]
    expected = np.zeros((4, 4))
    expected[:2, :2] = 1.0
    np.testing.assert_array_equal(k, expected)
    # All-ones 3x3 -> [[1,2,2,1],[2,4,4,2],[2,4,4,2],[1,2,2,1]].
    k1 = _fused_kernel_loops(np.ones((1, 1, 3, 3)))[0, 0]
    np.testing.assert_array_equal(k1, np.outer([1, 2, 2, 1], [1, 2, 2, 1]))
    from stylegan_fast.ops.upscale_conv2d.reference import fused_upscale_kernel
    w_r = randn((2, 3, 3, 3), seed=160)
    assert_close(fused_upscale_kernel(w_r), torch.from_numpy(_fused_kernel_loops(w_r.numpy())))


def test_upscale_conv2d_nearest_of_impulse_is_kernel_footprint():
    # A single 1 at (0, 0): nearest gives a 2x2 block; correlating with all-ones 3x3 gives 4 at
    # rows/cols 0..1 minus the border: row 0 col 0 sees 4 ones, (2, 2) sees one.
    x = torch.zeros(1, 1, 3, 3, dtype=torch.float64)
    x[0, 0, 0, 0] = 1.0
    y = upscale_conv2d(x, torch.ones(1, 1, 3, 3, dtype=torch.float64), fused=False)[0, 0]
    assert y[0, 0].item() == 4.0 and y[1, 1].item() == 4.0 and y[2, 2].item() == 1.0
    assert y[2, 0].item() == 2.0 and y[3, 3].item() == 0.0


def test_upscale_conv2d_errors():
    with pytest.raises(ValueError, match=r"supports 3x3 kernels"):
        upscale_conv2d(torch.zeros(1, 2, 4, 4), torch.zeros(3, 2, 5, 5), fused=False)
    with pytest.raises(ValueError, match=r"x has 2 input channels"):
        upscale_conv2d(torch.zeros(1, 2, 4, 4), torch.zeros(3, 4, 3, 3), fused=True)
    with pytest.raises(ValueError, match=r"x must be a 4-D tensor"):
        upscale_conv2d(torch.zeros(2, 4, 4), torch.zeros(3, 2, 3, 3), fused=True)
    with pytest.raises(ValueError, match=r"weight must be a 4-D tensor"):
        upscale_conv2d(torch.zeros(1, 2, 4, 4), torch.zeros(3, 2, 3), fused=True)


@pytest.mark.skipif(not cpu_support.kernels_built(), reason="stylegan_fast._C has no CPU kernels")
@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("shp", _SHAPES + [(2, 33, 6, 3, 5)], ids=lambda s: "x".join(map(str, s[:4])) + f"-o{s[4]}")
def test_upscale_conv2d_cpu_matches_explicit_loops(shp, fused):
    """The cpu backend (its four phases as one Winograd convolution): the loops' result, the same bits for
    1 and 2 threads."""
    n, i, h, w, o = shp
    x, weight = _inputs(n, i, h, w, o, torch.float32, seed=160)
    results = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        results.append(upscale_conv2d(x, weight, fused=fused, backend="cpu"))
    expected = upscale_conv2d_loops(x.double(), weight.double(), fused)
    assert expected.abs().max() > 0.1
    assert_close(results[0], expected, **WINOGRAD_FP32)
    assert torch.equal(results[0], results[1])
