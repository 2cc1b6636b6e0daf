"""The batch PNG encoder (csrc/cpu/png_encode.cpp via stylegan_fast.images.encode_png_batch).

Its files are read back by a decoder written here from the PNG specification (chunks, CRC-32, zlib,
the five filters undone with explicit loops), independent of the encoder and of Pillow, and by Pillow.
"""
import io
import os
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

import stylegan_fast as sf
from stylegan_fast import images

native = pytest.mark.skipif(images.native_png_encoder() is None,
                            reason="stylegan_fast._C was built without zlib (or not at all)")


def test_the_native_encoder_is_built_where_the_native_module_is_required():
    if os.environ.get("STYLEGAN_FAST_REQUIRE_NATIVE") != "1":
        pytest.skip("STYLEGAN_FAST_REQUIRE_NATIVE is not set")
    assert images.native_png_encoder() is not None, "stylegan_fast._C has no png_encode: was zlib found?"


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def decode_png(data: bytes) -> tuple[np.ndarray, list[int]]:
    """The [H, W, C] pixels of an 8-bit greyscale/RGB/RGBA PNG and the filter type of each row."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body), f"bad CRC in {kind}"
        chunks.append((kind, body))
        pos += 12 + length
    assert pos == len(data) and chunks[0][0] == b"IHDR" and chunks[-1] == (b"IEND", b"")
    w, h, depth, colour, method, filtering, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, method, filtering, interlace) == (8, 0, 0, 0)
    c = {0: 1, 2: 3, 6: 4}[colour]
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride = w * c
    assert len(raw) == h * (stride + 1)
    out = np.zeros((h, stride), dtype=np.int64)
    filters = []
    for y in range(h):
        f, line = raw[y * (stride + 1)], raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)]
        filters.append(f)
        for x in range(stride):
            a = out[y, x - c] if x >= c else 0
            b = out[y - 1, x] if y else 0
            cc = out[y - 1, x - c] if y and x >= c else 0
            pred = {0: 0, 1: a, 2: b, 3: (a + b) // 2, 4: paeth(a, b, cc)}[f]
            out[y, x] = (line[x] + pred) % 256
    return out.reshape(h, w, c).astype(np.uint8), filters


def random_images(n, h, w, c, seed=0, smooth=False):
    rng = np.random.default_rng(seed)
    if smooth:  # gradients with a little noise: every filter has something to win
        yy, xx = np.mgrid[0:h, 0:w]
        base = (yy[..., None] * 7 + xx[..., None] * 3 + np.arange(c) * 40)[None]
        return ((base + rng.integers(0, 4, (n, h, w, c))) % 256).astype(np.uint8)
    return rng.integers(0, 256, (n, h, w, c), dtype=np.uint8)


@native
@pytest.mark.parametrize("shape", [(1, 1, 1, 3), (2, 3, 5, 3), (3, 9, 17, 4), (2, 8, 6, 1), (1, 16, 16, 3)])
@pytest.mark.parametrize("compression", ["rle", 0, 1, 6, 9])
def test_files_decode_to_the_pixels(shape, compression):
    for smooth in (False, True):
        imgs = random_images(*shape, seed=sum(shape), smooth=smooth)
        files = images.encode_png_batch(imgs, compression, threads=2)
        assert len(files) == shape[0] and all(isinstance(f, bytes) for f in files)
        for img, f in zip(imgs, files):
            pixels, _ = decode_png(f)
            np.testing.assert_array_equal(pixels, img)
            with Image.open(io.BytesIO(f)) as im:
                im.load()
                got = np.asarray(im)
            np.testing.assert_array_equal(got.reshape(img.shape), img)


@native
def test_each_row_gets_the_filter_with_the_smallest_sum_of_signed_bytes():
    imgs = random_images(2, 12, 10, 3, seed=5, smooth=True)
    imgs[1, 4:] = 200  # flat rows: None wins (sum 0 after Up; the tie goes to the lowest filter type)
    for img, f in zip(imgs, images.encode_png_batch(imgs, "rle")):
        _, filters = decode_png(f)
        raw = img.reshape(img.shape[0], -1).astype(np.int64)
        c = img.shape[2]
        for y, chosen in enumerate(filters):
            prior = raw[y - 1] if y else np.zeros_like(raw[0])
            costs = []
            for ftype in range(5):
                line = []
                for x in range(raw.shape[1]):
                    a = raw[y, x - c] if x >= c else 0
                    cc = prior[x - c] if x >= c else 0
                    pred = {0: 0, 1: a, 2: prior[x], 3: (a + prior[x]) // 2, 4: paeth(a, prior[x], cc)}[ftype]
                    line.append((raw[y, x] - pred) % 256)
                costs.append(sum(v if v < 128 else 256 - v for v in line))
            assert chosen == int(np.argmin(costs)), (y, costs)


@native
def test_the_bytes_do_not_depend_on_the_thread_count():
    imgs = random_images(7, 10, 12, 3, seed=3, smooth=True)
    one = images.encode_png_batch(imgs, "rle", threads=1)
    assert images.encode_png_batch(imgs, "rle", threads=2) == one
    assert images.encode_png_batch(imgs, "rle", threads=5) == one
    assert images.encode_png_batch(imgs[3:4], "rle")[0] == one[3]  # nor on the batch it is in


@native
def test_sizes_are_close_to_pillows_on_the_demo_models_faces():
    G = sf.default_model()
    with torch.no_grad():
        faces = sf.to_uint8(G(sf.z_from_seeds(range(16), G.z_dim), None)).numpy()
    for compression, (level, strategy) in (("rle", (6, 3)), (6, (6, 0)), (1, (1, 0))):
        ours = sum(len(f) for f in images.encode_png_batch(faces, compression))
        pillow = sum(len(images._pillow_png(f, level, strategy)) for f in faces)
        assert 0.9 < ours / pillow < 1.05, (compression, ours, pillow)


def test_without_the_native_encoder_pillow_writes_the_same_pixels(monkeypatch, tmp_path):
    monkeypatch.setattr(images, "native_png_encoder", lambda: None)
    imgs = random_images(3, 5, 6, 4, seed=9, smooth=True)
    for compression in ("rle", 0, 6):
        files = images.encode_png_batch(imgs, compression)
        for img, f in zip(imgs, files):
            np.testing.assert_array_equal(decode_png(f)[0], img)
    images.save_image(imgs[0, :, :, :3], tmp_path / "a.png")
    np.testing.assert_array_equal(decode_png((tmp_path / "a.png").read_bytes())[0], imgs[0, :, :, :3])


@pytest.mark.parametrize("bad", [np.zeros((2, 4, 4), np.uint8), np.zeros((1, 4, 4, 2), np.uint8),
                                 np.zeros((1, 4, 4, 3), np.float32), np.zeros((1, 0, 4, 3), np.uint8)])
def test_bad_batches_are_refused(bad):
    with pytest.raises(ValueError, match=r"expected images \[N, H, W, 1\|3\|4\] uint8"):
        images.encode_png_batch(bad)


def test_bad_compression_is_refused():
    with pytest.raises(ValueError, match="PNG compression must be 'rle'"):
        images.encode_png_batch(np.zeros((1, 2, 2, 3), np.uint8), "zip")


@native
def test_the_binding_checks_its_arguments():
    encode = images.native_png_encoder()
    a = np.zeros((1, 2, 2, 3), np.uint8)
    for args, match in (((1, 2, 2, 2, 6, 3, 1), "C in 1, 3, 4"), ((1, 2, 2, 3, 10, 0, 1), "level must be 0-9"),
                        ((1, 2, 2, 3, 6, 1, 1), "strategy"), ((1, 1, 1 << 23, 3, 6, 3, 1), "2\\^24")):
        with pytest.raises(ValueError, match=match):
            encode(a.ctypes.data, *args)
    assert encode(a.ctypes.data, 0, 2, 2, 3, 6, 3, 1) == []
