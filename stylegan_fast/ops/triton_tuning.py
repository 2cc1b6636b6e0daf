"""Choices a Triton launcher makes per layer shape by measurement on the GPU, cached on disk.

    choice = tuner.choose(key, candidates, run)      # run(candidate) launches that candidate once

The first call for a key on a CUDA device times every candidate on the call's own inputs
(``WARMUP`` + ``REPEATS`` launches each, CUDA events, median) and keeps the fastest, in memory and
in ``<cache>/triton_tuning.json`` (``default_cache_dir()`` of the download cache, so
``STYLEGAN_FAST_CACHE`` moves both), under the GPU's name and the torch and triton versions: a
later process on the same card reads it instead of measuring. While a CUDA graph is being
captured nothing can be timed: the first candidate (the launcher's heuristic pick) is used and
nothing is cached. Off CUDA (the Triton interpreter) the first candidate is used.

``STYLEGAN_FAST_TRITON_CONV=gemm|torch`` forces the convolution strategy of the triton backend
(``auto``, the default, measures); see ops/styled_conv2d/triton_kernels.py.
"""
from __future__ import annotations

import json
import os
import statistics
import threading
from pathlib import Path
from typing import Callable, Optional, Sequence

import torch

CONV_ENV = "STYLEGAN_FAST_TRITON_CONV"
CONV_STRATEGIES = ("auto", "gemm", "torch")
WARMUP, REPEATS = 2, 5
CACHE_FILE = "triton_tuning.json"


def conv_strategy_override() -> str:
    """``STYLEGAN_FAST_TRITON_CONV`` ("auto" when unset); a clear error for anything else."""
    value = os.environ.get(CONV_ENV, "").strip().lower() or "auto"
    if value not in CONV_STRATEGIES:
        raise ValueError(f"{CONV_ENV}={value!r}: choose one of {', '.join(CONV_STRATEGIES)}")
    return value


class Tuner:
    """key -> index of the fastest candidate, per device name; measured once, kept on disk."""

    def __init__(self, path: Optional[Path] = None):
        self._path = path
        self._choices: Optional[dict] = None
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        if self._path is None:
            from ..checkpoints.download import default_cache_dir

            self._path = default_cache_dir() / CACHE_FILE
        return self._path

    def _section(self, device: torch.device) -> dict:
        if self._choices is None:
            try:
                self._choices = json.loads(self.path.read_text())
            except (OSError, ValueError):
                self._choices = {}
        import triton

        name = f"{torch.cuda.get_device_name(device)} | torch {torch.__version__} | triton {triton.__version__}"
        return self._choices.setdefault(name, {})

    def choose(self, device: torch.device, key: str, candidates: Sequence, run: Callable) -> int:
        """Index of the candidate to use for ``key`` (0 off CUDA and while a CUDA graph is captured)."""
        if device.type != "cuda" or len(candidates) == 1 or torch.cuda.is_current_stream_capturing():
            return self._known(device, key)
        with self._lock:
            section = self._section(device)
            if key in section and section[key] < len(candidates):
                return section[key]
            times = [self._time(device, lambda c=c: run(c)) for c in candidates]
            section[key] = min(range(len(candidates)), key=times.__getitem__)
            self._save()
            return section[key]

    def _known(self, device, key) -> int:
        if device.type != "cuda":
            return 0
        with self._lock:
            return self._section(device).get(key, 0)

    @staticmethod
    def _time(device, fn) -> float:
        for _ in range(WARMUP):
            fn()
        times = []
        for _ in range(REPEATS):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        return statistics.median(times)

    def _save(self) -> None:
        from ..fileio import atomic_path

        try:
            with atomic_path(self.path) as tmp:
                tmp.write_text(json.dumps(self._choices, indent=1, sort_keys=True))
        except OSError:  # a read-only cache folder costs a re-measurement next time, nothing else
            pass


tuner = Tuner()
