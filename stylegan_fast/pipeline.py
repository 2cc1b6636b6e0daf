"""The render pipeline: the generator on the device, copies to the host, encoding on a pool of workers.

    from stylegan_fast import default_model
    from stylegan_fast.pipeline import render_seeds
    summary = render_seeds(default_model(), range(1000), "out", batch_size=32, format="webp")

Three stages overlap:

1. the generator, one batch at a time on the device, converts its images to uint8 there
   (4x less to copy);
2. the device-to-host copy: on CUDA into pinned host memory with ``non_blocking=True`` and a CUDA
   event per batch, so the next batch is launched before the copy of this one is waited for;
   on the CPU the images are already on the host;
3. encoding and writing, one image per task, on a pool of threads (Pillow's PNG/JPEG/WebP encoders
   and zlib release the GIL while they compress). At most ``max_pending`` images wait for a
   worker: memory stays bounded, and the generator waits for the encoders only when they fall that
   far behind.

Every file is written atomically (:func:`stylegan_fast.fileio.atomic_path`): an interrupted run
leaves complete files only, so ``resume=True`` (skip the images whose file exists) is safe.
A batch that runs out of device memory is retried at half the size (down to 1). An image depends
on its seed only, not on the batch it is rendered in: z from the seed (NVlabs' RandomState), and
with ``noise_mode="random"`` the noise from the seed too (``noise_seeds``). With the ``cpu`` backend
(the default on the CPU) the files are identical bit for bit whatever the batch size; torch's own
convolutions (the ``reference`` backend) choose their algorithm by batch size and may differ by one
uint8 level (tests/test_batch_invariance.py).

Formats: ``png`` (lossless; Pillow's default zlib level 6, as NVlabs' scripts, unless
``png_compress_level`` says otherwise: level 1 encodes about twice as fast for files about 13%
larger, which matters on the CPU, where encoding shares the cores with the generator), ``jpg`` (quality 95,
no chroma subsampling), ``webp`` (lossy, quality 95), ``npz``: ``img`` uint8 [H, W, 3] and ``w`` float32 [1, num_ws, w_dim], the image's
ws in the layout of NVlabs' projected_w.npz, so ``render --projected-w seedNNNN.npz`` renders it again.
"""
from __future__ import annotations

import collections
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import torch

from . import images as _images
from .fileio import atomic_path

FORMATS = ("png", "jpg", "webp", "npz")
QUALITY = 95  # jpg and webp


class RenderError(RuntimeError):
    """Rendering could not go on (out of memory at batch size 1, ...)."""


class OutputError(RenderError):
    """An image could not be encoded or written; ``path`` is the file, ``cause`` the original error."""

    def __init__(self, path, cause: BaseException):
        self.path, self.cause = Path(path), cause
        if isinstance(cause, OSError):
            reason = cause.strerror or str(cause)
            if cause.filename and str(cause.filename) != str(path):
                reason += f" ({cause.filename})"
        else:
            reason = f"{type(cause).__name__}: {cause}"
        self.reason = reason
        super().__init__(f"cannot write {path}: {reason}")


@dataclass
class RenderSummary:
    total: int  # images asked for
    rendered: int  # images generated (and written, unless write=False)
    skipped: int  # resume: files already there
    seconds: float  # wall time of the pipeline
    batch_size: int  # the batch size at the end (smaller than asked after out-of-memory halvings)
    halvings: int = 0
    files: list = field(default_factory=list)  # the paths written, in order

    @property
    def images_per_s(self) -> float:
        return self.rendered / self.seconds if self.seconds > 0 else float("nan")


def file_names(stems: Sequence[str], format: str) -> list[str]:
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; choose from {', '.join(FORMATS)}")
    return [f"{stem}.{format}" for stem in stems]


def seed_stems(seeds) -> list[str]:
    return [f"seed{seed:04d}" for seed in seeds]


def is_out_of_memory(e: BaseException) -> bool:
    """A device (CUDA) or host (CPU allocator) out-of-memory error."""
    if isinstance(e, torch.cuda.OutOfMemoryError):  # torch.OutOfMemoryError since torch 2.5, same class
        return True
    msg = str(e)
    return isinstance(e, RuntimeError) and ("out of memory" in msg or "can't allocate memory" in msg)


