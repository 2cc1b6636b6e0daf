"""The command line: every command, its outputs and its errors."""
import errno
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import stylegan_fast as sf
from stylegan_fast.ops import cpu_support
from stylegan_fast.cli import main
from tests.tolerances import assert_close


@pytest.fixture(scope="module")
def small_network(tmp_path_factory):
    torch.manual_seed(0)
    G = sf.Generator.from_config(arch="stylegan2", resolution=16, z_dim=16, w_dim=16, channel_base=64,
                                 channel_max=8)
    path = tmp_path_factory.mktemp("net") / "small.safetensors"
    G.save(path)
    return path


@pytest.fixture(scope="module")
def conditional_network(tmp_path_factory):
    torch.manual_seed(1)
    G = sf.Generator.from_config(arch="stylegan2", resolution=8, z_dim=8, w_dim=8, c_dim=3, channel_base=32,
                                 channel_max=4)
    path = tmp_path_factory.mktemp("net") / "cond.safetensors"
    G.save(path)
    return path


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_render_default_model_writes_pngs_and_grid(tmp_path):
    r = run("render", "--seeds", "0-2,7", "--outdir", tmp_path / "out", "--grid", tmp_path / "grid.png")
    assert r.exit_code == 0, r.output
    assert "built-in demo model" in r.output  # says which model it used
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["seed0000.png", "seed0001.png", "seed0002.png", "seed0007.png"]
    for name in names:
        with Image.open(tmp_path / "out" / name) as im:
            assert im.format == "PNG" and im.size == (64, 64) and im.mode == "RGB"
    with Image.open(tmp_path / "grid.png") as im:
        assert im.size == (128, 128)  # 4 images -> 2x2 grid of 64 px


def test_render_matches_api_bit_for_bit(tmp_path, small_network):
    r = run("render", "--network", small_network, "--seeds", "5,6", "--trunc", "0.5", "--outdir", tmp_path,
            "--batch-size", "1")
    assert r.exit_code == 0, r.output
    G = sf.Generator.load(small_network)
    expected = sf.to_uint8(G(sf.z_from_seeds([5, 6], G.z_dim), truncation_psi=0.5)).numpy()
    for i, seed in enumerate([5, 6]):
        got = np.asarray(Image.open(tmp_path / f"seed{seed:04d}.png"))
        assert got.shape == (16, 16, 3)
        np.testing.assert_array_equal(got, expected[i])


def test_render_grid_only(tmp_path, small_network):
    r = run("render", "--network", small_network, "--seeds", "0-4", "--no-images", "--grid", tmp_path / "g.png",
            "--outdir", tmp_path / "none")
    assert r.exit_code == 0, r.output
    assert not (tmp_path / "none").exists()
    with Image.open(tmp_path / "g.png") as im:
        assert im.size == (48, 32)  # 5 images -> 3 columns x 2 rows of 16 px


@pytest.mark.parametrize("seeds, message", [("3-1", "start must not exceed"), ("a", "neither a seed"),
                                            ("1,,2", "comma-separated"), ("4294967296", "out of range")])
def test_render_bad_seeds(tmp_path, seeds, message):
    r = run("render", "--seeds", seeds, "--outdir", tmp_path)
    assert r.exit_code == 2 and message in r.output, r.output
    assert not any(tmp_path.iterdir())


def test_render_unknown_backend(tmp_path):
    r = run("render", "--backend", "fastest", "--outdir", tmp_path)
    assert r.exit_code == 2 and "fastest" in r.output and "reference" in r.output


@pytest.mark.parametrize("backend", ["triton", "cuda"] + ([] if cpu_support.kernels_built() else ["cpu"]))
def test_render_unavailable_backend_says_why(tmp_path, small_network, backend):
    r = run("render", "--network", small_network, "--backend", backend, "--device", "cpu", "--outdir", tmp_path)
    assert r.exit_code == 1
    assert f"backend '{backend}' is unavailable on cpu:" in r.output
    assert not any(tmp_path.iterdir())


def test_render_missing_network(tmp_path):
    r = run("render", "--network", tmp_path / "nope.safetensors", "--outdir", tmp_path / "o")
    assert r.exit_code == 1 and "no generator file" in r.output and "nope.safetensors" in r.output


def test_render_not_a_network(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"this is not a checkpoint")
    r = run("render", "--network", bad, "--outdir", tmp_path / "o")
    assert r.exit_code == 1 and "is not a checkpoint stylegan_fast can read" in r.output


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error when CUDA is absent")
def test_render_cuda_unavailable(tmp_path, small_network):
    r = run("render", "--network", small_network, "--device", "cuda", "--outdir", tmp_path)
    assert r.exit_code == 1 and "CUDA is not available" in r.output


