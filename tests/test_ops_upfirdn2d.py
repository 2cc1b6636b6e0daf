"""upfirdn2d and its helpers against derivations written as explicit float64 loops.

The loop derivation follows the textbook definition step by step: zero insertion, padding
(negative = cropping), a 'valid' 2-D FIR (a true convolution unless flip_filter, which makes it
a correlation), gain, then keeping every down-th sample. The helpers are additionally checked
against closed forms worked out by hand for the [1, 3, 3, 1] and [1, 2, 3] filters.
"""
import math

import numpy as np
import pytest
import torch

from stylegan_fast.ops import downsample2d, filter2d, setup_filter, upfirdn2d, upsample2d
from tests.op_helpers import DTYPE_NAMES, randn, run_or_skip, with_threads
from tests.tolerances import assert_close


def _shape_id(shape):
    return "x".join(str(s) for s in shape)


def upfirdn2d_loops(x, f, up, down, padding, flip_filter, gain):
    """x: float64 array [N, C, H, W]; f: 1-D taps (meaning outer(f, f)) or 2-D [fh, fw]."""
    x = np.asarray(x, dtype=np.float64)
    f = np.asarray(f, dtype=np.float64)
    if f.ndim == 1:
        f = np.outer(f, f)
    n, c, h, w = x.shape
    px0, px1, py0, py1 = padding

    # 1. zero insertion: u[a*up, b*up] = x[a, b], zeros elsewhere
    hu, wu = h * up, w * up
    u = np.zeros((n, c, hu, wu))
    for a in range(h):
        for b in range(w):
            u[:, :, a * up, b * up] = x[:, :, a, b]

    # 2. pad / crop: p[yy, xx] = u[yy - py0, xx - px0] (zero outside u)
    hp, wp = hu + py0 + py1, wu + px0 + px1
    p = np.zeros((n, c, hp, wp))
    for yy in range(hp):
        for xx in range(wp):
            sy, sx = yy - py0, xx - px0
            if 0 <= sy < hu and 0 <= sx < wu:
                p[:, :, yy, xx] = u[:, :, sy, sx]

    # 3. 'valid' FIR. Convolution: full[m] = sum_k f[k] p[m - k]; its valid part starts at m = K - 1.
    fh, fw = f.shape
    hv, wv = hp - fh + 1, wp - fw + 1
    assert hv > 0 and wv > 0, "test case crops too much"
    v = np.zeros((n, c, hv, wv))
    for yy in range(hv):
        for xx in range(wv):
            acc = np.zeros((n, c))
            for ky in range(fh):
                for kx in range(fw):
                    if flip_filter:  # correlation
                        acc += f[ky, kx] * p[:, :, yy + ky, xx + kx]
                    else:  # true convolution
                        acc += f[ky, kx] * p[:, :, yy + fh - 1 - ky, xx + fw - 1 - kx]
            v[:, :, yy, xx] = gain * acc

    # 4. downsample: keep samples 0, down, 2*down, ...
    hd, wd = -(-hv // down), -(-wv // down)
    out = np.zeros((n, c, hd, wd))
    for a in range(hd):
        for b in range(wd):
            out[:, :, a, b] = v[:, :, a * down, b * down]
    return torch.from_numpy(out)


# Closed forms of the helpers with normalized [1, 3, 3, 1], one spatial axis at a time.
def _up_1d_weights(length):
    """upsample2d by 2 with [1,3,3,1] (gain 4 -> 2 per axis): out[2a] = .75 x[a] + .25 x[a-1],
    out[2a+1] = .75 x[a] + .25 x[a+1], samples outside the input being zero. Returns [2L, L]."""
    m = np.zeros((2 * length, length))
    for a in range(length):
        m[2 * a, a] += 0.75
        if a - 1 >= 0:
            m[2 * a, a - 1] += 0.25
        m[2 * a + 1, a] += 0.75
        if a + 1 < length:
            m[2 * a + 1, a + 1] += 0.25
    return m


def _down_1d_weights(length):
    """downsample2d by 2 with [1,3,3,1]: out[b] = (x[2b-1] + 3 x[2b] + 3 x[2b+1] + x[2b+2]) / 8."""
    m = np.zeros((length // 2, length))
    for b in range(length // 2):
        for k, t in zip((2 * b - 1, 2 * b, 2 * b + 1, 2 * b + 2), (1, 3, 3, 1)):
            if 0 <= k < length:
                m[b, k] += t / 8
    return m


def _apply_separable_loops(x, mh, mw):
    """out[n, c, Y, X] = sum_{a, b} mh[Y, a] * mw[X, b] * x[n, c, a, b], as loops."""
    x = np.asarray(x, dtype=np.float64)
    n, c, h, w = x.shape
    out = np.zeros((n, c, mh.shape[0], mw.shape[0]))
    for yy in range(mh.shape[0]):
        for xx in range(mw.shape[0]):
            for a in range(h):
                for b in range(w):
                    wt = mh[yy, a] * mw[xx, b]
                    if wt:
                        out[:, :, yy, xx] += wt * x[:, :, a, b]
    return torch.from_numpy(out)


# ---------------------------------------------------------------------------------------------
# upfirdn2d vs loops
# ---------------------------------------------------------------------------------------------

# (shape, up, down, filter kind, flip_filter, padding (px0, px1, py0, py1), gain)
_CASES = [
    ((2, 3, 5, 7), 1, 1, "f2d3x4", False, (1, 2, 1, 1), 1.0),
    ((2, 3, 5, 7), 1, 1, "sep4", True, (0, 0, 0, 0), 2.5),
    ((2, 3, 5, 7), 2, 1, "f2d3x4", False, (2, 1, 0, 3), 1.0),
    ((2, 3, 5, 7), 2, 1, "sep4", False, (2, 1, 2, 1), 4.0),
    ((1, 2, 6, 5), 2, 1, "sep3", True, (-1, 2, 1, -2), 1.0),
    ((2, 3, 6, 8), 1, 2, "f2d3x4", True, (1, 2, 0, 1), 1.0),
    ((2, 3, 6, 8), 1, 2, "sep4", False, (1, 1, 1, 1), 0.5),
    ((1, 3, 7, 5), 1, 2, "sep3", False, (-1, 0, 2, -1), 1.0),
    ((2, 2, 5, 6), 2, 2, "f2d3x4", False, (1, 2, 2, 0), 1.0),
    ((2, 2, 5, 6), 2, 2, "sep4", True, (3, -1, -1, 3), 2.0),
    ((1, 1, 1, 1), 2, 1, "sep4", False, (2, 1, 2, 1), 4.0),
    ((1, 2, 4, 3), 1, 1, "none", False, (1, -1, 0, 2), 3.0),
]


def _filter(kind, seed):
    if kind == "none":
        return None
    shape = {"f2d3x4": (3, 4), "sep4": (4,), "sep3": (3,)}[kind]
    f = randn(shape, seed)
    return f / f.abs().sum() * (f.numel() ** 0.5 if f.ndim == 2 else 1.0)  # outputs of order 1


def _case_id(dtype, case):
    shape, up, down, kind, flip, pad, gain = case
    pad_s = "_".join(str(p).replace("-", "m") for p in pad)
    return (f"{DTYPE_NAMES[dtype]}-{_shape_id(shape)}-up{up}-down{down}-{kind}-{'corr' if flip else 'conv'}"
            f"-pad{pad_s}-gain{gain:g}")


_PARAMS = [pytest.param(dt, case, id=_case_id(dt, case)) for dt in (torch.float64, torch.float32) for case in _CASES]
_PARAMS += [pytest.param(dt, _CASES[i][:6] + (1.0,), id=_case_id(dt, _CASES[i][:6] + (1.0,)))
            for dt in (torch.float16, torch.bfloat16) for i in (0, 3, 5, 9)]


@pytest.mark.parametrize("dtype,case", _PARAMS)
def test_upfirdn2d_matches_explicit_loops(dtype, case):
    shape, up, down, kind, flip, pad, gain = case
    x = randn(shape, seed=1).to(dtype)
    f = _filter(kind, seed=2)
    if f is not None and dtype != torch.float64:
        f = f.float()  # filters are float32 (as setup_filter makes them) unless the test runs in fp64
    got = run_or_skip(lambda: upfirdn2d(x, f, up=up, down=down, padding=pad, flip_filter=flip, gain=gain), dtype)
    f_loops = np.ones((1, 1)) if f is None else f.double().numpy()
    expected = upfirdn2d_loops(x.double().numpy(), f_loops, up, down, pad, flip, gain)
    assert got.dtype == dtype
    assert tuple(got.shape) == tuple(expected.shape)
    assert expected.abs().max() > 0.01  # a zero output could not pass
    assert_close(got, expected, dtype=dtype)


def test_upfirdn2d_matches_hand_computed_1d_convolution():
    # One row, filter [1, 2] (2-D, 1x2), no padding: a true convolution gives y[j] = 2 x[j] + 1 x[j+1]
    # (the tap f[-1] meets the earliest sample); a correlation gives y[j] = x[j] + 2 x[j+1].
    x = torch.tensor([[[[1.0, 10.0, 100.0]]]], dtype=torch.float64)
    f = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    assert upfirdn2d(x, f).flatten().tolist() == [12.0, 120.0]
    assert upfirdn2d(x, f, flip_filter=True).flatten().tolist() == [21.0, 210.0]
    # up=2 inserts zeros after each sample and row: row 0 is [1, 0, 10, 0, 100, 0], row 1 is zero;
    # padding px0=1 puts a zero in front: y[j] = 2 p[j] + p[j+1] = [1, 2, 10, 20, 100, 200].
    y = upfirdn2d(x, f, up=2, padding=(1, 0, 0, 0))
    assert tuple(y.shape) == (1, 1, 2, 6)
    assert y[0, 0, 0].tolist() == [1.0, 2.0, 10.0, 20.0, 100.0, 200.0]
    assert y[0, 0, 1].tolist() == [0.0] * 6
    # down=2 keeps rows/columns 0, 2, 4; gain multiplies everything.
    y = upfirdn2d(x, f, up=2, down=2, padding=(1, 0, 0, 0), gain=0.5)
    assert y.flatten().tolist() == [0.5, 5.0, 50.0]
    # Negative padding crops: px0=-1 drops the first input column before filtering.
    assert upfirdn2d(x, f, padding=(-1, 0, 0, 0)).flatten().tolist() == [120.0]


# ---------------------------------------------------------------------------------------------
# helpers: sizes, closed forms, constants
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("up", [2, 4], ids=["up2", "up4"])
@pytest.mark.parametrize("hw", [(4, 4), (5, 7), (3, 6), (1, 3)], ids=["4x4", "5x7", "3x6", "1x3"])
@pytest.mark.parametrize("separable", [True, False], ids=["sep", "2d"])
def test_upsample2d_output_size(up, hw, separable):
    f = setup_filter([1, 3, 3, 1], separable=separable).double()
    x = randn((2, 3, *hw), seed=8).abs() + 0.5
    y = upsample2d(x, f, up=up)
    assert tuple(y.shape) == (2, 3, hw[0] * up, hw[1] * up)
    assert y.min() >= 0 and y.max() > 0.25
    if min(hw) >= 3:
        # With a zero border no filter tap falls off the image, so the mass is conserved:
        # the filter sums to 1 and the gain up^2 compensates for the inserted zeros.
        x[:, :, [0, -1], :] = 0
        x[:, :, :, [0, -1]] = 0
        assert_close(upsample2d(x, f, up=up).sum(dim=[2, 3]), x.sum(dim=[2, 3]) * up * up)


@pytest.mark.parametrize("down", [2, 4], ids=["down2", "down4"])
@pytest.mark.parametrize("hw", [(8, 8), (8, 12)], ids=["8x8", "8x12"])
@pytest.mark.parametrize("separable", [True, False], ids=["sep", "2d"])
def test_downsample2d_output_size(down, hw, separable):
    f = setup_filter([1, 3, 3, 1], separable=separable)
    x = torch.ones(1, 2, *hw)
    y = downsample2d(x, f, down=down)
    assert tuple(y.shape) == (1, 2, hw[0] // down, hw[1] // down)
    # A normalized filter averages: 1 where all taps are inside, less (but > 0) at the border.
    assert abs(y.max().item() - 1.0) < 1e-6 and y.min().item() > 0


@pytest.mark.parametrize("separable", [True, False], ids=["sep", "2d"])
@pytest.mark.parametrize("dtype,shape", [
    pytest.param(torch.float64, (2, 3, 5, 7), id="fp64-2x3x5x7"),
    pytest.param(torch.float32, (1, 2, 4, 4), id="fp32-1x2x4x4"),
    pytest.param(torch.float16, (2, 1, 3, 6), id="fp16-2x1x3x6"),
    pytest.param(torch.bfloat16, (2, 1, 3, 6), id="bf16-2x1x3x6"),
])
def test_upsample2d_matches_closed_form_loops(separable, dtype, shape):
    x = randn(shape, seed=3).to(dtype)
    f = setup_filter([1, 3, 3, 1], separable=separable)
    got = run_or_skip(lambda: upsample2d(x, f), dtype)
    expected = _apply_separable_loops(x.double().numpy(), _up_1d_weights(shape[2]), _up_1d_weights(shape[3]))
    assert_close(got, expected, dtype=dtype)


@pytest.mark.parametrize("separable", [True, False], ids=["sep", "2d"])
@pytest.mark.parametrize("dtype,shape", [
    pytest.param(torch.float64, (2, 3, 6, 8), id="fp64-2x3x6x8"),
    pytest.param(torch.float32, (1, 2, 4, 10), id="fp32-1x2x4x10"),
    pytest.param(torch.bfloat16, (1, 2, 4, 10), id="bf16-1x2x4x10"),
])
def test_downsample2d_matches_closed_form_loops(separable, dtype, shape):
    x = randn(shape, seed=4).to(dtype)
    f = setup_filter([1, 3, 3, 1], separable=separable)
    got = run_or_skip(lambda: downsample2d(x, f), dtype)
    expected = _apply_separable_loops(x.double().numpy(), _down_1d_weights(shape[2]), _down_1d_weights(shape[3]))
    assert_close(got, expected, dtype=dtype)


@pytest.mark.parametrize("flip", [False, True], ids=["conv", "corr"])
@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (1, 1, 1, 4)], ids=_shape_id)
def test_filter2d_matches_closed_form_loops(flip, shape):
    # Normalized [1, 2, 3] keeps the size with one pixel of padding each side. A true convolution:
    # y[j] = (x[j+1] + 2 x[j] + 3 x[j-1]) / 6 per axis; the correlation mirrors the taps.
    x = randn(shape, seed=5)
    f = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64) / 6
    m = {}
    for axis_len in set(shape[2:]):
        w = np.zeros((axis_len, axis_len))
        for j in range(axis_len):
            for k, t in ((j + 1, 1), (j, 2), (j - 1, 3)):
                if 0 <= k < axis_len:
                    w[j, k] += (4 - t if flip else t) / 6
        m[axis_len] = w
    expected = _apply_separable_loops(x.numpy(), m[shape[2]], m[shape[3]])
    got = filter2d(x, f, flip_filter=flip)
    assert tuple(got.shape) == tuple(shape)
    assert_close(got, expected)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["fp64", "fp32"])
@pytest.mark.parametrize("separable", [True, False], ids=["sep", "2d"])
def test_upsample2d_of_constant_is_constant_in_interior(dtype, separable):
    c = 1.7
    x = torch.full((1, 2, 5, 6), c, dtype=dtype)
    y = upsample2d(x, setup_filter([1, 3, 3, 1], separable=separable))
    assert tuple(y.shape) == (1, 2, 10, 12)
    interior = y[:, :, 1:-1, 1:-1]
    assert_close(interior, torch.full_like(interior, c, dtype=torch.float64), dtype=dtype)
    # The border sees one zero neighbour per axis: .75 c at edges, .75^2 c at corners.
    assert_close(y[:, :, 0, 1:-1], torch.full_like(y[:, :, 0, 1:-1], 0.75 * c, dtype=torch.float64), dtype=dtype)
    assert_close(y[:, :, -1, -1], torch.full_like(y[:, :, -1, -1], 0.5625 * c, dtype=torch.float64), dtype=dtype)


# ---------------------------------------------------------------------------------------------
# setup_filter, separable vs 2-D
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("taps", [[1, 3, 3, 1], [1, 2, 1], [2.0, -1.0, 5.0, 0.5, 1.0]], ids=["1331", "121", "5tap"])
def test_setup_filter_matches_hand_normalization(taps):
    t = np.asarray(taps, dtype=np.float64)
    f1 = setup_filter(taps, separable=True)
    assert f1.dtype == torch.float32 and f1.ndim == 1
    assert_close(f1, torch.from_numpy(t / t.sum()), dtype=torch.float32)
    assert abs(f1.double().sum().item() - 1.0) < 1e-6
    assert setup_filter(taps).ndim == 2  # short filters default to one 2-D pass
    assert setup_filter(list(range(1, 9))).ndim == 1  # 8 taps and more stay separable

    f2 = setup_filter(taps, separable=False)
    assert tuple(f2.shape) == (len(taps), len(taps))
    assert_close(f2, torch.from_numpy(np.outer(t, t) / np.outer(t, t).sum()), dtype=torch.float32)
    assert abs(f2.double().sum().item() - 1.0) < 1e-6

    assert_close(setup_filter(taps, normalize=False, separable=True), torch.from_numpy(t), dtype=torch.float32)
    assert_close(setup_filter(taps, flip=True, separable=True), torch.from_numpy(t[::-1] / t.sum()),
                 dtype=torch.float32)
    # gain g: the 2-D filter sums to g, so each separable pass carries sqrt(g).
    assert abs(setup_filter(taps, gain=4.0, separable=False).double().sum().item() - 4.0) < 1e-5
    assert abs(setup_filter(taps, gain=4.0, separable=True).double().sum().item() - 2.0) < 1e-5


def test_setup_filter_2d_input_and_none():
    t = np.array([[1.0, 2.0], [3.0, 4.0], [0.0, 5.0]])
    f = setup_filter(t.tolist())
    assert tuple(f.shape) == (3, 2)
    assert_close(f, torch.from_numpy(t / 15.0), dtype=torch.float32)
    assert setup_filter(None).flatten().tolist() == [1.0]  # the identity filter
    with pytest.raises(ValueError, match="1-D or 2-D"):
        setup_filter([])
    with pytest.raises(ValueError, match="1-D or 2-D"):
        setup_filter(np.ones((2, 2, 2)).tolist())


@pytest.mark.parametrize("up,down,pad,flip,gain", [
    pytest.param(1, 1, (1, 2, 2, 1), False, 1.0, id="up1-down1-pad1_2_2_1-conv"),
    pytest.param(2, 1, (2, 1, 3, 0), True, 4.0, id="up2-down1-pad2_1_3_0-corr-gain4"),
    pytest.param(1, 2, (1, 1, 0, 2), False, 1.0, id="up1-down2-pad1_1_0_2-conv"),
    pytest.param(2, 2, (-1, 2, 2, -1), True, 0.3, id="up2-down2-padm1_2_2_m1-corr-gain0.3"),
])
def test_upfirdn2d_separable_matches_2d_outer_product(up, down, pad, flip, gain):
    x = randn((2, 3, 6, 5), seed=6)
    taps = [0.5, 2.0, -1.0, 3.0]
    f_sep = torch.tensor(taps, dtype=torch.float64) / sum(taps)  # built in fp64 (setup_filter is fp32)
    f_2d = torch.outer(f_sep, f_sep)
    a = upfirdn2d(x, f_sep, up=up, down=down, padding=pad, flip_filter=flip, gain=gain)
    b = upfirdn2d(x, f_2d, up=up, down=down, padding=pad, flip_filter=flip, gain=gain)
    assert a.abs().max() > 0.1
    assert_close(a, b)


def test_upfirdn2d_padding_forms_are_equivalent():
    x = randn((1, 2, 4, 5), seed=7)
    f = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64) / 6
    y = upfirdn2d(x, f, padding=1)
    assert y.abs().max() > 0.1
    assert_close(y, upfirdn2d(x, f, padding=(1, 1, 1, 1)))
    assert_close(upfirdn2d(x, f, padding=(2, 1)), upfirdn2d(x, f, padding=(2, 2, 1, 1)))


