"""noise_bias_act against the direct formula, element by element in float64:

    y = clamp(act(x + noise * strength + bias) * gain, -clamp, clamp)
with act linear / relu / lrelu (alpha 0.2) and default gains 1, sqrt(2), sqrt(2).
"""
import math

import numpy as np
import pytest
import torch

from stylegan_fast.ops import noise_bias_act
from tests.op_helpers import DTYPE_NAMES, randn, run_or_skip
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
