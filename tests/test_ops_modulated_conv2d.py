"""modulated_conv2d against a per-sample float64 loop derivation (StyleGAN2, Karras et al. 2020).

For each sample n the derivation builds its own weights (modulate input channels by s[n],
demodulate each output channel by 1/sqrt(sum w'^2 + 1e-8)), then runs an explicit 'same'
correlation, or for up=2 an explicit stride-2 transposed convolution (a scatter) followed by the
[1, 3, 3, 1] FIR (normalized, gain 4) with one pixel of padding on each side.
"""
import math

import numpy as np
import pytest
import torch

from stylegan_fast.ops import cpu_support, modulated_conv2d, setup_filter
from stylegan_fast.ops.modulated_conv2d import reference
from tests.op_helpers import DTYPE_NAMES, randn, run_or_skip, spy_convolutions
from tests.tolerances import WINOGRAD_FP32, assert_close


def _sample_weights(w, s_n, demodulate):
    """w: [O, I, kh, kw], s_n: [I] -> this sample's (de)modulated weights."""
    w_n = w * s_n[None, :, None, None]
    if demodulate:
        for o in range(w_n.shape[0]):
            w_n[o] = w_n[o] / math.sqrt(float(np.sum(w_n[o] ** 2)) + 1e-8)
    return w_n


def _correlate_same(x_n, w_n):
    """x_n: [I, H, W], w_n: [O, I, kh, kw] -> [O, H, W], zero padding kh//2, kw//2."""
    i_ch, h, w = x_n.shape
    o_ch, _, kh, kw = w_n.shape
    out = np.zeros((o_ch, h, w))
    for o in range(o_ch):
        for a in range(h):
            for b in range(w):
                acc = 0.0
                for ky in range(kh):
                    for kx in range(kw):
                        ya, xb = a + ky - kh // 2, b + kx - kw // 2
                        if 0 <= ya < h and 0 <= xb < w:
                            acc += float(np.dot(x_n[:, ya, xb], w_n[o, :, ky, kx]))
                out[o, a, b] = acc
    return out


def _transposed_scatter_stride2(x_n, w_n):
    """y[o, 2a+ky, 2b+kx] += x[i, a, b] * w[o, i, ky, kx]; size (2H + kh - 2, 2W + kw - 2)."""
    i_ch, h, w = x_n.shape
    o_ch, _, kh, kw = w_n.shape
    y = np.zeros((o_ch, 2 * (h - 1) + kh, 2 * (w - 1) + kw))
    for o in range(o_ch):
        for i in range(i_ch):
            for a in range(h):
                for b in range(w):
                    for ky in range(kh):
                        for kx in range(kw):
                            y[o, 2 * a + ky, 2 * b + kx] += x_n[i, a, b] * w_n[o, i, ky, kx]
    return y


def _fir_1331_gain4_pad1(t):
    """[O, H', W'] -> [O, H'-1, W'-1]: pad 1 each side, 'valid' filter with outer(g, g),
    g = [1, 3, 3, 1] / 8 * 2 (the 2-D filter sums to 4; it is symmetric, so no flip matters)."""
    g = np.array([1.0, 3.0, 3.0, 1.0]) / 4.0
    o_ch, hh, ww = t.shape
    p = np.zeros((o_ch, hh + 2, ww + 2))
    p[:, 1:-1, 1:-1] = t
    out = np.zeros((o_ch, hh - 1, ww - 1))
    for yy in range(hh - 1):
        for xx in range(ww - 1):
            for ky in range(4):
                for kx in range(4):
                    out[:, yy, xx] += g[ky] * g[kx] * p[:, yy + ky, xx + kx]
    return out


def modulated_conv2d_loops(x, w, s, demodulate, up):
    x, w, s = (np.asarray(t, dtype=np.float64) for t in (x, w, s))
    outs = []
    for n in range(x.shape[0]):
        w_n = _sample_weights(w, s[n], demodulate)
        if up == 1:
            outs.append(_correlate_same(x[n], w_n))
        else:
            outs.append(_fir_1331_gain4_pad1(_transposed_scatter_stride2(x[n], w_n)))
    return torch.from_numpy(np.stack(outs))


