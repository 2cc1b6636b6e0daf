"""Latent walks: keyframe interpolation in W and atomic MP4 / GIF writing."""
from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import torch

from .fileio import atomic_path

VIDEO_SUFFIXES = (".mp4", ".gif")
INTERPOLATIONS = ("cubic", "linear")


def walk(keys: torch.Tensor, frames_per_key: int, kind: str = "cubic", loop: bool = True) -> torch.Tensor:
    """Frames between keyframes ``keys`` [K, ...] -> [T, ...]; frame ``i * frames_per_key`` is keyframe i.

    kind: "linear", or "cubic" (uniform Catmull-Rom: passes through every keyframe, continuous velocity).
    loop: the walk returns to keys[0] (T = K * frames_per_key, seamless when the video repeats);
    otherwise it ends on keys[-1] (T = (K - 1) * frames_per_key + 1).
    """
    if kind not in INTERPOLATIONS:
        raise ValueError(f"unknown interpolation {kind!r}; use one of {', '.join(INTERPOLATIONS)}")
    if frames_per_key < 1:
        raise ValueError(f"frames per keyframe must be >= 1, got {frames_per_key}")
    k = keys.shape[0]
    if k < 2:
        raise ValueError(f"a walk needs at least 2 keyframes, got {k}")
    segments = k if loop else k - 1
    t = torch.arange(segments * frames_per_key + (0 if loop else 1), dtype=torch.float64) / frames_per_key
    seg = t.floor().long().clamp(max=segments - 1)
    u = (t - seg).to(keys.dtype).reshape(-1, *[1] * (keys.ndim - 1))

    def key(offset):  # keyframe seg + offset: wraps around on a loop, repeats the end keyframes otherwise
        i = seg + offset
        return keys[i % k] if loop else keys[i.clamp(0, k - 1)]

    p1, p2 = key(0), key(1)
    if kind == "linear":
        return p1 + (p2 - p1) * u
    p0, p3 = key(-1), key(2)
    return 0.5 * (2 * p1 + (p2 - p0) * u + (2 * p0 - 5 * p1 + 4 * p2 - p3) * u ** 2
                  + (3 * p1 - p0 - 3 * p2 + p3) * u ** 3)


def grid_walks(keys: torch.Tensor, frames_per_key: int, kind: str = "cubic", loop: bool = True,
               layers=None) -> torch.Tensor:
    """ws keyframes [cells, K, num_ws, w_dim] -> ws per frame [T, cells, num_ws, w_dim].

    layers: the ws rows that move (default all); every other row keeps its cell's first keyframe.
    """
    if keys.ndim != 4:
        raise ValueError(f"keys must be [cells, keyframes, num_ws, w_dim], got shape {list(keys.shape)}")
    paths = torch.stack([walk(k, frames_per_key, kind, loop) for k in keys], dim=1)
    if layers is not None:
        still = [i for i in range(keys.shape[2]) if i not in set(layers)]
        paths[:, :, still] = keys[None, :, 0, still]
    return paths


def upscale(frame_hwc: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement by an integer factor (small models make tiny videos)."""
    if factor == 1:
        return frame_hwc
    return frame_hwc.repeat(factor, axis=0).repeat(factor, axis=1)


@contextlib.contextmanager
def video_writer(path, fps: float, size_wh: tuple[int, int]):
    """Yield ``append(frame)`` for [H, W, 3] uint8 frames; the file appears at ``path`` only once complete.

    .mp4: H.264 through the ffmpeg binary that imageio-ffmpeg ships; .gif: Pillow, looping forever.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise ValueError(f"cannot write video {path.name!r}: use a file name ending in {' or '.join(VIDEO_SUFFIXES)}")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    w, h = size_wh

    def check(frame):
        frame = np.ascontiguousarray(frame)
        if frame.shape != (h, w, 3) or frame.dtype != np.uint8:
            raise ValueError(f"video frames must be [{h}, {w}, 3] uint8, got {frame.dtype} {list(frame.shape)}")
        return frame

    with atomic_path(path) as tmp:
        if suffix == ".gif":
            frames = []
            yield lambda frame: frames.append(check(frame))
            from PIL import Image

            images = [Image.fromarray(f) for f in frames]
            images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                           duration=round(1000 / fps), loop=0)
        else:
            import imageio_ffmpeg

            if w % 2 or h % 2:
                raise ValueError(f"MP4 (yuv420p) needs even frame sizes, got {w}x{h}; use --scale 2 or a .gif")
            sink = imageio_ffmpeg.write_frames(str(tmp), (w, h), fps=fps, codec="libx264", quality=8,
                                               macro_block_size=2, output_params=["-f", "mp4"],
                                               ffmpeg_log_level="error")
            sink.send(None)  # start ffmpeg
            try:
                yield lambda frame: sink.send(check(frame))
            finally:
                sink.close()
