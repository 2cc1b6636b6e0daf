"""checkpoints.download: cache, resume, size and sha256 checks, errors, against a local HTTP server."""
import hashlib
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch

import stylegan_fast as sf
from stylegan_fast.checkpoints import download as dl

PAYLOAD = bytes(range(256)) * 400 + b"tail"  # 102404 bytes: several reads, not a multiple of anything


class Handler(BaseHTTPRequestHandler):
    """Serves server.files {path: bytes}; honours 'Range: bytes=N-'; logs every request.

    server.truncate {path: n}: send the full Content-Length but close after n bytes.
    server.no_range: ignore Range headers (answer 200 with the whole file).
    """

    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802
        srv = self.server
        srv.log.append((self.path, self.headers.get("Range")))
        data = srv.files.get(self.path)
        if data is None:
            self.send_error(404, "Not Found")
            return
        start, status = 0, 200
        rng = self.headers.get("Range")
        if rng and not srv.no_range:
            assert rng.startswith("bytes=") and rng.endswith("-"), rng
            start = int(rng[len("bytes="):-1])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        body = data[start:]
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Connection", "close")
        self.end_headers()
        cut = srv.truncate.get(self.path)
        self.wfile.write(body if cut is None else body[:cut])
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):  # keep test output quiet
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.files, srv.log, srv.truncate, srv.no_range = {"/files/model.pt": PAYLOAD}, [], {}, False
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("STYLEGAN_FAST_CACHE", str(d))
    return d


def test_download_then_cache_hit(server, cache):
    url = server.url + "/files/model.pt"
    path = dl.download(url, progress=False)
    assert path.parent == cache and path.read_bytes() == PAYLOAD
    assert path.name.startswith("model-") and path.name.endswith(".pt")
    assert server.log == [("/files/model.pt", None)]
    again = dl.download(url, progress=False)
    assert again == path and len(server.log) == 1  # no second request
    assert os.listdir(cache) == [path.name]


def test_progress_bar_goes_to_stderr(server, cache, capsys):
    dl.download(server.url + "/files/model.pt", progress=True)
    out, err = capsys.readouterr()
    assert out == "" and "B" in err


def test_cache_name():
    a = dl.cache_name("https://h.org/x/ffhq%20256.pt?dl=1")
    b = dl.cache_name("https://other.org/y/ffhq%20256.pt?dl=1")
    assert a.startswith("ffhq_256-") and a.endswith(".pt") and a != b
    assert dl.cache_name("https://h.org/").startswith("download-")
    assert "/" not in dl.cache_name("https://h.org/../..%2Fetc%2Fpasswd")


def test_cache_dir_defaults(monkeypatch, tmp_path):
    monkeypatch.delenv("STYLEGAN_FAST_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert dl.default_cache_dir() == tmp_path / "xdg" / "stylegan_fast"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert dl.default_cache_dir() == tmp_path / "home" / ".cache" / "stylegan_fast"
    monkeypatch.setenv("STYLEGAN_FAST_CACHE", str(tmp_path / "mine"))
    assert dl.default_cache_dir() == tmp_path / "mine"


def test_explicit_cache_dir(server, tmp_path):
    path = dl.download(server.url + "/files/model.pt", progress=False, cache_dir=tmp_path / "explicit")
    assert path.parent == tmp_path / "explicit" and path.read_bytes() == PAYLOAD


def _partial(cache, url, data):
    cache.mkdir(parents=True, exist_ok=True)
    p = cache / (dl.cache_name(url) + ".partial")
    p.write_bytes(data)
    return p


def test_resume_from_partial(server, cache):
    url = server.url + "/files/model.pt"
    _partial(cache, url, PAYLOAD[:40000])
    path = dl.download(url, progress=False)
    assert server.log == [("/files/model.pt", "bytes=40000-")]
    assert path.read_bytes() == PAYLOAD
    assert os.listdir(cache) == [path.name]


def test_restart_when_server_ignores_range(server, cache):
    server.no_range = True
    url = server.url + "/files/model.pt"
    _partial(cache, url, b"garbage" * 100)
    path = dl.download(url, progress=False)
    assert server.log == [("/files/model.pt", "bytes=700-")]
    assert path.read_bytes() == PAYLOAD


def test_restart_when_partial_is_too_long(server, cache):
    url = server.url + "/files/model.pt"
    _partial(cache, url, PAYLOAD + b"extra")
    path = dl.download(url, progress=False)
    assert server.log == [("/files/model.pt", f"bytes={len(PAYLOAD) + 5}-"), ("/files/model.pt", None)]
    assert path.read_bytes() == PAYLOAD


def test_sha256_ok(server, cache):
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    path = dl.download(server.url + "/files/model.pt", sha256=digest.upper(), progress=False)
    assert path.read_bytes() == PAYLOAD
    assert dl.download(server.url + "/files/model.pt", sha256=digest, progress=False) == path
    assert len(server.log) == 1


def test_sha256_mismatch_leaves_nothing(server, cache):
    wrong = "0" * 64
    with pytest.raises(ValueError) as info:
        dl.download(server.url + "/files/model.pt", sha256=wrong, progress=False)
    msg = str(info.value)
    assert f"expected {wrong}" in msg and f"got {hashlib.sha256(PAYLOAD).hexdigest()}" in msg
    assert os.listdir(cache) == []
    assert len(server.log) == 1


def test_bad_sha256_argument(cache):
    with pytest.raises(ValueError, match="64 hexadecimal digits"):
        dl.download("http://127.0.0.1:9/x.pt", sha256="abc")


def test_404(server, cache):
    url = server.url + "/files/missing.pt"
    with pytest.raises(dl.DownloadError, match=rf"downloading {url} failed: HTTP 404"):
        dl.download(url, progress=False)
    assert os.listdir(cache) == []
    assert len(server.log) == 1


def test_connection_refused(cache):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = srv.server_address[1]
    srv.server_close()  # nothing listens on this port now
    url = f"http://127.0.0.1:{port}/model.pt"
    with pytest.raises(dl.DownloadError, match=f"downloading {url} failed"):
        dl.download(url, progress=False)


def test_truncated_transfer_keeps_partial_then_resumes(server, cache):
    url = server.url + "/files/model.pt"
    server.truncate["/files/model.pt"] = 30000
    with pytest.raises(dl.DownloadError, match=r"interrupted after 30000 of 102404 bytes.*resumes"):
        dl.download(url, progress=False)
    name = dl.cache_name(url)
    assert os.listdir(cache) == [name + ".partial"]
    assert (cache / (name + ".partial")).read_bytes() == PAYLOAD[:30000]
    server.truncate.clear()
    path = dl.download(url, progress=False)
    assert server.log == [("/files/model.pt", None), ("/files/model.pt", "bytes=30000-")]
    assert path.read_bytes() == PAYLOAD and os.listdir(cache) == [name]


def test_not_a_url():
    with pytest.raises(ValueError, match="http"):
        dl.download("ftp://example.org/x.pt")


def test_generator_load_from_url(server, cache, make_generator):
    G = make_generator("stylegan2", 16)
    local = cache.parent / "g.safetensors"
    G.save(local)
    server.files["/model.safetensors"] = local.read_bytes()
    url = server.url + "/model.safetensors"
    H = sf.Generator.load(url, progress=False)
    z = torch.randn(2, G.z_dim)
    assert torch.equal(H(z), G(z))
    H2 = sf.Generator.load(url)  # cached: no second request
    assert all(torch.equal(v, H.state_dict()[k]) for k, v in H2.state_dict().items())
    assert server.log == [("/model.safetensors", None)]
    assert os.listdir(cache) == [dl.cache_name(url)]
