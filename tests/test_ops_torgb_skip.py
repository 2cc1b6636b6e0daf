"""torgb_skip (StyleGAN2 output branch) against an explicit float64 derivation:

    y   = clamp(sum_i w[o, i] * s[n, i] * x[n, i] + bias[o])      (1x1 modulated conv, no demod)
    img = up2(skip) + y
where up2 is the [1, 3, 3, 1] upsampling written out per axis as loops:
    out[2a] = .75 skip[a] + .25 skip[a-1],  out[2a+1] = .75 skip[a] + .25 skip[a+1]  (zero outside).
"""
import math

import numpy as np
import pytest
import torch

from stylegan_fast.ops import setup_filter, torgb_skip
from tests.op_helpers import DTYPE_NAMES, randn, run_or_skip
from tests.tolerances import assert_close


def _upsample_1331_loops(img):
    """[N, C, H, W] -> [N, C, 2H, 2W] with the per-axis closed form above."""
    n_, c_, h, w = img.shape

    def taps(out_idx, length):  # (input index, weight) pairs along one axis
        a = out_idx // 2
        other = a - 1 if out_idx % 2 == 0 else a + 1
        pairs = [(a, 0.75)]
        if 0 <= other < length:
            pairs.append((other, 0.25))
        return pairs

    out = np.zeros((n_, c_, 2 * h, 2 * w))
    for yy in range(2 * h):
        for xx in range(2 * w):
            for a, wy in taps(yy, h):
                for b, wx in taps(xx, w):
                    out[:, :, yy, xx] += wy * wx * img[:, :, a, b]
    return out


def torgb_skip_derivation(x, weight, styles, bias, skip, clamp):
    x, weight, styles, bias = (np.asarray(t, dtype=np.float64) for t in (x, weight, styles, bias))
    y = np.einsum("oi,ni,nihw->nohw", weight[:, :, 0, 0], styles, x) + bias[None, :, None, None]
    if clamp is not None and clamp >= 0:
        y = np.clip(y, -clamp, clamp)
    if skip is not None:
        y = _upsample_1331_loops(np.asarray(skip, dtype=np.float64)) + y
    return torch.from_numpy(y)


# (x shape N x C x H x W, img channels, with skip, clamp)
_CASES = [
    ((2, 8, 6, 6), 3, True, None),
    ((1, 4, 4, 8), 3, True, None),
    ((2, 5, 2, 2), 1, True, None),
    ((2, 8, 6, 6), 3, True, 0.5),
    ((2, 6, 4, 4), 3, False, None),
    ((1, 6, 3, 5), 3, False, 0.4),
    ((2, 6, 4, 4), 3, True, -1.0),  # negative clamp = off
]


def _id(dtype, case):
    shape, img_c, with_skip, clamp = case
    s = f"{DTYPE_NAMES[dtype]}-{'x'.join(map(str, shape))}-rgb{img_c}-{'skip' if with_skip else 'noskip'}"
    return s + ("" if clamp is None else f"-clamp{clamp:g}")


_PARAMS = [pytest.param(dt, c, id=_id(dt, c)) for dt in (torch.float64, torch.float32) for c in _CASES]
_PARAMS += [pytest.param(dt, _CASES[i], id=_id(dt, _CASES[i]))
            for dt in (torch.float16, torch.bfloat16) for i in (0, 3, 4)]


