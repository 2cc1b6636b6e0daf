"""Seeds -> z (NVlabs compatible), uint8 conversion, grids and PNG writing."""
import os

import numpy as np
import pytest
import torch

import stylegan_fast as sf


# ---- seeds ----

@pytest.mark.parametrize("seed", [0, 1, 42, 123456, 2 ** 31, 2 ** 32 - 1])
def test_z_from_seeds_matches_numpy_bit_for_bit(seed):
    z = sf.z_from_seeds([seed], 17)
    expected = np.random.RandomState(seed).randn(1, 17)
    assert z.dtype == torch.float64 and z.shape == (1, 17)
    assert np.array_equal(z.numpy(), expected)


def test_z_from_seeds_known_value():
    assert np.random.RandomState(0).randn() == 1.764052345967664
    z = sf.z_from_seeds(0, 512)
    assert z[0, 0].item() == 1.764052345967664
    assert z.shape == (1, 512)


def test_z_from_seeds_rows_follow_seed_order():
    z = sf.z_from_seeds("7,0-2,7", 8)
    assert z.shape == (5, 8)
    for row, seed in zip(z, [7, 0, 1, 2, 7]):
        assert np.array_equal(row.numpy(), np.random.RandomState(seed).randn(1, 8)[0])
    assert torch.equal(z[0], z[4])


def test_parse_seeds():
    assert sf.parse_seeds("0-3,7") == [0, 1, 2, 3, 7]
    assert sf.parse_seeds(" 5 , 1-2 ") == [5, 1, 2]
    assert sf.parse_seeds("4-4") == [4]
    assert sf.parse_seeds(9) == [9]
    assert sf.parse_seeds([3, 3]) == [3, 3]
    assert sf.parse_seeds(str(2 ** 32 - 1)) == [2 ** 32 - 1]


@pytest.mark.parametrize("spec, match", [
    ("3-1", "start must not exceed the end"),
    ("a", "neither a seed"),
    ("", "bad seeds ''"),
    ("1,,2", "bad seeds"),
    ("-1", "neither a seed"),
    ("1.5", "neither a seed"),
    (-1, "out of range"),
    (2 ** 32, "seed 4294967296 out of range"),
    (str(2 ** 32), "out of range"),
    ("4294967290-4294967296", "out of range"),
    ([0, 2 ** 32], "out of range"),
])
def test_parse_seeds_errors(spec, match):
    with pytest.raises(ValueError, match=match):
        sf.parse_seeds(spec)


def test_z_from_seeds_empty():
    with pytest.raises(ValueError, match="no seeds"):
        sf.z_from_seeds([], 4)


# ---- to_uint8 ----

def test_to_uint8_nvlabs_rounding():
    values = torch.tensor([-1.0, 1.0, 0.0, -2.0, 2.0, 0.5, -0.996, 1 / 127.5 * 0.4999, -1 / 127.5])
    x = values.reshape(1, 1, 1, -1)
    got = sf.to_uint8(x)
    assert got.dtype == torch.uint8 and got.shape == (1, 1, values.numel(), 1)
    # -1 -> 0.5 truncates to 0; 1 -> 255.5 clamps to 255; 0 -> 128
    assert got.flatten().tolist()[:5] == [0, 255, 128, 0, 255]
    expected = np.clip(values.numpy().astype(np.float32) * 127.5 + 128, 0, 255).astype(np.uint8)
    assert got.flatten().numpy().tolist() == expected.tolist()
    assert got.flatten().tolist()[5:] == [191, 1, 128, 127]  # 191.75, 1.01, 128.06, 127


def test_to_uint8_matches_nvlabs_formula_on_random_values():
    x = torch.randn(2, 3, 5, 4) * 1.5
    got = sf.to_uint8(x).numpy()
    expected = (x.permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255).to(torch.uint8).numpy()  # gen_images.py
    assert np.array_equal(got, expected)
    assert sf.to_uint8(x.double()).equal(sf.to_uint8(x))
    assert sf.to_uint8(x.half()).shape == (2, 5, 4, 3)


