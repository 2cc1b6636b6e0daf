"""The cpu backend's Winograd F(4x4, 3x3) convolution (ops/winograd.py, csrc/cpu/winograd_kernels.inc).

Independent derivations: the transform matrices against the defining identity of F(4, 3) (for every
input row d and kernel g, A^T [(G g) * (B^T d)] equals the 'valid' correlation of d with g, in
exact rational arithmetic on integers), the phase kernels of an upsampling convolution against
explicit float64 loops, and the whole convolution (every ISA this CPU runs, chunked or not, 1 and
2 threads) against float64 torch convolutions.
"""
import math
from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F

from stylegan_fast.ops import cpu_support, setup_filter, winograd
from stylegan_fast.ops.modulated_conv2d import reference as modulated
from stylegan_fast.ops.weight_cache import weight_cache
from tests.op_helpers import randn
from tests.tolerances import WINOGRAD_FP32, assert_close

needs_kernels = pytest.mark.skipif(not cpu_support.kernels_built(), reason="stylegan_fast._C has no CPU kernels")


def isas():
    return cpu_support.native().cpu_supported_isas() if cpu_support.kernels_built() else ["scalar"]


@pytest.fixture
def isa(request):
    C = cpu_support.native()
    C.cpu_set_isa(request.param)
    yield request.param
    C.cpu_set_isa("best")


def test_f43_matrices_compute_a_correlation_exactly():
    """A^T [(G g) * (B^T d)] == [sum_k d[i + k] g[k] for i < 4] for integer d, g, in exact fractions."""
    G = [[Fraction(v).limit_denominator(100) for v in row] for row in winograd.G]
    gen = torch.Generator().manual_seed(5)
    for _ in range(20):
        d = torch.randint(-9, 10, [6], generator=gen).tolist()
        g = torch.randint(-9, 10, [3], generator=gen).tolist()
        u = [sum(G[p][k] * g[k] for k in range(3)) for p in range(6)]
        v = [sum(winograd.BT[p][j] * d[j] for j in range(6)) for p in range(6)]
        y = [sum(winograd.AT[i][p] * u[p] * v[p] for p in range(6)) for i in range(4)]
        assert y == [sum(d[i + k] * g[k] for k in range(3)) for i in range(4)]


def test_transform_weight_is_g_g_gt():
    k = randn((2, 3, 3, 3), seed=1)
    u = winograd.transform_weight(k)  # [36, O, I]
    g = torch.tensor(winograd.G, dtype=torch.float64)
    for o in range(2):
        for i in range(3):
            want = g @ k[o, i] @ g.T  # [6, 6]
            assert_close(u[:, o, i].reshape(6, 6), want, dtype=torch.float32)


def _transposed_conv_then_fir_loops(x, w, fir):
    """StyleGAN2's up=2 conv written out: zeros between the samples, a full correlation with the
    flipped kernel, then the FIR (4x4, gain 4) with one pixel of padding each side, in float64 loops."""
    n, i_ch, h, wd = x.shape
    o_ch = w.shape[0]
    t = torch.zeros(n, o_ch, 2 * h + 1, 2 * wd + 1, dtype=torch.float64)
    for yy in range(h):
        for xx in range(wd):
            for ky in range(3):
                for kx in range(3):
                    t[:, :, 2 * yy + ky, 2 * xx + kx] += torch.einsum("ni,oi->no", x[:, :, yy, xx], w[:, :, ky, kx])
    t = F.pad(t, [1, 1, 1, 1])
    out = torch.zeros(n, o_ch, 2 * h, 2 * wd, dtype=torch.float64)
    f = fir.double() * 4
    for yy in range(2 * h):
        for xx in range(2 * wd):
            out[:, :, yy, xx] = (t[:, :, yy:yy + 4, xx:xx + 4] * f.flip(0, 1)).sum(dim=[2, 3])
    return out


def test_phase_kernels_reproduce_the_upsampling_conv():
    x, w = randn((2, 3, 4, 5), seed=2), randn((4, 3, 3, 3), seed=3)
    fir = setup_filter([1, 3, 3, 1])
    probe = lambda xx, ww: modulated.modulated_conv2d(xx, ww, torch.ones(xx.shape[0], ww.shape[1], dtype=ww.dtype),
                                                       demodulate=False, up=2, resample_filter=fir.double())
    k = winograd.phase_kernels(probe, w)  # [4 * O, I, 3, 3]
    phases = F.conv2d(x, k, padding=1).reshape(2, 2, 2, 4, 4, 5)  # [n, ay, ax, o, Y, X]
    got = phases.permute(0, 3, 4, 1, 5, 2).reshape(2, 4, 8, 10)
    want = _transposed_conv_then_fir_loops(x, w, fir)
    assert want.abs().max() > 0.5
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_phase_kernels_refuse_a_wider_response():
    wide = lambda xx, ww: F.interpolate(F.conv2d(xx, ww, padding=1), scale_factor=2.0, mode="bilinear")
    with pytest.raises(ValueError, match="not a 3x3-per-phase 2x upsampling convolution"):
        winograd.phase_kernels(wide, randn((2, 2, 3, 3), seed=4))


# (N, I, H, W, O, up)
SHAPES = [(1, 3, 5, 7, 4, 1), (2, 8, 8, 8, 16, 1), (3, 5, 9, 13, 6, 1), (1, 67, 4, 4, 3, 1),
          (2, 4, 3, 5, 5, 2), (1, 16, 8, 6, 7, 2), (2, 3, 1, 1, 2, 1)]