def test_upfirdn2d_shape_errors():
    f = setup_filter([1, 3, 3, 1])
    with pytest.raises(ValueError, match=r"x must be a 4-D tensor"):
        upfirdn2d(torch.zeros(3, 4, 4), f)
    with pytest.raises(ValueError, match=r"f must be 1-D"):
        upfirdn2d(torch.zeros(1, 1, 4, 4), torch.ones(1, 2, 2))
    with pytest.raises(ValueError, match=r"up and down must be >= 1"):
        upfirdn2d(torch.zeros(1, 1, 4, 4), f, up=0)
    with pytest.raises(ValueError, match=r"padding must be"):
        upfirdn2d(torch.zeros(1, 1, 4, 4), f, padding=(1, 2, 3))


def test_loop_derivation_self_check():
    # Guard the derivation itself: an impulse through up=1 convolution reproduces the filter.
    f = np.arange(1.0, 7.0).reshape(2, 3)
    x = np.zeros((1, 1, 3, 4))
    x[0, 0, 1, 1] = 1.0
    y = upfirdn2d_loops(x, f, 1, 1, (2, 2, 1, 1), False, 1.0).numpy()[0, 0]
    np.testing.assert_array_equal(y[1:3, 1:4], f)
    assert math.isclose(y.sum(), f.sum())


