"""torgb_skip: the Triton kernel (interpreted) against the reference op run in float64."""
import pytest
import torch

from stylegan_fast import ops
from tests.interpreter.conftest import DTYPES, dtype_id
from tests.tolerances import assert_close


def _case(dtype, shape, img_channels, with_skip, clamp, filter_taps=(1, 3, 3, 1), bias=True, layout=None):
    n, c, h, w = shape
    g = torch.Generator().manual_seed(hash((shape, img_channels, with_skip, clamp)) % 2**31)
    x = torch.randn(shape, generator=g).to(dtype)
    if layout is not None:
        x = x.to(memory_format=layout)
    weight = torch.randn(img_channels, c, 1, 1, generator=g) / c ** 0.5
    styles = torch.randn(n, c, generator=g) * 0.5 + 1.0
    b = torch.randn(img_channels, generator=g) * 0.3 if bias else None
    skip = torch.randn(n, img_channels, h // 2, w // 2, generator=g).to(dtype) if with_skip else None
    f = None if filter_taps is None else ops.setup_filter(list(filter_taps))
    got = ops.torgb_skip(x, weight, styles, b, skip=skip, resample_filter=f, clamp=clamp, backend="triton")
    d = (lambda t: None if t is None else t.double())
    want = ops.torgb_skip(d(x), d(weight), d(styles), d(b), skip=d(skip), resample_filter=d(f), clamp=clamp,
                          backend="reference")
    assert got.dtype == dtype and got.shape == (n, img_channels, h, w)
    assert want.abs().max() > 0.1
    if clamp is not None and clamp >= 0 and not with_skip:
        assert want.abs().max() <= clamp + 1e-12 and (want.abs() == clamp).any()  # the clamp is exercised
    assert_close(got, want.to(dtype), dtype, msg=f"{shape} rgb{img_channels} skip={with_skip} clamp={clamp}")


# (x shape, img_channels, with skip, clamp)
MAIN = [((1, 3, 4, 4), 3, True, None), ((2, 64, 8, 8), 3, True, 0.5), ((2, 5, 7, 9), 1, False, None),
        ((1, 17, 66, 64), 3, True, None)]  # 4224 pixels: the large-image block


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("case", MAIN, ids=lambda c: f"{'x'.join(map(str, c[0]))}-rgb{c[1]}")
def test_torgb_matches_reference(dtype, case):
    _case(dtype, *case)


@pytest.mark.parametrize("img_channels", [1, 2, 3, 4])
@pytest.mark.parametrize("with_skip", [False, True], ids=["noskip", "skip"])
@pytest.mark.parametrize("clamp", [None, 0.3], ids=["noclamp", "clamp"])
def test_every_flag_matches_reference(img_channels, with_skip, clamp):
    _case(torch.float32, (2, 6, 6, 10), img_channels, with_skip, clamp)


def test_odd_sizes_without_skip_and_no_bias():
    _case(torch.float32, (1, 3, 5, 3), 3, False, 0.4, bias=False)


def test_skip_without_resample_filter_and_channels_last():
    _case(torch.float32, (2, 7, 4, 6), 3, True, None, filter_taps=None, layout=torch.channels_last)


def test_more_than_four_image_channels_run_the_reference():
    _case(torch.float32, (1, 6, 4, 4), 5, True, None)