def _layer_derivation(x, k, up, fir, scale, demod, noise, strength, bias, clamp):
    x = x * scale[:, :, None, None]
    if up == 1:
        y = F.conv2d(x, k, padding=1)
    else:
        y = _transposed_conv_then_fir_loops(x, k, fir)
    y = y * demod[:, :, None, None] + noise * strength[None, :, None, None] + bias[None, :, None, None]
    y = torch.where(y >= 0, y, 0.2 * y) * math.sqrt(2)
    return y.clamp(-clamp, clamp)


@needs_kernels
@pytest.mark.parametrize("isa", isas(), indirect=True)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s[:4])) + f"-o{s[4]}-up{s[5]}")
def test_winograd_conv_matches_float64(isa, shape):
    n, i_ch, h, w, o_ch, up = shape
    x, k = randn((n, i_ch, h, w), seed=10), randn((o_ch, i_ch, 3, 3), seed=11, scale=1 / math.sqrt(9 * i_ch))
    scale, demod = randn((n, i_ch), seed=12) * 0.3 + 1, randn((n, o_ch), seed=13).abs() + 0.5
    noise, strength = randn((n, 1, h * up, w * up), seed=14), randn((o_ch,), seed=15)
    bias = randn((o_ch,), seed=16)
    fir = setup_filter([1, 3, 3, 1])
    want = _layer_derivation(x, k, up, fir, scale, demod, noise, strength, bias, clamp=1.5)
    if up == 1:
        u = winograd.transform_weight(k)
    else:
        probe = lambda xx, ww: modulated.modulated_conv2d(
            xx, ww, torch.ones(xx.shape[0], ww.shape[1], dtype=ww.dtype), demodulate=False, up=2,
            resample_filter=fir.double())
        u = winograd.transform_weight(winograd.phase_kernels(probe, k))
    args = dict(scale=scale, demod=demod, noise=noise, strength=strength, bias=bias, gain=math.sqrt(2),
                lrelu=True, alpha=0.2, clamp=1.5)
    results = {}
    for threads in (1, 2):
        for chunk in (1, winograd.CHUNK_BYTES):
            torch.set_num_threads(threads)
            results[threads, chunk] = winograd.winograd_conv(x.float(), u, o_ch, up, chunk_bytes=chunk, **args)
    assert want.abs().max() > 0.5 and (want.abs() == 1.5).any()
    for (threads, chunk), got in results.items():
        assert got.dtype == torch.float32 and got.shape == want.shape
        assert_close(got, want, **WINOGRAD_FP32, msg=f"isa {isa}, {threads} threads, chunk {chunk}:")
    assert torch.equal(results[1, 1], results[2, 1]) and torch.equal(results[1, winograd.CHUNK_BYTES],
                                                                      results[2, winograd.CHUNK_BYTES])


@needs_kernels
def test_winograd_conv_checks_its_inputs():
    x, u = torch.zeros(1, 3, 4, 4), torch.zeros(36, 2, 3)
    with pytest.raises(ValueError, match=r"u must have shape \[36, 8, 3\]"):
        winograd.winograd_conv(x, u, 2, up=2)
    with pytest.raises(ValueError, match=r"scale must have shape \[1, 3\]"):
        winograd.winograd_conv(x, u, 2, scale=torch.ones(3))
    with pytest.raises(ValueError, match=r"noise must have shape \[\*, 1, 4, 4\]"):
        winograd.winograd_conv(x, u, 2, noise=torch.ones(1, 1, 8, 8), strength=torch.ones(2))
    with pytest.raises(ValueError, match="the cpu backend's kernels take CPU tensors"):
        winograd.winograd_conv(x.to("meta"), u, 2)


def test_weight_cache_follows_in_place_changes():
    w = torch.ones(2, 2, 3, 3)
    calls = []
    build = lambda: calls.append(1) or w.sum().clone()
    assert weight_cache.get(w, "k", build) == 36
    assert weight_cache.get(w, "k", build) == 36 and len(calls) == 1
    with torch.no_grad():
        w.mul_(2)
    assert weight_cache.get(w, "k", build) == 72 and len(calls) == 2


def test_phase_kernels_refuse_a_filter_padded_after_upsampling():
    """StyleGAN1's upscale conv then blur: right inside the image, wrong at its borders."""
    from stylegan_fast.ops.stylegan1_conv2d import reference as stylegan1
    blur = setup_filter([1, 2, 1]).double()
    with pytest.raises(ValueError, match="at the borders"):
        winograd.phase_kernels(lambda xx, ww: stylegan1.convolve(xx, ww, 1.0, "up", False, blur), randn((2, 3, 3, 3), 6))


@needs_kernels
def test_workspace_is_reused_and_released():
    x, k = torch.randn(1, 4, 8, 8), torch.randn(4, 4, 3, 3)
    u = winograd.transform_weight(k)
    winograd.release_workspace()
    first = winograd.winograd_conv(x, u, 4)
    v = winograd._workspace("v", 1)
    assert torch.equal(winograd.winograd_conv(x, u, 4), first)
    assert winograd._workspace("v", 1) is v  # the same buffer served the second call
    winograd.release_workspace()
    assert winograd._workspace("v", 1) is not v


@needs_kernels
def test_workspace_serves_calls_in_and_out_of_inference_mode():
    x, k = torch.randn(1, 4, 8, 8), torch.randn(4, 4, 3, 3)
    u = winograd.transform_weight(k)
    winograd.release_workspace()
    with torch.inference_mode():
        inside = winograd.winograd_conv(x, u, 4)  # the buffers are made here
    assert torch.equal(winograd.winograd_conv(x, u, 4), inside)