def test_to_uint8_nhwc_layout():
    x = torch.full((2, 3, 4, 5), -1.0)
    x[1, 2, 3, 4] = 1.0  # sample 1, channel 2, row 3, column 4
    x[0, 0, 1, 2] = 0.0
    out = sf.to_uint8(x)
    assert out.shape == (2, 4, 5, 3)
    assert out[1, 3, 4, 2] == 255 and out[0, 1, 2, 0] == 128
    assert int(out.sum()) == 255 + 128


def test_to_uint8_rejects_non_4d():
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        sf.to_uint8(torch.zeros(3, 4, 4))


# ---- make_grid ----

def test_make_grid_layout():
    n, h, w, c = 5, 2, 3, 3
    imgs = np.stack([np.full((h, w, c), 10 * (i + 1), dtype=np.uint8) for i in range(n)])
    grid = sf.make_grid(imgs, cols=3)
    assert grid.shape == (2 * h, 3 * w, c) and grid.dtype == np.uint8
    for i in range(n):
        r, col = divmod(i, 3)
        assert (grid[r * h:(r + 1) * h, col * w:(col + 1) * w] == 10 * (i + 1)).all()
    assert (grid[h:, 2 * w:] == 0).all()  # padded cell is black
    # default: ceil(sqrt(n)) columns
    assert sf.make_grid(imgs).shape == (2 * h, 3 * w, c)
    assert sf.make_grid(imgs[:4]).shape == (2 * h, 2 * w, c)
    one_col = sf.make_grid(imgs, cols=1)
    assert one_col.shape == (n * h, w, c)
    assert np.array_equal(one_col, imgs.reshape(n * h, w, c))


# ---- save_image ----

def _leftovers(folder, keep):
    return sorted(set(os.listdir(folder)) - set(keep))


@pytest.mark.parametrize("channels, mode", [(3, "RGB"), (1, "L"), (4, "RGBA")])
def test_save_image_writes_decodable_png(tmp_path, channels, mode):
    from PIL import Image

    rng = np.random.RandomState(0)
    a = rng.randint(0, 256, size=(6, 9, channels)).astype(np.uint8)
    path = tmp_path / "sub" / "img.png"  # parent created
    sf.save_image(a, path)
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size == (9, 6) and im.mode == mode
        back = np.asarray(im)
    assert np.array_equal(back.reshape(a.shape), a)
    assert _leftovers(path.parent, ["img.png"]) == []


def test_save_image_from_generator(tmp_path, g2_16):
    from PIL import Image

    imgs = sf.to_uint8(g2_16(torch.randn(3, g2_16.z_dim))).numpy()
    grid = sf.make_grid(imgs, cols=3)
    sf.save_image(grid, tmp_path / "grid.png")
    with Image.open(tmp_path / "grid.png") as im:
        assert im.size == (48, 16)
        assert np.array_equal(np.asarray(im), grid)


def test_save_image_failure_leaves_existing_file(tmp_path, monkeypatch):
    from stylegan_fast import fileio

    path = tmp_path / "out.png"
    path.write_bytes(b"previous content")

    class DiskFull:  # writes half of what it is given, then fails
        def __init__(self, fd, *args, **kwargs):
            self.f = open(fd, "wb", closefd=True)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            self.f.write(bytes(data)[:len(data) // 2])
            raise OSError("disk full (simulated)")

    monkeypatch.setattr(fileio, "open", DiskFull, raising=False)
    with pytest.raises(OSError, match="disk full"):
        sf.save_image(np.zeros((4, 4, 3), np.uint8), path)
    assert path.read_bytes() == b"previous content"
    assert _leftovers(tmp_path, ["out.png"]) == []


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 2), np.uint8),
                                 np.zeros((4, 4, 3), np.float32)])
def test_save_image_rejects_bad_arrays(tmp_path, bad):
    path = tmp_path / "x.png"
    with pytest.raises(ValueError, match=r"\[H, W, 1\|3\|4\] uint8"):
        sf.save_image(bad, path)
    assert not path.exists() and os.listdir(tmp_path) == []


# --- latent files (.npz with key 'w' as NVlabs' projector writes, or .npy) ---

