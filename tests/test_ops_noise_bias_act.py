"""noise_bias_act against the direct formula, element by element in float64:

    y = clamp(act(x + noise * strength + bias) * gain, -clamp, clamp)
with act linear / relu / lrelu (alpha 0.2) and default gains 1, sqrt(2), sqrt(2).
"""
import math

import numpy as np
import pytest
import torch

from stylegan_fast.ops import noise_bias_act
from tests.op_helpers import DTYPE_NAMES, randn, run_or_skip, with_threads
from tests.tolerances import assert_close


# Written out here (not read from the op): the papers' defaults.
DEFAULT_ALPHA = {"linear": 0.0, "relu": 0.0, "lrelu": 0.2}
DEFAULT_GAIN = {"linear": 1.0, "relu": math.sqrt(2.0), "lrelu": math.sqrt(2.0)}


def noise_bias_act_formula(x, bias, noise, strength, act, alpha, gain, clamp):
    """Direct per-element evaluation. x: [N, C] or [N, C, H, W] float64 array."""
    x = np.asarray(x, dtype=np.float64)
    alpha = DEFAULT_ALPHA[act] if alpha is None else alpha
    gain = DEFAULT_GAIN[act] if gain is None else gain
    out = np.empty_like(x)
    for idx in np.ndindex(*x.shape):
        n, c = idx[0], idx[1]
        v = x[idx]
        if noise is not None:
            s = float(strength) if np.ndim(strength) == 0 else strength[c]
            nb = 0 if noise.shape[0] == 1 else n
            v += noise[(nb, 0) + idx[2:]] * s
        if bias is not None:
            v += bias[c]
        if act == "relu":
            v = max(v, 0.0)
        elif act == "lrelu":
            v = v if v >= 0 else alpha * v
        v *= gain
        if clamp is not None and clamp >= 0:
            v = min(max(v, -clamp), clamp)
        out[idx] = v
    return torch.from_numpy(out)


# (id, x shape, act, alpha, gain, clamp, noise mode ('none' | 'scalar' | 'channel'), noise batch, bias)
_CASES = [
    ("linear-defaults", (2, 3, 5, 7), "linear", None, None, None, "none", None, True),
    ("relu-defaults", (2, 3, 5, 7), "relu", None, None, None, "none", None, True),
    ("lrelu-defaults", (2, 3, 5, 7), "lrelu", None, None, None, "none", None, True),
    ("lrelu-alpha0.1-gain0.5", (1, 4, 3, 6), "lrelu", 0.1, 0.5, None, "none", None, True),
    ("relu-gain1", (2, 3, 4, 4), "relu", None, 1.0, None, "none", None, True),
    ("lrelu-clamp0.8", (2, 3, 5, 7), "lrelu", None, None, 0.8, "none", None, True),
    ("linear-clamp-negative-is-off", (2, 3, 4, 5), "linear", None, 3.0, -1.0, "none", None, True),
    ("lrelu-noise-scalar-batchN", (2, 3, 5, 7), "lrelu", None, None, None, "scalar", 2, True),
    ("lrelu-noise-scalar-batch1", (3, 3, 5, 7), "lrelu", None, None, None, "scalar", 1, True),
    ("lrelu-noise-channel-batchN", (2, 4, 6, 5), "lrelu", None, None, None, "channel", 2, True),
    ("lrelu-noise-channel-batch1-clamp", (2, 4, 6, 5), "lrelu", None, None, 0.9, "channel", 1, True),
    ("linear-noise-no-bias", (1, 2, 3, 3), "linear", None, None, None, "scalar", 1, False),
    ("2d-linear", (4, 6), "linear", None, None, None, "none", None, True),
    ("2d-lrelu", (4, 6), "lrelu", None, None, None, "none", None, True),
    ("2d-relu-no-bias", (1, 5), "relu", None, None, None, "none", None, False),
]


