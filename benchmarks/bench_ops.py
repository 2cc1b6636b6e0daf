"""Per-op throughput at a mid-network shape (N=4, C=256, 32x32), per available backend.

    pytest benchmarks/bench_ops.py                          # timed
    pytest benchmarks/bench_ops.py --benchmark-disable      # smoke: each body once

ids read ``<backend>-<dtype>-<N>x<C>x<H>x<W>`` (the input x's shape). extra_info gives
``ms`` (median per call), ``gb_per_s`` (the op's compulsory traffic: its inputs read once
plus its output written once, over the median time) and, for convolutions, ``gflop_per_s``.
``STYLEGAN_FAST_BENCH_DTYPES`` (default ``fp32``; e.g. ``fp32,bf16``) picks the dtypes.
"""
from __future__ import annotations

import os

import pytest
import torch

from stylegan_fast import ops

from .conftest import bench_device, backend_params, median_seconds, synchronize

N, C, H, W = 4, 256, 32, 32
SHAPE_ID = f"{N}x{C}x{H}x{W}"
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def dtype_names():
    names = [d.strip() for d in os.environ.get("STYLEGAN_FAST_BENCH_DTYPES", "fp32").split(",") if d.strip()]
    unknown = [d for d in names if d not in DTYPES]
    if unknown:
        raise ValueError(f"STYLEGAN_FAST_BENCH_DTYPES: unknown dtypes {unknown}; choose from {list(DTYPES)}")
    return names


def cases():
    """(backend, dtype) params with ids like reference-fp32-4x256x32x32; unavailable backends skipped."""
    params = []
    for b in backend_params():
        for d in dtype_names():
            params.append(pytest.param(b.values[0], d, id=f"{b.id}-{d}-{SHAPE_ID}", marks=b.marks))
    return params


def _inputs(kind, dtype, device):
    """Seeded inputs of one op; also returns the output shape and the FLOP count (0: not a conv)."""
    g = torch.Generator().manual_seed(0)

    def randn(*shape, dt=dtype):
        return torch.randn(shape, generator=g).to(device=device, dtype=dt)

    x = randn(N, C, H, W)
    fir = ops.setup_filter([1, 3, 3, 1], device=device)
    conv_flops = 2 * N * C * C * 9 * H * W
    if kind == "modulated_conv2d":
        args = dict(x=x, weight=randn(C, C, 3, 3, dt=torch.float32), styles=randn(N, C, dt=torch.float32))
        return args, dict(demodulate=True), (N, C, H, W), conv_flops
    if kind == "modulated_conv2d_up":
        args = dict(x=x, weight=randn(C, C, 3, 3, dt=torch.float32), styles=randn(N, C, dt=torch.float32))
        return args, dict(demodulate=True, up=2, resample_filter=fir), (N, C, 2 * H, 2 * W), conv_flops
    if kind == "upsample2d":
        return dict(x=x), dict(f=fir), (N, C, 2 * H, 2 * W), 0
    if kind == "noise_bias_act":
        args = dict(x=x, bias=randn(C, dt=torch.float32), noise=randn(1, 1, H, W, dt=torch.float32),
                    noise_strength=torch.tensor(0.1, device=device))
        return args, dict(act="lrelu"), (N, C, H, W), 0
    if kind == "adain":
        return dict(x=x, scale=randn(N, C), shift=randn(N, C)), {}, (N, C, H, W), 0
    if kind == "torgb_skip":
        args = dict(x=x, weight=randn(3, C, 1, 1, dt=torch.float32), styles=randn(N, C, dt=torch.float32),
                    bias=randn(3, dt=torch.float32), skip=randn(N, 3, H // 2, W // 2))
        return args, dict(resample_filter=fir), (N, 3, H, W), 2 * N * 3 * C * H * W
    if kind in ("upscale_conv2d", "upscale_conv2d_fused"):
        args = dict(x=x, weight=randn(C, C, 3, 3))
        # nearest + 3x3 conv at 2H x 2W; the fused 4x4 stride-2 transposed conv does 16/36 of that work
        flops = 4 * conv_flops if kind == "upscale_conv2d" else conv_flops * 16 // 9
        return args, dict(fused=kind.endswith("fused")), (N, C, 2 * H, 2 * W), flops
    raise ValueError(kind)


OPS = {
    "modulated_conv2d": ops.modulated_conv2d,
    "modulated_conv2d_up": ops.modulated_conv2d,
    "upsample2d": ops.upsample2d,
    "noise_bias_act": ops.noise_bias_act,
    "adain": ops.adain,
    "torgb_skip": ops.torgb_skip,
    "upscale_conv2d": ops.upscale_conv2d,
    "upscale_conv2d_fused": ops.upscale_conv2d,
}


@pytest.mark.parametrize("backend,dtype", cases())
@pytest.mark.parametrize("kind", list(OPS))
def test_op(benchmark, kind, backend, dtype):
    device = bench_device()
    tensors, options, out_shape, flops = _inputs(kind, DTYPES[dtype], device)
    fn = OPS[kind]

    def run():
        y = fn(**tensors, **options, backend=backend)
        synchronize(device)
        return y

    benchmark.group = f"op-{kind}-{dtype}-{SHAPE_ID}"
    y = benchmark(run)

    assert tuple(y.shape) == out_shape
    assert y.dtype == DTYPES[dtype]
    assert torch.isfinite(y).all()
    benchmark.extra_info.update(op=kind, backend=backend, dtype=dtype, shape=SHAPE_ID, device=str(device))
    seconds = median_seconds(benchmark)
    if seconds:
        nbytes = sum(t.numel() * t.element_size() for t in tensors.values()) + y.numel() * y.element_size()
        benchmark.extra_info["ms"] = seconds * 1e3
        benchmark.extra_info["gb_per_s"] = nbytes / seconds / 1e9
        if flops:
            benchmark.extra_info["gflop_per_s"] = flops / seconds / 1e9
