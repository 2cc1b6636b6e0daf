"""Dynamic batching: the latents of concurrent requests synthesized together, in one model thread.

The event loop only queues jobs and hands results back; the generator runs in a single worker thread
(torch releases the GIL). A batch is collected from the first waiting job: more jobs join while they
fit in ``max_batch`` latents, for at most ``max_wait_ms`` (jobs already waiting join at once). While a
batch runs, new jobs wait, so batches grow with the load.

What is batched and why an image does not depend on its batch:

- seeds are mapped in one ``G.mapping`` call per (psi, cutoff, class) group: the mapping network and
  truncation work row by row, so a row's ws are the same bits in any batch (tests/test_batch_invariance.py);
- each job's ``compose`` (mixing parents, moving along directions) runs on that job's ws alone;
- synthesis runs once per noise mode present in the batch (const and none have no per-image state;
  random noise comes from each image's own noise seed, ``ops.noise_stream``), in calls of at most
  ``max_batch`` images. On the CPU the C++ kernels give the same uint8 image alone or in a batch
  (measured on the demo model); the reference may differ by one uint8 level on small maps (oneDNN
  picks its convolution algorithm by batch size).
"""
from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import torch

from ..images import to_uint8
from ..latents import z_from_seeds


@dataclass(frozen=True)
class Seed:
    """A latent given as a seed: z from NVlabs' RandomState(seed), mapped with truncation."""

    seed: int
    psi: float
    cutoff: Optional[int] = None
    class_idx: Optional[int] = None  # class-conditional networks only


@dataclass
class Job:
    """One request's work: its latent ``sources`` (Seed, or ws [num_ws, w_dim]), turned by ``compose``
    ([k, num_ws, w_dim] -> [n, num_ws, w_dim], default: as they are) into the ws of its ``rows`` images."""

    sources: list
    rows: int
    noise_mode: str = "const"
    noise_seeds: Optional[list[int]] = None  # one per image, for noise_mode "random"
    compose: Optional[Callable[[torch.Tensor], torch.Tensor]] = None
    images: bool = True  # False: only the ws are wanted (no synthesis)
    future: Optional[asyncio.Future] = field(default=None, repr=False)


@dataclass
class Result:
    ws: torch.Tensor  # [n, num_ws, w_dim] float32 on the CPU
    images: Optional[np.ndarray]  # [n, H, W, C] uint8, None for a ws-only job
    batch_rows: int  # images in the largest synthesis call this job was part of
    synth_ms: float  # time of the batch's synthesis


class ServerBusy(RuntimeError):
    """The batcher is stopped (server shutting down)."""


class Stats:
    """Counters for /v1/stats: updated in the event loop only."""

    def __init__(self, window: int = 10000):
        self.requests = 0
        self.errors = 0
        self.images = 0
        self.batches = 0  # synthesis calls
        self.max_batch = 0  # the most images in one synthesis call so far
        self.batch_rows_total = 0
        self.latencies_ms: collections.deque = collections.deque(maxlen=window)
        self.started = time.time()

    def add_batch(self, rows: int) -> None:
        self.batches += 1
        self.batch_rows_total += rows
        self.max_batch = max(self.max_batch, rows)

    def as_dict(self) -> dict:
        lat = np.array(self.latencies_ms, dtype=np.float64)
        pct = {f"p{p}": (round(float(np.percentile(lat, p)), 2) if len(lat) else None) for p in (50, 90, 99)}
        return {"requests": self.requests, "errors": self.errors, "images": self.images, "batches": self.batches,
                "max_batch": self.max_batch,
                "mean_batch": round(self.batch_rows_total / self.batches, 2) if self.batches else None,
                "latency_ms": {**pct, "count": len(lat)},
                "uptime_s": round(time.time() - self.started, 1)}