def _make(case, dtype):
    _, shape, act, alpha, gain, clamp, mode, nb, use_bias = case
    x = randn(shape, seed=60).to(dtype)
    bias = randn((shape[1],), seed=61, scale=0.5).to(dtype) if use_bias else None
    noise = strength = None
    if mode != "none":
        noise = randn((nb, 1) + tuple(shape[2:]), seed=62).to(dtype)
        strength = torch.tensor(0.7, dtype=torch.float64) if mode == "scalar" else randn((shape[1],), seed=63)
        strength = strength.to(dtype)
    return x, bias, noise, strength


def _id(dtype, case):
    return f"{DTYPE_NAMES[dtype]}-{'x'.join(map(str, case[1]))}-{case[0]}"


_PARAMS = [pytest.param(dt, case, id=_id(dt, case)) for dt in (torch.float64, torch.float32) for case in _CASES]
_PARAMS += [pytest.param(dt, _CASES[i], id=_id(dt, _CASES[i]))
            for dt in (torch.float16, torch.bfloat16) for i in (2, 5, 10, 13)]


@pytest.mark.parametrize("dtype,case", _PARAMS)
def test_noise_bias_act_matches_direct_formula(dtype, case):
    _, shape, act, alpha, gain, clamp, mode, nb, use_bias = case
    x, bias, noise, strength = _make(case, dtype)
    got = run_or_skip(lambda: noise_bias_act(x, bias=bias, noise=noise, noise_strength=strength, act=act, alpha=alpha,
                                      gain=gain, clamp=clamp), dtype)
    d = (lambda t: None if t is None else t.double().numpy())
    expected = noise_bias_act_formula(d(x), d(bias), d(noise), d(strength), act, alpha, gain, clamp)
    assert got.dtype == dtype
    assert tuple(got.shape) == tuple(shape)
    assert expected.abs().max() > 0.1
    if clamp is not None and clamp >= 0:
        assert (expected.abs() == clamp).any(), "test case should actually clamp something"
    assert_close(got, expected, dtype=dtype)


def test_noise_bias_act_batch1_noise_equals_repeated_noise():
    x = randn((3, 2, 4, 5), seed=70)
    noise1 = randn((1, 1, 4, 5), seed=71)
    strength = randn((2,), seed=72)
    a = noise_bias_act(x, noise=noise1, noise_strength=strength, act="lrelu")
    b = noise_bias_act(x, noise=noise1.expand(3, 1, 4, 5).contiguous(), noise_strength=strength, act="lrelu")
    assert_close(a, b)
    # Zero strength is the same as no noise; nonzero strength changes the output.
    no_noise = noise_bias_act(x, act="lrelu")
    assert_close(noise_bias_act(x, noise=noise1, noise_strength=torch.zeros(()), act="lrelu"), no_noise)
    assert (a - no_noise).abs().max() > 0.1


def test_noise_bias_act_hand_values():
    x = torch.tensor([[-2.0, 0.5], [3.0, -0.25]], dtype=torch.float64)  # [N=2, C=2]
    bias = torch.tensor([1.0, -1.0], dtype=torch.float64)
    # x + bias = [[-1, -0.5], [4, -1.25]]
    r2 = math.sqrt(2.0)
    assert noise_bias_act(x, bias, act="linear").tolist() == [[-1.0, -0.5], [4.0, -1.25]]
    assert_close(noise_bias_act(x, bias, act="relu"), torch.tensor([[0.0, 0.0], [4 * r2, 0.0]], dtype=torch.float64))
    assert_close(noise_bias_act(x, bias, act="lrelu"),
                 torch.tensor([[-0.2 * r2, -0.1 * r2], [4 * r2, -0.25 * r2]], dtype=torch.float64))
    assert noise_bias_act(x, bias, act="lrelu", gain=1.0, clamp=0.15).tolist() == [[-0.15, -0.1], [0.15, -0.15]]