def test_render_class_labels(tmp_path, conditional_network, small_network):
    r = run("render", "--network", conditional_network, "--seeds", "0", "--outdir", tmp_path)
    assert r.exit_code == 1 and "give --class 0..2" in r.output
    r = run("render", "--network", conditional_network, "--seeds", "0", "--class", "5", "--outdir", tmp_path)
    assert r.exit_code == 1 and "out of range" in r.output
    a = run("render", "--network", conditional_network, "--seeds", "0", "--class", "0", "--outdir", tmp_path / "a")
    b = run("render", "--network", conditional_network, "--seeds", "0", "--class", "2", "--outdir", tmp_path / "b")
    assert a.exit_code == 0 and b.exit_code == 0
    img_a = np.asarray(Image.open(tmp_path / "a" / "seed0000.png"))
    img_b = np.asarray(Image.open(tmp_path / "b" / "seed0000.png"))
    assert img_a.shape == (8, 8, 3) and not np.array_equal(img_a, img_b)
    r = run("render", "--network", small_network, "--seeds", "0", "--class", "1", "--outdir", tmp_path / "c")
    assert r.exit_code == 0 and "--class ignored" in r.output


def test_info_summarizes_network(small_network):
    r = run("info", small_network)
    assert r.exit_code == 0, r.output
    assert "stylegan2" in r.output and "16x16x3" in r.output and "num_ws" in r.output
    G = sf.Generator.load(small_network)
    assert f"{sum(p.numel() for p in G.parameters()):,}" in r.output


def test_doctor_lists_every_backend():
    r = run("doctor")
    assert r.exit_code == 0, r.output
    for name in ("reference", "triton", "cuda", "cpu"):
        assert f" {name} " in r.output
    assert "native module stylegan_fast._C" in r.output


