"""Images out of the generator: uint8 conversion, grids, encoding (PNG, JPEG, WebP), atomic PNG writing."""
from __future__ import annotations

import math

import numpy as np
import torch

from .fileio import atomic_path


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] float in [-1, 1] -> [N, H, W, C] uint8, rounding as NVlabs does (x*127.5 + 128, clamp)."""
    if images.ndim != 4:
        raise ValueError(f"images must be [N, C, H, W], got shape {list(images.shape)}")
    return (images.permute(0, 2, 3, 1).float() * 127.5 + 128).clamp(0, 255).to(torch.uint8)


def make_grid(images_uint8: np.ndarray, cols: int | None = None) -> np.ndarray:
    """[N, H, W, C] uint8 -> one [rows*H, cols*W, C] image; the last row is padded with black."""
    n, h, w, c = images_uint8.shape
    cols = cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.zeros([rows * h, cols * w, c], dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, cols)
        grid[r * h:(r + 1) * h, col * w:(col + 1) * w] = images_uint8[i]
    return grid


def encode_image(array_hwc: np.ndarray, fp, format: str = "png", quality: int = 95,
                 compress_level: int | None = None) -> None:
    """Encode an [H, W, C] uint8 array (C = 1, 3 or 4) into ``fp`` (a path or a binary file object).

    format: png (zlib ``compress_level`` 0-9, None: Pillow's default, 6), jpg/jpeg (``quality``, no chroma
    subsampling; an alpha channel is dropped) or webp (lossy, ``quality``).
    """
    from PIL import Image

    a = np.asarray(array_hwc)
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4) or a.dtype != np.uint8:
        raise ValueError(f"expected an [H, W, 1|3|4] uint8 image, got {a.dtype} of shape {list(a.shape)}")
    img = Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a)
    if format == "png":
        options = {} if compress_level is None else {"compress_level": compress_level}
        img.save(fp, format="PNG", **options)
    elif format in ("jpg", "jpeg"):
        (img.convert("RGB") if img.mode == "RGBA" else img).save(fp, format="JPEG", quality=quality, subsampling=0)
    elif format == "webp":
        img.save(fp, format="WEBP", quality=quality)
    else:
        raise ValueError(f"unknown image format {format!r}; use png, jpg or webp")


def save_image(array_hwc: np.ndarray, path, compress_level: int | None = None) -> None:
    """Write an [H, W, C] uint8 array (C = 1, 3 or 4) as PNG atomically (``encode_image``)."""
    with atomic_path(path) as tmp:
        encode_image(array_hwc, tmp, "png", compress_level=compress_level)