def _inputs(n, i, h, w, o, k, seed, dtype, style_scale=1.0, weight_scale=None):
    x = randn((n, i, h, w), seed).to(dtype)
    weight = randn((o, i, k, k), seed + 1, (1.0 / math.sqrt(i * k * k)) if weight_scale is None else weight_scale)
    styles = (randn((n, i), seed + 2) * 0.5 + 1.0) * style_scale  # StyleGAN2 styles are ~1 (bias init 1)
    return x, weight.to(dtype), styles.to(dtype)


# (N, I, H, W, O, k, up)
_SHAPES = [
    (2, 3, 5, 7, 4, 3, 1),
    (1, 2, 6, 6, 3, 1, 1),
    (2, 4, 4, 4, 2, 3, 1),
    (2, 3, 5, 5, 2, 3, 2),
    (1, 2, 4, 6, 3, 3, 2),
]


def _id(dtype, shp, demod):
    n, i, h, w, o, k, up = shp
    return f"{DTYPE_NAMES[dtype]}-{n}x{i}x{h}x{w}-o{o}k{k}-up{up}-{'demod' if demod else 'nodemod'}"


_PARAMS = [pytest.param(dt, shp, demod, id=_id(dt, shp, demod))
           for dt in (torch.float64, torch.float32) for shp in _SHAPES for demod in (True, False)]
_PARAMS += [pytest.param(dt, _SHAPES[i], demod, id=_id(dt, _SHAPES[i], demod))
            for dt in (torch.float16, torch.bfloat16) for i in (0, 3) for demod in (True, False)]

# (N, I, H, W, O, k, up) with N > 1, up = 1 and H*W > O*k*k: the shapes for which the reference
# convolves with per-sample weights as one grouped conv (groups = N); _SHAPES above take its n == 1
# and activation-scaling branches only. test_grouped_shapes_take_the_grouped_conv_branch checks it.
_GROUPED_SHAPES = [
    (3, 4, 8, 8, 2, 3, 1),
    (3, 4, 7, 9, 2, 3, 1),
    (3, 4, 5, 6, 2, 1, 1),
]
_PARAMS += [pytest.param(dt, shp, demod, id=_id(dt, shp, demod))
            for dt in (torch.float64, torch.float32) for shp in _GROUPED_SHAPES for demod in (True, False)]
_PARAMS += [pytest.param(dt, _GROUPED_SHAPES[0], demod, id=_id(dt, _GROUPED_SHAPES[0], demod))
            for dt in (torch.float16, torch.bfloat16) for demod in (True, False)]


@pytest.mark.parametrize("dtype,shp,demod", _PARAMS)
def test_modulated_conv2d_matches_per_sample_loops(dtype, shp, demod):
    n, i, h, w, o, k, up = shp
    x, weight, styles = _inputs(n, i, h, w, o, k, seed=10, dtype=dtype)
    f = setup_filter([1, 3, 3, 1]) if up == 2 else None
    got = run_or_skip(lambda: modulated_conv2d(x, weight, styles, demodulate=demod, up=up, resample_filter=f), dtype)
    expected = modulated_conv2d_loops(x.double(), weight.double(), styles.double(), demod, up)
    assert got.dtype == dtype
    assert tuple(got.shape) == (n, o, h * up, w * up)
    assert expected.abs().max() > 0.1
    assert_close(got, expected, dtype=dtype)


@pytest.mark.parametrize("n", [1, 3])
@pytest.mark.parametrize("up", [1, 2], ids=["up1", "up2"])
def test_one_shared_weight_convolution_for_every_batch_size(monkeypatch, n, up):
    """The reference convolves once with the shared weight (never per-sample or grouped weights), for
    one sample as for a batch, so an image does not change with the batch it is in."""
    calls = spy_convolutions(monkeypatch, reference)
    x, weight, styles = _inputs(n, 4, 8, 8, 2, 3, seed=12, dtype=torch.float64)
    f = setup_filter([1, 3, 3, 1]).double() if up == 2 else None
    modulated_conv2d(x, weight, styles, demodulate=True, up=up, resample_filter=f)
    shared = (2, 4, 3, 3) if up == 1 else (4, 2, 3, 3)  # conv_transpose2d takes [I, O, kh, kw]
    assert calls[0] == (shared, 1)


