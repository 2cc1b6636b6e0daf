"""styled_conv2d: the Triton implementation (interpreted) against the reference composition in float64."""
import math

import pytest
import torch

from stylegan_fast import backends, ops
from stylegan_fast.ops.modulated_conv2d import triton_kernels as modulated_tk
from stylegan_fast.ops.styled_conv2d import styled_conv2d
from stylegan_fast.ops.styled_conv2d import triton_kernels as tk
from tests.interpreter.conftest import DTYPES, LaunchRecorder, dtype_id
from tests.tolerances import assert_close

# (N, I, H, W, O, k, up): batch 1 and 3, odd sizes, 3..64 channels, 1x1 and 3x3 kernels
CASES = [(1, 3, 5, 7, 4, 3, 1), (3, 16, 6, 5, 8, 1, 1), (3, 64, 4, 4, 32, 3, 1),
         (1, 5, 5, 3, 3, 3, 2), (3, 32, 4, 5, 16, 3, 2)]


def case_id(case):
    n, i, h, w, o, k, up = case
    return f"{n}x{i}x{h}x{w}-o{o}k{k}-up{up}"


def inputs(case, dtype, seed, noise="per-sample", bias=True):
    """x, weight, styles, bias, noise, strength, filter; noise: "none", "shared" or "per-sample"."""
    n, i, h, w, o, k, up = case
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, i, h, w, generator=g).to(dtype)
    weight = torch.randn(o, i, k, k, generator=g) / math.sqrt(i * k * k)
    styles = torch.randn(n, i, generator=g) * 0.5 + 1.0
    b = torch.randn(o, generator=g) * 0.5 if bias else None
    noise_t = None if noise == "none" else torch.randn(1 if noise == "shared" else n, 1, h * up, w * up, generator=g)
    strength = torch.tensor(0.7)
    f = ops.setup_filter([1, 3, 3, 1]) if up == 2 else None
    return x, weight, styles, b, noise_t, strength, f


def reference_float64(x, weight, styles, bias, noise, strength, up, f, clamp):
    """The reference composition on float64 copies; the noise is rounded to x's dtype first, as the
    reference (and the kernel) read it."""
    def d(t):
        return None if t is None else t.double()
    noise = None if noise is None else noise.to(x.dtype)
    with backends.dispatching("reference", x.device):  # the composition's ops on the reference too
        return styled_conv2d(d(x), d(weight), d(styles), d(bias), d(noise), d(strength), up, f, clamp,
                             backend="reference")


def check(case, dtype, noise, clamp, bias=True):
    x, weight, styles, b, noise_t, strength, f = inputs(case, dtype, CASES.index(case), noise, bias)
    up = case[-1]
    got = styled_conv2d(x, weight, styles, b, noise_t, strength, up, f, clamp, backend="triton")
    want = reference_float64(x, weight, styles, b, noise_t, strength, up, f, clamp)
    assert got.dtype == dtype and got.shape == want.shape
    assert want.abs().max() > 0.1
    if clamp is not None:
        assert got.abs().max() <= clamp and (want.abs() == clamp).any()  # the clamp is active
    assert_close(got, want, dtype, msg=f"{case_id(case)} noise={noise} clamp={clamp} bias={bias}")


@pytest.mark.parametrize("case", CASES, ids=case_id)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_styled_layer_matches_reference(dtype, case):
    """What every StyleGAN2 conv layer runs: per-sample noise, bias, lrelu, clamp."""
    check(case, dtype, "per-sample", 0.5)


@pytest.mark.parametrize("clamp", [None, 0.5], ids=["noclamp", "clamp"])
@pytest.mark.parametrize("noise", ["none", "shared", "per-sample"])
@pytest.mark.parametrize("case", [CASES[0], CASES[4]], ids=case_id)
def test_every_flag_matches_reference(case, noise, clamp):
    check(case, torch.float32, noise, clamp)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_without_bias_nor_noise_nor_clamp(dtype):
    check(CASES[1], dtype, "none", None, bias=False)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_every_launch_is_in_kernel_specs_and_one_epilogue(monkeypatch, dtype):
    """kernel_specs (compiled ahead of time by CI) covers every launch; each layer runs the prologue and
    exactly one epilogue kernel over its output."""
    specs = {spec.name: spec for spec in [*tk.kernel_specs(), *modulated_tk.kernel_specs()]}
    recorders = {}
    for name in specs:
        module = tk if name == "styled_epilogue_kernel" else modulated_tk  # the others are modulated_conv2d's
        recorders[name] = LaunchRecorder(getattr(module, name))
        monkeypatch.setattr(module, name, recorders[name])
    layers = 0
    for case in ((1, 3, 5, 7, 4, 3, 1), (2, 4, 20, 20, 3, 3, 2)):  # small planes, large planes
        for noise, clamp, bias in (("none", None, False), ("shared", 0.5, True), ("per-sample", None, True)):
            x, weight, styles, b, noise_t, strength, f = inputs(case, dtype, 5, noise, bias)
            styled_conv2d(x, weight, styles, b, noise_t, strength, case[-1], f, clamp, backend="triton")
            layers += 1
    for name, recorder in recorders.items():
        assert recorder.launches, name
        for launch in recorder.launches:
            assert launch in specs[name].configs, (name, launch)
    assert len(recorders["styled_epilogue_kernel"].launches) == layers
    assert len(recorders["scale_planes_kernel"].launches) == layers  # the prologue only: d is in the epilogue
