"""Images out of the generator: uint8 conversion, grids, encoding (PNG, JPEG, WebP), atomic PNG writing."""
from __future__ import annotations

import io
import math

import numpy as np
import torch

from .fileio import write_atomic


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


# PNG compression. "rle" is zlib's run-length strategy (Z_RLE): the filtered rows of generator images and
# of photos compress mostly by Huffman coding, so level 6's LZ77 search buys little. Measured with Pillow on
# this project's 64 px faces and on 720x477 photos: 2.4-4x faster to encode than level 6, files 0-2% larger.
_Z_DEFAULT_STRATEGY, _Z_RLE = 0, 3  # zlib's constants
PNG_COMPRESSION_HELP = ("'rle' (zlib's run-length strategy: 2.4-4x faster than level 6, files 0-2% larger) or a "
                        "zlib level 0-9 (6: Pillow's default, as NVlabs' scripts; 0: stored)")


def check_png_compression(compression) -> int | str:
    """``"rle"`` or a zlib level 0-9 (an int, or its digit as a string); anything else is a ValueError."""
    if isinstance(compression, str) and compression.strip().isdigit():
        compression = int(compression)
    if compression == "rle" or (isinstance(compression, int) and not isinstance(compression, bool)
                                and 0 <= compression <= 9):
        return compression
    raise ValueError(f"PNG compression must be {PNG_COMPRESSION_HELP}; got {compression!r}")


def _zlib_settings(compression) -> tuple[int, int]:
    """(level, strategy) for ``compression``; "rle" keeps zlib's default level, which Z_RLE ignores."""
    compression = check_png_compression(compression)
    return (6, _Z_RLE) if compression == "rle" else (compression, _Z_DEFAULT_STRATEGY)


def native_png_encoder():
    """``stylegan_fast._C.png_encode`` (csrc/cpu/png_encode.cpp), or None where the module was built
    without zlib (or not at all): then PNGs are encoded by Pillow."""
    from . import _native

    return getattr(_native.get_module(), "png_encode", None)


def _check_image(a: np.ndarray) -> None:
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4) or a.dtype != np.uint8 or 0 in a.shape[:2]:
        raise ValueError(f"expected an [H, W, 1|3|4] uint8 image (H, W >= 1), got {a.dtype} of shape {list(a.shape)}")


def _check_batch(a: np.ndarray) -> None:
    if a.ndim != 4 or a.shape[3] not in (1, 3, 4) or a.dtype != np.uint8 or 0 in a.shape[1:3]:
        raise ValueError(f"expected images [N, H, W, 1|3|4] uint8 (H, W >= 1), got {a.dtype} of shape {list(a.shape)}")


def encode_png_batch(images_nhwc, png_compression: int | str = "rle", threads: int = 1) -> list[bytes]:
    """PNG files (bytes) of a batch of [N, H, W, C] uint8 images (C = 1, 3 or 4).

    With the native module: one call for the whole batch, on ``threads`` of the OpenMP threads torch
    uses, with the GIL released (the pixels decode the same as Pillow's files; sizes within a few %).
    Without it: Pillow, one image at a time (``threads`` is ignored).
    """
    a = np.ascontiguousarray(images_nhwc)
    _check_batch(a)
    level, strategy = _zlib_settings(png_compression)
    native = native_png_encoder()
    if native is None:
        return [_pillow_png(img, level, strategy) for img in a]
    n, h, w, c = a.shape
    return native(a.ctypes.data, n, h, w, c, level, strategy, max(1, int(threads)))


def _pillow_png(array_hwc: np.ndarray, level: int, strategy: int) -> bytes:
    from PIL import Image

    img = Image.fromarray(array_hwc[:, :, 0] if array_hwc.shape[2] == 1 else array_hwc)
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=level, compress_type=strategy)
    return buf.getvalue()


def encode_image(array_hwc: np.ndarray, format: str = "png", quality: int = 95,
                 png_compression: int | str = "rle") -> bytes:
    """The file, in memory, of an [H, W, C] uint8 array (C = 1, 3 or 4).

    format: png (lossless, :func:`encode_png_batch`; ``png_compression``: "rle" or a zlib level 0-9, see
    :func:`check_png_compression`), jpg/jpeg (``quality``, no chroma subsampling; an alpha channel is
    dropped) or webp (lossy, ``quality``).
    """
    from PIL import Image

    a = np.asarray(array_hwc)
    _check_image(a)
    if format == "png":
        return encode_png_batch(a[None], png_compression)[0]
    img = Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a)
    buf = io.BytesIO()
    if format in ("jpg", "jpeg"):
        (img.convert("RGB") if img.mode == "RGBA" else img).save(buf, format="JPEG", quality=quality, subsampling=0)
    elif format == "webp":
        img.save(buf, format="WEBP", quality=quality)
    else:
        raise ValueError(f"unknown image format {format!r}; use png, jpg or webp")
    return buf.getvalue()


def save_image(array_hwc: np.ndarray, path, png_compression: int | str = "rle") -> None:
    """Write an [H, W, C] uint8 array (C = 1, 3 or 4) as PNG atomically (``encode_image``).

    The image is encoded in memory first, then written in one call (a bad array creates no file).
    """
    write_atomic(path, encode_image(array_hwc, "png", png_compression=png_compression))