def test_modulated_conv2d_float64_demodulation_precision():
    x, weight, styles = _inputs(2, 3, 5, 7, 4, 3, seed=10, dtype=torch.float64)
    got = modulated_conv2d(x, weight, styles, demodulate=True)
    assert_close(got, modulated_conv2d_loops(x, weight, styles, True, 1))


@pytest.mark.parametrize("n,o,i,k,wscale", [
    pytest.param(2, 4, 3, 3, 0.3, id="2x4x3x3"),
    pytest.param(1, 2, 5, 1, 1.0, id="1x2x5x1"),
    pytest.param(3, 2, 2, 3, 1e-5, id="3x2x2x3-tiny-eps-dominates"),
])
def test_demodulation_coefficients_matches_explicit_sum(n, o, i, k, wscale):
    weight = randn((o, i, k, k), seed=20, scale=wscale)
    styles = randn((n, i), seed=21)
    d = reference.demodulation_coefficients(weight, styles)
    expected = torch.zeros(n, o, dtype=torch.float64)
    for nn in range(n):
        for oo in range(o):
            acc = 0.0
            for ii in range(i):
                for ky in range(k):
                    for kx in range(k):
                        acc += (weight[oo, ii, ky, kx].item() * styles[nn, ii].item()) ** 2
            expected[nn, oo] = 1.0 / math.sqrt(acc + 1e-8)
    assert d.dtype == weight.dtype  # float32 or better: float64 inputs stay float64
    assert tuple(d.shape) == (n, o)
    assert_close(d, expected)


@pytest.mark.parametrize("up", [1, 2], ids=["up1", "up2"])
def test_modulated_conv2d_demodulated_output_invariant_to_style_scale(up):
    x, weight, styles = _inputs(3, 3, 4, 5, 2, 3, seed=30, dtype=torch.float64)
    f = setup_filter([1, 3, 3, 1]) if up == 2 else None
    base = modulated_conv2d(x, weight, styles, demodulate=True, up=up, resample_filter=f)
    scaled_styles = styles.clone()
    scaled_styles[1] *= 7.5
    scaled_styles[2] *= 0.04
    scaled = modulated_conv2d(x, weight, scaled_styles, demodulate=True, up=up, resample_filter=f)
    assert base.abs().max() > 0.1
    assert_close(scaled, base, dtype=torch.float32)  # fp32-level: demod is computed in float32
    # Without demodulation the output is linear in each sample's styles.
    base_nd = modulated_conv2d(x, weight, styles, demodulate=False, up=up, resample_filter=f)
    scaled_nd = modulated_conv2d(x, weight, scaled_styles, demodulate=False, up=up, resample_filter=f)
    assert_close(scaled_nd[0], base_nd[0])
    assert_close(scaled_nd[1], base_nd[1] * 7.5)
    assert_close(scaled_nd[2], base_nd[2] * 0.04)


@pytest.mark.parametrize("up", [1, 2], ids=["up1", "up2"])
def test_modulated_conv2d_fp16_large_styles_matches_fp32_loops(up):
    # Styles ~300 and weights ~30 would push an unscaled fp16 convolution past 65504; the fp16
    # path rescales weight and styles before demodulation and must still match.
    x, weight, styles = _inputs(2, 3, 4, 6, 3, 3, seed=40, dtype=torch.float16, style_scale=300.0, weight_scale=30.0)
    f = setup_filter([1, 3, 3, 1]) if up == 2 else None
    got = run_or_skip(lambda: modulated_conv2d(x, weight, styles, demodulate=True, up=up, resample_filter=f), torch.float16)
    expected = modulated_conv2d_loops(x.double(), weight.double(), styles.double(), True, up)
    assert got.dtype == torch.float16
    assert torch.isfinite(got).all()
    assert_close(got, expected, dtype=torch.float16)
    # ... and match the fp32 run of the same (rounded) inputs.
    got32 = modulated_conv2d(x.float(), weight.float(), styles.float(), demodulate=True, up=up, resample_filter=f)
    assert_close(got, got32.double(), dtype=torch.float16)


