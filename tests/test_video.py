"""Latent walks (keyframe interpolation) and the atomic MP4/GIF writer."""
import numpy as np
import pytest
import torch
from PIL import Image

from stylegan_fast.video import grid_walks, upscale, video_writer, walk
from tests.tolerances import assert_close


def _hermite_catmull_rom(keys, frames_per_key, loop):
    """Independent derivation, float64 loops: cubic Hermite basis with tangents (p[i+1] - p[i-1]) / 2,
    where out-of-range neighbours wrap on a loop and repeat the end keyframe otherwise."""
    k = len(keys)
    at = (lambda i: keys[i % k]) if loop else (lambda i: keys[min(max(i, 0), k - 1)])
    segments = k if loop else k - 1
    frames = []
    for f in range(segments * frames_per_key + (0 if loop else 1)):
        i = min(f // frames_per_key, segments - 1)
        u = (f - i * frames_per_key) / frames_per_key
        m1, m2 = (at(i + 1) - at(i - 1)) / 2, (at(i + 2) - at(i)) / 2
        h00, h10 = 2 * u ** 3 - 3 * u ** 2 + 1, u ** 3 - 2 * u ** 2 + u
        h01, h11 = -2 * u ** 3 + 3 * u ** 2, u ** 3 - u ** 2
        frames.append(h00 * at(i) + h10 * m1 + h01 * at(i + 1) + h11 * m2)
    return torch.stack(frames)


@pytest.mark.parametrize("loop", [True, False])
def test_cubic_walk_matches_hermite_derivation(loop):
    keys = torch.randn(5, 3, 4, dtype=torch.float64)
    got = walk(keys, 7, "cubic", loop)
    assert got.shape == ((35 if loop else 29), 3, 4)
    assert_close(got, _hermite_catmull_rom(keys, 7, loop), torch.float64)


@pytest.mark.parametrize("kind", ["cubic", "linear"])
@pytest.mark.parametrize("loop", [True, False])
def test_walk_passes_through_every_keyframe(kind, loop):
    keys = torch.randn(4, 2, 8)
    frames = walk(keys, 5, kind, loop)
    for i in range(4):
        assert_close(frames[5 * i], keys[i], torch.float32)
    if not loop:
        assert_close(frames[-1], keys[-1], torch.float32)


def test_linear_walk_midpoints_are_means():
    keys = torch.randn(3, 6, dtype=torch.float64)
    frames = walk(keys, 2, "linear", loop=True)
    assert_close(frames[1], (keys[0] + keys[1]) / 2, torch.float64)
    assert_close(frames[5], (keys[2] + keys[0]) / 2, torch.float64)  # the loop closes back to keys[0]


def test_cubic_walk_moves_uniformly_along_a_line():
    # Catmull-Rom reproduces linear motion between evenly spaced collinear keyframes (interior segments).
    direction, start = torch.randn(8, dtype=torch.float64), torch.randn(8, dtype=torch.float64)
    keys = torch.stack([start + i * direction for i in range(5)])
    frames = walk(keys, 4, "cubic", loop=False)
    expected = torch.stack([start + (f / 4) * direction for f in range(17)])
    assert_close(frames[4:13], expected[4:13], torch.float64)


def test_looped_walk_is_rotation_equivariant():
    # Starting the loop at keyframe 1 gives the same frames, rolled: no seam at the start/end.
    keys = torch.randn(4, 5, dtype=torch.float64)
    assert_close(walk(keys.roll(-1, 0), 6, "cubic", True), walk(keys, 6, "cubic", True).roll(-6, 0), torch.float64)


@pytest.mark.parametrize("args, match", [
    (dict(kind="spline"), "unknown interpolation"),
    (dict(frames_per_key=0), "frames per keyframe"),
    (dict(n_keys=1), "at least 2 keyframes"),
])
def test_walk_errors(args, match):
    keys = torch.randn(args.pop("n_keys", 3), 4)
    with pytest.raises(ValueError, match=match):
        walk(keys, **{"frames_per_key": 3, "kind": "cubic", **args})


def test_grid_walks_hold_the_still_layers():
    keys = torch.randn(2, 3, 6, 4)  # 2 cells, 3 keyframes, num_ws 6
    paths = grid_walks(keys, 4, "linear", True, layers=[4, 5])
    assert paths.shape == (12, 2, 6, 4)
    assert torch.equal(paths[:, :, :4], keys[None, :, 0, :4].expand(12, -1, -1, -1))  # held
    assert_close(paths[2, 1, 4:], (keys[1, 0, 4:] + keys[1, 1, 4:]) / 2, torch.float32)  # moving
    assert torch.equal(grid_walks(keys, 4, "linear", True)[:, 0], walk(keys[0], 4, "linear", True))


def test_upscale_is_nearest_neighbour():
    a = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    b = upscale(a, 3)
    assert b.shape == (6, 6, 3) and (b[4, 1] == a[1, 0]).all() and (b[2, 5] == a[0, 1]).all()


def _frames(n=6, h=32, w=48):
    """Frames of flat colour blocks: few colours (exact in a GIF palette), easy to check in a lossy MP4."""
    out = []
    for i in range(n):
        f = np.zeros([h, w, 3], np.uint8)
        f[:, : w // 2] = (25 * i, 200, 30)
        f[:, w // 2:] = (220, 20 * i, 120)
        out.append(f)
    return out


def test_gif_round_trip(tmp_path):
    path = tmp_path / "walk.gif"
    frames = _frames()
    with video_writer(path, fps=20, size_wh=(48, 32)) as append:
        for f in frames:
            append(f)
    with Image.open(path) as im:
        assert im.n_frames == 6 and im.size == (48, 32) and im.info["duration"] == 50 and im.info["loop"] == 0
        for i, f in enumerate(frames):
            im.seek(i)
            np.testing.assert_array_equal(np.asarray(im.convert("RGB")), f)


def test_mp4_round_trip(tmp_path):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    path = tmp_path / "walk.mp4"
    frames = _frames(n=10)
    with video_writer(path, fps=25, size_wh=(48, 32)) as append:
        for f in frames:
            append(f)
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    assert tuple(meta["size"]) == (48, 32) and meta["fps"] == 25
    got = [np.frombuffer(b, np.uint8).reshape(32, 48, 3) for b in reader]
    assert len(got) == 10
    for g, f in zip(got, frames):  # H.264 is lossy: compare the blocks' mean colours away from the seam
        for cols in (slice(2, 20), slice(28, 46)):
            assert np.abs(g[:, cols].reshape(-1, 3).mean(0) - f[:, cols].reshape(-1, 3).mean(0)).max() < 6


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_failed_video_leaves_the_old_file_and_no_partial(tmp_path, suffix):
    path = tmp_path / f"walk{suffix}"
    path.write_bytes(b"the user's old video")
    with pytest.raises(ValueError, match=r"\[32, 48, 3\] uint8"):
        with video_writer(path, fps=10, size_wh=(48, 32)) as append:
            append(_frames()[0])
            append(np.zeros([32, 47, 3], np.uint8))  # wrong size mid-way
    assert path.read_bytes() == b"the user's old video"
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_video_writer_rejects_bad_names_and_sizes(tmp_path):
    with pytest.raises(ValueError, match=r"\.mp4 or \.gif"):
        with video_writer(tmp_path / "walk.avi", 30, (32, 32)):
            pass
    with pytest.raises(ValueError, match="even frame sizes"):
        with video_writer(tmp_path / "walk.mp4", 30, (33, 32)):
            pass
    with pytest.raises(ValueError, match="fps must be positive"):
        with video_writer(tmp_path / "walk.gif", 0, (32, 32)):
            pass
    assert not list(tmp_path.iterdir())
