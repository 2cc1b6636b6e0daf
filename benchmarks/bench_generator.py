"""Whole-generator throughput: StyleGAN2 / StyleGAN1 at 256 px, paper-sized channels, batch 1 and 8.

    pytest benchmarks/bench_generator.py                       # timed (a couple of minutes on 2 CPU cores)
    pytest benchmarks/bench_generator.py --benchmark-disable   # smoke: each body once, shrunk configs

Paper-sized: channel_base 16384, channel_max 512 for both (StyleGAN2: NVlabs 'paper256';
StyleGAN1: its FFHQ fmap rule, 16384 / res capped at 512). In smoke mode (see conftest.py)
channel_max drops to 32 and batch 8 becomes batch 2, so CI stays quick.
For backend-vs-reference ratios with a correctness check use ``python -m stylegan_fast.bench``.
"""
from __future__ import annotations

import pytest
import torch

from stylegan_fast.bench import build_generator, make_latents

from .conftest import backend_params, median_seconds, synchronize

RESOLUTION = 256
PAPER = dict(channel_base=16384, channel_max=512)
SMOKE = dict(channel_base=16384, channel_max=32)
SMOKE_BATCH = {1: 1, 8: 2}
# pedantic settings per batch: one paper256 batch-8 call takes ~15 s on 2 CPU cores
ROUNDS = {1: dict(rounds=3, warmup_rounds=1), 8: dict(rounds=2, warmup_rounds=1)}


@pytest.fixture(scope="session")
def generators():
    """Built generators, shared by the batch sizes and backends of one config."""
    cache = {}

    def get(arch, device, **channels):
        key = (arch, str(device), tuple(sorted(channels.items())))
        if key not in cache:
            cache.clear()  # keep one paper-sized generator alive at a time
            cache[key] = build_generator(arch, RESOLUTION, device=device, **channels)
        return cache[key]

    return get


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("batch", [1, 8], ids=lambda b: f"b{b}")
@pytest.mark.parametrize("arch", ["stylegan2", "stylegan1"])
def test_generator(benchmark, generators, smoke, device, arch, batch, backend):
    channels = SMOKE if smoke else PAPER
    n = SMOKE_BATCH[batch] if smoke else batch
    G = generators(arch, device, **channels)
    G.backend = backend
    z = make_latents(n, G.z_dim, device=device)

    def run():
        with torch.inference_mode():
            img = G(z)
        synchronize(device)
        return img

    benchmark.group = f"generator-{arch}-{RESOLUTION}"
    img = benchmark.pedantic(run, **ROUNDS[batch], iterations=1)

    assert img.shape == (n, 3, RESOLUTION, RESOLUTION)
    assert img.dtype == torch.float32
    assert torch.isfinite(img).all()
    assert img.std() > 0  # not a constant image
    seconds = median_seconds(benchmark)
    benchmark.extra_info.update(arch=arch, resolution=RESOLUTION, batch=n, backend=backend, smoke=smoke,
                                device=str(device), threads=torch.get_num_threads(), **channels)
    if seconds:
        benchmark.extra_info["img_per_s"] = n / seconds
        benchmark.extra_info["ms_per_call"] = seconds * 1e3
