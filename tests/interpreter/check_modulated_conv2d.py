"""modulated_conv2d: the Triton implementation (interpreted) against the reference op in float64."""
import math

import pytest
import torch

from stylegan_fast import backends, ops
from stylegan_fast.backends import BackendUnavailableError
from stylegan_fast.ops.modulated_conv2d import reference
from stylegan_fast.ops.modulated_conv2d import triton_kernels as tk
from tests.interpreter.conftest import DTYPES, LaunchRecorder, dtype_id
from tests.op_helpers import spy_convolutions
from tests.tolerances import assert_close

# (N, I, H, W, O, k, up): batch 1 and 3, odd sizes, 3..64 channels, 1x1 and 3x3 kernels
CASES = [(1, 3, 5, 7, 4, 3, 1), (3, 16, 6, 5, 8, 1, 1), (3, 64, 4, 4, 32, 3, 1),
         (1, 5, 5, 3, 3, 3, 2), (3, 32, 4, 5, 16, 3, 2), (3, 8, 3, 3, 5, 1, 2)]


def case_id(case):
    n, i, h, w, o, k, up = case
    return f"{n}x{i}x{h}x{w}-o{o}k{k}-up{up}"


def inputs(case, dtype, seed, style_scale=1.0, weight_scale=None):
    n, i, h, w, o, k, up = case
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, i, h, w, generator=g).to(dtype)
    weight = torch.randn(o, i, k, k, generator=g) * (1 / math.sqrt(i * k * k) if weight_scale is None else weight_scale)
    styles = (torch.randn(n, i, generator=g) * 0.5 + 1.0) * style_scale  # StyleGAN2's styles are ~1
    f = ops.setup_filter([1, 3, 3, 1]) if up == 2 else None
    return x, weight, styles, f


def reference_float64(x, weight, styles, demodulate, up, f):
    with backends.dispatching("reference", x.device):  # its upfirdn2d on the reference too
        return ops.modulated_conv2d(x.double(), weight.double(), styles.double(), demodulate, up, f,
                                    backend="reference")


@pytest.mark.parametrize("demodulate", [True, False], ids=["demod", "nodemod"])
@pytest.mark.parametrize("case", CASES, ids=case_id)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_modulated_conv2d_matches_reference(dtype, case, demodulate):
    x, weight, styles, f = inputs(case, dtype, seed=CASES.index(case))
    got = ops.modulated_conv2d(x, weight, styles, demodulate, case[-1], f, backend="triton")
    want = reference_float64(x, weight, styles, demodulate, case[-1], f)
    assert got.dtype == dtype and got.shape == want.shape
    assert want.abs().max() > 0.1
    assert_close(got, want, dtype, msg=f"{case_id(case)} demodulate={demodulate}")


@pytest.mark.parametrize("up", [1, 2], ids=["up1", "up2"])
def test_fp16_rescaling_keeps_large_styles_finite(up):
    """Styles ~300 and weights ~30 overflow an unscaled fp16 convolution; the rescaling prevents it."""
    case = (3, 16, 5, 6, 8, 3, up)
    x, weight, styles, f = inputs(case, torch.float16, seed=7, style_scale=300.0, weight_scale=30.0)
    got = ops.modulated_conv2d(x, weight, styles, True, up, f, backend="triton")
    assert torch.isfinite(got).all()
    assert_close(got, reference_float64(x, weight, styles, True, up, f), torch.float16)


@pytest.mark.parametrize("rescale", [False, True], ids=["plain", "rescaled"])
@pytest.mark.parametrize("n,o,i,k", [(1, 3, 3, 9), (3, 40, 200, 9), (2, 17, 5, 1)])
def test_modulation_kernel_matches_demodulation_coefficients(n, o, i, k, rescale):
    """O not a multiple of BLOCK_O, I*k not a multiple of BLOCK_J, several reduction steps."""
    g = torch.Generator().manual_seed(n * o + i)
    weight = torch.randn(o, i, int(math.sqrt(k)), int(math.sqrt(k)), generator=g, dtype=torch.float64)
    styles = torch.randn(n, i, generator=g, dtype=torch.float64)
    s, d = tk.modulation(styles.float(), weight.float(), rescale)
    want_s = styles / styles.abs().amax(dim=1, keepdim=True) if rescale else styles
    assert s.dtype == d.dtype == torch.float32 and d.shape == (n, o)
    assert_close(s, want_s, torch.float32)
    assert_close(d, reference.demodulation_coefficients(weight, want_s), torch.float32)


@pytest.mark.parametrize("up", [1, 2], ids=["up1", "up2"])
def test_one_shared_weight_convolution(monkeypatch, up):
    """Strategy (b): torch convolves once with the shared weight, never per-sample or grouped weights."""
    calls = spy_convolutions(monkeypatch, reference)
    x, weight, styles, f = inputs((3, 4, 5, 5, 2, 3, up), torch.float32, seed=3)
    with backends.dispatching("reference", x.device):  # the FIR's grouped conv2d comes after
        ops.modulated_conv2d(x, weight, styles, True, up, f, backend="triton")
    assert calls[0] == ((2, 4, 3, 3) if up == 1 else (4, 2, 3, 3), 1)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_every_launch_is_in_kernel_specs(monkeypatch, dtype):
    """What CI compiles ahead of time (kernel_specs) covers every launch the launcher makes."""
    specs = {spec.name: spec for spec in tk.kernel_specs()}
    recorders = {name: LaunchRecorder(getattr(tk, name)) for name in specs}
    for name, recorder in recorders.items():
        monkeypatch.setattr(tk, name, recorder)
    for case in ((1, 3, 5, 7, 4, 3, 1), (2, 4, 20, 20, 3, 3, 2)):  # small planes, large planes
        for demodulate in (True, False):
            x, weight, styles, f = inputs(case, dtype, seed=11)
            ops.modulated_conv2d(x, weight, styles, demodulate, case[-1], f, backend="triton")
    for name, recorder in recorders.items():
        assert recorder.launches, name
        for launch in recorder.launches:
            assert launch in specs[name].configs, (name, launch)


def test_float64_is_refused_with_a_clear_error():
    x, weight, styles, _ = inputs(CASES[0], torch.float64, seed=1)
    # the dispatcher refuses before the kernel's own TypeError could: the kernel takes no float64
    with pytest.raises(BackendUnavailableError, match="for torch.float64 .*use backend 'auto' or 'reference'"):
        ops.modulated_conv2d(x, weight.double(), styles.double(), backend="triton")
    assert torch.isfinite(ops.modulated_conv2d(x, weight.double(), styles.double(), backend="auto")).all()  # auto falls back