def test_python_dash_m_entry_point():
    r = subprocess.run([sys.executable, "-m", "stylegan_fast", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "render" in r.stdout and "doctor" in r.stdout


def test_convert_to_safetensors_round_trip(tmp_path, small_network):
    out = tmp_path / "copy.safetensors"
    r = run("convert", small_network, out)
    assert r.exit_code == 0, r.output
    a, b = sf.Generator.load(small_network), sf.Generator.load(out)
    z = sf.z_from_seeds([3], a.z_dim)
    assert torch.equal(a(z), b(z))
    r = run("convert", small_network, out)
    assert r.exit_code == 1 and "exists" in r.output  # never overwrites without --force


def test_convert_to_nvlabs_state_dict(tmp_path, small_network):
    out = tmp_path / "nv.pt"
    r = run("convert", small_network, out, "--to", "nvlabs-state-dict")
    assert r.exit_code == 0, r.output
    state = torch.load(out, weights_only=True)
    G = sf.Generator.load(small_network)
    ours = G.state_dict()
    assert torch.equal(state["synthesis.b8.conv0.noise_const"], ours["synthesis.b8.conv0.noise.noise_const"])
    assert not any(".noise.noise_const" in k for k in state)
    for res in (4, 8, 16):
        assert torch.allclose(state[f"synthesis.b{res}.resample_filter"].sum(), torch.tensor(1.0))
        assert state[f"synthesis.b{res}.conv1.resample_filter"].shape == (4, 4)
    assert len(state) == len(ours) + 3 + 5  # + one filter per block and per conv layer


def test_mix_grid_layout_and_cells(tmp_path, small_network):
    out = tmp_path / "mix.png"
    r = run("mix", "--network", small_network, "--rows", "1,2", "--cols", "7-9", "--styles", "0-2", "--out", out)
    assert r.exit_code == 0, r.output
    grid = np.asarray(Image.open(out))
    assert grid.shape == (3 * 16, 4 * 16, 3)  # header row + 2 rows, blank corner + 3 columns
    G = sf.Generator.load(small_network)
    with torch.no_grad():
        ws_r = G.mapping(sf.z_from_seeds([1, 2], G.z_dim))
        ws_c = G.mapping(sf.z_from_seeds([7, 8, 9], G.z_dim))
        tile = lambda ws: sf.to_uint8(G.synthesis(ws)).numpy()  # noqa: E731
        cell_2_8 = tile(sf.mix(ws_r[1:2], ws_c[1:2], [0, 1, 2]))[0]
        header_9 = tile(ws_c[2:3])[0]
        row_1 = tile(ws_r[0:1])[0]
    np.testing.assert_array_equal(grid[32:48, 32:48], cell_2_8)  # row seed 2, column seed 8
    np.testing.assert_array_equal(grid[0:16, 48:64], header_9)
    np.testing.assert_array_equal(grid[16:32, 0:16], row_1)
    assert not grid[0:16, 0:16].any()  # blank corner
    r = run("mix", "--network", small_network, "--styles", "0-99", "--out", out)
    assert r.exit_code == 2 and "out of range" in r.output


def test_convert_to_rosinality_matches_rosinality_formulas(tmp_path, small_network):
    from tests.checkpoint_fixtures import rosinality as ros

    out = tmp_path / "ros.pt"
    r = run("convert", small_network, out, "--to", "rosinality")
    assert r.exit_code == 0, r.output
    ckpt = torch.load(out, weights_only=True)
    assert set(ckpt) == {"g_ema", "latent_avg"} and "convs.0.conv.blur.kernel" in ckpt["g_ema"]
    G = sf.Generator.load(small_network)
    z = sf.z_from_seeds([4, 5], G.z_dim)
    with torch.no_grad():
        ours = G(z, truncation_psi=0.5).double()
    expected = ros.reference_forward(ckpt["g_ema"], ckpt["latent_avg"], z, truncation_psi=0.5)
    assert (ours - expected).abs().max() < 1e-4 * max(1.0, expected.abs().max().item())
    back = sf.Generator.load(out)  # and our rosinality reader takes it back
    assert back.source_format == "rosinality"
    assert torch.allclose(back(z, truncation_psi=0.5), ours.float(), atol=1e-5)


def _tiles(strip, size):
    return [strip[:, i * size:(i + 1) * size] for i in range(strip.shape[1] // size)]


def test_child_strip_is_parents_and_both_children(tmp_path, small_network):
    out, saved = tmp_path / "child.png", tmp_path / "kid.npz"
    r = run("child", "--network", small_network, "--parents", "3", "8", "--layers", "0-2", "--trunc", "0.7",
            "--out", out, "--save-w", saved)
    assert r.exit_code == 0, r.output
    strip = np.asarray(Image.open(out))
    assert strip.shape == (16, 4 * 16, 3)
    G = sf.Generator.load(small_network)
    with torch.no_grad():
        ws_a, ws_b = G.mapping(sf.z_from_seeds([3, 8], G.z_dim), truncation_psi=0.7).split(1)
        kid = sf.mix(ws_b, ws_a, [0, 1, 2])
        expected = sf.to_uint8(G.synthesis(torch.cat([ws_a, kid, sf.mix(ws_a, ws_b, [0, 1, 2]), ws_b]))).numpy()
    for got, want in zip(_tiles(strip, 16), expected):
        np.testing.assert_array_equal(got, want)
    assert_close(sf.load_ws(saved, G.num_ws, G.w_dim), kid[0], torch.float32)  # mapped one by one vs batched
    assert not np.array_equal(expected[1], expected[0]) and not np.array_equal(expected[1], expected[3])

    # A saved latent works as a parent: the child of (kid, 8) with kid's layers 0-2 is kid itself.
    r = run("child", "--network", small_network, "--parents", saved, "8", "--layers", "0-2", "--trunc", "0.7",
            "--out", tmp_path / "again.png")
    assert r.exit_code == 0, r.output
    np.testing.assert_array_equal(_tiles(np.asarray(Image.open(tmp_path / "again.png")), 16)[1], expected[1])


@pytest.mark.parametrize("args, message", [
    (["--parents", "3", "photo.png"], "does not exist"),
    (["--parents", "3", "notes.txt"], "neither a seed"),
    (["--parents", "3", "missing.npz"], "does not exist"),
    (["--layers", "0-99"], "out of range"),
    (["--layers", "eyes"], "cannot parse layer selection"),
])
def test_child_errors(tmp_path, small_network, args, message):
    r = run("child", "--network", small_network, "--out", tmp_path / "c.png", *args)
    assert r.exit_code != 0 and message in r.output
    assert not (tmp_path / "c.png").exists()


def test_child_uses_the_demo_model_by_default(tmp_path):
    r = run("child", "--out", tmp_path / "c.png")
    assert r.exit_code == 0 and "built-in demo model" in r.output
    assert np.asarray(Image.open(tmp_path / "c.png")).shape == (64, 4 * 64, 3)


def test_video_gif_frames_follow_the_walk(tmp_path, small_network):
    from stylegan_fast.video import grid_walks

    out = tmp_path / "walk.gif"
    r = run("video", "--network", small_network, "--seeds", "0-5", "--grid", "3x1", "--w-frames", "3",
            "--kind", "linear", "--fps", "10", "--scale", "2", "--layers", "4-5", "--output", out)
    assert r.exit_code == 0, r.output
    G = sf.Generator.load(small_network)
    with torch.no_grad():
        keys = G.mapping(sf.z_from_seeds(range(6), G.z_dim)).reshape(3, 2, G.num_ws, G.w_dim)
        paths = grid_walks(keys, 3, "linear", True, [4, 5])
        expected = sf.to_uint8(G.synthesis(paths.flatten(0, 1))).numpy().reshape(6, 3, 16, 16, 3)
    with Image.open(out) as im:
        assert im.n_frames == 6 and im.size == (3 * 32, 32)  # 2 keyframes x 3 frames, looped; 3 cells, x2
        for t in range(6):
            im.seek(t)
            frame = np.asarray(im.convert("RGB")).astype(int)
            want = np.concatenate(list(expected[t]), axis=1).repeat(2, 0).repeat(2, 1).astype(int)
            assert np.abs(frame - want).mean() < 4  # GIF palettes quantize colours


def test_video_mp4_frame_count_without_loop(tmp_path, small_network):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    out = tmp_path / "walk.mp4"
    r = run("video", "--network", small_network, "--seeds", "0-2", "--w-frames", "4", "--no-loop", "--output", out)
    assert r.exit_code == 0, r.output
    reader = imageio_ffmpeg.read_frames(str(out))
    assert tuple(next(reader)["size"]) == (16, 16)
    assert sum(1 for _ in reader) == 2 * 4 + 1


@pytest.mark.parametrize("args, message", [
    (["--seeds", "0-4", "--grid", "2x1"], "multiple of 2"),
    (["--seeds", "0"], "at least 2"),
    (["--grid", "2by2"], "COLSxROWS"),
    (["--output", "walk.avi"], ".mp4 or .gif"),
    (["--layers", "nose"], "cannot parse layer selection"),
])
def test_video_errors(tmp_path, small_network, args, message):
    r = run("video", "--network", small_network, "--output", tmp_path / "w.mp4", *args)
    assert r.exit_code == 2 and message in r.output, r.output
    assert not list(tmp_path.iterdir())


def test_render_projected_w_file(tmp_path, small_network):
    G = sf.Generator.load(small_network)
    with torch.no_grad():
        ws = G.mapping(sf.z_from_seeds([4, 9, 11], G.z_dim), truncation_psi=0.6)
        expected = sf.to_uint8(G.synthesis(ws)).numpy()
    np.savez(tmp_path / "projected_w.npz", w=ws.numpy())  # NVlabs' projector layout, three ws
    r = run("render", "--network", small_network, "--projected-w", tmp_path / "projected_w.npz",
            "--outdir", tmp_path / "out", "--batch-size", "2")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["proj00.png", "proj01.png", "proj02.png"]
    for i in range(3):
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / f"proj{i:02d}.png")), expected[i])
    np.save(tmp_path / "bad.npy", np.zeros([3, 5, 7], np.float32))
    r = run("render", "--network", small_network, "--projected-w", tmp_path / "bad.npy", "--outdir", tmp_path / "o2")
    assert r.exit_code == 1 and "[N, 6, 16]" in r.output and not (tmp_path / "o2").exists()


@pytest.fixture
def blocker(tmp_path):
    """An existing file: a path below it cannot be written, not even by root."""
    path = tmp_path / "a_file"
    path.write_text("not a folder")
    return path


@pytest.mark.parametrize("make_args, option", [
    (lambda net, bad: ["render", "--network", net, "--seeds", "0", "--outdir", bad], "--outdir"),
    (lambda net, bad: ["render", "--network", net, "--seeds", "0", "--no-images", "--grid", bad / "g.png"], "--grid"),
    (lambda net, bad: ["mix", "--network", net, "--rows", "1", "--cols", "2", "--out", bad / "m.png"], "--out"),
    (lambda net, bad: ["child", "--network", net, "--out", bad / "c.png"], "--out"),
    (lambda net, bad: ["video", "--network", net, "--seeds", "0-1", "--output", bad / "w.gif"], "--output"),
    (lambda net, bad: ["convert", net, bad / "copy.safetensors"], "OUT"),
])
def test_unwritable_output_is_a_clean_error(tmp_path, small_network, blocker, make_args, option):
    bad = blocker / "sub"
    r = run(*make_args(small_network, bad))  # catch_exceptions=False: a traceback would fail the test
    assert r.exit_code == 1, r.output
    assert f"cannot write {option} {bad}" in r.output and f"{blocker} is a file, not a folder" in r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]  # nothing written, no probe left