def encode(img: np.ndarray, w: Optional[np.ndarray], path, format: str, quality: int = QUALITY,
           png_compress_level: Optional[int] = None) -> None:
    """Write one [H, W, C] uint8 image (and for npz its ws [num_ws, w_dim]) to ``path`` atomically.

    ``png_compress_level``: zlib level 0-9; None: Pillow's default (6), as NVlabs' scripts.
    """
    if format == "png":
        _images.save_image(img, path, compress_level=png_compress_level)  # looked up at call time (tests replace it)
        return
    if format == "npz":
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            arrays = {"img": img} if w is None else {"img": img, "w": w[None]}
            np.savez_compressed(f, **arrays)
        return
    with atomic_path(path) as tmp:
        _images.encode_image(img, tmp, format, quality=quality)


class _HostBatch:
    """A batch of uint8 images (and ws) on its way to the host; ``wait()`` gives numpy arrays."""

    def __init__(self, images: torch.Tensor, ws: Optional[torch.Tensor]):
        self.event = None
        if images.device.type == "cuda":
            self.images = torch.empty(images.shape, dtype=images.dtype, pin_memory=True)
            self.images.copy_(images, non_blocking=True)
            self.ws = None
            if ws is not None:
                self.ws = torch.empty(ws.shape, dtype=torch.float32, pin_memory=True)
                self.ws.copy_(ws.float(), non_blocking=True)
            self.event = torch.cuda.Event()
            self.event.record(torch.cuda.current_stream(images.device))
        else:  # already on the host (other devices: a plain blocking copy)
            self.images = images.cpu()
            self.ws = None if ws is None else ws.float().cpu()

    def wait(self):
        if self.event is not None:
            self.event.synchronize()
        return self.images.numpy(), None if self.ws is None else self.ws.numpy()