class Batcher:
    """Queue jobs with :meth:`submit` from the event loop; :meth:`start` and :meth:`stop` bracket serving."""

    def __init__(self, G, max_batch: int = 32, max_wait_ms: float = 5.0, stats: Optional[Stats] = None):
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {max_wait_ms}")
        self.G = G
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.stats = stats or Stats()
        self._waiting: collections.deque[Job] = collections.deque()
        self._arrived: Optional[asyncio.Event] = None
        self._task: Optional[asyncio.Task] = None
        self._executor: Optional[concurrent.futures.ThreadPoolExecutor] = None

    # ---- event loop side ----
    def start(self) -> None:
        self._arrived = asyncio.Event()
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="stylegan-fast-model")
        self._task = asyncio.get_running_loop().create_task(self._serve())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        while self._waiting:
            job = self._waiting.popleft()
            if not job.future.done():
                job.future.set_exception(ServerBusy("the server is shutting down"))
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def submit(self, job: Job) -> Result:
        if self._task is None:
            raise ServerBusy("the render queue is not running (the app's lifespan has not started)")
        job.future = asyncio.get_running_loop().create_future()
        self._waiting.append(job)
        self._arrived.set()
        return await job.future

    async def run_in_model_thread(self, fn, *args):
        """Run ``fn(*args)`` in the model thread, between batches (e.g. a start-up measurement)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = await self._collect()
            if not jobs:
                continue
            try:
                outcomes, calls = await loop.run_in_executor(self._executor, self._run, jobs)
            except Exception as e:  # noqa: BLE001 - a failed batch fails its own jobs, the server goes on
                outcomes, calls = [e] * len(jobs), []
            for rows in calls:
                self.stats.add_batch(rows)
            for job, outcome in zip(jobs, outcomes):
                if job.future.done():  # the client went away
                    continue
                if isinstance(outcome, BaseException):
                    job.future.set_exception(outcome)
                else:
                    job.future.set_result(outcome)

    async def _collect(self) -> list[Job]:
        """Jobs for one batch: the first waiting one, then others while they fit, for at most max_wait."""
        while not self._waiting:
            self._arrived.clear()
            await self._arrived.wait()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait
        jobs, rows = [], 0
        while True:
            while self._waiting:
                job = self._waiting[0]
                if job.future.done():  # cancelled while waiting
                    self._waiting.popleft()
                    continue
                if jobs and rows + job.rows > self.max_batch:
                    return jobs  # it waits for the next batch, first in line
                jobs.append(self._waiting.popleft())
                rows += job.rows
            remaining = deadline - loop.time()
            if rows >= self.max_batch or remaining <= 0:
                return jobs
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    # ---- model thread side ----
    def _run(self, jobs: list[Job]) -> tuple[list, list[int]]:
        """(per job: Result or the exception that failed it, [images of each synthesis call])."""
        G = self.G
        outcomes: list = [None] * len(jobs)
        calls: list[int] = []
        with torch.inference_mode():
            mapped = self._map_seeds(jobs)
            ws_of = {}
            for i, job in enumerate(jobs):
                try:
                    ws = torch.stack([mapped[s] if isinstance(s, Seed) else s.to(G.device, G.mapping.w_avg.dtype)
                                      for s in job.sources])  # [k, num_ws, w_dim]
                    ws = job.compose(ws) if job.compose is not None else ws
                    if ws.shape[0] != job.rows:
                        raise RuntimeError(f"internal error: a job promised {job.rows} images and made {ws.shape[0]}")
                    ws_of[i] = ws
                except Exception as e:  # noqa: BLE001 - one job's failure is its own
                    outcomes[i] = e
            for i, job in enumerate(jobs):
                if i in ws_of and not job.images:
                    outcomes[i] = Result(ws_of[i].float().cpu(), None, 0, 0.0)
            by_mode: dict[str, list[int]] = {}
            for i, job in enumerate(jobs):
                if i in ws_of and job.images:
                    by_mode.setdefault(job.noise_mode, []).append(i)
            for mode, members in by_mode.items():
                try:
                    images, sizes, ms = self._synthesize(mode, [jobs[i] for i in members], [ws_of[i] for i in members])
                except Exception as e:  # noqa: BLE001
                    for i in members:
                        outcomes[i] = e
                    continue
                calls += sizes
                start = 0
                for i in members:
                    n = jobs[i].rows
                    outcomes[i] = Result(ws_of[i].float().cpu(), images[start:start + n], max(sizes), ms)
                    start += n
        return outcomes, calls

    def _map_seeds(self, jobs: list[Job]) -> dict:
        """{Seed: ws [num_ws, w_dim]}: one mapping call per (psi, cutoff) setting."""
        G = self.G
        groups: dict[tuple, list[Seed]] = {}
        for job in jobs:
            for s in job.sources:
                if isinstance(s, Seed):
                    groups.setdefault((s.psi, s.cutoff), []).append(s)
        mapped = {}
        for (psi, cutoff), seeds in groups.items():
            seeds = list(dict.fromkeys(seeds))  # each distinct latent once
            z = z_from_seeds([s.seed for s in seeds], G.z_dim).to(G.device)
            c = None
            if G.c_dim:
                c = torch.zeros([len(seeds), G.c_dim], device=G.device)
                c[torch.arange(len(seeds)), torch.tensor([s.class_idx for s in seeds])] = 1
            ws = G.mapping(z, c, truncation_psi=psi, truncation_cutoff=cutoff)
            mapped.update(zip(seeds, ws))
        return mapped

    def _synthesize(self, noise_mode: str, jobs: list[Job], ws_list: list[torch.Tensor]):
        """uint8 images [n, H, W, C] of the jobs' ws, in synthesis calls of at most max_batch images."""
        ws = torch.cat(ws_list)
        seeds = None
        if noise_mode == "random":
            seeds = [s for job in jobs for s in job.noise_seeds]
        out, sizes = [], []
        t0 = time.perf_counter()
        for start in range(0, len(ws), self.max_batch):
            chunk = ws[start:start + self.max_batch]
            img = self.G.synthesis(chunk, noise_mode=noise_mode,
                                   noise_seeds=None if seeds is None else seeds[start:start + len(chunk)])
            out.append(to_uint8(img).cpu().numpy())
            sizes.append(len(chunk))
        return np.concatenate(out), sizes, (time.perf_counter() - t0) * 1000
