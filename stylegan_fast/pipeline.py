"""The render pipeline: the generator on the device, copies to the host, encoding on a pool of workers.

    from stylegan_fast import default_model
    from stylegan_fast.pipeline import render_seeds
    summary = render_seeds(default_model(), range(1000), "out", batch_size=32, format="webp")

Three stages:

1. the generator, one batch at a time on the device, converts its images to uint8 there
   (4x less to copy);
2. the device-to-host copy: on CUDA into pinned host memory with ``non_blocking=True`` and a CUDA
   event per batch, so the next batch is launched before the copy of this one is waited for;
   on the CPU the images are already on the host;
3. encoding and writing. PNGs are encoded by the native batch encoder where the module has it
   (``stylegan_fast.images.encode_png_batch``: C++ and zlib, the GIL released), otherwise by Pillow;
   JPEG, WebP and npz by Pillow and numpy.

How stages 1 and 3 share the machine (``overlap``; by default chosen from the first batch):

- **Beside the generator** (a GPU, or a CPU with cores torch's threads leave free): a pool of
  worker threads encodes and writes, each worker a share of every batch. At most ``max_pending``
  images wait for a worker: memory stays bounded, and the generator waits for the encoders only
  when they fall that far behind.
- **Between batches** (the generator on a CPU with as many threads as the process has CPUs): there
  is no idle core to hide the encoding on, and an encoder thread that runs during a batch stalls
  torch's whole OpenMP team. So each batch is encoded and written before the next one starts:
  PNGs in one native call on torch's own threads, then written by this thread (about 0.03 ms a
  file); other formats by the workers, all cores busy with them, while this thread waits.

Every file is written atomically (:func:`stylegan_fast.fileio.write_atomic`): an interrupted run
leaves complete files only, so ``resume=True`` (skip the images whose file exists) is safe.
A batch that runs out of device memory is retried at half the size (down to 1). An image depends
on its seed only, not on the batch it is rendered in: z from the seed (NVlabs' RandomState), and
with ``noise_mode="random"`` the noise from the seed too (``noise_seeds``). With the ``cpu`` backend
(the default on the CPU) the files are identical bit for bit whatever the batch size; torch's own
convolutions (the ``reference`` backend) choose their algorithm by batch size and may differ by one
uint8 level (tests/test_batch_invariance.py).

Formats: ``png`` (lossless; by default with zlib's run-length strategy, ``png_compression="rle"``:
2.4-4x faster to encode than zlib's default level 6, for files 0-2% larger; a zlib level 0-9 also
works, 6 being what NVlabs' scripts write through Pillow), ``jpg`` (quality 95,
no chroma subsampling), ``webp`` (lossy, quality 95), ``npz``: ``img`` uint8 [H, W, 3] and ``w`` float32 [1, num_ws, w_dim], the image's
ws in the layout of NVlabs' projected_w.npz, so ``render --projected-w seedNNNN.npz`` renders it again.
"""
from __future__ import annotations

import collections
import concurrent.futures
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
from .fileio import atomic_path, write_atomic

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
           png_compression: int | str = "rle") -> None:
    """Write one [H, W, C] uint8 image (and for npz its ws [num_ws, w_dim]) to ``path`` atomically.

    ``png_compression``: "rle" or a zlib level 0-9 (:func:`stylegan_fast.images.check_png_compression`).
    """
    if format == "png":
        _images.save_image(img, path, png_compression=png_compression)  # looked up at call time (tests replace it)
        return
    if format == "npz":
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            arrays = {"img": img} if w is None else {"img": img, "w": w[None]}
            np.savez_compressed(f, **arrays)
        return
    write_atomic(path, _images.encode_image(img, format, quality=quality))


def usable_cpu_count() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def encoders_share_the_generators_cores(device: torch.device) -> bool:
    """True when the generator runs on the CPU with as many threads as the process has CPUs.

    Then there is no core for the encoders to run on beside it: an encoder thread that runs during a
    batch preempts one of torch's OpenMP threads, and the others wait for that one at the end of
    every parallel region, so each millisecond of encoding costs the generator up to a millisecond
    on every core.
    """
    return device.type == "cpu" and torch.get_num_threads() >= usable_cpu_count()


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
                 max_pending: Optional[int] = None, quality: int = QUALITY, png_compression: int | str = "rle",
                 on_images: Optional[Callable] = None, progress: Optional[Callable[[int], None]] = None,
                 log: Optional[Callable[[str], None]] = None, overlap: Optional[bool] = None) -> RenderSummary:
    """Render ``len(stems)`` images with ``generate`` and write them as ``outdir/STEM.FORMAT``.

    ``generate(indices)`` -> (images float [n, C, H, W] in [-1, 1] on the device, ws [n, num_ws, w_dim]
    or None), for the positions ``indices`` into ``stems``; it must depend on the positions only,
    not on how they are batched. ``write=False``: generate and copy only (``on_images`` gets them).
    ``on_images(indices, uint8 [n, H, W, C])`` is called in this thread, in order. ``progress(n)`` is
    called (from any thread) as images are done. ``log`` gets notes (default: stderr).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    png_compression = _images.check_png_compression(png_compression)
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

    def write_encoded(data, _w, path):
        write_atomic(path, data)

    def encode_and_write(img, w, path):
        encode(img, w, path, format, quality, png_compression)

    def task(work, items):
        """``work(payload, w, path)`` for ``items`` in order; after any failure the rest are dropped."""
        for payload, w, path in items:
            if errors:
                return
            try:
                work(payload, w, path)
            except BaseException as e:  # noqa: BLE001 - reported by the main thread
                with lock:
                    errors.append(OutputError(path, e))
                return
            with lock:
                written.append(path)
                if progress:
                    progress(1)

    def pooled_task(work, items):
        try:
            task(work, items)
        finally:
            for _ in items:
                slots.release()

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="encode") if write else None
    batch_png = format == "png" and _images.native_png_encoder() is not None

    def hand_off(indices, host):
        """Give a batch to the workers, one task per worker (fewer thread hand-offs than one per image).

        When the encoders share the generator's cores (``overlap`` False), the batch is encoded and written
        before the next one is generated: PNGs here, in one native call on torch's threads, other formats by
        the workers while this thread waits for them.
        """
        imgs, ws = host.wait()
        if on_images:
            on_images(indices, imgs)
        if not write:
            if progress:
                progress(len(indices))
            return
        paths = [outdir / names[i] for i in indices]
        if batch_png and not overlap:
            try:
                files = _images.encode_png_batch(imgs, png_compression, torch.get_num_threads())
            except Exception as e:  # noqa: BLE001 - reported like a failed write
                errors.append(OutputError(paths[0], e))
                return
            # writing is cheap: here, rather than on a worker that would interrupt the next batch
            task(write_encoded, list(zip(files, [None] * len(files), paths)))
            return
        items = [(imgs[k], None if ws is None else ws[k], paths[k]) for k in range(len(paths))]
        size = min(-(-len(items) // workers), max_pending)
        tasks = []
        for first in range(0, len(items), size):
            chunk = items[first:first + size]
            for _ in chunk:
                slots.acquire()
            if errors:
                for _ in chunk:
                    slots.release()
                break
            tasks.append(pool.submit(pooled_task, encode_and_write, chunk))
        if not overlap:  # the encoders have the cores to themselves until this batch is written
            concurrent.futures.wait(tasks)

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
                    if overlap is None:
                        overlap = not encoders_share_the_generators_cores(imgs.device)
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
