"""The render pipeline: files equal to the generator's images, batch independence, resume, OOM, errors."""
import json
import os
import re
import threading
import time

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import stylegan_fast as sf
from stylegan_fast import pipeline
from stylegan_fast.backends import backend_status
from stylegan_fast.cli import main
from tests.conftest import build

SEEDS = [0, 3, 7, 11, 12]
PSI = 0.7
needs_cpu_backend = pytest.mark.skipif(not backend_status("cpu", "cpu")[0], reason="the cpu backend is not built")


@pytest.fixture(scope="module")
def G():
    return build("stylegan2", 16)  # nonzero noise strengths: random noise shows in the images


def direct(G, seeds, noise_mode="const", c=None):
    """The images and ws straight from the generator, all seeds in one call (an independent path)."""
    z = sf.z_from_seeds(seeds, G.z_dim)
    with torch.no_grad():
        images = G(z, c, truncation_psi=PSI, noise_mode=noise_mode, noise_seeds=seeds)
        ws = G.mapping(z, c, truncation_psi=PSI)
    return sf.to_uint8(images).numpy(), ws.numpy()


def read(path):
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as f:
            return f["img"]
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


@pytest.fixture(scope="module")
def demo():
    return sf.default_model()


@pytest.mark.parametrize("fmt", pipeline.FORMATS)
def test_files_are_the_generators_images(tmp_path, G, demo, fmt):
    if fmt in ("jpg", "webp"):
        G = demo  # lossy codecs are made for smooth images, not the tiny model's colour noise
    expected, ws = direct(G, SEEDS)
    s = pipeline.render_seeds(G, SEEDS, tmp_path, batch_size=len(SEEDS), format=fmt, truncation_psi=PSI)
    assert (s.total, s.rendered, s.skipped) == (5, 5, 0)
    names = [f"seed{seed:04d}.{fmt}" for seed in SEEDS]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)  # no temporary files left
    assert [p.name for p in s.files] == names
    for i, name in enumerate(names):
        got = read(tmp_path / name)
        assert got.shape == expected[i].shape and got.dtype == np.uint8
        if fmt in ("png", "npz"):
            np.testing.assert_array_equal(got, expected[i])
        else:  # lossy: close to this seed's image, far from every other seed's
            err = np.abs(got.astype(int) - expected[i]).mean()
            others = min(np.abs(got.astype(int) - expected[j]).mean() for j in range(len(SEEDS)) if j != i)
            assert err < 4 and err < others / 10, (err, others)
    if fmt == "png":
        with Image.open(tmp_path / names[0]) as im:
            assert im.format == "PNG"
    if fmt == "npz":
        for i, name in enumerate(names):
            with np.load(tmp_path / name, allow_pickle=False) as f:
                assert sorted(f.files) == ["img", "w"]
                np.testing.assert_array_equal(f["w"], ws[i][None])  # NVlabs projected_w layout [1, num_ws, w_dim]
                # and the ws file renders the same image again
                w = sf.latents.load_ws(tmp_path / name, G.num_ws, G.w_dim)
        with torch.no_grad():
            again = sf.to_uint8(G.synthesis(w[None])).numpy()[0]
        np.testing.assert_array_equal(again, expected[-1])


@needs_cpu_backend
@pytest.mark.parametrize("noise_mode", ["const", "random"])
def test_files_do_not_depend_on_the_batch_size(tmp_path, G, noise_mode):
    G.backend = "cpu"
    try:
        seeds = list(range(7))
        files = {}
        for batch in (1, 3, 8):
            out = tmp_path / str(batch)
            pipeline.render_seeds(G, seeds, out, batch_size=batch, noise_mode=noise_mode)
            files[batch] = [(out / f"seed{s:04d}.png").read_bytes() for s in seeds]
        assert files[1] == files[3] == files[8]
        const = tmp_path / "const"
        pipeline.render_seeds(G, seeds[:1], const, noise_mode="const")
        assert ((const / "seed0000.png").read_bytes() == files[1][0]) == (noise_mode == "const")
    finally:
        G.backend = "auto"


