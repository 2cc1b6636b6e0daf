"""noise_stream: the Triton kernel (interpreted) against the reference stream.

The Philox words are integer-exact; the interpreter's tl.randn takes numpy's float32 log/cos/sqrt
where the reference takes torch's, so the normals may differ by float32 ulps: at most MAX_DIFF
(8 ulps at the largest |z| ~ 5.7), the bound tests/test_ops_noise_stream.py puts on tl.randn.
"""
import pytest
import torch

from stylegan_fast import ops
from stylegan_fast.ops.noise_stream import triton_kernels
from tests.interpreter.conftest import dtype_id

SEEDS = [0, 1, 12345, 0x9E3779B9, 2**32 - 1]
LAYERS = [0, 1, 17]
SIZES = [(4, 4), (8, 8), (16, 16), (32, 32), (64, 64), (1, 1), (5, 7), (33, 17), (3, 1000)]
MAX_DIFF = 4e-6


def size_id(size):
    return "x".join(map(str, size))


def _max_diff(got, want):
    return (got.double() - want.double()).abs().max().item()


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("size", SIZES, ids=size_id)
def test_stream_matches_reference(layer, size):
    got = ops.noise_stream(SEEDS, layer, *size, backend="triton")
    want = ops.noise_stream(SEEDS, layer, *size, backend="reference")
    assert got.dtype == torch.float32 and got.shape == (len(SEEDS), 1, *size)
    diff = _max_diff(got, want)
    print(f"layer {layer} {size_id(size)}: max abs diff {diff:.2e}, "
          f"{(got != want).float().mean().item():.1%} of values not bitwise equal")
    assert diff <= MAX_DIFF, f"max abs diff {diff:.3e} vs the reference"


def test_counters_beyond_16_bits():
    """A 2 x 40000 map: pixel counters past 2^16, 40 blocks with a tail."""
    got = ops.noise_stream([7, 2**32 - 1], 3, 2, 40000, backend="triton")
    diff = _max_diff(got, ops.noise_stream([7, 2**32 - 1], 3, 2, 40000, backend="reference"))
    print(f"layer 3 2x40000: max abs diff {diff:.2e}")
    assert diff <= MAX_DIFF


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=dtype_id)
@pytest.mark.parametrize("size", [(4, 4), (5, 7), (64, 64)], ids=size_id)
def test_low_precision_maps_are_the_float32_stream_rounded(dtype, size):
    got = ops.noise_stream(SEEDS, 17, *size, dtype=dtype, backend="triton")
    assert got.dtype == dtype and got.shape == (len(SEEDS), 1, *size)
    stream = ops.noise_stream(SEEDS, 17, *size, backend="triton")
    if dtype == torch.float16:
        assert torch.equal(got, stream.to(dtype))
    else:  # the interpreter truncates float32 -> bfloat16 (GPUs round to nearest): either neighbour
        toward_zero = (stream.view(torch.int32) & ~0xFFFF).view(torch.float32).to(dtype)  # exact
        assert ((got == stream.to(dtype)) | (got == toward_zero)).all()
    want = ops.noise_stream(SEEDS, 17, *size, dtype=dtype, backend="reference")
    # where the float32 values differ by ulps, the rounding may land one ulp of dtype apart
    bound = torch.finfo(dtype).eps * want.double().abs() + MAX_DIFF
    assert ((got.double() - want.double()).abs() <= bound).all(), f"max abs diff {_max_diff(got, want):.3e}"


def test_float64_map_is_the_float32_stream_cast():
    got = ops.noise_stream(SEEDS, 1, 6, 5, dtype=torch.float64, backend="triton")
    assert got.dtype == torch.float64
    assert torch.equal(got, ops.noise_stream(SEEDS, 1, 6, 5, backend="triton").double())


def test_image_noise_independent_of_batch():
    a, b, c = 11, 2**32 - 2, 424242
    alone = ops.noise_stream([b], 5, 9, 13, backend="triton")
    assert torch.equal(ops.noise_stream([a, b, c], 5, 9, 13, backend="triton")[1:2], alone)
    assert torch.equal(ops.noise_stream([c, b], 5, 9, 13, backend="triton")[1:2], alone)


def test_batches_beyond_the_grid_limit_launch_in_chunks(monkeypatch):
    whole = ops.noise_stream(SEEDS, 2, 7, 7, backend="triton")
    monkeypatch.setattr(triton_kernels, "MAX_GRID_Y", 2)
    assert torch.equal(ops.noise_stream(SEEDS, 2, 7, 7, backend="triton"), whole)


def test_empty_batch():
    out = ops.noise_stream([], 0, 4, 4, backend="triton")
    assert out.shape == (0, 1, 4, 4)