def test_modulated_conv2d_loop_derivation_self_check():
    # A single centred tap of 1 with style 1 and no demodulation is the identity.
    x = randn((1, 2, 3, 4), seed=50).numpy()
    w = np.zeros((2, 2, 3, 3))
    w[0, 0, 1, 1] = w[1, 1, 1, 1] = 1.0
    y = modulated_conv2d_loops(x, w, np.ones((1, 2)), False, 1).numpy()
    np.testing.assert_array_equal(y, x)
    # A 1x1 identity tap upsampled: 2H x 2W output, the [1,3,3,1] interpolation of x.
    y2 = modulated_conv2d_loops(x, w, np.ones((1, 2)), False, 2)
    assert tuple(y2.shape) == (1, 2, 6, 8)


def test_modulated_conv2d_shape_errors():
    x = torch.zeros(2, 3, 4, 4)
    w = torch.zeros(5, 3, 3, 3)
    s = torch.ones(2, 3)
    with pytest.raises(ValueError, match=r"x has 2 input channels"):
        modulated_conv2d(torch.zeros(2, 2, 4, 4), w, s)
    with pytest.raises(ValueError, match=r"styles has 4 channels"):
        modulated_conv2d(x, w, torch.ones(2, 4))
    with pytest.raises(ValueError, match=r"styles has 1 samples"):
        modulated_conv2d(x, w, torch.ones(1, 3))
    with pytest.raises(ValueError, match=r"styles must be a 2-D tensor"):
        modulated_conv2d(x, w, torch.ones(3))
    with pytest.raises(ValueError, match=r"x must be a 4-D tensor"):
        modulated_conv2d(torch.zeros(3, 4, 4), w, s)
    with pytest.raises(ValueError, match=r"weight must be a 4-D tensor"):
        modulated_conv2d(x, torch.zeros(5, 3, 3), s)
    with pytest.raises(ValueError, match=r"up=2 needs a resample_filter"):
        modulated_conv2d(x, w, s, up=2)
    with pytest.raises(ValueError, match=r"up must be 1 or 2"):
        modulated_conv2d(x, w, s, up=3, resample_filter=setup_filter([1, 3, 3, 1]))


@pytest.mark.skipif(not cpu_support.kernels_built(), reason="stylegan_fast._C has no CPU kernels")
@pytest.mark.parametrize("demod", [True, False])
@pytest.mark.parametrize("shp", _SHAPES + [(3, 67, 9, 5, 6, 3, 1), (1, 5, 1, 1, 4, 3, 2)],
                         ids=lambda s: "x".join(map(str, s[:4])) + f"-o{s[4]}k{s[5]}-up{s[6]}")
def test_modulated_conv2d_cpu_matches_per_sample_loops(shp, demod):
    """The cpu backend (Winograd for 3x3): the loops' result within the Winograd tolerance, the same bits
    for 1 and 2 threads."""
    n, i, h, w, o, k, up = shp
    x, weight, styles = _inputs(n, i, h, w, o, k, 170, torch.float32)
    f = setup_filter([1, 3, 3, 1]) if up == 2 else None
    results = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        results.append(modulated_conv2d(x, weight, styles, demodulate=demod, up=up, resample_filter=f, backend="cpu"))
    expected = modulated_conv2d_loops(x.double(), weight.double(), styles.double(), demod, up)
    assert expected.abs().max() > 0.1
    assert_close(results[0], expected, **WINOGRAD_FP32)
    assert torch.equal(results[0], results[1])
