"""stylegan-fast serve: the API through Starlette's test client, the batcher on its own, and a real uvicorn
server on 127.0.0.1 answering 64 concurrent requests from 16 clients.

Every image is checked against the generator called directly in the test (z_from_seeds, G(...),
G.synthesis), so the server's batching, mixing and encoding are checked against an independent path.
"""
import asyncio
import io
import json
import socket
import threading
import time
import zipfile

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import stylegan_fast as sf
from stylegan_fast.directions import Directions, move, save_directions, unit_rows
from stylegan_fast.serve import create_app
from stylegan_fast.serve.batcher import Batcher, Job, Seed
from tests.conftest import build

pytest.importorskip("httpx")  # Starlette's TestClient and the real-server clients
from starlette.testclient import TestClient  # noqa: E402


# ---- helpers ----
def decode(content: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(content)).convert("RGB"))


def rendered(G, seeds, psi=1.0, noise_mode="const", noise_seeds=None):
    """uint8 [N, H, W, 3]: each seed rendered alone, straight through the generator."""
    out = []
    with torch.inference_mode():
        for i, s in enumerate(seeds):
            z = sf.z_from_seeds([s], G.z_dim)
            ns = [s] if noise_seeds is None else [noise_seeds[i]]
            out.append(sf.to_uint8(G(z, truncation_psi=psi, noise_mode=noise_mode, noise_seeds=ns)).numpy())
    return np.concatenate(out)


def synthesized(G, ws, noise_mode="const", noise_seeds=None):
    with torch.inference_mode():
        return sf.to_uint8(G.synthesis(ws, noise_mode=noise_mode, noise_seeds=noise_seeds)).numpy()


def mapped(G, seeds, psi=1.0):
    with torch.inference_mode():
        return G.mapping(sf.z_from_seeds(seeds, G.z_dim), truncation_psi=psi)


@pytest.fixture(scope="module")
def G():
    return build("stylegan2", 16)


@pytest.fixture(scope="module")
def directions_file(tmp_path_factory, G):
    gen = torch.Generator().manual_seed(3)
    vectors = unit_rows(torch.randn(2, G.w_dim, generator=gen))
    layers = torch.zeros(2, G.num_ws, dtype=torch.bool)
    layers[0] = True
    layers[1, :2] = True
    path = tmp_path_factory.mktemp("dirs") / "dirs.npz"
    save_directions(path, Directions(vectors, ["smile", "beard"], layers))
    return path


@pytest.fixture(scope="module")
def client(G, directions_file):
    app = create_app(G, directions=[directions_file], max_batch=8, max_wait_ms=2, max_latents=16,
                     projector="default", project_steps=3)
    with TestClient(app) as c:
        yield c


# ---- the endpoints ----
def test_info_describes_the_model(client, G):
    info = client.get("/v1/info").json()
    assert (info["arch"], info["resolution"], info["num_ws"], info["w_dim"]) == ("stylegan2", 16, G.num_ws, G.w_dim)
    assert info["layer_groups"] == G.layer_groups
    assert info["backend"] == G.backend and info["ops"]  # the warm-up render filled the dispatch table
    assert [d["name"] for d in info["directions"]] == ["smile", "beard"]
    assert info["directions"][1]["rows"] == [0, 1] and info["directions"][0]["std"] > 0
    assert info["limits"]["max_latents"] == 16 and info["limits"]["max_batch"] == 8


def test_studio_page_and_static_files(client):
    page = client.get("/")
    assert page.status_code == 200 and "studio.js" in page.text
    js = client.get("/static/studio.js")
    assert js.status_code == 200 and "/v1/child" in js.text
    assert client.get("/static/studio.css").status_code == 200


@pytest.mark.parametrize("noise_mode", ["const", "random", "none"])
def test_render_one_seed_is_the_generators_image(client, G, noise_mode):
    r = client.post("/v1/render", json={"seeds": [5], "truncation_psi": 0.6, "noise_mode": noise_mode})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert float(r.headers["X-Render-Ms"]) > 0
    np.testing.assert_array_equal(decode(r.content), rendered(G, [5], 0.6, noise_mode)[0])


