"""styled_conv2d (StyleGAN2's conv layer) against an independent float64 derivation.

For each sample n the derivation builds its own weights (w * s[n], each output channel divided by
sqrt(sum w'^2 + 1e-8)) and convolves with F.conv2d in float64: a 'same' correlation for up=1; for
up=2 the stride-2 transposed convolution written as zeros between the samples then a full
correlation with the flipped kernel, followed by the [1, 3, 3, 1] FIR (normalized, gain 4) with
one pixel of padding on each side. Then, written out: + noise * strength, + bias,
leaky ReLU (slope 0.2) times sqrt(2), clamp to [-clamp, clamp].
"""
import math

import pytest
import torch
import torch.nn.functional as F

from stylegan_fast import backends
from stylegan_fast.ops import cpu_support, modulated_conv2d, noise_bias_act, setup_filter
from stylegan_fast.ops.styled_conv2d import styled_conv2d
from tests.op_helpers import DTYPE_NAMES, randn, run_or_skip
from tests.tolerances import WINOGRAD_FP32, assert_close


def styled_conv2d_derivation(x, weight, styles, bias, noise, strength, up, clamp):
    x, weight, styles = x.double(), weight.double(), styles.double()
    out_channels, _, k, _ = weight.shape
    outs = []
    for n in range(x.shape[0]):
        w_n = weight * styles[n].reshape(1, -1, 1, 1)  # [O, I, k, k]
        w_n = w_n / torch.sqrt(w_n.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8)
        x_n = x[n:n + 1]
        if up == 1:
            outs.append(F.conv2d(x_n, w_n, padding=k // 2))
            continue
        assert k == 3  # the FIR padding below is StyleGAN2's, for 3x3 kernels
        h, w = x_n.shape[2:]
        z = torch.zeros(1, x_n.shape[1], 2 * h - 1, 2 * w - 1, dtype=torch.float64)
        z[:, :, ::2, ::2] = x_n
        t = F.conv2d(z, w_n.flip(2, 3), padding=k - 1)  # [1, O, 2H + 1, 2W + 1]
        g = torch.tensor([1.0, 3.0, 3.0, 1.0], dtype=torch.float64) / 4  # outer(g, g) sums to 4
        fir = torch.outer(g, g).expand(out_channels, 1, 4, 4)
        outs.append(F.conv2d(F.pad(t, [1, 1, 1, 1]), fir, groups=out_channels))  # [1, O, 2H, 2W]
    y = torch.cat(outs)
    if noise is not None:
        y = y + noise.double() * float(strength)
    if bias is not None:
        y = y + bias.double().reshape(1, -1, 1, 1)
    y = torch.where(y >= 0, y, 0.2 * y) * math.sqrt(2)
    if clamp is not None:
        y = y.clamp(-clamp, clamp)
    return y


# (N, I, H, W, O, k, up)
SHAPES = [(1, 3, 5, 7, 4, 3, 1), (3, 4, 6, 5, 5, 1, 1), (2, 6, 4, 4, 3, 3, 1), (3, 4, 3, 5, 2, 3, 2),
          (1, 3, 4, 4, 4, 3, 2)]


def _inputs(shape, dtype, noise, seed=300):
    n, i, h, w, o, k, up = shape
    x = randn((n, i, h, w), seed).to(dtype)
    weight = randn((o, i, k, k), seed + 1, 1 / math.sqrt(i * k * k)).to(dtype)
    styles = (randn((n, i), seed + 2) * 0.5 + 1.0).to(dtype)
    bias = randn((o,), seed + 3, 0.5).to(dtype)
    noise_t = None if noise == "none" else randn((1 if noise == "shared" else n, 1, h * up, w * up), seed + 4).to(dtype)
    f = setup_filter([1, 3, 3, 1]) if up == 2 else None
    return x, weight, styles, bias, noise_t, torch.tensor(0.7, dtype=torch.float64).to(dtype), f


def _id(dtype, shape, noise, clamp):
    n, i, h, w, o, k, up = shape
    return f"{DTYPE_NAMES[dtype]}-{n}x{i}x{h}x{w}-o{o}k{k}-up{up}-noise_{noise}-clamp{clamp}"


_PARAMS = [pytest.param(dt, s, noise, clamp, id=_id(dt, s, noise, clamp))
           for dt in (torch.float64, torch.float32) for s in SHAPES
           for noise, clamp in (("none", None), ("shared", 0.5), ("per-sample", None), ("per-sample", 0.5))]
_PARAMS += [pytest.param(dt, SHAPES[i], "per-sample", 0.5, id=_id(dt, SHAPES[i], "per-sample", 0.5))
            for dt in (torch.float16, torch.bfloat16) for i in (0, 3)]


@pytest.mark.parametrize("dtype,shape,noise,clamp", _PARAMS)
def test_styled_conv2d_matches_per_sample_derivation(dtype, shape, noise, clamp):
    x, weight, styles, bias, noise_t, strength, f = _inputs(shape, dtype, noise)
    up = shape[-1]
    with backends.dispatching("reference", x.device) as plan:
        got = run_or_skip(lambda: styled_conv2d(x, weight, styles, bias, noise_t, strength, up, f, clamp), dtype)
    want = styled_conv2d_derivation(x, weight, styles, bias, noise_t, strength, up, clamp)
    assert got.dtype == dtype
    assert tuple(got.shape) == (shape[0], shape[4], shape[2] * up, shape[3] * up)
    assert want.abs().max() > 0.1
    if clamp is not None:
        assert (want.abs() == clamp).any()  # the clamp is active in this case
    assert_close(got, want, dtype=dtype)
    assert {"styled_conv2d", "modulated_conv2d", "noise_bias_act"} <= set(plan.ran)  # each op dispatched
    assert set(plan.ran.values()) == {"reference"}


def test_reference_is_modulated_conv2d_then_noise_bias_act():
    x, weight, styles, bias, noise_t, strength, f = _inputs(SHAPES[3], torch.float64, "per-sample")
    got = styled_conv2d(x, weight, styles, bias, noise_t, strength, 2, f, 0.5, backend="reference")
    y = modulated_conv2d(x, weight, styles, demodulate=True, up=2, resample_filter=f, backend="reference")
    want = noise_bias_act(y, bias, noise_t, strength, act="lrelu", clamp=0.5, backend="reference")
    torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_derivation_self_check():
    """One 1x1 tap of 1 with style 1: demodulation divides by ~1, so the layer is lrelu(x) * sqrt(2)."""
    x = randn((1, 1, 3, 4), seed=310)
    y = styled_conv2d_derivation(x, torch.ones(1, 1, 1, 1), torch.ones(1, 1), None, None, None, 1, None)
    assert_close(y, torch.where(x >= 0, x, 0.2 * x) * math.sqrt(2) / math.sqrt(1 + 1e-8))


def test_negative_clamp_means_no_clamp_and_strength_may_be_a_float():
    x, weight, styles, bias, noise_t, _, _ = _inputs(SHAPES[0], torch.float64, "shared")
    got = styled_conv2d(x, weight, styles, bias, noise_t, 0.7, clamp=-1, backend="reference")
    assert_close(got, styled_conv2d_derivation(x, weight, styles, bias, noise_t, 0.7, 1, None))


def test_styled_conv2d_argument_errors():
    x, w, s = torch.zeros(2, 3, 4, 4), torch.zeros(5, 3, 3, 3), torch.ones(2, 3)
    b, noise = torch.zeros(5), torch.zeros(2, 1, 4, 4)
    f = setup_filter([1, 3, 3, 1])
    cases = [
        (dict(x=torch.zeros(3, 4, 4)), r"x must be a 4-D tensor"),
        (dict(weight=torch.zeros(5, 3, 3)), r"weight must be a 4-D tensor"),
        (dict(styles=torch.ones(3)), r"styles must be a 2-D tensor"),
        (dict(x=torch.zeros(2, 2, 4, 4)), r"x has 2 input channels"),
        (dict(styles=torch.ones(2, 4)), r"styles has 4 channels"),
        (dict(styles=torch.ones(1, 3)), r"styles has 1 samples"),
        (dict(up=3, resample_filter=f), r"up must be 1 or 2"),
        (dict(up=2), r"up=2 needs a resample_filter"),
        (dict(bias=torch.zeros(1, 5)), r"bias must be a 1-D tensor"),
        (dict(bias=torch.zeros(4)), r"bias has 4 values"),
        (dict(noise=torch.zeros(2, 2, 4, 4)), r"noise must have shape \[2 or 1, 1\] \+ \[4, 4\]"),
        (dict(noise=torch.zeros(3, 1, 4, 4)), r"noise must have shape"),
        (dict(noise=torch.zeros(2, 1, 4, 4), up=2, resample_filter=f), r"\[8, 8\] \(the output's size\)"),
        (dict(noise=torch.zeros(4, 4)), r"noise must have shape"),
        (dict(noise_strength=None), r"noise needs a noise_strength"),
        (dict(noise_strength=torch.zeros(5)), r"noise_strength must be a scalar"),
    ]
    for overrides, message in cases:
        kw = dict(x=x, weight=w, styles=s, bias=b, noise=noise, noise_strength=torch.tensor(0.1), up=1,
                  resample_filter=None)
        kw.update(overrides)
        with pytest.raises(ValueError, match=message):
            styled_conv2d(**kw)


@pytest.mark.skipif(not cpu_support.kernels_built(), reason="stylegan_fast._C has no CPU kernels")
@pytest.mark.parametrize("isa", cpu_support.native().cpu_supported_isas() if cpu_support.kernels_built() else [])
@pytest.mark.parametrize("shape", SHAPES + [(2, 67, 9, 6, 5, 3, 1), (1, 3, 1, 1, 2, 3, 2)],
                         ids=lambda s: "x".join(map(str, s[:4])) + f"-o{s[4]}k{s[5]}-up{s[6]}")
@pytest.mark.parametrize("noise,clamp", [("none", None), ("shared", 0.5), ("per-sample", 0.5)])
def test_styled_conv2d_cpu_matches_per_sample_derivation(isa, shape, noise, clamp):
    """The cpu backend (Winograd for 3x3, every ISA this CPU runs): equal to the derivation within the
    Winograd tolerance, the same bits for 1 and 2 threads."""
    x, weight, styles, bias, noise_t, strength, f = _inputs(shape, torch.float32, noise)
    up = shape[-1]
    want = styled_conv2d_derivation(x, weight, styles, bias, noise_t, strength, up, clamp)
    results = []
    try:
        cpu_support.native().cpu_set_isa(isa)
        for threads in (1, 2):
            torch.set_num_threads(threads)
            with backends.dispatching("cpu", x.device) as plan:
                results.append(styled_conv2d(x, weight, styles, bias, noise_t, strength, up, f, clamp))
    finally:
        cpu_support.native().cpu_set_isa("best")
    assert set(plan.ran.values()) == {"cpu"} and "styled_conv2d" in plan.ran
    assert results[0].dtype == torch.float32 and results[0].shape == want.shape
    assert_close(results[0], want, **WINOGRAD_FP32)
    assert torch.equal(results[0], results[1])