@pytest.mark.parametrize("dtype,case", _PARAMS)
def test_torgb_skip_matches_einsum_and_upsample_loops(dtype, case):
    (n, c, h, w), img_c, with_skip, clamp = case
    x = randn((n, c, h, w), seed=120).to(dtype)
    weight = randn((img_c, c, 1, 1), seed=121, scale=1 / math.sqrt(c)).to(dtype)
    styles = (randn((n, c), seed=122) * 0.5 + 1.0).to(dtype)
    bias = randn((img_c,), seed=123, scale=0.3).to(dtype)
    skip = randn((n, img_c, h // 2, w // 2), seed=124).to(dtype) if with_skip else None
    f = setup_filter([1, 3, 3, 1])
    got = run_or_skip(lambda: torgb_skip(x, weight, styles, bias, skip=skip, resample_filter=f, clamp=clamp), dtype)
    d = (lambda t: None if t is None else t.double().numpy())
    expected = torgb_skip_derivation(d(x), d(weight), d(styles), d(bias), d(skip), clamp)
    assert got.dtype == dtype
    assert tuple(got.shape) == (n, img_c, h, w)
    assert expected.abs().max() > 0.1
    if clamp is not None and clamp >= 0 and with_skip:
        # The clamp applies to the toRGB branch only, not to the sum with the skip image.
        assert expected.abs().max() > clamp
    assert_close(got, expected, dtype=dtype)


def test_torgb_skip_clamp_really_clamps():
    x = randn((1, 4, 4, 4), seed=130) * 5
    weight = randn((3, 4, 1, 1), seed=131)
    y = torgb_skip(x, weight, torch.ones(1, 4, dtype=torch.float64), torch.zeros(3, dtype=torch.float64), clamp=0.25)
    assert y.abs().max().item() == 0.25
    assert (y.abs() < 0.25).any()


def test_torgb_skip_errors():
    x = torch.zeros(2, 8, 6, 6)
    w = torch.zeros(3, 8, 1, 1)
    s = torch.ones(2, 8)
    b = torch.zeros(3)
    f = setup_filter([1, 3, 3, 1])
    with pytest.raises(ValueError, match=r"skip must have shape \[2, 3, 3, 3\], got \[2, 3, 6, 6\]"):
        torgb_skip(x, w, s, b, skip=torch.zeros(2, 3, 6, 6), resample_filter=f)
    with pytest.raises(ValueError, match=r"skip must have shape \[2, 3, 3, 3\], got \[2, 4, 3, 3\]"):
        torgb_skip(x, w, s, b, skip=torch.zeros(2, 4, 3, 3), resample_filter=f)
    with pytest.raises(ValueError, match=r"skip must have shape \[2, 3, 3, 3\], got \[1, 3, 3, 3\]"):
        torgb_skip(x, w, s, b, skip=torch.zeros(1, 3, 3, 3), resample_filter=f)
    with pytest.raises(ValueError, match=r"skip must be a 4-D tensor"):
        torgb_skip(x, w, s, b, skip=torch.zeros(3, 3, 3), resample_filter=f)
    with pytest.raises(ValueError, match=r"x must be a 4-D tensor"):
        torgb_skip(torch.zeros(8, 6, 6), w, s, b)
    with pytest.raises(ValueError, match=r"styles has 7 channels"):
        torgb_skip(x, w, torch.ones(2, 7), b)


# ---------------------------------------------------------------------------------------------
# The cpu backend (csrc/cpu/torgb_skip.cpp) against the reference.

from stylegan_fast.ops import cpu_support  # noqa: E402

_needs_cpu_kernels = pytest.mark.skipif(not cpu_support.kernels_built(),
                                        reason="stylegan_fast._C is not built with the CPU kernels")

# (N, C, H, W, img_C): odd channel counts, non-square, sizes not multiples of 4/8/16, more than
# 4 image channels (two groups), a wide image split in several bands of rows
_CPU_SHAPES = [(1, 1, 2, 2, 3), (2, 67, 10, 14, 3), (3, 13, 6, 22, 1), (2, 9, 18, 4, 5), (1, 6, 34, 100, 3),
               (2, 512, 8, 8, 3), (1, 5, 7, 9, 3)]
# resample filters: how the kernel gets them (fused 2x2 taps per phase) or not (upsample2d after)
_CPU_FILTERS = {
    "1331": lambda: setup_filter([1, 3, 3, 1]),
    "4x4-random": lambda: randn((4, 4), seed=140).float(),
    "1d-4tap": lambda: randn((4,), seed=141).float(),
    "3tap-unfused": lambda: setup_filter([1, 2, 1]),
}


def _cpu_cases():
    for shape in _CPU_SHAPES:
        odd = shape[2] % 2 or shape[3] % 2
        for skip_filter in [None] + ([] if odd else list(_CPU_FILTERS)):
            for clamp in (None, 0.3):
                for with_bias in (True, False):
                    name = (f"{'x'.join(map(str, shape[:4]))}-rgb{shape[4]}-{skip_filter or 'noskip'}"
                            f"-{'clamp' if clamp else 'noclamp'}-{'bias' if with_bias else 'nobias'}")
                    yield pytest.param(shape, skip_filter, clamp, with_bias, id=name)


@_needs_cpu_kernels
@pytest.mark.parametrize("shape,skip_filter,clamp,with_bias", list(_cpu_cases()))
def test_torgb_skip_cpu_matches_reference(shape, skip_filter, clamp, with_bias):
    from stylegan_fast.ops.torgb_skip import _op

    assert "cpu" in _op.implementations
    n, c, h, w, img_c = shape
    x = randn((n, c, h, w), seed=150).float() * 3
    weight = randn((img_c, c, 1, 1), seed=151, scale=1 / math.sqrt(c)).float()
    styles = (randn((n, c), seed=152) * 0.5 + 1.0).float()
    bias = randn((img_c,), seed=153, scale=0.3).float() if with_bias else None
    skip = None if skip_filter is None else randn((n, img_c, h // 2, w // 2), seed=154).float()
    f = None if skip_filter is None else _CPU_FILTERS[skip_filter]()
    args = (x, weight, styles, bias)
    kwargs = dict(skip=skip, resample_filter=f, clamp=clamp)
    expected = torgb_skip(*args, **kwargs, backend="reference")
    previous = torch.get_num_threads()
    try:
        outputs = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            outputs.append(torgb_skip(*args, **kwargs, backend="cpu"))
    finally:
        torch.set_num_threads(previous)
    got = outputs[0]
    assert got.dtype == torch.float32 and tuple(got.shape) == (n, img_c, h, w)
    assert torch.equal(outputs[0], outputs[1]), "1 and 2 threads differ"
    if clamp is not None:
        y = torgb_skip(*args, clamp=None, backend="reference")
        assert y.abs().max() > clamp  # the clamp bites
    assert_close(got, expected, dtype=torch.float32)


@_needs_cpu_kernels
def test_torgb_skip_cpu_bad_inputs():
    x, w, s, b = torch.zeros(2, 8, 6, 6), torch.zeros(3, 8, 1, 1), torch.ones(2, 8), torch.zeros(3)
    f = setup_filter([1, 3, 3, 1])
    with pytest.raises(ValueError, match=r"x has 8 input channels \(weight expects\).*expected 7"):
        torgb_skip(x, torch.zeros(3, 7, 1, 1), s, b, backend="cpu")
    with pytest.raises(ValueError, match=r"styles has 2 samples \(x has\).*expected 3"):
        torgb_skip(torch.zeros(3, 8, 6, 6), w, s, b, backend="cpu")
    with pytest.raises(ValueError, match=r"bias must have shape \[3\], got \[4\]"):
        torgb_skip(x, w, s, torch.zeros(4), backend="cpu")
    with pytest.raises(ValueError, match=r"styles must be a floating-point tensor.*torch.int64"):
        torgb_skip(x, w, torch.ones(2, 8, dtype=torch.int64), b, backend="cpu")
    with pytest.raises(ValueError, match=r"skip is on meta; the cpu backend's kernels take CPU tensors"):
        torgb_skip(x, w, s, b, skip=torch.zeros(2, 3, 3, 3, device="meta"), resample_filter=f, backend="cpu")