def test_reference_backend_batches_within_one_level(tmp_path, G):
    """torch's convolutions choose their algorithm by batch size: at most one uint8 level apart."""
    G.backend = "reference"
    try:
        seeds = list(range(6))
        for batch in (1, 6):
            pipeline.render_seeds(G, seeds, tmp_path / str(batch), batch_size=batch, noise_mode="random")
        for s in seeds:
            a, b = (read(tmp_path / str(batch) / f"seed{s:04d}.png").astype(int) for batch in (1, 6))
            assert np.abs(a - b).max() <= 1
    finally:
        G.backend = "auto"


def test_resume_skips_existing_files_and_renders_the_rest(tmp_path, G):
    marker = b"not rewritten"
    (tmp_path / "seed0003.png").write_bytes(marker)
    before = (tmp_path / "seed0003.png").stat()
    s = pipeline.render_seeds(G, SEEDS, tmp_path, batch_size=2, resume=True, truncation_psi=PSI)
    assert (s.rendered, s.skipped, s.total) == (4, 1, 5)
    after = (tmp_path / "seed0003.png").stat()
    assert (tmp_path / "seed0003.png").read_bytes() == marker
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    expected, _ = direct(G, SEEDS)
    for i, seed in enumerate(SEEDS):
        if seed != 3:
            np.testing.assert_array_equal(read(tmp_path / f"seed{seed:04d}.png"), expected[i])
    s = pipeline.render_seeds(G, SEEDS, tmp_path, resume=True)
    assert (s.rendered, s.skipped) == (0, 5)  # all there: nothing to do
    s = pipeline.render_seeds(G, SEEDS, tmp_path, truncation_psi=PSI)  # without resume: everything rewritten
    assert s.rendered == 5 and (tmp_path / "seed0003.png").read_bytes() != marker


@pytest.mark.parametrize("error", [
    lambda: torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    lambda: RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: "
                         "you tried to allocate 1099511627776 bytes. Error code 12 (Cannot allocate memory)"),
])
def test_out_of_memory_halves_the_batch(tmp_path, G, error):
    real = pipeline.seeds_generator(G, SEEDS, truncation_psi=PSI)
    sizes = []

    def generate(indices):
        sizes.append(len(indices))
        if len(indices) > 2:
            raise error()
        return real(indices)

    notes = []
    s = pipeline.run_pipeline(generate, pipeline.seed_stems(SEEDS), tmp_path, batch_size=5, log=notes.append)
    assert sizes == [5, 2, 2, 1]  # 5 fails; halved to 2 and kept there
    assert s.rendered == 5 and s.batch_size == 2 and s.halvings == 1
    assert notes == ["note: out of memory at batch size 5; retrying with batch size 2"]
    expected, _ = direct(G, SEEDS)
    for i, seed in enumerate(SEEDS):
        got = read(tmp_path / f"seed{seed:04d}.png").astype(int)
        assert np.abs(got - expected[i]).max() <= 1  # other batch sizes: within one level (see above)


def test_out_of_memory_at_batch_one_fails_clearly(tmp_path, G, capsys):
    def generate(indices):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    with pytest.raises(pipeline.RenderError, match="out of memory at batch size 1"):
        pipeline.run_pipeline(generate, pipeline.seed_stems(SEEDS), tmp_path, batch_size=4)
    err = capsys.readouterr().err  # the default log: stderr
    assert "out of memory at batch size 4; retrying with batch size 2" in err
    assert "out of memory at batch size 2; retrying with batch size 1" in err
    assert not list(tmp_path.iterdir())


def test_other_errors_are_not_taken_for_out_of_memory(tmp_path):
    def generate(indices):
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        pipeline.run_pipeline(generate, ["a", "b"], tmp_path, batch_size=2)
    assert not pipeline.is_out_of_memory(ValueError("out of memory"))


