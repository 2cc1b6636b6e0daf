"""styled_conv2d_torgb: the fused Triton kernel (interpreted) against the reference composition in float64."""
import math

import pytest
import torch

from stylegan_fast import backends, ops
from stylegan_fast.ops.styled_conv2d_torgb import styled_conv2d_torgb
from stylegan_fast.ops.styled_conv2d_torgb import triton_kernels as tk
from stylegan_fast.ops.triton_tuning import CONV_ENV
from tests.interpreter.conftest import DTYPES, LaunchRecorder, dtype_id
from tests.tolerances import assert_close

# (N, I, H, W, O, img_C): batch 1 and 3, non-square, O from 4 to 100 (BLOCK_N 32, 64, 128), 1..4 image channels
CASES = [(1, 3, 4, 6, 4, 3), (3, 16, 8, 6, 33, 3), (2, 8, 4, 4, 64, 1), (1, 5, 6, 4, 100, 4)]


def case_id(case):
    return "{}x{}x{}x{}-o{}-rgb{}".format(*case)


def inputs(case, dtype, skip_dtype, seed, noise=True, skip=True):
    n, i, h, w, o, c = case
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, i, h, w, generator=g).to(dtype)
    conv = (torch.randn(o, i, 3, 3, generator=g) / math.sqrt(i * 9), torch.randn(n, i, generator=g) * 0.5 + 1,
            torch.randn(o, generator=g) * 0.5,
            torch.randn(n, 1, h, w, generator=g) if noise else None, torch.tensor(0.7), 0.5)
    rgb = (torch.randn(c, o, 1, 1, generator=g), torch.randn(n, o, generator=g) / math.sqrt(o), torch.randn(c, generator=g),
           torch.randn(n, c, h // 2, w // 2, generator=g).to(skip_dtype) if skip else None, ops.setup_filter([1, 3, 3, 1]),
           1.5)
    return x, conv, rgb


def reference_float64(x, conv, rgb):
    def d(t):
        return t.double() if isinstance(t, torch.Tensor) and t.is_floating_point() else t
    weight, styles, bias, noise, strength, clamp = conv
    noise = None if noise is None else noise.to(x.dtype)  # the kernel reads it in x's dtype
    with backends.dispatching("reference", x.device):
        return styled_conv2d_torgb(d(x), d(weight), d(styles), d(bias), d(noise), d(strength), clamp,
                                   *[d(t) for t in rgb], keep_x=True, backend="reference")


@pytest.mark.parametrize("keep_x", [True, False], ids=["keep_x", "no_x"])
@pytest.mark.parametrize("dtype, skip_dtype", [(t, t) for t in DTYPES] + [(torch.float16, torch.float32)],
                         ids=lambda t: dtype_id(t))
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_fused_kernel_matches_reference(case, dtype, skip_dtype, keep_x):
    x, conv, rgb = inputs(case, dtype, skip_dtype, CASES.index(case))
    assert tk.fused_eligible(x, conv[0], rgb[0], rgb[3], rgb[4])
    y, img = tk.styled_conv2d_torgb_fused(x, *conv, *rgb, keep_x)
    want_y, want_img = reference_float64(x, conv, rgb)
    assert img.dtype == skip_dtype and img.shape == want_img.shape
    assert_close(img, want_img, dtype, msg=f"img {case_id(case)}")
    if keep_x:
        assert y.dtype == dtype
        assert_close(y, want_y, dtype, msg=f"y {case_id(case)}")
    else:
        assert y is None


@pytest.mark.parametrize("noise, skip", [(False, False), (True, False), (False, True)])
def test_without_noise_or_skip(noise, skip):
    x, conv, rgb = inputs(CASES[1], torch.float32, torch.float32, 9, noise=noise, skip=skip)
    y, img = tk.styled_conv2d_torgb_fused(x, *conv, *rgb, True)
    want_y, want_img = reference_float64(x, conv, rgb)
    assert_close(y, want_y, torch.float32)
    assert_close(img, want_img, torch.float32)


def test_launches_are_in_kernel_specs_and_ineligible_layers_run_the_composition(monkeypatch):
    monkeypatch.setenv(CONV_ENV, "gemm")
    recorder = LaunchRecorder(tk.styled_conv_torgb_kernel)
    monkeypatch.setattr(tk, "styled_conv_torgb_kernel", recorder)
    specs = tk.kernel_specs()[0].configs
    for dtype, skip_dtype in ((torch.float32, torch.float32), (torch.float16, torch.float32), (torch.bfloat16, torch.bfloat16)):
        for case in CASES[:3]:
            x, conv, rgb = inputs(case, dtype, skip_dtype, 3)
            styled_conv2d_torgb(x, *conv, *rgb, keep_x=False, backend="triton")
    for launch in recorder.launches:
        if launch["constexprs"]["DOT_FP32"] and launch["signature"]["x_ptr"] == "*bf16":  # the interpreter's bf16 dot
            launch = {**launch, "constexprs": {**launch["constexprs"], "DOT_FP32": False}}
        assert launch in specs, launch
    assert len(recorder.launches) == 9
    x, conv, rgb = inputs((1, 4, 4, 4, 129, 3), torch.float32, torch.float32, 4)  # O > 128: no fused kernel
    got = styled_conv2d_torgb(x, *conv, *rgb, keep_x=True, backend="triton")
    assert len(recorder.launches) == 9
    want = reference_float64(x, conv, rgb)
    assert_close(got[1], want[1], torch.float32)
    monkeypatch.setenv(CONV_ENV, "torch")  # the torch strategy runs the two ops
    x, conv, rgb = inputs(CASES[0], torch.float32, torch.float32, 5)
    styled_conv2d_torgb(x, *conv, *rgb, backend="triton")
    assert len(recorder.launches) == 9
