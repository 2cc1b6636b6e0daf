"""A generator's whole forward (mapping + synthesis) captured in CUDA graphs: ``Generator.compile_graph``.

    graph = G.compile_graph(batch_sizes=(1, 8, 32, 64), truncation_psi=0.7, noise_mode="random")
    img = graph(z)                          # z [n <= 64, z_dim] -> images [n, C, H, W], as G(z, ...) gives them
    img = graph(z, noise_seeds=seeds)       # noise_mode="random": each image's noise from its seed

One ``torch.cuda.CUDAGraph`` per batch size, each with static inputs (z, c, and for random noise one
noise seed per image) and a static output. Capturing one: the forward runs ``warmup`` times on a side
stream first (Triton kernels compiled and autotuned, cuDNN algorithms chosen, per-layer weight caches
filled), then once under capture. A call copies its inputs into the smallest captured batch that holds
them (the rows past them keep earlier inputs: an image does not depend on the other images of its
batch), replays that graph and returns a copy of its first rows (``clone=False``: a view of the static
output, valid until the next call). The graphs share one memory pool, so calls must not overlap: they
are serialized by a lock; make them from one CUDA stream.

Random noise: the seeds are checked on the host (as ``G(z, noise_seeds=...)`` does) and copied into
the graph, which draws each layer's maps from them (``ops.noise_stream``, the stream of eager mode);
without ``noise_seeds`` they come from torch's global RNG, as in eager mode.

The graph replays the model as it was captured: G's backend, parameters and buffers (their storage and
in-place version) are checked at every call, and a change raises; ``compile_graph`` again after it.
``G(z)`` itself never replays a graph.
"""
from __future__ import annotations

import dataclasses
import operator
import threading
from typing import Optional, Sequence

import torch

from .networks.layers import NOISE_MODES
from .ops.dispatch import REGISTRY
from .ops.noise_stream import NOISE_SEED_MAX, _check_seeds

FORWARD_OPTIONS = ("truncation_psi", "truncation_cutoff", "noise_mode")  # what a graph fixes at capture
_version = operator.attrgetter("_version")


@dataclasses.dataclass
class _Captured:
    graph: torch.cuda.CUDAGraph
    z: torch.Tensor  # [B, z_dim] static inputs ...
    c: Optional[torch.Tensor]  # [B, c_dim]
    seeds: Optional[torch.Tensor]  # [B] int64 (noise_mode "random")
    images: torch.Tensor  # [B, C, H, W] ... and output