def test_child_unwritable_save_w_fails_before_writing_the_strip(tmp_path, small_network, blocker):
    r = run("child", "--network", small_network, "--out", tmp_path / "c.png", "--save-w", blocker / "kid.npz")
    assert r.exit_code == 1 and f"cannot write --save-w {blocker / 'kid.npz'}" in r.output
    assert not (tmp_path / "c.png").exists()


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
def test_render_outdir_under_proc(small_network):
    r = run("render", "--network", small_network, "--seeds", "0", "--outdir", "/proc/nope")
    assert r.exit_code == 1 and "cannot write --outdir /proc/nope: /proc is not writable (" in r.output


@pytest.mark.parametrize("workers", ["encode between batches", "encode beside the generator"])
def test_render_error_while_saving_names_the_file(tmp_path, small_network, monkeypatch, workers):
    from stylegan_fast import fileio, pipeline

    class DiskFull:  # every write of a file fails as on a full disk
        def __init__(self, fd, *args, **kwargs):
            os.close(fd)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(fileio, "open", DiskFull, raising=False)
    if workers == "encode beside the generator":
        monkeypatch.setattr(pipeline, "encoders_share_the_generators_cores", lambda device: False)
    r = run("render", "--network", small_network, "--seeds", "3", "--outdir", tmp_path)
    assert r.exit_code == 1
    assert f"cannot write --outdir {tmp_path / 'seed0003.png'}: {os.strerror(errno.ENOSPC)}" in r.output
    assert os.listdir(tmp_path) == []  # no partial file left


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_bench_help_shows_the_bench_options(flag):
    r = run("bench", flag)
    assert r.exit_code == 0, r.output
    assert "usage: stylegan-fast bench" in r.output
    for option in ("--arch", "--backend", "--dtype", "--quick", "--json", "--channel-base"):
        assert option in r.output