def test_render_several_as_grid_and_zip(client, G):
    want = rendered(G, [0, 1, 2, 3, 4])
    grid = decode(client.post("/v1/render", json={"seeds": "0-4", "cols": 5}).content)
    np.testing.assert_array_equal(grid, np.concatenate(list(want), axis=1))  # one row of 5
    r = client.post("/v1/render", json={"seeds": [0, 1, 2, 3, 4], "pack": "zip"})
    assert r.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        names = sorted(z.namelist())
        assert len(names) == 5
        for i, name in enumerate(names):
            np.testing.assert_array_equal(decode(z.read(name)), want[i])


def test_render_ws_w_and_npz(client, G):
    ws = mapped(G, [8, 9], psi=0.7)
    r = client.post("/v1/render", json={"seeds": [8, 9], "truncation_psi": 0.7, "format": "npz"})
    with np.load(io.BytesIO(r.content), allow_pickle=False) as f:
        assert f["w"].shape == (2, G.num_ws, G.w_dim)  # NVlabs' projected_w layout, [N, num_ws, w_dim]
        np.testing.assert_array_equal(f["w"], ws.numpy())
    got = decode(client.post("/v1/render", json={"ws": ws[0].tolist()}).content)
    np.testing.assert_array_equal(got, synthesized(G, ws[:1])[0])
    w = ws[1, 0]
    got = decode(client.post("/v1/render", json={"w": w.tolist()}).content)
    np.testing.assert_array_equal(got, synthesized(G, w.expand(1, G.num_ws, -1))[0])
    # random noise of ws requests: the given noise seeds, else the index in the request
    r = client.post("/v1/render", json={"ws": ws.tolist(), "noise_mode": "random", "noise_seeds": [11, 12],
                                        "pack": "zip"})
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        got = np.stack([decode(z.read(n)) for n in sorted(z.namelist())])
    np.testing.assert_array_equal(got, synthesized(G, ws, "random", [11, 12]))


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_render_other_formats(client, G, fmt):
    r = client.post("/v1/render", json={"seeds": 1, "format": fmt})
    assert r.status_code == 200 and r.headers["content-type"] == f"image/{fmt}"
    img = Image.open(io.BytesIO(r.content))
    assert img.format == fmt.upper() and img.size == (16, 16)
    buf = io.BytesIO()  # lossy: the seed's image through the same encoder, quality and (JPEG) 4:4:4 chroma
    options = {"subsampling": 0} if fmt == "jpeg" else {}
    Image.fromarray(rendered(G, [1])[0]).save(buf, format=fmt.upper(), quality=92, **options)
    np.testing.assert_array_equal(np.asarray(img.convert("RGB")), decode(buf.getvalue()))


def test_child_takes_each_group_from_the_chosen_parent(client, G):
    a, b = mapped(G, [3]), mapped(G, [4])
    groups = G.layer_groups
    r = client.post("/v1/child", json={"a": 3, "b": {"seed": 4},
                                       "groups": {"coarse": "b", "medium": "a", "fine": "b"}, "format": "npz"})
    with np.load(io.BytesIO(r.content)) as f:
        kid = torch.from_numpy(f["w"])
    expect = sf.mix(a, b, groups["coarse"] + groups["fine"])  # A's ws with B's coarse and fine rows
    assert torch.equal(kid, expect)
    r = client.post("/v1/child", json={"a": 3, "b": 4, "groups": {"coarse": "b", "fine": "b"}})
    np.testing.assert_array_equal(decode(r.content), synthesized(G, expect)[0])
    # all from A: exactly parent A's image
    r = client.post("/v1/child", json={"a": 3, "b": 4, "groups": {"coarse": "a", "medium": "a", "fine": "a"}})
    np.testing.assert_array_equal(decode(r.content), rendered(G, [3])[0])


