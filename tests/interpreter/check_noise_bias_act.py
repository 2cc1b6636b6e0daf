"""noise_bias_act: the Triton kernel (interpreted) against the reference op."""
import pytest
import torch

from stylegan_fast import ops
from tests.interpreter.conftest import DTYPES, dtype_id
from tests.tolerances import assert_close

SHAPES = [(1, 3, 4, 4), (2, 5, 7, 9), (3, 16, 33, 1), (4, 8), (2, 64, 16, 16)]


def _case(dtype, shape, act, noise, clamp):
    g = torch.Generator().manual_seed(hash((shape, act, noise, clamp)) % 2**31)
    x = torch.randn(shape, generator=g).to(dtype)
    bias = torch.randn(shape[1], generator=g)
    kw = dict(act=act, clamp=clamp)
    if noise != "none" and len(shape) == 4:
        batch = 1 if noise == "shared" else shape[0]
        kw["noise"] = torch.randn(batch, 1, *shape[2:], generator=g).to(dtype)
        kw["noise_strength"] = torch.randn(shape[1] if noise == "per-channel" else [], generator=g)
    got = ops.noise_bias_act(x, bias, backend="triton", **kw)
    want = ops.noise_bias_act(x.double(), bias.double(), backend="reference",
                              **{k: v.double() if isinstance(v, torch.Tensor) else v for k, v in kw.items()})
    assert got.dtype == dtype and got.shape == x.shape
    assert_close(got, want.to(dtype), dtype, msg=f"{act} {noise} clamp={clamp}")


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_styled_layer_epilogue_matches_reference(dtype, shape):
    """What every StyleGAN2 conv runs: per-sample noise, bias, lrelu, clamp."""
    _case(dtype, shape, "lrelu", "per-sample", 0.5)


@pytest.mark.parametrize("act", ["linear", "relu", "lrelu"])
@pytest.mark.parametrize("noise", ["none", "shared", "per-sample", "per-channel"])
@pytest.mark.parametrize("clamp", [None, 0.5])
def test_every_flag_matches_reference(act, noise, clamp):
    _case(torch.float32, (2, 5, 7, 9), act, noise, clamp)


def test_without_bias_and_gain():
    x = torch.randn(2, 4, 5, 5)
    got = ops.noise_bias_act(x, None, act="lrelu", gain=1.0, alpha=0.1, backend="triton")
    assert_close(got, torch.nn.functional.leaky_relu(x, 0.1))