@pytest.fixture(scope="module")
def noisy_network(tmp_path_factory):
    from tests.conftest import build

    path = tmp_path_factory.mktemp("net") / "noisy.safetensors"
    build("stylegan2", 16).save(path)  # nonzero noise strengths: the noise shows in the images
    return path


def test_render_random_noise_comes_from_each_seed(tmp_path, noisy_network):
    def rendered(seeds, outdir, noise_mode="random", batch_size=8):
        r = run("render", "--network", noisy_network, "--seeds", seeds, "--noise-mode", noise_mode,
                "--batch-size", batch_size, "--outdir", tmp_path / outdir)
        assert r.exit_code == 0, r.output
        return np.asarray(Image.open(tmp_path / outdir / "seed0005.png"))

    alone, in_batch = rendered("5", "alone"), rendered("3,5,8", "batch")
    assert np.array_equal(rendered("5", "again"), alone)  # reproducible
    assert not np.array_equal(rendered("5", "const", "const"), alone)  # the noise matters
    G = sf.Generator.load(noisy_network)
    with torch.no_grad():
        expected = sf.to_uint8(G(sf.z_from_seeds([5], G.z_dim), noise_mode="random", noise_seeds=[5])).numpy()[0]
        batch = sf.to_uint8(G(sf.z_from_seeds([3, 5, 8], G.z_dim), noise_mode="random",
                              noise_seeds=[3, 5, 8])).numpy()[1]
    np.testing.assert_array_equal(alone, expected)
    np.testing.assert_array_equal(in_batch, batch)
    assert np.abs(alone.astype(int) - in_batch).max() <= 1  # same noise; only float rounding differs


def test_render_projected_w_random_noise_seeded_by_index(tmp_path, noisy_network):
    G = sf.Generator.load(noisy_network)
    with torch.no_grad():
        ws = G.mapping(sf.z_from_seeds([4, 9], G.z_dim))
        expected = sf.to_uint8(G.synthesis(ws, noise_mode="random", noise_seeds=[0, 1])).numpy()
    np.save(tmp_path / "ws.npy", ws.numpy())
    r = run("render", "--network", noisy_network, "--projected-w", tmp_path / "ws.npy", "--noise-mode", "random",
            "--outdir", tmp_path / "out")
    assert r.exit_code == 0, r.output
    for i in range(2):
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / f"proj{i:02d}.png")), expected[i])