class CudaGraphGenerator:
    """``G``'s forward with ``forward_kwargs``, captured for each of ``batch_sizes``: call it as ``G``."""

    def __init__(self, G, batch_sizes: Sequence[int], forward_kwargs: dict, warmup: int = 2):
        self.batch_sizes = _check_batch_sizes(batch_sizes)
        self.forward_kwargs = _check_forward_kwargs(forward_kwargs)
        if not (isinstance(warmup, int) and not isinstance(warmup, bool) and warmup >= 1):
            raise ValueError(f"warmup must be an int >= 1 (forwards before each capture), got {warmup!r}")
        self._check_device(G.device)
        self.G, self.backend = G, G.backend
        self._tensors = list(G.parameters()) + list(G.buffers())
        self._versioned = [t for t in self._tensors if not t.is_inference()]  # (inference tensors have no version)
        self._random = self.forward_kwargs.get("noise_mode") == "random"
        self._lock = threading.Lock()
        self._pool = None  # the graphs' memory pool, shared: a call replays one graph at a time
        self._graphs: dict[int, _Captured] = {}
        with torch.inference_mode(False):  # static tensors that calls may write in or out of inference mode
            for batch in sorted(self.batch_sizes, reverse=True):  # the largest first: the smaller reuse its memory
                self._graphs[batch] = self._capture(batch, warmup)
        self._stamp = self._model_stamp()
        self.last_dispatch = G.last_dispatch  # where each op of the captured forward runs

    def __call__(self, z: torch.Tensor, c: Optional[torch.Tensor] = None, noise_seeds=None,
                 clone: bool = True) -> torch.Tensor:
        """z [n, z_dim] (and c [n, c_dim] for a conditional model; ``noise_seeds``: n ints in [0, 2^32) for
        noise_mode "random", else ignored as by G) -> images [n, C, H, W]."""
        self._check_model()
        G = self.G
        if not isinstance(z, torch.Tensor) or z.ndim != 2 or z.shape[1] != G.z_dim or z.shape[0] < 1:
            got = list(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise ValueError(f"z must have shape [N, {G.z_dim}] with N >= 1, got {got}")
        n = z.shape[0]
        batch = next((b for b in self.batch_sizes if b >= n), None)
        if batch is None:
            raise ValueError(f"a batch of {n} images is larger than every captured batch size "
                             f"({', '.join(map(str, self.batch_sizes))}); split it, or compile_graph with "
                             f"batch_sizes up to {n}")
        if G.c_dim and (c is None or tuple(c.shape) != (n, G.c_dim)):
            raise ValueError(f"this generator is class-conditional: c must have shape [{n}, {G.c_dim}] "
                             f"(one-hot labels), got {None if c is None else list(c.shape)}")
        if not G.c_dim and c is not None and c.numel():
            raise ValueError(f"this generator is unconditional (c_dim=0) but c of shape {list(c.shape)} was given")
        seeds = None
        if self._random:
            if noise_seeds is None:
                noise_seeds = torch.randint(0, NOISE_SEED_MAX + 1, [n], dtype=torch.int64)  # as G does
            elif len(noise_seeds) != n:
                raise ValueError(f"noise_seeds must give one seed per image: {n} images, {len(noise_seeds)} seeds")
            seeds = _check_seeds(noise_seeds)
        with self._lock:
            captured = self._graphs[batch]
            captured.z[:n].copy_(z)
            if G.c_dim:
                captured.c[:n].copy_(c)
            if seeds is not None:
                captured.seeds[:n].copy_(seeds)
            captured.graph.replay()
            images = captured.images[:n]
            return images.clone() if clone else images

    def _forward(self, z, c, seeds):
        """The forward that is captured: G's, with random noise drawn from the static seeds."""
        G = self.G
        with torch.no_grad(), G.backend_choice.dispatching(z.device):
            noise = None
            if seeds is not None:  # as ops.layer_noise_maps (checked on the host by __call__, not here)
                draw = REGISTRY["noise_stream"](z.device)
                noise = [draw(seeds, layer, shape[-2], shape[-1], dtype=torch.float32, device=z.device)
                         for layer, (_, shape) in enumerate(G.synthesis.noise_shapes())]
            return G(z, c, noise=noise, **self.forward_kwargs)

    @staticmethod
    def _check_device(device: torch.device) -> None:
        if device.type != "cuda":
            raise RuntimeError(f"CUDA graphs need a CUDA device; got {device.type} (move the generator with "
                               f"G.to('cuda') first)")

    def _static_inputs(self, batch: int) -> tuple:
        """(z [B, z_dim], c [B, c_dim] or None, seeds [B] or None) on G's device, zeros."""
        G, device = self.G, self.G.device
        dtype = G.mapping.w_avg.dtype  # the mapping casts z and c to it first
        z = torch.zeros([batch, G.z_dim], device=device, dtype=dtype)
        c = torch.zeros([batch, G.c_dim], device=device, dtype=dtype) if G.c_dim else None
        return z, c, torch.zeros([batch], device=device, dtype=torch.int64) if self._random else None

    def _capture(self, batch: int, warmup: int) -> _Captured:
        device = self.G.device
        z, c, seeds = self._static_inputs(batch)
        if self._pool is None:
            self._pool = torch.cuda.graph_pool_handle()
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            for _ in range(warmup):
                self._forward(z, c, seeds)
        torch.cuda.current_stream(device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph, pool=self._pool, capture_error_mode="thread_local"):
                images = self._forward(z, c, seeds)
        except RuntimeError as e:
            raise RuntimeError(f"capturing the forward of batch {batch} on backend {self.backend!r} "
                               f"({self.forward_kwargs}) in a CUDA graph failed: {e}. Something in it waits for or "
                               f"copies from the host; the eager forward G(z) still works") from e
        return _Captured(graph, z, c, seeds, images)

    def _model_stamp(self) -> tuple:
        return [t.data_ptr() for t in self._tensors], list(map(_version, self._versioned))

    def _check_model(self) -> None:
        if self.G.backend != self.backend:
            raise RuntimeError(f"G.backend changed from {self.backend!r} to {self.G.backend!r} after the CUDA "
                               f"graphs were captured; call G.compile_graph(...) again")
        stamp = self._model_stamp()
        if stamp != self._stamp:
            moved = [t for t, before, now in zip(self._tensors, self._stamp[0], stamp[0]) if before != now]
            edited = [t for t, before, now in zip(self._versioned, self._stamp[1], stamp[1]) if before != now]
            changed = (moved or edited)[0]
            raise RuntimeError(f"the generator's parameters changed after the CUDA graphs were captured (now "
                               f"{changed.dtype} on {changed.device}: moved, converted or modified in place); "
                               f"call G.compile_graph(...) again")

    def __repr__(self):
        return (f"CudaGraphGenerator({self.G.arch} {self.G.img_resolution}px, backend {self.backend!r}, "
                f"batch sizes {self.batch_sizes}, {self.forward_kwargs})")


def _check_batch_sizes(batch_sizes) -> tuple[int, ...]:
    sizes = tuple(batch_sizes) if isinstance(batch_sizes, (list, tuple)) else (batch_sizes,)
    if not sizes or not all(isinstance(b, int) and not isinstance(b, bool) and b >= 1 for b in sizes):
        raise ValueError(f"batch sizes must be ints >= 1, got {batch_sizes!r}")
    return tuple(sorted(set(sizes)))


def _check_forward_kwargs(kwargs: dict) -> dict:
    for name in ("noise", "noise_seeds", "c"):
        if name in kwargs:
            raise ValueError(f"{name}= is given per call (graph(z, c, noise_seeds=...)), not to compile_graph"
                             if name != "noise" else
                             "explicit noise maps are not captured; use noise_mode 'const', 'random' or 'none'")
    unknown = [k for k in kwargs if k not in FORWARD_OPTIONS]
    if unknown:
        raise TypeError(f"compile_graph got unexpected options {unknown}; it takes {', '.join(FORWARD_OPTIONS)}")
    if kwargs.get("noise_mode", "const") not in NOISE_MODES:
        raise ValueError(f"unknown noise_mode {kwargs['noise_mode']!r}; choose one of: {', '.join(NOISE_MODES)}")
    return dict(kwargs)