def test_noise_bias_act_errors():
    x = torch.zeros(2, 3, 4, 5)
    with pytest.raises(ValueError, match=r"unknown activation 'tanh'"):
        noise_bias_act(x, act="tanh")
    with pytest.raises(ValueError, match=r"noise needs a noise_strength"):
        noise_bias_act(x, noise=torch.zeros(2, 1, 4, 5))
    with pytest.raises(ValueError, match=r"noise must have shape"):
        noise_bias_act(x, noise=torch.zeros(2, 3, 4, 5), noise_strength=torch.ones(()))
    with pytest.raises(ValueError, match=r"noise must have shape"):
        noise_bias_act(x, noise=torch.zeros(2, 1, 5, 4), noise_strength=torch.ones(()))
    with pytest.raises(ValueError, match=r"noise must have shape"):
        noise_bias_act(x, noise=torch.zeros(1, 4, 5), noise_strength=torch.ones(()))
    with pytest.raises(ValueError, match=r"noise must have shape"):  # [N, C] input (mapping net) takes no noise
        noise_bias_act(torch.zeros(2, 3), noise=torch.zeros(2, 1, 4, 5), noise_strength=torch.ones(()))
    with pytest.raises(ValueError, match=r"bias has 4 values"):
        noise_bias_act(x, bias=torch.zeros(4))


# ---------------------------------------------------------------------------------------------
# cpu backend (csrc/cpu/noise_bias_act.cpp) against the reference
# ---------------------------------------------------------------------------------------------

from stylegan_fast.ops import cpu_support  # noqa: E402

needs_cpu_kernels = pytest.mark.skipif(not cpu_support.kernels_built(),
                                       reason="stylegan_fast._C is not built with the C++ CPU kernels")

# Odd sizes; the large ones are split by two threads (>= 2 * 65536 elements), the 4-D one into
# several blocks per plane (> 16384 elements).
_CPU_SHAPES = [(1, 67, 5, 7), (3, 1, 13, 11), (2, 5, 33, 17)]
_CPU_LARGE = (2, 3, 150, 230)
_CPU_SHAPES_2D = [(1, 1), (3, 67), (300, 513)]
_CPU_NOISE_MODES = ["none", "scalar-batch1", "scalar-batchN", "channel-batch1", "channel-batchN"]



def _cpu_vs_reference(x, bias, noise, strength, **kwargs):
    ref = noise_bias_act(x, bias, noise, strength, backend="reference", **kwargs)
    one, two = (with_threads(lambda: noise_bias_act(x, bias, noise, strength, backend="cpu", **kwargs), t)
                for t in (1, 2))
    assert one.dtype == torch.float32 and one.shape == x.shape
    assert torch.equal(one, two), "cpu result depends on the thread count"
    assert_close(one, ref)
    return one, ref


_CPU_PARAMS = [pytest.param(shape, act, alpha, gain, noise_mode, use_bias, clamp,
                            id=f"{'x'.join(map(str, shape))}-{act}-{alpha}-{gain}-{noise_mode}-bias{use_bias}-{clamp}")
               for shape in _CPU_SHAPES
               for act, alpha, gain in [("linear", None, None), ("relu", None, None), ("lrelu", None, None),
                                        ("lrelu", 0.1, 0.5), ("linear", None, 3.0)]
               for noise_mode in _CPU_NOISE_MODES for use_bias in (True, False) for clamp in (None, 0.7)]
_CPU_PARAMS += [pytest.param(_CPU_LARGE, "lrelu", None, None, noise_mode, True, clamp,
                             id=f"{'x'.join(map(str, _CPU_LARGE))}-lrelu-{noise_mode}-{clamp}")
                for noise_mode in _CPU_NOISE_MODES for clamp in (None, 0.7)]


@needs_cpu_kernels
@pytest.mark.parametrize("shape,act,alpha,gain,noise_mode,use_bias,clamp", _CPU_PARAMS)
def test_noise_bias_act_cpu_matches_reference(shape, act, alpha, gain, noise_mode, use_bias, clamp):
    n, c = shape[:2]
    x = randn(shape, seed=200).float() * 2
    bias = randn((c,), seed=201).float() if use_bias else None
    noise = strength = None
    if noise_mode != "none":
        noise = randn((1 if noise_mode.endswith("batch1") else n, 1) + shape[2:], seed=202).float()
        strength = torch.tensor(0.7) if noise_mode.startswith("scalar") else randn((c,), seed=203).float()
    got, ref = _cpu_vs_reference(x, bias, noise, strength, act=act, alpha=alpha, gain=gain, clamp=clamp)
    if clamp is not None:
        assert (ref.abs() == clamp).any() and got.abs().max() <= clamp
    if act == "relu":
        assert (ref == 0).any() and not (got < 0).any()
    else:
        assert (ref < 0).any()
    if noise is not None:  # the noise is really added: without it the result differs
        without = noise_bias_act(x, bias, act=act, alpha=alpha, gain=gain, clamp=clamp, backend="cpu")
        assert (without - got).abs().max() > 0.1