def run_pipeline(generate: Callable, stems: Sequence[str], outdir, *, batch_size: int = 8, format: str = "png",
                 resume: bool = False, write: bool = True, workers: Optional[int] = None,
                 max_pending: Optional[int] = None, quality: int = QUALITY, png_compress_level: Optional[int] = None,
                 on_images: Optional[Callable] = None, progress: Optional[Callable[[int], None]] = None,
                 log: Optional[Callable[[str], None]] = None) -> RenderSummary:
    """Render ``len(stems)`` images with ``generate`` and write them as ``outdir/STEM.FORMAT``.

    ``generate(indices)`` -> (images float [n, C, H, W] in [-1, 1] on the device, ws [n, num_ws, w_dim]
    or None), for the positions ``indices`` into ``stems``; it must depend on the positions only,
    not on how they are batched. ``write=False``: generate and copy only (``on_images`` gets them).
    ``on_images(indices, uint8 [n, H, W, C])`` is called in this thread, in order. ``progress(n)`` is
    called (from any thread) as images are done. ``log`` gets notes (default: stderr).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if png_compress_level is not None and not 0 <= png_compress_level <= 9:
        raise ValueError(f"png_compress_level must be 0-9 (or None: Pillow's default), got {png_compress_level}")
    names = file_names(stems, format)
    if format == "webp" and write:
        from PIL import features

        if not features.check("webp"):
            raise ValueError("this Pillow has no WebP support: install a Pillow wheel with WebP, or use png or jpg")
    outdir = Path(outdir)
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    todo = list(range(len(names)))
    if resume and write and outdir.is_dir():
        there = set(os.listdir(outdir))  # one listing, not a stat per file (millions of seeds)
        todo = [i for i in todo if names[i] not in there]
    skipped = len(names) - len(todo)
    workers = workers or min(8, os.cpu_count() or 1)
    max_pending = max_pending or max(2 * batch_size, 4 * workers)
    if write and todo:
        try:
            outdir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(outdir, e) from None

    slots = threading.BoundedSemaphore(max_pending)
    errors: list = []
    written: list = []
    lock = threading.Lock()

    def task(img, w, path):
        try:
            if not errors:  # after a failure, the queued images are dropped
                encode(img, w, path, format, quality, png_compress_level)
                with lock:
                    written.append(path)
                    if progress:
                        progress(1)
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            with lock:
                errors.append(OutputError(path, e))
        finally:
            slots.release()

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="encode") if write else None

    def hand_off(indices, host):
        imgs, ws = host.wait()
        if on_images:
            on_images(indices, imgs)
        if not write:
            if progress:
                progress(len(indices))
            return
        for k, i in enumerate(indices):
            slots.acquire()
            if errors:
                slots.release()
                return
            pool.submit(task, imgs[k], None if ws is None else ws[k], outdir / names[i])

    bs, halvings, pos = batch_size, 0, 0
    pending = collections.deque()  # batches whose copy to the host may still be running
    start = time.perf_counter()
    finished = False
    try:
        with torch.inference_mode():
            while pos < len(todo) and not errors:
                indices = todo[pos:pos + bs]
                try:
                    imgs, ws = generate(indices)
                    host = _HostBatch(_images.to_uint8(imgs), ws if format == "npz" and write else None)
                    out_of_memory = None
                except Exception as e:  # noqa: BLE001 - only out-of-memory is handled, the rest re-raised
                    if not is_out_of_memory(e):
                        raise
                    out_of_memory = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                if out_of_memory is not None:  # outside the except block: the failed batch's tensors are freed
                    imgs = ws = None
                    if bs == 1:
                        raise RenderError(f"out of memory at batch size 1 ({out_of_memory}); "
                                          f"free memory on the device or use a smaller model or dtype")
                    if torch.cuda.is_available():
                        torch.cuda.empty_cache()
                    log(f"note: out of memory at batch size {bs}; retrying with batch size {bs // 2}")
                    bs, halvings = bs // 2, halvings + 1
                    continue
                pos += len(indices)
                pending.append((indices, host))
                imgs = ws = host = None
                # keep one batch in flight on an asynchronous device: it is copied while the next one computes
                while pending and len(pending) > (1 if pending[0][1].event is not None else 0):
                    hand_off(*pending.popleft())
            while pending and not errors:
                hand_off(*pending.popleft())
        finished = True
    finally:  # wait for the images being written (each complete or absent); drop the queued ones on failure
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=not finished or bool(errors))
    if errors:
        raise errors[0]
    seconds = time.perf_counter() - start
    order = {p: n for n, p in enumerate(outdir / names[i] for i in todo)}
    return RenderSummary(total=len(names), rendered=len(todo), skipped=skipped, seconds=seconds, batch_size=bs,
                         halvings=halvings, files=sorted(written, key=order.__getitem__))


def seeds_generator(G, seeds: Sequence[int], *, truncation_psi: float = 1.0, truncation_cutoff=None,
                    noise_mode: str = "const", c: Optional[torch.Tensor] = None, device=None) -> Callable:
    """``generate(indices)`` for :func:`run_pipeline`: the images (and ws) of ``seeds[i]``.

    ``c``: one-hot class labels [1, c_dim] (repeated) or [len(seeds), c_dim], or None.
    """
    from .latents import z_from_seeds

    device = torch.device(device) if device is not None else G.device
    seeds = list(seeds)

    def generate(indices):
        chunk = [seeds[i] for i in indices]
        z = z_from_seeds(chunk, G.z_dim).to(device)
        cc = None
        if c is not None:
            cc = c.expand(len(chunk), -1) if c.shape[0] == 1 else c[indices]
            cc = cc.to(device)
        ws = G.mapping(z, cc, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return G.synthesis(ws, noise_mode=noise_mode, noise_seeds=chunk), ws

    return generate


def ws_generator(G, ws: torch.Tensor, *, noise_mode: str = "const", noise_seeds: Optional[Sequence[int]] = None,
                 device=None) -> Callable:
    """``generate(indices)`` for :func:`run_pipeline`: the images of ``ws[i]``.

    With random noise image i's noise seed is ``noise_seeds[i]`` (default: i, its index in the file).
    """
    device = torch.device(device) if device is not None else G.device
    noise_seeds = list(range(len(ws))) if noise_seeds is None else list(noise_seeds)

    def generate(indices):
        w = ws[indices].to(device)
        return G.synthesis(w, noise_mode=noise_mode, noise_seeds=[noise_seeds[i] for i in indices]), w

    return generate


def render_seeds(G, seeds: Sequence[int], outdir, *, batch_size: int = 8, format: str = "png", resume: bool = False,
                 truncation_psi: float = 1.0, truncation_cutoff=None, noise_mode: str = "const",
                 c: Optional[torch.Tensor] = None, workers: Optional[int] = None, quality: int = QUALITY,
                 progress: Optional[Callable[[int], None]] = None, **kwargs) -> RenderSummary:
    """``outdir/seedNNNN.FORMAT`` for every seed; see the module docstring and :func:`run_pipeline`."""
    seeds = list(seeds)
    generate = seeds_generator(G, seeds, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                               noise_mode=noise_mode, c=c)
    return run_pipeline(generate, seed_stems(seeds), outdir, batch_size=batch_size, format=format, resume=resume,
                        workers=workers, quality=quality, progress=progress, **kwargs)