def test_an_unwritable_target_fails_clearly_and_leaves_no_partial_files(tmp_path, G):
    (tmp_path / "seed0007.png").mkdir()  # the file cannot replace a folder
    with pytest.raises(pipeline.OutputError) as info:
        pipeline.render_seeds(G, SEEDS, tmp_path, batch_size=2, workers=2)
    assert info.value.path == tmp_path / "seed0007.png" and "cannot write" in str(info.value)
    names = {p.name for p in tmp_path.iterdir()}
    assert "seed0007.png" in names and not any(n.startswith(".") or "partial" in n for n in names)
    for name in names - {"seed0007.png"}:
        assert read(tmp_path / name).shape == (16, 16, 3)  # what was written is complete


def test_the_generator_runs_ahead_of_the_encoders_up_to_the_bound(tmp_path, G, monkeypatch):
    """Encoding stalls: the generator goes on until max_pending images wait, then waits too."""
    go = threading.Event()
    real_encode = pipeline.encode

    def stalled(*args, **kwargs):
        go.wait(30)
        real_encode(*args, **kwargs)

    monkeypatch.setattr(pipeline, "encode", stalled)
    seeds = list(range(10))
    real = pipeline.seeds_generator(G, seeds)
    calls = []

    def generate(indices):
        calls.append(indices)
        return real(indices)

    done = []
    thread = threading.Thread(target=lambda: done.append(pipeline.run_pipeline(
        generate, pipeline.seed_stems(seeds), tmp_path, batch_size=2, workers=1, max_pending=4, overlap=True)))
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while len(calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)
        # 4 slots: batches 1 and 2 hold them; batch 3 is generated and waits for a slot
        assert len(calls) == 3 and not done and not list(tmp_path.glob("*.png"))
    finally:
        go.set()
        thread.join(60)
    assert done and done[0].rendered == 10 and len(calls) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"seed{s:04d}.png" for s in seeds]


def test_class_conditional_and_ws_generators(tmp_path):
    Gc = build("stylegan2", 8, c_dim=3, channel_base=64)
    c = torch.zeros([1, 3])
    c[0, 2] = 1
    expected, ws = direct(Gc, [1, 2], c=c.expand(2, -1))
    pipeline.render_seeds(Gc, [1, 2], tmp_path / "c", c=c, truncation_psi=PSI, batch_size=1)
    for i, seed in enumerate([1, 2]):
        np.testing.assert_array_equal(read(tmp_path / "c" / f"seed{seed:04d}.png"), expected[i])
    generate = pipeline.ws_generator(Gc, torch.from_numpy(ws))
    pipeline.run_pipeline(generate, ["proj00", "proj01"], tmp_path / "w", batch_size=2)
    np.testing.assert_array_equal(read(tmp_path / "w" / "proj01.png"), expected[1])


def test_no_write_mode_hands_the_images_over_in_order(tmp_path, G):
    got = []
    s = pipeline.run_pipeline(pipeline.seeds_generator(G, SEEDS, truncation_psi=PSI), pipeline.seed_stems(SEEDS),
                              tmp_path / "none", batch_size=2, write=False,
                              on_images=lambda idx, ims: got.extend(zip(idx, ims)))
    assert s.rendered == 5 and not (tmp_path / "none").exists()
    assert [i for i, _ in got] == list(range(5))
    np.testing.assert_array_equal(np.stack([im for _, im in got]), direct(G, SEEDS)[0])


def test_bad_arguments(tmp_path, G):
    with pytest.raises(ValueError, match="unknown format 'gif'; choose from png, jpg, webp, npz"):
        pipeline.render_seeds(G, [0], tmp_path, format="gif")
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        pipeline.render_seeds(G, [0], tmp_path, batch_size=0)


# ---- the command line ----

