"""Photo parents: an uploaded image checked, cropped to the generator's size and projected into W as a job
(``stylegan_fast.projection``).

Projection takes seconds to minutes, so ``POST /v1/project`` answers a job id at once and
``GET /v1/project/{id}`` reports progress and, when done, the ws. Jobs run one at a time in their own
thread, beside the render batches.
"""
from __future__ import annotations

import concurrent.futures
import itertools
import threading
import time
from typing import Callable, Optional

import numpy as np

from .schema import BadRequest

# projector(G, target uint8 [R, R, 3], steps, progress(step, steps, loss)) -> ws [num_ws, w_dim]
Projector = Callable[..., "object"]

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
PROJECTION_STEPS = 200  # the studio's photo parents (the paper uses 1000; --project-steps)


def default_projector() -> Optional[Projector]:
    """``stylegan_fast.projection.project`` (W space, its default loss), or None where it is missing."""
    try:
        from ..projection import project
    except ImportError:
        return None

    def run(G, target, steps, progress):
        return project(G, target, steps=steps, progress=progress, quiet=True).ws

    return run


def read_image(data: bytes, resolution: int) -> tuple[np.ndarray, list[str]]:
    """Upload bytes -> (uint8 [resolution, resolution, 3], what was done to it); 4xx if it is not an image."""
    from ..projection import load_target

    if not data:
        raise BadRequest("the upload is empty: send an image file (PNG, JPEG, WebP, ...) as the form field 'image'")
    notes: list[str] = []
    try:
        return load_target(data, resolution, notes), notes
    except ValueError as e:
        raise BadRequest(f"the upload is not an image: {e}", 415) from None
    except Exception as e:  # noqa: BLE001 - e.g. Pillow's decompression-bomb guard on a huge image
        raise BadRequest(f"the upload cannot be read as an image ({type(e).__name__}: {e})", 415) from None


class ProjectionJobs:
    """Projection jobs by id: one runs at a time, at most ``max_waiting`` wait, the last ``keep`` are kept."""

    def __init__(self, G, projector: Projector, steps: int, max_waiting: int = 4, keep: int = 32):
        self.G, self.projector, self.steps = G, projector, steps
        self.max_waiting, self.keep = max_waiting, keep
        self._jobs: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="stylegan-fast-project")

    def submit(self, image: np.ndarray, notes: list[str]) -> str:
        with self._lock:
            waiting = sum(j["status"] in ("queued", "running") for j in self._jobs.values())
            if waiting >= self.max_waiting:
                raise BadRequest(f"{waiting} projections are already queued or running; try again later", 429)
            job_id = f"p{next(self._ids)}-{int(time.time() * 1000) % 100000:05d}"
            self._jobs[job_id] = {"status": "queued", "progress": 0.0, "step": 0, "steps": self.steps, "loss": None,
                                  "ws": None, "error": None, "notes": notes}
            done = [k for k, j in self._jobs.items() if j["status"] in ("done", "failed")]
            for k in done[:max(0, len(self._jobs) - self.keep)]:
                del self._jobs[k]
        self._executor.submit(self._run, job_id, image)
        return job_id

    def get(self, job_id: str) -> dict:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise BadRequest(f"no projection job {job_id!r} (jobs are kept until {self.keep} newer ones finish)",
                                 404)
            return dict(job)

    def _run(self, job_id: str, image: np.ndarray) -> None:
        job = self._jobs[job_id]
        job["status"] = "running"

        def progress(step, steps, loss):
            job.update(step=int(step), progress=round(min(max(step / steps, 0.0), 1.0), 4), loss=float(loss))

        try:
            ws = self.projector(self.G, image, self.steps, progress)
            ws = ws.detach().float().cpu().reshape(self.G.num_ws, self.G.w_dim)
            job.update(ws=ws.tolist(), progress=1.0, status="done")
        except Exception as e:  # noqa: BLE001 - reported to the client that asked
            job.update(status="failed", error=f"projection failed: {type(e).__name__}: {e}")

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
