"""Shared settings of the pytest-benchmark suites in benchmarks/.

Smoke mode: under ``--benchmark-disable`` (what CI passes; also under xdist, which disables
pytest-benchmark) every benchmark body runs exactly once, untimed. The paper-sized 256 px
generator at batch 8 takes ~15 s per call on 2 CPU cores, so in smoke mode the generator
benchmarks shrink their configs (channel_max 32, batch 1: same resolution and layer
structure, a fraction of the FLOPs) to keep the whole benchmarks/ folder well under a minute.
``STYLEGAN_FAST_BENCH_SMOKE=1`` forces smoke mode, ``=0`` forbids it.

``STYLEGAN_FAST_BENCH_DEVICE`` (default: cuda if available, else cpu) picks the device.
"""
from __future__ import annotations

import os

import pytest
import torch

from stylegan_fast.backends import backend_status

# Concrete backends to parametrize over ("auto" is a choice among these, not a backend of its own).
BACKENDS = ("reference", "cpu", "triton", "cuda")

try:
    import pytest_benchmark  # noqa: F401
except ImportError:  # without the plugin, run each body once so the suite still works as a smoke test
    class _RunOnce:
        disabled = True
        stats = None
        group = None

        def __init__(self):
            self.extra_info = {}

        def __call__(self, fn, *args, **kwargs):
            return fn(*args, **kwargs)

        def pedantic(self, fn, args=(), kwargs=None, setup=None, **_):
            if setup is not None:
                returned = setup()
                if returned:
                    args, kwargs = returned
            return fn(*args, **(kwargs or {}))

    @pytest.fixture
    def benchmark():
        return _RunOnce()


def bench_device() -> torch.device:
    name = os.environ.get("STYLEGAN_FAST_BENCH_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def backend_params():
    """pytest.param per concrete backend; the ones that cannot run here are skipped with the reason."""
    device = bench_device()
    params = []
    for name in BACKENDS:
        ok, reason = backend_status(name, device)
        marks = () if ok else (pytest.mark.skip(reason=f"backend {name!r} unavailable on {device.type}: {reason}"),)
        params.append(pytest.param(name, id=name, marks=marks))
    return params


def synchronize(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


@pytest.fixture
def device() -> torch.device:
    return bench_device()


@pytest.fixture
def smoke(benchmark) -> bool:
    """True when the benchmark body runs once untimed (see the module docstring)."""
    forced = os.environ.get("STYLEGAN_FAST_BENCH_SMOKE")
    if forced in ("0", "1"):
        return forced == "1"
    return bool(getattr(benchmark, "disabled", False))


def median_seconds(benchmark):
    """Median seconds per call from pytest-benchmark's stats, or None when it did not time (smoke mode)."""
    stats = getattr(benchmark, "stats", None)
    if stats is None:
        return None
    inner = getattr(stats, "stats", stats)
    return getattr(inner, "median", None)