def test_child_blends_and_row_overrides(client, G):
    a, b = mapped(G, [3])[0], mapped(G, [4])[0]
    body = {"a": {"seed": 3}, "b": {"ws": b.tolist()}, "groups": {"medium": 0.25, "fine": "b"},
            "rows": {"0": 0.5, str(G.num_ws - 1): "a"}, "format": "npz"}
    with np.load(io.BytesIO(client.post("/v1/child", json=body).content)) as f:
        kid = torch.from_numpy(f["w"][0])
    t = torch.zeros(G.num_ws)
    t[G.layer_groups["medium"]] = 0.25
    t[G.layer_groups["fine"]] = 1
    t[0], t[G.num_ws - 1] = 0.5, 0
    expect = a + t[:, None] * (b - a)  # (1 - t) a + t b, written out
    torch.testing.assert_close(kid, expect, rtol=0, atol=1e-6)
    for row in range(G.num_ws):  # the pure rows are bit-exact copies of a parent
        if t[row] == 0:
            assert torch.equal(kid[row], a[row])
        if t[row] == 1:
            assert torch.equal(kid[row], b[row])


def test_child_family_strip_and_edits(client, G, directions_file):
    a, b = mapped(G, [3]), mapped(G, [4])
    children = [{"groups": {"coarse": x, "medium": y, "fine": "a"}} for x in "ab" for y in "ab"]
    r = client.post("/v1/child", json={"a": 3, "b": 4, "children": children, "cols": 4,
                                       "edits": [{"direction": "beard", "strength": 2.0}]})
    strip = decode(r.content)
    assert strip.shape == (16, 64, 3)
    vector = sf.directions.load_directions(directions_file).vectors[1]
    groups = G.layer_groups
    expect = []
    for ch in children:
        rows = [i for g in ("coarse", "medium") if ch["groups"][g] == "b" for i in groups[g]]
        ws = sf.mix(a, b, rows) if rows else a.clone()
        ws[:, :2] += 2.0 * vector  # "beard" moves ws rows 0-1 only
        expect.append(synthesized(G, ws)[0])
    np.testing.assert_array_equal(strip, np.concatenate(expect, axis=1))


def test_edit_moves_along_a_direction(client, G, directions_file):
    ws = mapped(G, [6], psi=0.8)[0]
    vector = sf.directions.load_directions(directions_file).vectors[0]
    r = client.post("/v1/edit", json={"seed": 6, "truncation_psi": 0.8, "direction": "smile",
                                      "strengths": "-2:2:3", "format": "npz"})
    with np.load(io.BytesIO(r.content)) as f:
        got = torch.from_numpy(f["w"])
    assert torch.equal(got, move(ws, vector, [-2.0, 0.0, 2.0]))
    assert torch.equal(got[1], ws)
    r = client.post("/v1/edit", json={"ws": ws.tolist(), "direction": 0, "strengths": [1.5], "layers": "fine"})
    expect = ws.clone()
    expect[G.layer_groups["fine"]] += 1.5 * vector
    np.testing.assert_array_equal(decode(r.content), synthesized(G, expect[None])[0])


def test_stats_count_requests_and_batches(client):
    before = client.get("/v1/stats").json()
    client.post("/v1/render", json={"seeds": [1, 2, 3]})
    after = client.get("/v1/stats").json()
    assert after["requests"] == before["requests"] + 1
    assert after["images"] == before["images"] + 3
    assert after["batches"] >= before["batches"] + 1 and after["max_batch"] >= 3
    assert after["latency_ms"]["p50"] > 0 and after["latency_ms"]["p99"] >= after["latency_ms"]["p50"]