@pytest.fixture(scope="module")
def network(tmp_path_factory, G):
    path = tmp_path_factory.mktemp("net") / "tiny.safetensors"
    G.save(path)
    return path


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_cli_formats_resume_and_workers(tmp_path, network, G):
    r = run("render", "--network", network, "--seeds", "0-3", "--format", "npz", "--workers", "2",
            "--trunc", PSI, "--outdir", tmp_path)
    assert r.exit_code == 0, r.output
    assert "rendered 4 images" in r.output and "seedNNNN.npz" in r.output
    expected, _ = direct(G, [0, 1, 2, 3])
    for s in range(4):
        np.testing.assert_array_equal(read(tmp_path / f"seed{s:04d}.npz"), expected[s])
    (tmp_path / "seed0001.npz").unlink()
    r = run("render", "--network", network, "--seeds", "0-3", "--format", "npz", "--resume", "--outdir", tmp_path)
    assert r.exit_code == 0, r.output
    assert "rendered 1 images (3 already there, skipped)" in r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"seed{s:04d}.npz" for s in range(4)]


def test_cli_unwritable_file_is_a_clean_error(tmp_path, network):
    (tmp_path / "seed0002.webp").mkdir()
    r = run("render", "--network", network, "--seeds", "0-3", "--format", "webp", "--outdir", tmp_path)
    assert r.exit_code == 1 and f"cannot write --outdir {tmp_path / 'seed0002.webp'}:" in r.output


def test_cli_resume_with_grid_is_refused(tmp_path, network):
    r = run("render", "--network", network, "--resume", "--grid", tmp_path / "g.png", "--outdir", tmp_path / "o")
    assert r.exit_code == 1 and "--resume renders only the missing files" in r.output
    assert not list(tmp_path.iterdir())


def test_cli_help_has_the_new_options():
    r = run("render", "--help")
    for text in ("--format", "--resume", "--workers", "--png-compression", "npz", "torchrun", "partial"):
        assert text in r.output


# ---- bench --end-to-end ----

def test_bench_end_to_end_reports_both_figures(tmp_path, network, capsys, monkeypatch):
    from stylegan_fast.bench import main as bench_main

    (tmp_path / "tmp").mkdir()
    status = bench_main(["--end-to-end", "--quick", "--network", str(network), "--backend", "reference,cuda",
                         "--images", "6", "--batch", "3", "--json", str(tmp_path / "e2e.json"),
                         "--outdir", str(tmp_path / "tmp")])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "generator img/s" in out and "end-to-end (png) img/s" in out and "e2e/gen" in out
    assert re.search(r"reference +\| +3 \| fp32 +\| +6 \| +[0-9.]+ \| +[0-9.]+ \| +\d+% \|", out), out
    rows = json.loads((tmp_path / "e2e.json").read_text())["end_to_end"]
    ref = [r for r in rows if r["backend"] == "reference"][0]
    assert ref["status"] == "ok" and ref["images"] == 6 and ref["batch"] == 3
    assert ref["generator_img_per_s"] > 0 and ref["end_to_end_img_per_s"] > 0
    # one round (--quick): the round's ratio is the ratio of the two figures
    assert ref["ratio"] == pytest.approx(ref["end_to_end_img_per_s"] / ref["generator_img_per_s"])
    assert len(ref["end_to_end_cpu_s"]) == 1 and ref["encode_cpu_ms"] is not None
    cuda = [r for r in rows if r["backend"] == "cuda"][0]
    if not torch.cuda.is_available():
        assert cuda["status"] == "unavailable" and cuda["reason"]
    assert not list((tmp_path / "tmp").iterdir())  # the rendered files are gone


def test_bench_end_to_end_refuses_generator_options(capsys):
    from stylegan_fast.bench import main as bench_main

    with pytest.raises(SystemExit):
        bench_main(["--end-to-end", "--arch", "stylegan1"])
    assert "--arch does not apply" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench_main(["--outdir", "x"])
    assert "--outdir go with --end-to-end" in capsys.readouterr().err


