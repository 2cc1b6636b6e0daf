"""styled_conv2d: the Triton implementation (interpreted) against the reference composition in float64.

Both convolution strategies run every check: "gemm" (our implicit-GEMM kernel with the style,
demodulation and epilogue fused, + the FIR epilogue kernel for up=2) and "torch" (prologue, torch's
convolution, fused epilogue), chosen with STYLEGAN_FAST_TRITON_CONV.
"""
import math

import pytest
import torch

from stylegan_fast import backends, ops
from stylegan_fast.ops.modulated_conv2d import triton_kernels as modulated_tk
from stylegan_fast.ops.styled_conv2d import styled_conv2d
from stylegan_fast.ops.styled_conv2d import triton_kernels as tk
from stylegan_fast.ops.triton_tuning import CONV_ENV
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


@pytest.fixture(params=["gemm", "torch"], autouse=True)
def strategy(request, monkeypatch):
    monkeypatch.setenv(CONV_ENV, request.param)
    return request.param


def check(case, dtype, noise, clamp, bias=True, f=None, channels_last=False):
    x, weight, styles, b, noise_t, strength, default_f = inputs(case, dtype, CASES.index(case), noise, bias)
    up = case[-1]
    f = default_f if f is None else f
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
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


@pytest.mark.parametrize("taps", [[1, 2, 3, 1], [1, 3, 3, 1, 2, 1]], ids=["asymmetric4", "6taps"])
@pytest.mark.parametrize("case", [CASES[3], CASES[4]], ids=case_id)
def test_other_filters_match_reference(case, taps):
    """The FIR's orientation and padding (an asymmetric filter); a 6-tap filter runs strategy (b)."""
    check(case, torch.float32, "per-sample", None, f=ops.setup_filter(taps))


@pytest.mark.parametrize("case", [CASES[2], CASES[4]], ids=case_id)
def test_channels_last_input_matches_reference(case):
    check(case, torch.float16, "per-sample", 0.5, channels_last=True)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_every_launch_is_in_kernel_specs_and_one_pass_per_layer(monkeypatch, dtype, strategy):
    """kernel_specs (compiled ahead of time by CI) covers every launch. "torch": each layer runs the
    prologue and exactly one epilogue kernel; "gemm": one GEMM launch per layer (with its epilogue)
    and one FIR epilogue per upsampling layer, nothing else."""
    specs = {spec.name: spec for spec in [*tk.kernel_specs(), *modulated_tk.kernel_specs()]}
    recorders = {}
    for name in specs:
        module = modulated_tk if hasattr(modulated_tk, name) else tk  # modulated_conv2d's or ours
        recorders[name] = LaunchRecorder(getattr(module, name))
        monkeypatch.setattr(module, name, recorders[name])
    layers = up_layers = 0
    for case in ((1, 3, 5, 7, 4, 3, 1), (2, 4, 12, 12, 3, 3, 2), (2, 24, 5, 9, 40, 3, 1)):  # small, large planes
        for noise, clamp, bias in (("none", None, False), ("shared", 0.5, True), ("per-sample", None, True)):
            x, weight, styles, b, noise_t, strength, f = inputs(case, dtype, 5, noise, bias)
            styled_conv2d(x, weight, styles, b, noise_t, strength, case[-1], f, clamp, backend="triton")
            layers += 1
            up_layers += case[-1] == 2
    for name, recorder in recorders.items():
        for launch in recorder.launches:
            if dtype == torch.bfloat16 and launch["constexprs"].get("DOT_FP32"):  # the interpreter's bf16 dot
                launch = {**launch, "constexprs": {**launch["constexprs"], "DOT_FP32": False}}
            assert launch in specs[name].configs, (name, launch)
    launches = {name: len(recorder.launches) for name, recorder in recorders.items()}
    if strategy == "gemm":
        assert launches == {"styled_conv_gemm_kernel": layers, "fir_epilogue_kernel": up_layers,
                            "modulation_kernel": layers, "scale_planes_kernel": 0, "styled_epilogue_kernel": 0}
    else:
        assert launches["styled_conv_gemm_kernel"] == launches["fir_epilogue_kernel"] == 0
        assert launches["styled_epilogue_kernel"] == launches["scale_planes_kernel"] == layers  # d is in the epilogue


@pytest.mark.parametrize("strategy", ["gemm"], indirect=True)
def test_every_gemm_tile_matches_reference(strategy):
    """Each tile a launch may pick (the tuner tries them all on a GPU) computes the same layer."""
    for dtype in (torch.float32, torch.float16):
        for case in (CASES[2], CASES[4]):
            x, weight, styles, b, noise_t, strength, f = inputs(case, dtype, 11)
            want = reference_float64(x, weight, styles, b, noise_t, strength, case[-1], f, 0.5)
            for tile in range(len(tk.gemm_tiles(dtype))):
                got = tk.styled_conv2d_gemm(x, weight, styles, b, noise_t, strength, case[-1], f, 0.5, tile=tile)
                assert_close(got, want, dtype, msg=f"{case_id(case)} {dtype} tile {tk.gemm_tiles(dtype)[tile]}")
