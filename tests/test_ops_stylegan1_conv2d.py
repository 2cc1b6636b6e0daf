"""stylegan1_conv2d (StyleGAN1's conv layer before AdaIN) against explicit float64 loops.

The derivation: the 'same' conv, or upscale_conv2d's loops (tests/test_ops_upscale_conv2d.py: nearest
upsampling + 3x3 correlation, or the fused transposed conv) followed by the [1, 2, 1] blur written as
a 3x3 depthwise sum with one pixel of zero padding; then + noise * strength[o] + bias[o] and leaky
ReLU with slope 0.2 (no gain). The reference (float64) and the cpu backend (float32 Winograd, every
ISA this CPU runs, 1 and 2 threads bitwise equal) are both checked against it.
"""
import math

import numpy as np
import pytest
import torch

from stylegan_fast import backends
from stylegan_fast.ops import cpu_support, setup_filter
from stylegan_fast.ops.stylegan1_conv2d import stylegan1_conv2d
from tests.op_helpers import randn
from tests.test_ops_upscale_conv2d import _conv3x3_same_loops, upscale_conv2d_loops
from tests.tolerances import WINOGRAD_FP32, assert_close


def _blur121_loops(y):
    taps = np.array([1.0, 2.0, 1.0]) / 4
    n, c, h, w = y.shape
    padded = np.zeros((n, c, h + 2, w + 2))
    padded[:, :, 1:-1, 1:-1] = y
    out = np.zeros_like(y)
    for ky in range(3):
        for kx in range(3):
            out += taps[ky] * taps[kx] * padded[:, :, ky:ky + h, kx:kx + w]
    return out


def derivation(x, weight, gain, mode, fused, bias, noise, strength):
    xn, wn = x.double().numpy(), weight.double().numpy() * gain
    if mode == "same":
        y = _conv3x3_same_loops(xn, wn)
    else:
        y = _blur121_loops(upscale_conv2d_loops(xn, wn, fused).numpy())
    y = torch.from_numpy(y)
    if noise is not None:
        y = y + noise.double() * strength.double()[None, :, None, None]
    y = y + bias.double()[None, :, None, None]
    return torch.where(y >= 0, y, 0.2 * y)


CASES = [("same", False, (2, 3, 5, 7, 4)), ("up", False, (1, 4, 3, 5, 5)), ("up", True, (2, 3, 4, 4, 6)),
         ("same", False, (1, 17, 4, 4, 3)), ("up", True, (1, 5, 1, 2, 2))]


def _inputs(shape, mode, noise, seed=40):
    n, i, h, w, o = shape
    up = 2 if mode == "up" else 1
    x, weight = randn((n, i, h, w), seed), randn((o, i, 3, 3), seed + 1)
    gain = math.sqrt(2) / math.sqrt(9 * i)
    bias, strength = randn((o,), seed + 2, 0.5), randn((o,), seed + 3, 0.5)
    noise_t = None if noise == "none" else randn((1 if noise == "shared" else n, 1, h * up, w * up), seed + 4)
    return x, weight, gain, bias, noise_t, strength


_IDS = [f"{m}{'-fused' if f else ''}-" + "x".join(map(str, s)) for m, f, s in CASES]


@pytest.mark.parametrize("noise", ["none", "shared", "per-sample"])
@pytest.mark.parametrize("mode,fused,shape", CASES, ids=_IDS)
def test_stylegan1_conv2d_reference_matches_derivation(mode, fused, shape, noise):
    x, weight, gain, bias, noise_t, strength = _inputs(shape, mode, noise)
    blur = setup_filter([1, 2, 1])
    with backends.dispatching("reference", x.device) as plan:
        got = stylegan1_conv2d(x, weight, gain, mode, fused, blur, bias, noise_t, strength)
    want = derivation(x, weight, gain, mode, fused, bias, noise_t, strength)
    assert want.abs().max() > 0.1 and (want < 0).any()
    assert_close(got, want, dtype=torch.float64)
    assert set(plan.ran.values()) == {"reference"} and "noise_bias_act" in plan.ran


@pytest.mark.skipif(not cpu_support.kernels_built(), reason="stylegan_fast._C has no CPU kernels")
@pytest.mark.parametrize("isa", cpu_support.native().cpu_supported_isas() if cpu_support.kernels_built() else [])
@pytest.mark.parametrize("mode,fused,shape", CASES, ids=_IDS)
def test_stylegan1_conv2d_cpu_matches_derivation(mode, fused, shape, isa):
    x, weight, gain, bias, noise_t, strength = _inputs(shape, mode, "per-sample")
    blur = setup_filter([1, 2, 1])
    want = derivation(x, weight, gain, mode, fused, bias, noise_t, strength)
    C = cpu_support.native()
    results = []
    try:
        C.cpu_set_isa(isa)
        for threads in (1, 2):
            torch.set_num_threads(threads)
            with backends.dispatching("cpu", x.device) as plan:
                results.append(stylegan1_conv2d(x.float(), weight.float(), gain, mode, fused, blur, bias.float(),
                                                noise_t.float(), strength.float()))
    finally:
        C.cpu_set_isa("best")
    assert set(plan.ran.values()) == {"cpu"} and "stylegan1_conv2d" in plan.ran
    assert_close(results[0], want, **WINOGRAD_FP32)
    assert torch.equal(results[0], results[1])


def test_stylegan1_conv2d_argument_errors():
    x, w, b = torch.zeros(1, 3, 4, 4), torch.zeros(5, 3, 3, 3), torch.zeros(5)
    blur = setup_filter([1, 2, 1])
    cases = [(dict(mode="down"), "mode must be one of same, up"),
             (dict(mode="up", blur_filter=None), "mode 'up' needs a blur_filter"),
             (dict(weight=torch.zeros(5, 3, 1, 1)), "takes 3x3 kernels"),
             (dict(bias=torch.zeros(4)), "bias has 4 values"),
             (dict(noise=torch.zeros(1, 1, 8, 8), noise_strength=torch.zeros(5)), r"noise must have shape \[1 or 1, 1\]"),
             (dict(noise=torch.zeros(1, 1, 4, 4), noise_strength=torch.zeros(1)), "noise_strength of shape \\[5\\]")]
    for overrides, message in cases:
        kw = dict(x=x, weight=w, weight_gain=1.0, mode="same", fused=False, blur_filter=blur, bias=b)
        kw.update(overrides)
        with pytest.raises(ValueError, match=message):
            stylegan1_conv2d(**kw)