def test_save_ws_writes_nvlabs_projected_w_layout(tmp_path):
    ws = torch.randn(6, 4)
    sf.save_ws(tmp_path / "w.npz", ws)
    with np.load(tmp_path / "w.npz", allow_pickle=False) as data:
        assert data.files == ["w"] and data["w"].shape == (1, 6, 4) and data["w"].dtype == np.float32
        np.testing.assert_array_equal(data["w"][0], ws.numpy())
    assert torch.equal(sf.load_ws(tmp_path / "w.npz", 6, 4), ws)


def test_save_ws_batch_round_trips_and_bad_shapes_are_refused(tmp_path):
    ws = torch.randn(3, 6, 4)
    sf.save_ws(tmp_path / "b.npz", ws)
    assert torch.equal(sf.latents.load_ws_batch(tmp_path / "b.npz", 6, 4), ws)
    with pytest.raises(ValueError, match=r"\[num_ws, w_dim\] or \[N, num_ws, w_dim\]"):
        sf.save_ws(tmp_path / "bad.npz", torch.randn(4))
    assert not (tmp_path / "bad.npz").exists()


@pytest.mark.parametrize("shape", [(1, 6, 4), (6, 4)])
def test_load_ws_npy_and_npz_shapes(tmp_path, shape):
    w = np.random.RandomState(0).randn(*shape)
    np.save(tmp_path / "w.npy", w)
    np.savez(tmp_path / "w.npz", w=w)
    for name in ("w.npy", "w.npz"):
        got = sf.load_ws(tmp_path / name, 6, 4)
        assert got.dtype == torch.float32
        np.testing.assert_allclose(got.numpy(), w.reshape(6, 4), rtol=1e-6)


def test_load_ws_single_w_goes_to_every_layer(tmp_path):
    w = np.arange(4, dtype=np.float32)
    np.save(tmp_path / "w.npy", w)
    got = sf.load_ws(tmp_path / "w.npy", 3, 4)
    assert got.shape == (3, 4) and all(torch.equal(row, torch.from_numpy(w)) for row in got)


@pytest.mark.parametrize("make, match", [
    (lambda p: np.save(p / "w.npy", np.zeros([5, 4])), r"shape \[5, 4\].*\[1, 6, 4\]"),
    (lambda p: np.save(p / "w.npy", np.zeros([6, 4], np.int64)), "floating point"),
    (lambda p: np.save(p / "w.npy", np.full([6, 4], np.nan)), "NaN"),
    (lambda p: np.savez(p / "w.npy", ws=np.zeros([6, 4])), "no array named 'w'"),
    (lambda p: np.save(p / "w.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True), "not a plain numpy"),
    (lambda p: (p / "w.npy").write_bytes(b"not numpy at all"), "not a plain numpy"),
])
def test_load_ws_errors(tmp_path, make, match):
    make(tmp_path)
    path = tmp_path / "w.npy"
    if not path.exists():  # np.savez appended .npz
        path = tmp_path / "w.npy.npz"
    with pytest.raises(ValueError, match=match):
        sf.load_ws(path, 6, 4)


def test_load_ws_missing_file_and_suffix(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        sf.load_ws(tmp_path / "nope.npz", 6, 4)
    with pytest.raises(ValueError, match=r"\.npz .* or \.npy"):
        sf.load_ws(tmp_path / "w.pt", 6, 4)


def test_load_ws_batch(tmp_path):
    w = np.random.RandomState(1).randn(3, 6, 4).astype(np.float32)
    np.savez(tmp_path / "w.npz", w=w)
    np.testing.assert_array_equal(sf.latents.load_ws_batch(tmp_path / "w.npz", 6, 4).numpy(), w)
    np.save(tmp_path / "one.npy", w[0])  # [num_ws, w_dim] -> a batch of one
    assert sf.latents.load_ws_batch(tmp_path / "one.npy", 6, 4).shape == (1, 6, 4)
    with pytest.raises(ValueError, match=r"needs \[N, 5, 4\]"):
        sf.latents.load_ws_batch(tmp_path / "w.npz", 5, 4)
