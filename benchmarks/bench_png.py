"""PNG encoding of one batch of the built-in model's faces (32 x 64x64 RGB): the native batch encoder
(csrc/cpu/png_encode.cpp) against Pillow, the path it replaces, in the same run.

    pytest benchmarks/bench_png.py                          # timed
    pytest benchmarks/bench_png.py --benchmark-disable      # smoke: each body once

ids read ``<encoder>-<compression>[-<threads>t]``. extra_info gives ``ms_per_image`` (median over the
batch) and ``bytes_per_image``; compare the native rows' ms with the ``pillow`` row of the same
compression for the speed-up.
"""
from __future__ import annotations

import pytest
import torch

import stylegan_fast as sf
from stylegan_fast import images

from .conftest import median_seconds

BATCH = 32


@pytest.fixture(scope="module")
def faces():
    G = sf.default_model()
    with torch.no_grad():
        return sf.to_uint8(G(sf.z_from_seeds(range(BATCH), G.z_dim), None)).numpy()


def cases():
    params = []
    for compression in ("rle", 6):
        params.append(pytest.param("pillow", compression, 1, id=f"pillow-{compression}"))
        for threads in (1, torch.get_num_threads()):
            params.append(pytest.param("native", compression, threads, id=f"native-{compression}-{threads}t",
                                       marks=pytest.mark.skipif(images.native_png_encoder() is None,
                                                                reason="no native PNG encoder (built without zlib)")))
    return params


@pytest.mark.parametrize("encoder, compression, threads", cases())
def test_png_batch(benchmark, faces, encoder, compression, threads):
    level, strategy = images._zlib_settings(compression)
    if encoder == "pillow":
        def run():
            return [images._pillow_png(face, level, strategy) for face in faces]
    else:
        def run():
            return images.encode_png_batch(faces, compression, threads)
    files = benchmark(run)
    assert len(files) == BATCH and all(f[:8] == b"\x89PNG\r\n\x1a\n" for f in files)
    benchmark.extra_info["bytes_per_image"] = sum(map(len, files)) / BATCH
    seconds = median_seconds(benchmark)
    if seconds is not None:
        benchmark.extra_info["ms_per_image"] = seconds / BATCH * 1e3