# ---- bad input: 4xx with a message, and the server keeps serving ----
BAD = [
    ("/v1/render", {"seeds": [1], "color": "red"}, 400, "unknown field 'color'"),
    ("/v1/render", {"seeds": [1.5]}, 400, "must be an integer"),
    ("/v1/render", {"seeds": ["x"]}, 400, "must be an integer"),
    ("/v1/render", {"seeds": [True]}, 400, "must be an integer"),
    ("/v1/render", {"seeds": [-1]}, 400, "out of range"),
    ("/v1/render", {"seeds": [2 ** 32]}, 400, "out of range"),
    ("/v1/render", {"seeds": "0-x"}, 400, "neither a seed"),
    ("/v1/render", {"seeds": list(range(17))}, 413, "at most 16"),
    ("/v1/render", {"seeds": "0-99"}, 413, "at most 16"),
    ("/v1/render", {}, 400, "exactly one of 'seeds', 'ws' or 'w'"),
    ("/v1/render", {"seeds": [1], "w": [0.0]}, 400, "exactly one of"),
    ("/v1/render", {"ws": [[0.0] * 32] * 3}, 400, "this generator needs"),
    ("/v1/render", {"w": [0.0] * 31}, 400, "this generator needs [32]"),
    ("/v1/render", {"w": [[0.0] * 32] * 17}, 413, "at most 16"),
    ("/v1/render", {"w": [0.0] * 31 + ["a"]}, 400, "numbers only"),
    ("/v1/render", {"w": [0.0] * 31 + [1e9]}, 400, "beyond"),
    ("/v1/render", {"ws": [[0.0] * 32] * 7, "truncation_psi": 0.5}, 400, "apply to seeds"),
    ("/v1/render", {"seeds": [1], "truncation_psi": "high"}, 400, "must be a finite number"),
    ("/v1/render", {"seeds": [1], "noise_mode": "loud"}, 400, "noise_mode must be one of const, random, none"),
    ("/v1/render", {"seeds": [1], "format": "gif"}, 400, "format must be one of png, jpeg, webp, npz"),
    ("/v1/render", {"seeds": [1], "class": 2}, 400, "unconditional"),
    ("/v1/render", {"seeds": [1, 2], "noise_seeds": [1]}, 400, "one each"),
    ("/v1/render", [1, 2], 400, "takes a JSON object"),
    ("/v1/child", {"a": 1}, 400, "'b' is missing"),
    ("/v1/child", {"a": 1, "b": {"path": "/etc/passwd"}}, 400, "one of 'seed', 'ws', 'w'"),
    ("/v1/child", {"a": 1, "b": 2, "groups": {"ears": "a"}}, 400, "unknown group 'ears'"),
    ("/v1/child", {"a": 1, "b": 2, "groups": {"coarse": 1.5}}, 400, "out of range [0.0, 1.0]"),
    ("/v1/child", {"a": 1, "b": 2, "groups": {"coarse": "c"}}, 400, "'a', 'b' or a blend"),
    ("/v1/child", {"a": 1, "b": 2, "rows": {"99": "a"}}, 400, "not a ws row"),
    ("/v1/child", {"a": 1, "b": 2, "children": [{}] * 17}, 413, "at most 16"),
    ("/v1/child", {"a": 1, "b": 2, "edits": [{"direction": "wings", "strength": 1}]}, 400, "no direction 'wings'"),
    ("/v1/child", {"a": {"w": [0.0] * 5}, "b": 2}, 400, "this generator needs [32]"),
    ("/v1/edit", {"seed": 1, "strengths": [1]}, 400, "needs 'direction'"),
    ("/v1/edit", {"seed": 1, "direction": 7, "strengths": [1]}, 400, "0 (smile), 1 (beard)"),
    ("/v1/edit", {"seed": 1, "direction": 0}, 400, "needs 'strengths'"),
    ("/v1/edit", {"seed": 1, "direction": 0, "strengths": "1:2"}, 400, "START:STOP:COUNT"),
    ("/v1/edit", {"seed": 1, "direction": 0, "strengths": [1], "layers": "99"}, 400, "out of range"),
]


@pytest.mark.parametrize("path,body,status,message", BAD, ids=[f"{p[4:]}-{m[:24]}" for p, _, _, m in BAD])
def test_bad_input_is_a_4xx_naming_the_problem(client, G, path, body, status, message):
    r = client.post(path, json=body)
    assert r.status_code == status, r.text
    assert message in r.json()["error"]
    np.testing.assert_array_equal(decode(client.post("/v1/render", json={"seeds": [2]}).content),
                                  rendered(G, [2])[0])  # still serving, and correctly