# ---------------------------------------------------------------------------------------------
# cpu backend (csrc/cpu/upfirdn2d.cpp) against the reference
# ---------------------------------------------------------------------------------------------

from stylegan_fast.ops import cpu_support  # noqa: E402

needs_cpu_kernels = pytest.mark.skipif(not cpu_support.kernels_built(),
                                       reason="stylegan_fast._C is not built with the C++ CPU kernels")

_CPU_SHAPES = [(1, 67, 5, 7), (2, 3, 13, 9), (1, 5, 2, 11), (3, 1, 17, 6)]
_CPU_FILTERS = {  # name -> filter (float32, as setup_filter makes them)
    "1331-2d": lambda: setup_filter([1, 3, 3, 1]),
    "121-2d": lambda: setup_filter([1, 2, 1]),
    "random-2x5": lambda: _filter("f2d3x4", seed=300).float()[:2].repeat(1, 2)[:, :5],
    "random-sep4": lambda: _filter("sep4", seed=301).float(),
    "sep8": lambda: setup_filter([1, 3, 5, 7, 7, 5, 3, 1]),
    "none": lambda: None,
}


def _cpu_padding(mode, f):
    """Paddings valid for any input size: 'full' (every overlap), 'same' (filter2d's), 'crop' (negative on one side:
    the first column, the last row)."""
    fh, fw = (1, 1) if f is None else (f.shape[0], f.shape[-1])
    return {"full": (fw - 1, fw - 1, fh - 1, fh - 1), "same": (fw // 2, (fw - 1) // 2, fh // 2, (fh - 1) // 2),
            "crop": (-1, fw, fh, -1)}[mode]



def _cpu_vs_reference(fn, nonzero=True):
    """fn(backend) on the cpu backend with 1 and 2 threads (bitwise equal) and on the reference."""
    one, two = (with_threads(lambda: fn("cpu"), t) for t in (1, 2))
    ref = fn("reference")
    assert one.dtype == torch.float32 and one.shape == ref.shape
    assert torch.equal(one, two), "cpu result depends on the thread count"
    if nonzero:
        assert ref.abs().max() > 0.1
    assert_close(one, ref)
    return one


_CPU_PARAMS = [pytest.param(_CPU_SHAPES[k % len(_CPU_SHAPES)], kind, up, down, flip, pad,
                            id=f"{_shape_id(_CPU_SHAPES[k % len(_CPU_SHAPES)])}-{kind}-up{up}-down{down}-"
                               f"{'corr' if flip else 'conv'}-{pad}")
               for k, (kind, (up, down), flip, pad) in enumerate(
                   (kind, ud, flip, pad) for kind in _CPU_FILTERS for ud in [(1, 1), (2, 1), (1, 2), (2, 2), (3, 2)]
                   for flip in (False, True) for pad in ("full", "same", "crop"))]


@needs_cpu_kernels
@pytest.mark.parametrize("shape,kind,up,down,flip,pad", _CPU_PARAMS)
def test_upfirdn2d_cpu_matches_reference(shape, kind, up, down, flip, pad):
    x = randn(shape, seed=310).float()
    f = _CPU_FILTERS[kind]()
    gain = 2.5 if flip else 1.0
    # Some cases are all zeros (e.g. up=down=2 shifted by one: every output lands on an inserted zero).
    _cpu_vs_reference(lambda b: upfirdn2d(x, f, up=up, down=down, padding=_cpu_padding(pad, f), flip_filter=flip,
                                          gain=gain, backend=b), nonzero=False)


# Large enough for two threads (one plane: split into bands of rows), StyleGAN's uses and odd sizes.
@needs_cpu_kernels
@pytest.mark.parametrize("shape", [(2, 3, 150, 230), (1, 1, 301, 299), (1, 33, 64, 48)], ids=_shape_id)
@pytest.mark.parametrize("helper", ["upsample2d-1331", "downsample2d-1331", "filter2d-121", "filter2d-sep8",
                                    "upfirdn2d-1331-pad1-gain4"])
def test_upfirdn2d_cpu_matches_reference_stylegan(shape, helper):
    x = randn(shape, seed=320).float()
    name, taps = helper.split("-")[:2]
    f = setup_filter({"1331": [1, 3, 3, 1], "121": [1, 2, 1], "sep8": [1, 3, 5, 7, 7, 5, 3, 1]}[taps])
    fns = {"upsample2d": lambda b: upsample2d(x, f, backend=b), "downsample2d": lambda b: downsample2d(x, f, backend=b),
           "filter2d": lambda b: filter2d(x, f, backend=b),
           "upfirdn2d": lambda b: upfirdn2d(x, f, padding=1, gain=4, backend=b)}
    y = _cpu_vs_reference(fns[name])
    assert y.shape[:2] == x.shape[:2]


@needs_cpu_kernels
def test_upfirdn2d_cpu_non_contiguous_and_float64_filter():
    x = randn((2, 4, 9, 11), seed=330).float()
    f = randn((3, 4), seed=331)  # float64 taps: rounded to float32 as the reference does
    _cpu_vs_reference(lambda b: upfirdn2d(x.transpose(2, 3), f, up=2, padding=(2, 1, 1, 2), backend=b))
    _cpu_vs_reference(lambda b: upfirdn2d(x.to(memory_format=torch.channels_last), f, down=2, padding=1, backend=b))


@needs_cpu_kernels
def test_upfirdn2d_cpu_bad_input():
    import importlib

    cpu_upfirdn2d = importlib.import_module("stylegan_fast.ops.upfirdn2d.cpu").upfirdn2d
    x, f = torch.zeros(1, 2, 4, 4), setup_filter([1, 3, 3, 1])
    with pytest.raises(ValueError, match=r"x is on meta; the cpu backend's kernels take CPU tensors"):
        cpu_upfirdn2d(x.to("meta"), f)
    with pytest.raises(ValueError, match=r"x must be a floating-point tensor .*got torch.int64"):
        cpu_upfirdn2d(x.long(), f)
    with pytest.raises(ValueError, match=r"x must have shape \[\*, \*, \*, \*\], got \[2, 4, 4\]"):
        cpu_upfirdn2d(x[0], f)
    with pytest.raises(ValueError, match=r"f is on meta"):
        cpu_upfirdn2d(x, f.to("meta"))
    with pytest.raises(ValueError, match=r"f must be 1-D \(separable\) or 2-D and non-empty, got shape \[1, 2, 2\]"):
        cpu_upfirdn2d(x, torch.ones(1, 2, 2))
    with pytest.raises(ValueError, match=r"up and down must be >= 1, got up=0"):
        cpu_upfirdn2d(x, f, up=0)
    with pytest.raises(ValueError, match=r"the upsampled, padded width \(4 \* 1 \+ -1 \+ 0 = 3\) is smaller than "
                                         r"the filter \(4 taps\)"):
        cpu_upfirdn2d(x, f, padding=(-1, 0, 0, 0))