def test_an_asynchronous_device_keeps_one_batch_in_flight(tmp_path, G, monkeypatch):
    """As on CUDA: batch k+1 is launched before the copy of batch k is waited for; files as usual."""
    events = []

    class FakeEvent:
        def __init__(self, n):
            self.n = n

        def synchronize(self):
            events.append(("wait", self.n))

    class AsyncHostBatch(pipeline._HostBatch):
        def __init__(self, images, ws):
            super().__init__(images, ws)
            self.event = FakeEvent(len([e for e in events if e[0] == "generate"]) - 1)

    monkeypatch.setattr(pipeline, "_HostBatch", AsyncHostBatch)
    real = pipeline.seeds_generator(G, SEEDS, truncation_psi=PSI)

    def generate(indices):
        events.append(("generate", indices[0] // 2))
        return real(indices)

    pipeline.run_pipeline(generate, pipeline.seed_stems(SEEDS), tmp_path, batch_size=2)
    assert events == [("generate", 0), ("generate", 1), ("wait", 0), ("generate", 2), ("wait", 1), ("wait", 2)]
    expected, _ = direct(G, SEEDS)
    for i, seed in enumerate(SEEDS):
        assert np.abs(read(tmp_path / f"seed{seed:04d}.png").astype(int) - expected[i]).max() <= 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_pinned_copies_give_the_devices_images(tmp_path):
    Gd = build("stylegan2", 16).to("cuda")
    s = pipeline.render_seeds(Gd, SEEDS, tmp_path, batch_size=2, format="npz", truncation_psi=PSI)
    assert s.rendered == 5
    z = sf.z_from_seeds(SEEDS, Gd.z_dim).cuda()
    with torch.no_grad():
        for i, seed in enumerate(SEEDS):
            ws = Gd.mapping(z[i:i + 1], truncation_psi=PSI)
            img = sf.to_uint8(Gd.synthesis(ws)).cpu().numpy()[0]
            with np.load(tmp_path / f"seed{seed:04d}.npz") as f:
                assert np.abs(f["img"].astype(int) - img).max() <= 1
                np.testing.assert_allclose(f["w"][0], ws[0].cpu().numpy(), rtol=1e-5, atol=1e-6)


def test_bench_end_to_end_on_a_class_conditional_model(tmp_path, monkeypatch):
    import tempfile

    from stylegan_fast.bench import bench_end_to_end

    (tmp_path / "cwd").mkdir()
    (tmp_path / "system").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "system"))
    monkeypatch.chdir(tmp_path / "cwd")  # the files go to a temporary folder here, as render's would
    seen = []
    real = pipeline.run_pipeline
    monkeypatch.setattr(pipeline, "run_pipeline", lambda g, s, outdir, **k: (seen.append(outdir), real(g, s, outdir, **k))[1])
    Gc = build("stylegan2", 8, c_dim=3, channel_base=64)
    rows = bench_end_to_end(Gc, ["reference"], torch.device("cpu"), batch=2, dtype_name="fp32", images=4,
                            warmup=0, repeats=1, log=lambda _: None)
    assert rows[0].status == "ok", rows[0].reason
    assert len(rows[0].generator_times_s) == len(rows[0].end_to_end_times_s) == 1
    assert seen and all(os.path.dirname(os.path.dirname(d)) == str(tmp_path / "cwd") for d in seen)
    assert not list((tmp_path / "cwd").iterdir()) and not list((tmp_path / "system").iterdir())


