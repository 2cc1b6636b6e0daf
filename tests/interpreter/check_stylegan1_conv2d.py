"""stylegan1_conv2d: the Triton implementation (interpreted) against the reference composition in float64.

The default strategy off a GPU is our implicit-GEMM kernel ("same": one launch; "up": the 4x4 upscale
kernel's four phases, then the blur and epilogue in fir_epilogue_kernel); "torch" runs the composition.
"""
import math

import pytest
import torch

from stylegan_fast import backends, ops
from stylegan_fast.ops.styled_conv2d import triton_kernels as conv
from stylegan_fast.ops.stylegan1_conv2d import stylegan1_conv2d
from stylegan_fast.ops.stylegan1_conv2d import triton_kernels as tk
from stylegan_fast.ops.triton_tuning import CONV_ENV
from tests.interpreter.conftest import DTYPES, LaunchRecorder, dtype_id
from tests.tolerances import assert_close

CASES = [(1, 3, 4, 6, 5), (2, 16, 5, 3, 33), (3, 40, 4, 4, 8)]  # (N, I, H, W, O)
MODES = [("same", False), ("up", False), ("up", True)]
BLUR = ops.setup_filter([1, 2, 1])


def case_id(case):
    return "{}x{}x{}x{}-o{}".format(*case)


def inputs(case, dtype, mode, seed, noise="per-sample"):
    n, i, h, w, o = case
    up = 2 if mode == "up" else 1
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, i, h, w, generator=g).to(dtype)
    weight, bias = torch.randn(o, i, 3, 3, generator=g), torch.randn(o, generator=g) * 0.5
    noise_t = None if noise == "none" else torch.randn(1 if noise == "shared" else n, 1, h * up, w * up, generator=g)
    return x, weight, 1 / math.sqrt(i * 9), bias, noise_t, torch.randn(o, generator=g)


def check(case, dtype, mode, fused, noise="per-sample", strategy="gemm"):
    x, weight, gain, bias, noise_t, strength = inputs(case, dtype, mode, CASES.index(case), noise)
    got = stylegan1_conv2d(x, weight, gain, mode, fused, BLUR, bias, noise_t, strength, backend="triton")
    d = lambda t: None if t is None else t.double()  # noqa: E731
    with backends.dispatching("reference", x.device):
        want = stylegan1_conv2d(d(x), d(weight), gain, mode, fused, BLUR, d(bias),
                                d(None if noise_t is None else noise_t.to(dtype)), d(strength), backend="reference")
    assert got.dtype == dtype and got.shape == want.shape
    assert_close(got, want, dtype, msg=f"{case_id(case)} {mode} fused={fused} noise={noise} {strategy}")


@pytest.mark.parametrize("strategy", ["gemm", "torch"])
@pytest.mark.parametrize("mode, fused", MODES, ids=["same", "up", "up-fused"])
@pytest.mark.parametrize("dtype", DTYPES[:2], ids=dtype_id)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_stylegan1_layer_matches_reference(monkeypatch, case, dtype, mode, fused, strategy):
    monkeypatch.setenv(CONV_ENV, strategy)
    check(case, dtype, mode, fused, strategy=strategy)


@pytest.mark.parametrize("mode, fused", MODES, ids=["same", "up", "up-fused"])
def test_bfloat16(monkeypatch, mode, fused):
    monkeypatch.setenv(CONV_ENV, "gemm")
    check(CASES[1], torch.bfloat16, mode, fused)


@pytest.mark.parametrize("noise", ["none", "shared"])
@pytest.mark.parametrize("mode, fused", MODES, ids=["same", "up", "up-fused"])
def test_noise_modes(monkeypatch, mode, fused, noise):
    monkeypatch.setenv(CONV_ENV, "gemm")
    check(CASES[1], torch.float32, mode, fused, noise)


def test_every_tile_and_launches_in_kernel_specs(monkeypatch):
    """Every GEMM tile computes the layer; each launch (K=3 'same', K=4 phases, the 3x3 blur epilogue) is a
    configuration CI compiles ahead of time."""
    specs = {spec.name: spec.configs for spec in conv.kernel_specs()}
    recorders = {name: LaunchRecorder(getattr(conv, name)) for name in ("styled_conv_gemm_kernel", "fir_epilogue_kernel")}
    for name, recorder in recorders.items():
        monkeypatch.setattr(conv, name, recorder)
    for dtype in (torch.float32, torch.float16):
        for mode, fused in MODES:
            x, weight, gain, bias, noise_t, strength = inputs(CASES[2], dtype, mode, 7)
            d = lambda t: None if t is None else t.double()  # noqa: E731
            with backends.dispatching("reference", x.device):
                want = stylegan1_conv2d(d(x), d(weight), gain, mode, fused, BLUR, d(bias), d(noise_t.to(dtype)),
                                        d(strength), backend="reference")
            for tile in range(len(conv.gemm_tiles(dtype))):
                got = tk.stylegan1_conv2d_gemm(x, weight, gain, mode, fused, BLUR, bias, noise_t, strength, tile=tile)
                assert_close(got, want, dtype, msg=f"{mode} fused={fused} {dtype} tile {conv.gemm_tiles(dtype)[tile]}")
    for name, recorder in recorders.items():
        assert recorder.launches, name
        for launch in recorder.launches:
            assert launch in specs[name], (name, launch)
    assert {launch["constexprs"]["FH"] for launch in recorders["fir_epilogue_kernel"].launches} == {3}