@needs_cpu_kernels
@pytest.mark.parametrize("clamp", [None, 0.5])
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("act", ["linear", "relu", "lrelu"])
@pytest.mark.parametrize("shape", _CPU_SHAPES_2D, ids=lambda s: "x".join(map(str, s)))
def test_noise_bias_act_cpu_matches_reference_2d(shape, act, use_bias, clamp):
    # The mapping network's fully connected layers: x [N, C], one value per channel.
    x = randn(shape, seed=210).float() * 2
    bias = randn(shape[1:], seed=211).float() if use_bias else None
    _cpu_vs_reference(x, bias, None, None, act=act, clamp=clamp)


@needs_cpu_kernels
def test_noise_bias_act_cpu_other_layouts_and_dtypes():
    # Non-contiguous x, a 3-D and a 5-D x, [N, C, 1, 1] with noise, float64 bias and strength: all as the reference.
    x = randn((2, 6, 9, 10), seed=220).float()
    _cpu_vs_reference(x.transpose(2, 3), randn((6,), seed=221), None, None, act="lrelu")
    _cpu_vs_reference(x.to(memory_format=torch.channels_last), randn((6,), seed=222).float(), None, None, act="relu")
    _cpu_vs_reference(x.reshape(2, 6, 90), randn((6,), seed=223).float(), None, None, act="lrelu", clamp=0.3)
    _cpu_vs_reference(x.reshape(2, 6, 3, 3, 10), None, None, None, act="lrelu")
    pixel = x[:, :, :1, :1].contiguous()  # [N, C, 1, 1] with noise [N, 1, 1, 1]
    noise = randn((2, 1, 1, 1), seed=225).float()
    _cpu_vs_reference(pixel, randn((6,), seed=224).float(), noise, randn((6,), seed=226), act="lrelu")
    # The input is not modified, even where the reference could return it.
    before = x.clone()
    y = noise_bias_act(x, backend="cpu")
    assert torch.equal(x, before) and torch.equal(y, x) and y.data_ptr() != x.data_ptr()


@needs_cpu_kernels
def test_noise_bias_act_cpu_bad_input():
    from stylegan_fast.ops.noise_bias_act.cpu import noise_bias_act as cpu_noise_bias_act

    x = torch.zeros(2, 3, 4, 5)
    args = dict(act="lrelu", alpha=0.2, gain=1.0, clamp=None)
    with pytest.raises(ValueError, match=r"x is on meta; the cpu backend's kernels take CPU tensors"):
        cpu_noise_bias_act(x.to("meta"), None, None, None, **args)
    with pytest.raises(ValueError, match=r"x must be a floating-point tensor .*got torch.int32"):
        cpu_noise_bias_act(x.int(), None, None, None, **args)
    with pytest.raises(ValueError, match=r"bias must have shape \[3\], got \[4\]"):
        cpu_noise_bias_act(x, torch.zeros(4), None, None, **args)
    with pytest.raises(ValueError, match=r"noise must have shape \[\*, 1, 4, 5\], got \[2, 3, 4, 5\]"):
        cpu_noise_bias_act(x, None, torch.zeros(2, 3, 4, 5), torch.ones(()), **args)
    with pytest.raises(ValueError, match=r"noise must have batch size 1 or 2"):
        cpu_noise_bias_act(x, None, torch.zeros(3, 1, 4, 5), torch.ones(()), **args)
    with pytest.raises(ValueError, match=r"noise_strength must be a scalar or have 3 values"):
        cpu_noise_bias_act(x, None, torch.zeros(2, 1, 4, 5), torch.ones(2), **args)
    with pytest.raises(ValueError, match=r"x must be a tensor \[N, C, \.\.\.\]"):
        cpu_noise_bias_act(torch.zeros(5), None, None, None, **args)