@pytest.mark.parametrize("overlap", [None, True, False])
def test_png_compression_changes_the_size_not_the_pixels(tmp_path, G, overlap):
    expected, _ = direct(G, SEEDS)
    sizes = {}
    for compression in ("rle", 0, 6, "9"):
        out = tmp_path / str(compression)
        pipeline.render_seeds(G, SEEDS, out, batch_size=2, truncation_psi=PSI, png_compression=compression,
                              overlap=overlap)
        sizes[compression] = sum((out / f"seed{s:04d}.png").stat().st_size for s in SEEDS)
        for i, s in enumerate(SEEDS):
            np.testing.assert_array_equal(read(out / f"seed{s:04d}.png"), expected[i])
    assert sizes[0] > sizes["rle"] and sizes[0] > sizes[6]  # level 0 stores, the others compress
    for bad in (10, -1, "fast", None, True):
        with pytest.raises(ValueError, match="PNG compression must be 'rle' .* or a zlib level 0-9"):
            pipeline.render_seeds(G, SEEDS, tmp_path / "bad", png_compression=bad)
    assert not (tmp_path / "bad").exists()


def test_encoders_share_the_cores_only_of_a_cpu_generator_with_every_core(monkeypatch):
    monkeypatch.setattr(pipeline, "usable_cpu_count", lambda: 4)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 4)
    assert pipeline.encoders_share_the_generators_cores(torch.device("cpu"))
    assert not pipeline.encoders_share_the_generators_cores(torch.device("cuda", 0))
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert not pipeline.encoders_share_the_generators_cores(torch.device("cpu"))


@pytest.mark.parametrize("fmt", ["png", "jpg"])
@pytest.mark.parametrize("cores, waits", [(1, True), (64, False)])
def test_on_a_busy_cpu_each_batch_is_written_before_the_next_is_generated(tmp_path, G, monkeypatch, fmt, cores,
                                                                           waits):
    """overlap=None: with torch's threads on every core, a batch's files exist before the next batch starts;
    with spare cores the encoders run beside the generator (here: stalled, so nothing is written yet)."""
    monkeypatch.setattr(pipeline, "usable_cpu_count", lambda: cores)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1 if cores == 64 else cores)
    go = threading.Event()
    if not waits:
        real_encode = pipeline.encode
        monkeypatch.setattr(pipeline, "encode", lambda *a, **k: (go.wait(30), real_encode(*a, **k)))
    seeds = list(range(7))
    real = pipeline.seeds_generator(G, seeds, truncation_psi=PSI)
    seen = []

    def generate(indices):
        seen.append(len(list(tmp_path.glob(f"*.{fmt}"))))
        if len(seen) == 3:
            go.set()
        return real(indices)

    s = pipeline.run_pipeline(generate, pipeline.seed_stems(seeds), tmp_path, batch_size=3, format=fmt)
    assert s.rendered == 7 and len(list(tmp_path.glob(f"*.{fmt}"))) == 7
    assert seen == ([0, 3, 6] if waits else [0, 0, 0])


def test_on_a_busy_cpu_a_batch_larger_than_max_pending_and_a_failing_encoder(tmp_path, G, monkeypatch):
    monkeypatch.setattr(pipeline, "usable_cpu_count", lambda: 1)  # torch's threads fill every core
    done = []
    thread = threading.Thread(target=lambda: done.append(pipeline.render_seeds(
        G, SEEDS, tmp_path / "a", batch_size=5, workers=1, max_pending=2, truncation_psi=PSI)))
    thread.start()
    thread.join(60)
    assert done and done[0].rendered == 5
    expected, _ = direct(G, SEEDS)
    for i, s in enumerate(SEEDS):
        np.testing.assert_array_equal(read(tmp_path / "a" / f"seed{s:04d}.png"), expected[i])

    def broken(*args, **kwargs):
        raise RuntimeError("png_encode: zlib deflate failed")

    if sf.images.native_png_encoder() is not None:  # the batch path is only taken with the native encoder
        monkeypatch.setattr(sf.images, "encode_png_batch", broken)
        with pytest.raises(pipeline.OutputError, match="cannot write .*seed0000.png: RuntimeError: png_encode"):
            pipeline.render_seeds(G, SEEDS, tmp_path / "b", batch_size=5)
        assert not list((tmp_path / "b").iterdir())