def test_bad_bodies_and_routes(client):
    r = client.post("/v1/render", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]
    nan = '{"w": [' + ",".join(["0"] * 31 + ["NaN"]) + "]}"
    r = client.post("/v1/render", content=nan.encode(), headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "not finite" in r.json()["error"]
    r = client.get("/v1/nothing")
    assert r.status_code == 404 and "no such endpoint" in r.json()["error"]
    r = client.get("/v1/render")
    assert r.status_code == 405 and "GET is not allowed" in r.json()["error"]
    assert client.get("/v1/stats").json()["errors"] >= 2


def test_upload_that_is_not_an_image_or_too_large(client):
    r = client.post("/v1/project", files={"image": ("face.png", b"this is no picture", "image/png")})
    assert r.status_code == 415 and "not an image" in r.json()["error"]
    r = client.post("/v1/project", files={"image": ("big.png", b"\0" * (10 * 1024 * 1024 + 1), "image/png")})
    assert r.status_code == 413 and "too large" in r.json()["error"]
    r = client.post("/v1/project", files={"photo": ("a.png", b"x", "image/png")})
    assert r.status_code == 400 and "field 'image'" in r.json()["error"]
    r = client.post("/v1/project", json={"image": "/etc/passwd"})
    assert r.status_code == 415 and "multipart/form-data" in r.json()["error"]
    assert client.get("/v1/project/p999-00000").status_code == 404


def test_photo_parent_is_projected_as_a_job(client, G):
    """A photo (here: one of the generator's own images) -> a job -> progress -> ws that render."""
    target = rendered(G, [4])[0]
    buf = io.BytesIO()
    Image.fromarray(target).resize((40, 30)).save(buf, format="PNG")  # any size: cropped and resized
    r = client.post("/v1/project", files={"image": ("face.png", buf.getvalue(), "image/png")})
    assert r.status_code == 202, r.text
    job_id = r.json()["job"]
    deadline = time.time() + 60
    while True:
        job = client.get(f"/v1/project/{job_id}").json()
        if job["status"] in ("done", "failed") or time.time() > deadline:
            break
        time.sleep(0.05)
    assert job["status"] == "done", job
    assert job["step"] == 3 and job["progress"] == 1.0 and np.isfinite(job["loss"])
    ws = np.array(job["ws"])
    assert ws.shape == (G.num_ws, G.w_dim) and np.isfinite(ws).all()
    r = client.post("/v1/child", json={"a": {"ws": job["ws"]}, "b": 1})
    assert r.status_code == 200


def test_token_is_required_when_given(G):
    with TestClient(create_app(G, token="s3cret", projector=None)) as c:
        assert c.get("/").status_code == 200  # the page is public; it sends ?token= along
        r = c.post("/v1/render", json={"seeds": [1]})
        assert r.status_code == 401 and "Authorization: Bearer" in r.json()["error"]
        assert c.get("/v1/info", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = c.post("/v1/render", json={"seeds": [1]}, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        r = c.post("/v1/project", files={"image": ("a.png", b"x", "image/png")},
                   headers={"Authorization": "Bearer s3cret"})
        assert r.status_code == 501 and "not available" in r.json()["error"]


# ---- the batcher on its own ----
def _run_jobs(G, jobs, **kwargs):
    async def main():
        b = Batcher(G, **kwargs)
        b.start()
        try:
            return await asyncio.gather(*(b.submit(j) for j in jobs), return_exceptions=True), b.stats
        finally:
            await b.stop()
    return asyncio.run(main())


def test_batcher_shares_batches_across_settings_and_isolates_failures(G):
    def boom(ws):
        raise ValueError("this job's own failure")

    jobs = [Job([Seed(1, 0.5)], 1), Job([Seed(2, 1.0)], 1, "random", [7]), Job([Seed(3, 1.0)], 1, compose=boom),
            Job([Seed(4, 0.7)], 1, "none"), Job([Seed(5, 0.5)], 1)]
    results, stats = _run_jobs(G, jobs, max_batch=8, max_wait_ms=200)
    assert isinstance(results[2], ValueError) and "own failure" in str(results[2])
    np.testing.assert_array_equal(results[0].images[0], rendered(G, [1], 0.5)[0])
    np.testing.assert_array_equal(results[1].images[0], rendered(G, [2], 1.0, "random", [7])[0])
    np.testing.assert_array_equal(results[3].images[0], rendered(G, [4], 0.7, "none")[0])
    np.testing.assert_array_equal(results[4].images[0], rendered(G, [5], 0.5)[0])
    assert results[0].batch_rows == 2 and results[1].batch_rows == 1  # one synthesis call per noise mode
    assert (stats.batches, stats.max_batch) == (3, 2)


def test_batcher_respects_max_batch(G):
    jobs = [Job([Seed(s, 1.0) for s in range(i * 3, i * 3 + 3)], 3) for i in range(3)] + \
           [Job([Seed(s, 1.0) for s in range(20, 30)], 10)]
    results, stats = _run_jobs(G, jobs, max_batch=4, max_wait_ms=100)
    assert stats.max_batch <= 4
    for i in range(3):
        np.testing.assert_array_equal(results[i].images, rendered(G, range(i * 3, i * 3 + 3)))
    np.testing.assert_array_equal(results[3].images, rendered(G, range(20, 30)))  # one job over max_batch: chunked


# ---- the command ----
def test_serve_command_warns_off_loopback_and_passes_options(monkeypatch):
    import uvicorn

    from stylegan_fast.cli import main
    from stylegan_fast.cli.serve import is_loopback

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    r = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0", "--port", "8123", "--max-batch", "4"])
    assert r.exit_code == 0, r.output
    assert "warning: listening on 0.0.0.0" in r.output and "give --token" in r.output
    app, kw = calls[0]
    assert (kw["host"], kw["port"]) == ("0.0.0.0", 8123)
    assert app.state.server.batcher.max_batch == 4
    r = CliRunner().invoke(main, ["serve", "--token", "t0k"])
    assert r.exit_code == 0 and "warning" not in r.output and "?token=TOKEN" in r.output
    assert calls[1][0].expected == b"Bearer t0k"
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")


# ---- a real server ----
class RealServer:
    """uvicorn on 127.0.0.1 (a free port) in a thread, stopped on exit."""

    def __init__(self, app):
        import uvicorn

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            assert time.time() < deadline and self.thread.is_alive(), "the server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()
        assert not self.thread.is_alive(), "the server did not stop"


def exact_backend(G) -> bool:
    """The C++ CPU kernels give the same uint8 image alone or in any batch; torch's reference convolutions
    may differ by one level on small maps (tests/test_batch_invariance.py)."""
    return bool(G.last_dispatch) and all(b == "cpu" for b in G.last_dispatch.values())


def test_real_server_answers_64_concurrent_requests_from_16_clients():
    """The built-in model on uvicorn: 16 clients x 4 requests at once, psi and noise mode varying per client;
    every image is its seed's image rendered alone, and /v1/stats shows batches of several requests."""
    import httpx

    G = sf.default_model()
    settings = [(0.7 if c % 2 else 1.0, "random" if c % 4 == 3 else "const") for c in range(16)]
    seeds = {c: [100 + 4 * c + k for k in range(4)] for c in range(16)}
    want = {c: rendered(G, seeds[c], *settings[c]) for c in range(16)}
    levels = 0 if exact_backend(G) else 1
    got, errors = {}, []
    start = threading.Barrier(16, timeout=30)

    def client(c, url):
        try:
            with httpx.Client(base_url=url, timeout=60) as http:
                start.wait()
                for k, seed in enumerate(seeds[c]):
                    psi, mode = settings[c]
                    r = http.post("/v1/render", json={"seeds": [seed], "truncation_psi": psi, "noise_mode": mode})
                    r.raise_for_status()
                    got[c, k] = decode(r.content)
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            errors.append(f"client {c}: {e!r}")

    with RealServer(create_app(G, max_batch=32, max_wait_ms=20, projector=None)) as server:
        threads = [threading.Thread(target=client, args=(c, server.url)) for c in range(16)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        elapsed = time.perf_counter() - t0
        stats = json.loads(httpx.get(server.url + "/v1/stats", timeout=10).content)
    assert not errors, errors
    assert len(got) == 64
    worst = max(int(np.abs(got[c, k].astype(int) - want[c][k].astype(int)).max()) for c, k in got)
    assert worst <= levels, f"an image differs from its seed rendered alone by {worst} uint8 levels"
    assert stats["requests"] == 64 and stats["images"] == 64
    assert stats["max_batch"] > 1 and stats["batches"] < 64, stats
    print(f"64 requests in {elapsed:.2f}s: {stats['batches']} batches, largest {stats['max_batch']}, "
          f"p50 {stats['latency_ms']['p50']} ms, p99 {stats['latency_ms']['p99']} ms; max difference {worst}")
