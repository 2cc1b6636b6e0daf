"""Latent directions: PCA, SeFa, InterFaceGAN boundaries, moving ws, the file format and the commands."""
import math
import sys
import types

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import stylegan_fast as sf
from stylegan_fast import directions as dirs
from stylegan_fast.cli import main


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def angle_deg(a, b):
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    cos = float((a @ b) / (a.norm() * b.norm()))
    return math.degrees(math.acos(max(-1.0, min(1.0, cos))))


# ---------------------------------------------------------------- PCA

def test_pca_matches_numpy_svd_of_the_same_samples(make_generator):
    G = make_generator("stylegan2", 16)
    d = dirs.pca_directions(G, 6, samples=400, seed=3)
    w = dirs.sample_w(G, 400, seed=3).numpy().astype(np.float64)
    centred = w - w.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    ratio = s ** 2 / (s ** 2).sum()
    np.testing.assert_allclose(d.scores.numpy(), ratio[:6], rtol=1e-4)
    for i in range(6):
        assert abs(float(np.dot(d.vectors[i].numpy(), vt[i]))) > 0.9999
        v = d.vectors[i]
        assert float(v[v.abs().argmax()]) > 0  # the sign convention
    torch.testing.assert_close(d.vectors.norm(dim=1), torch.ones(6))
    assert d.layers is None and d.names[0] == "pca 0"


def test_pca_samples_are_the_mapping_of_seeded_z(make_generator):
    G = make_generator("stylegan2", 16)
    z = torch.randn([5, G.z_dim], generator=torch.Generator().manual_seed(11))
    torch.testing.assert_close(dirs.sample_w(G, 5, seed=11, batch_size=2), G.mapping(z, None)[:, 0])


def test_pca_recovers_a_planted_axis():
    gen = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(16, 16, generator=gen, dtype=torch.float64))
    stds = torch.tensor([5.0, 2.0] + [0.5] * 14, dtype=torch.float64)
    w = (torch.randn(4000, 16, generator=gen, dtype=torch.float64) * stds) @ q.T + 3.0
    d = dirs.pca_of(w, 2)
    assert min(angle_deg(d.vectors[0], q[:, 0]), angle_deg(-d.vectors[0], q[:, 0])) < 2
    assert min(angle_deg(d.vectors[1], q[:, 1]), angle_deg(-d.vectors[1], q[:, 1])) < 5
    assert 0.7 < float(d.scores[0]) < 0.85  # 25 / (25 + 4 + 14 * 0.25) = 0.77


def test_pca_layers_are_recorded_and_bad_counts_refused(make_generator):
    G = make_generator("stylegan2", 16)
    d = dirs.pca_directions(G, 2, samples=100, layers=[0, 1])
    assert d.layers.shape == (2, G.num_ws) and d.layer_rows(1, G.num_ws) == [0, 1]
    with pytest.raises(ValueError, match="at most"):
        dirs.pca_directions(G, G.w_dim + 1, samples=500)
    with pytest.raises(ValueError, match="positive integer"):
        dirs.pca_directions(G, 0, samples=100)


# ---------------------------------------------------------------- SeFa

def _affine_matrix_from_state(G, keys):
    """The stacked, row-normalized affine weights read straight from the state dict (float64 numpy)."""
    state = G.state_dict()
    A = np.concatenate([state[k].double().numpy() for k in keys])
    return A / np.linalg.norm(A, axis=1, keepdims=True)


def test_sefa_matches_a_float64_eigendecomposition(make_generator):
    G = make_generator("stylegan2", 16)
    keys = [k for k in G.state_dict() if k.endswith("affine.weight")]
    assert len(keys) == 3 * 3 - 1  # b4: conv1 + torgb; b8, b16: conv0 + conv1 + torgb
    A = _affine_matrix_from_state(G, keys)
    values, vectors = np.linalg.eigh(A.T @ A)
    values, vectors = values[::-1], vectors[:, ::-1]
    d = dirs.sefa_directions(G, 4)
    np.testing.assert_allclose(d.scores.numpy(), values[:4], rtol=1e-5)
    for i in range(4):
        assert abs(float(d.vectors[i].double().numpy() @ vectors[:, i])) > 0.9999
    # its defining property: the top direction maximizes ||A n|| over unit vectors
    gain_top = np.linalg.norm(A @ d.vectors[0].double().numpy())
    assert gain_top == pytest.approx(math.sqrt(values[0]), rel=1e-5)
    r = np.random.RandomState(0).randn(2000, G.w_dim)
    r /= np.linalg.norm(r, axis=1, keepdims=True)
    assert np.linalg.norm(r @ A.T, axis=1).max() < gain_top


def test_sefa_layers_select_the_affines_their_rows_feed(make_generator):
    G = make_generator("stylegan2", 16)
    # ws row 1 feeds the 4x4 toRGB and the 8x8 block's first conv
    A = _affine_matrix_from_state(G, ["synthesis.b4.torgb.affine.weight", "synthesis.b8.conv0.affine.weight"])
    values, vectors = np.linalg.eigh(A.T @ A)
    d = dirs.sefa_directions(G, 1, layers=[1])
    assert abs(float(d.vectors[0].double().numpy() @ vectors[:, -1])) > 0.9999
    assert d.layer_rows(0, G.num_ws) == [1]


def test_sefa_stylegan1_uses_the_adain_style_weights(make_generator):
    G = make_generator("stylegan1", 16)
    keys = [k for k in G.state_dict() if k.endswith("style.weight")]
    assert len(keys) == G.num_ws
    A = _affine_matrix_from_state(G, keys)
    values, vectors = np.linalg.eigh(A.T @ A)
    d = dirs.sefa_directions(G, 2)
    assert abs(float(d.vectors[0].double().numpy() @ vectors[:, -1])) > 0.9999
    np.testing.assert_allclose(d.scores.numpy(), values[::-1][:2], rtol=1e-5)


def test_sefa_row_normalization_removes_per_layer_gains(make_generator):
    G = make_generator("stylegan2", 16)
    before = dirs.sefa_directions(G, 3)
    raw_before = dirs.sefa_directions(G, 3, normalize=False)
    G.synthesis.b8.conv1.affine.weight.mul_(7.0)  # a per-layer scalar, like an equalized-lr gain
    after = dirs.sefa_directions(G, 3)
    raw_after = dirs.sefa_directions(G, 3, normalize=False)
    torch.testing.assert_close(after.vectors, before.vectors, atol=1e-5, rtol=0)
    assert (raw_after.vectors[0] - raw_before.vectors[0]).abs().max() > 1e-2  # without normalization it matters


def test_sefa_per_group(make_generator):
    G = make_generator("stylegan2", 32)
    d = dirs.sefa_per_group(G, 2)
    groups = {k: v for k, v in G.layer_groups.items() if v}
    assert len(d) == 2 * len(groups)
    for i, (name, rows) in enumerate(groups.items()):
        assert d.names[2 * i] == f"sefa {name} 0"
        assert d.layer_rows(2 * i, G.num_ws) == rows
        torch.testing.assert_close(d.vectors[2 * i], dirs.sefa_directions(G, 1, rows).vectors[0])


# ---------------------------------------------------------------- boundaries

def _planted(n=3000, dim=32, seed=0, offset=0.4):
    gen = torch.Generator().manual_seed(seed)
    normal = torch.randn(dim, generator=gen, dtype=torch.float64)
    normal /= normal.norm()
    scales = torch.linspace(0.3, 3.0, dim, dtype=torch.float64)  # anisotropic, like W
    w = torch.randn(n, dim, generator=gen, dtype=torch.float64) * scales + 1.0
    margin = w @ normal - float(normal.sum()) + offset
    return w, normal, margin


def test_fit_boundary_recovers_a_planted_normal():
    w, normal, margin = _planted()
    fit = dirs.fit_boundary(w, margin > 0, held_out=0.25, seed=1)
    assert angle_deg(fit.normal, normal) < 6  # the normal itself, pointing to the positives
    assert fit.accuracy > 0.97 and fit.num_held_out == 750 and fit.num_train == 2250
    assert float(fit.normal.norm()) == pytest.approx(1, abs=1e-6)


def test_fit_boundary_labels_forms_and_ws_rows():
    w, normal, margin = _planted(n=1500)
    scores = margin.numpy() * 10 + 5  # scores: thresholded at their median
    fit = dirs.fit_boundary(w, scores, seed=2)
    y_median = margin > margin.median()
    fit_ref = dirs.fit_boundary(w, y_median.numpy().astype(np.int64), seed=2)
    torch.testing.assert_close(fit.normal, fit_ref.normal)
    ws = torch.stack([torch.randn_like(w), w], dim=1)  # [N, 2, dim]: row 1 holds the signal
    assert angle_deg(dirs.fit_boundary(ws, margin > 0, row=1).normal, normal) < 8
    assert dirs.fit_boundary(ws, margin > 0, row=0).accuracy < 0.75


@pytest.mark.parametrize("labels, match", [
    (np.ones(100), "all positive"),
    (np.zeros(90), "100 latents but 90 labels"),
    (np.full(100, np.nan), "NaN"),
    (np.zeros([100, 3]), r"one value per latent"),
])
def test_fit_boundary_bad_input(labels, match):
    w = torch.randn(100, 8)
    with pytest.raises(ValueError, match=match):
        dirs.fit_boundary(w, labels)


def test_fit_boundary_bad_row_and_split():
    with pytest.raises(ValueError, match="ws row 5 out of range"):
        dirs.fit_boundary(torch.randn(10, 3, 4), np.arange(10) % 2, row=5)
    with pytest.raises(ValueError, match="held_out"):
        dirs.fit_boundary(torch.randn(10, 4), np.arange(10) % 2, held_out=1.5)


def test_boundary_from_scores_keeps_the_confident_and_scores_all_held_out():
    w, normal, margin = _planted(n=2000)
    p = torch.sigmoid(margin * 4)
    fit = dirs.boundary_from_scores(w.float(), p, held_out=0.2, keep=0.5, seed=0)
    assert fit.num_train == 800 and fit.num_held_out == 400  # half of the 1600 training samples, 400 each side
    assert angle_deg(fit.normal, normal) < 8 and fit.accuracy > 0.95


def test_attribute_scores_with_a_stand_in_classifier(make_generator, monkeypatch):
    """The sampling/labelling pipeline, with a fake classifier: 'bright' = mean red above the median."""
    G = make_generator("stylegan2", 16)

    def predict(model, images):
        assert images.shape[1:] == (3, 16, 16)
        red = images[:, 0].mean(dim=(1, 2))
        return {"beard": torch.sigmoid((red - model["threshold"]) * 50), "smile": torch.zeros(len(images))}

    fake = types.SimpleNamespace(ATTRIBUTES=("beard", "smile"), predict=predict,
                                 load_default=lambda device="cpu": {"threshold": 0.0})
    # `from . import attribute_classifier` takes the package attribute when an earlier test imported the module,
    # sys.modules otherwise: replace both.
    monkeypatch.setitem(sys.modules, "stylegan_fast.attribute_classifier", fake)
    monkeypatch.setattr(sf, "attribute_classifier", fake, raising=False)
    w, probs = dirs.attribute_scores(G, 40, seed=1, truncation_psi=0.5, classifier={"threshold": 0.0}, batch_size=16)
    z = torch.randn([40, G.z_dim], generator=torch.Generator().manual_seed(1))
    ws = G.mapping(z, None, 0.5)
    torch.testing.assert_close(w, ws[:, 0])
    red = G.synthesis(ws)[:, 0].mean(dim=(1, 2))
    torch.testing.assert_close(probs["beard"], torch.sigmoid(red * 50), atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="unknown attribute 'hat'"):
        dirs.attribute_boundary(G, "hat", samples=10)


# ---------------------------------------------------------------- move, file format, spec

def test_move_changes_only_the_chosen_rows_by_exactly_strength_times_direction():
    ws = torch.randn(6, 8)
    d = torch.randn(8)
    d /= d.norm()
    out = dirs.move(ws, d, [-2.0, 0.0, 1.5], layers=[1, 4])
    assert out.shape == (3, 6, 8)
    for k, s in enumerate([-2.0, 0.0, 1.5]):
        torch.testing.assert_close(out[k, [1, 4]] - ws[[1, 4]], (s * d).expand(2, -1), atol=1e-6, rtol=0)
        assert torch.equal(out[k, [0, 2, 3, 5]], ws[[0, 2, 3, 5]])
    assert torch.equal(dirs.move(ws, d, [1.0])[0], ws + d)
    with pytest.raises(ValueError, match=r"needs \[8\]"):
        dirs.move(ws, torch.randn(5), [1.0])
    with pytest.raises(ValueError, match="out of range"):
        dirs.move(ws, d, [1.0], layers=[6])


def test_directions_file_round_trip(tmp_path):
    vectors = torch.randn(3, 8)
    layers = torch.tensor([[True] * 4, [True, False, False, False], [False, True, True, False]])
    d = dirs.Directions(dirs.unit_rows(vectors), ["a", "b", "c"], layers, torch.tensor([0.9, 0.5, 0.1]))
    dirs.save_directions(tmp_path / "d.npz", d)
    back = dirs.load_directions(tmp_path / "d.npz", w_dim=8)
    torch.testing.assert_close(back.vectors, d.vectors)
    assert back.names == ["a", "b", "c"] and torch.equal(back.layers, layers)
    torch.testing.assert_close(back.scores, d.scores)
    vec, rows, name = dirs.load_direction(f"{tmp_path / 'd.npz'}:2", w_dim=8, num_ws=4)
    assert rows == [1, 2] and name == "c"
    assert dirs.find_direction(back, "b") == 1
    np.save(tmp_path / "b.npy", np.array([[3.0, 4.0]], dtype=np.float32))  # InterFaceGAN layout, not unit
    vec, rows, _ = dirs.load_direction(str(tmp_path / "b.npy"), w_dim=2)
    torch.testing.assert_close(vec, torch.tensor([0.6, 0.8]))
    assert rows is None


def test_directions_file_errors(tmp_path):
    np.savez(tmp_path / "nodir.npz", w=np.zeros([1, 4]))
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(tmp_path / "three.npy", np.ones([2, 3], dtype=np.float32))
    np.save(tmp_path / "zero.npy", np.zeros([4], dtype=np.float32))
    with pytest.raises(ValueError, match="no array named 'directions'"):
        dirs.load_directions(tmp_path / "nodir.npz")
    with pytest.raises(ValueError, match="not a plain numpy"):
        dirs.load_directions(tmp_path / "obj.npy")
    with pytest.raises(ValueError, match="3-dimensional; this generator's w has w_dim=4"):
        dirs.load_directions(tmp_path / "three.npy", w_dim=4)
    with pytest.raises(ValueError, match="pick one as"):
        dirs.load_direction(str(tmp_path / "three.npy"))
    with pytest.raises(ValueError, match="there is no direction 5"):
        dirs.load_direction(f"{tmp_path / 'three.npy'}:5")
    with pytest.raises(ValueError, match="length zero"):
        dirs.load_directions(tmp_path / "zero.npy")
    with pytest.raises(FileNotFoundError):
        dirs.load_directions(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match="after ':' comes the index"):
        dirs.parse_direction_spec("d.npz:x")
    with pytest.raises(ValueError, match="bad strengths"):
        dirs.parse_strengths("1:2")
    assert dirs.parse_strengths("-3:3:7") == [-3, -2, -1, 0, 1, 2, 3]


def test_strength_labels_font():
    assert [dirs.strength_text(s) for s in (-3, 0.0, 1.5, 2)] == ["-3", "0", "+1.5", "+2"]
    bitmap = dirs.text_bitmap("+1.5")
    assert bitmap.shape == (5, 3 + 1 + 3 + 1 + 1 + 1 + 3) and bitmap.any()
    assert dirs.text_bitmap("x") is None
    band = dirs.label_band(["-3", "+3"], tile=64)
    assert band.shape[1] == 128 and band[:, :64].any() and band[:, 64:].any()
    assert dirs.label_band(["-1.25"], tile=8) is None  # does not fit: no labels rather than clipped ones


# ---------------------------------------------------------------- commands

@pytest.fixture(scope="module")
def tiny_network(tmp_path_factory):
    from tests.conftest import build

    G = build("stylegan2", 16)
    path = tmp_path_factory.mktemp("net") / "tiny.safetensors"
    G.save(path)
    return path, G


def test_cli_directions_sefa_and_pca(tmp_path, tiny_network):
    path, G = tiny_network
    r = run("directions", "--network", path, "--method", "sefa", "--num", "4", "--out", tmp_path / "s.npz")
    assert r.exit_code == 0, r.output
    d = dirs.load_directions(tmp_path / "s.npz", G.w_dim)
    torch.testing.assert_close(d.vectors, dirs.sefa_directions(G, 4).vectors)
    r = run("directions", "--network", path, "--method", "pca", "--num", "3", "--samples", "200",
            "--layers", "coarse", "--out", tmp_path / "p.npz")
    assert r.exit_code == 0, r.output
    d = dirs.load_directions(tmp_path / "p.npz", G.w_dim)
    assert len(d) == 3 and d.layer_rows(0, G.num_ws) == G.layer_groups["coarse"]
    r = run("directions", "--network", path, "--method", "sefa", "--per-group", "--num", "2",
            "--out", tmp_path / "g.npz")
    assert r.exit_code == 0 and "sefa medium 1" in r.output and "fine" not in r.output  # 16 px: no fine rows


def test_cli_directions_errors(tmp_path, tiny_network):
    path, _ = tiny_network
    r = run("directions", "--network", path, "--layers", "huge", "--out", tmp_path / "s.npz")
    assert r.exit_code != 0 and "cannot parse layer selection 'huge'" in r.output
    r = run("directions", "--network", path, "--num", "500", "--out", tmp_path / "s.npz")
    assert r.exit_code == 1 and "at most 32" in r.output
    r = run("directions", "--network", path, "--out", tmp_path / "s.npy")
    assert r.exit_code != 0 and "written as .npz" in r.output


def test_cli_boundary_from_labels(tmp_path):
    w, normal, margin = _planted(n=800, dim=16)
    ws = w[:, None].repeat(1, 3, 1).float().numpy()
    np.savez(tmp_path / "labels.npz", ws=ws, labels=(margin > 0).numpy())
    r = run("boundary", "--labels", tmp_path / "labels.npz", "--layer", "2", "--out", tmp_path / "b.npy")
    assert r.exit_code == 0, r.output
    assert "ws row 2" in r.output and "held-out accuracy" in r.output
    b = np.load(tmp_path / "b.npy")
    assert b.shape == (1, 16) and b.dtype == np.float32
    assert angle_deg(torch.from_numpy(b[0]), normal) < 10
    r = run("boundary", "--labels", tmp_path / "labels.npz", "--name", "planted", "--out", tmp_path / "b.npz")
    assert r.exit_code == 0, r.output
    d = dirs.load_directions(tmp_path / "b.npz")
    assert d.names == ["planted"] and 0.9 < float(d.scores[0]) <= 1


@pytest.mark.parametrize("arrays, match", [
    (dict(labels=np.zeros(10)), "has no latents"),
    (dict(w=np.zeros([10, 4])), "has no array 'labels'"),
    (dict(w=np.zeros([10, 4]), labels=np.zeros(9)), "10 latents in 'w' but labels of shape \\[9\\]"),
    (dict(w=np.zeros([10], dtype=np.float32), labels=np.zeros(10)), "expected \\[N, w_dim\\]"),
])
def test_cli_boundary_bad_labels_files(tmp_path, arrays, match):
    np.savez(tmp_path / "l.npz", **arrays)
    r = run("boundary", "--labels", tmp_path / "l.npz", "--out", tmp_path / "b.npy")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert __import__("re").search(match, r.output), r.output


def test_cli_boundary_usage_errors(tmp_path):
    r = run("boundary", "--out", tmp_path / "b.npy")
    assert r.exit_code == 2 and "either --labels FILE or --attribute NAME" in r.output
    r = run("boundary", "--attribute", "beard", "--attribute", "smile", "--out", tmp_path / "b.npy")
    assert r.exit_code == 2 and "need an .npz output" in r.output
    r = run("boundary", "--attribute", "hat", "--out", tmp_path / "b.npy")
    assert r.exit_code == 2


def test_cli_edit_strip_video_and_saved_ws(tmp_path, tiny_network):
    path, G = tiny_network
    d = dirs.sefa_directions(G, 2)
    dirs.save_directions(tmp_path / "d.npz", d)
    r = run("edit", "--network", path, "--seed", "7", "--direction", f"{tmp_path / 'd.npz'}:1",
            "--strength", "-2:2:5", "--layers", "0-2", "--no-labels", "--out", tmp_path / "strip.png",
            "--save-w", tmp_path / "edited.npz")
    assert r.exit_code == 0, r.output
    with Image.open(tmp_path / "strip.png") as im:
        assert im.size == (5 * 16, 16)
        strip = np.asarray(im)
    edited = np.load(tmp_path / "edited.npz")["w"]
    assert edited.shape == (5, G.num_ws, G.w_dim)
    from stylegan_fast.latents import z_from_seeds

    ws0 = G.mapping(z_from_seeds([7], G.z_dim), None)[0]
    expected = dirs.move(ws0, d.vectors[1], [-2, -1, 0, 1, 2], [0, 1, 2])
    torch.testing.assert_close(torch.from_numpy(edited), expected)
    np.testing.assert_array_equal(strip, np.concatenate(list(dirs.render_edits(G, expected)), axis=1))
    # with labels: a band above, same width; scaled
    r = run("edit", "--network", path, "--seed", "7", "--direction", f"{tmp_path / 'd.npz'}:0",
            "--strength", "-1,1", "--scale", "2", "--out", tmp_path / "labelled.png")
    assert r.exit_code == 0, r.output
    with Image.open(tmp_path / "labelled.png") as im:
        assert im.size[0] == 2 * 32 and im.size[1] > 32
    r = run("edit", "--network", path, "--seed", "7", "--direction", f"{tmp_path / 'd.npz'}:0",
            "--strength", "-1:1:3", "--w-frames", "2", "--out", tmp_path / "e.gif")
    assert r.exit_code == 0, r.output
    with Image.open(tmp_path / "e.gif") as im:
        assert im.n_frames == 8 and im.size == (16, 16)  # -1 0 1 0, two frames each, looping


def test_cli_edit_from_w_file(tmp_path, tiny_network):
    path, G = tiny_network
    ws = torch.randn(G.num_ws, G.w_dim)
    np.savez(tmp_path / "w.npz", w=ws.numpy()[None])
    np.save(tmp_path / "b.npy", np.eye(G.w_dim, dtype=np.float32)[3][None] * 2)
    r = run("edit", "--network", path, "--w", tmp_path / "w.npz", "--direction", tmp_path / "b.npy",
            "--strength", "1.5", "--no-labels", "--out", tmp_path / "o.png", "--save-w", tmp_path / "e.npz")
    assert r.exit_code == 0, r.output
    edited = torch.from_numpy(np.load(tmp_path / "e.npz")["w"])[0]
    assert torch.equal(edited[:, 3], ws[:, 3] + 1.5) and torch.equal(edited[:, :3], ws[:, :3])


def test_cli_edit_class_conditional(tmp_path):
    """A conditional network: the seed is mapped with the --class one-hot; without --class, a clear error."""
    from stylegan_fast.latents import z_from_seeds
    from tests.conftest import build

    G = build("stylegan2", 16, c_dim=3)
    path = tmp_path / "cond.safetensors"
    G.save(path)
    np.save(tmp_path / "b.npy", np.eye(G.w_dim, dtype=np.float32)[5][None])
    r = run("edit", "--network", path, "--seed", "4", "--class", "2", "--direction", tmp_path / "b.npy",
            "--strength", "0,1", "--no-labels", "--out", tmp_path / "o.png", "--save-w", tmp_path / "e.npz")
    assert r.exit_code == 0, r.output
    c = torch.zeros(1, 3)
    c[0, 2] = 1
    ws = G.mapping(z_from_seeds([4], G.z_dim), c)[0]
    edited = torch.from_numpy(np.load(tmp_path / "e.npz")["w"])
    torch.testing.assert_close(edited[0], ws)
    other = G.mapping(z_from_seeds([4], G.z_dim), torch.eye(3)[:1])[0]
    assert not torch.allclose(edited[0], other)  # the class mattered
    r = run("edit", "--network", path, "--seed", "4", "--direction", tmp_path / "b.npy", "--out", tmp_path / "x.png")
    assert r.exit_code == 1 and "give --class 0..2" in r.output


def test_cli_edit_errors(tmp_path, tiny_network):
    path, G = tiny_network
    np.save(tmp_path / "wrong.npy", np.ones([1, G.w_dim + 1], dtype=np.float32))
    np.save(tmp_path / "ok.npy", np.ones([1, G.w_dim], dtype=np.float32))
    base = ["edit", "--network", path, "--seed", "1"]
    r = run(*base, "--direction", tmp_path / "wrong.npy", "--out", tmp_path / "o.png")
    assert r.exit_code == 1 and f"33-dimensional; this generator's w has w_dim={G.w_dim}" in r.output
    r = run(*base, "--direction", tmp_path / "ok.npy", "--layers", "ultrafine", "--out", tmp_path / "o.png")
    assert r.exit_code == 2 and "cannot parse layer selection 'ultrafine'" in r.output
    r = run(*base, "--direction", "beard", "--out", tmp_path / "o.png")
    assert r.exit_code == 1 and "named directions belong to the built-in model" in r.output
    r = run("edit", "--network", path, "--direction", tmp_path / "ok.npy", "--out", tmp_path / "o.png")
    assert r.exit_code == 2 and "exactly one face" in r.output
    r = run(*base, "--w", tmp_path / "ok.npy", "--direction", tmp_path / "ok.npy", "--out", tmp_path / "o.png")
    assert r.exit_code == 2 and "--seed and --w" in r.output
    r = run(*base, "--direction", tmp_path / "ok.npy", "--strength", "a:b", "--out", tmp_path / "o.png")
    assert r.exit_code == 2 and "bad strengths" in r.output
    r = run(*base, "--direction", tmp_path / "ok.npy", "--out", tmp_path / "o.jpg")
    assert r.exit_code == 2 and ".png (a strip)" in r.output
    r = run(*base, "--direction", tmp_path / "missing.npz:0", "--out", tmp_path / "o.png")
    assert r.exit_code == 1 and "does not exist" in r.output
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("command", ["directions", "boundary", "edit"])
def test_cli_help_has_examples(command):
    r = run(command, "--help")
    assert r.exit_code == 0 and "Examples:" in r.output and f"stylegan-fast {command}" in r.output


def test_cli_edit_from_a_photo(tmp_path, tiny_network):
    path, G = tiny_network
    Image.fromarray(np.random.RandomState(0).randint(0, 255, [40, 30, 3], dtype=np.uint8)).save(tmp_path / "p.png")
    np.save(tmp_path / "ok.npy", np.ones([1, G.w_dim], dtype=np.float32))
    r = run("edit", "--network", path, "--photo", tmp_path / "p.png", "--steps", "3", "--direction",
            tmp_path / "ok.npy", "--strength", "-1,1", "--no-labels", "--out", tmp_path / "o.png",
            "--save-w", tmp_path / "e.npz")
    assert r.exit_code == 0, r.output
    with Image.open(tmp_path / "o.png") as im:
        assert im.size == (32, 16)
    edited = np.load(tmp_path / "e.npz")["w"]
    np.testing.assert_allclose(edited[1] - edited[0], np.full([G.num_ws, G.w_dim], 2 / math.sqrt(G.w_dim)),
                               atol=1e-5)
    (tmp_path / "bad.png").write_bytes(b"not an image")
    r = run("edit", "--network", path, "--photo", tmp_path / "bad.png", "--steps", "3", "--direction",
            tmp_path / "ok.npy", "--out", tmp_path / "o2.png")
    assert r.exit_code == 1 and "--photo" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "o2.png").exists()


def test_balanced_fit_of_a_rare_attribute():
    w, normal, margin = _planted(n=3000, offset=-2.5)  # about 5% positives
    y = margin > 0
    assert 0.02 < float(y.double().mean()) < 0.1
    p = torch.sigmoid(margin * 2)  # soft scores: many positives are near 0.5
    fit = dirs.boundary_from_scores(w.float(), p, held_out=0.3, seed=0, balanced=True)
    labels = p > 0.5
    test = dirs._split(3000, 0.3, 0)[1]
    decided = (w[test].float() @ fit.normal + fit.offset) > 0
    per_class = [float((decided == labels[test])[labels[test] == v].double().mean()) for v in (False, True)]
    assert fit.balanced_accuracy == pytest.approx(sum(per_class) / 2, abs=1e-6)
    assert fit.accuracy == pytest.approx(float((decided == labels[test]).double().mean()), abs=1e-6)
    assert fit.balanced_accuracy > 0.9 and angle_deg(fit.normal, normal) < 12


def test_builtin_directions_and_named_edit(tmp_path):
    from stylegan_fast.models import default_model

    G = default_model()
    table = dirs.load_directions(dirs.BUILTIN_DIRECTIONS_FILE, G.w_dim)
    assert table.names == ["beard", "glasses", "smile", "grey_hair"]
    torch.testing.assert_close(table.vectors.norm(dim=1), torch.ones(4))
    # scores: the classifier's mean probability gain at strength 3 (seeds 0-31, psi 0.7), see BUILTIN_DIRECTIONS_FILE
    assert bool(((table.scores > 0.05) & (table.scores <= 1)).all())
    e = dirs.edit_effect(G, table.vectors[0], [0.0, 3.0], layers=table.layer_rows(0, G.num_ws))
    gain = float(e["beard"][1] - e["beard"][0])
    assert gain > 0.1 and abs(gain - float(table.scores[0])) < 2e-3  # the beard direction adds beards
    r = run("edit", "--seed", "24", "--trunc", "0.7", "--direction", "beard", "--strength", "0,3", "--no-labels",
            "--out", tmp_path / "b.png", "--save-w", tmp_path / "b.npz")
    assert r.exit_code == 0, r.output
    edited = torch.from_numpy(np.load(tmp_path / "b.npz")["w"])
    rows = table.layer_rows(0, G.num_ws)
    torch.testing.assert_close(edited[1, rows] - edited[0, rows], 3 * table.vectors[0].expand(len(rows), -1),
                               atol=1e-5, rtol=0)
    r = run("edit", "--seed", "24", "--direction", "moustache", "--out", tmp_path / "m.png")
    assert r.exit_code == 1 and "no direction named 'moustache'" in r.output and "beard" in r.output


# ---------------------------------------------------------------- paired directions (exact identikit labels)

_PAIR_KEYS = {"beard": {"beard", "beard_color"}, "glasses": {"glasses"},
              "smile": {"expression", "mouth_curve", "mouth_open"}, "grey_hair": {"hair_color", "beard_color"}}


@pytest.mark.parametrize("attribute", dirs.PAIRED_ATTRIBUTES)
def test_paired_attributes_differ_only_in_the_attribute(attribute):
    from stylegan_fast.train import identikit

    used = 0
    for seed in range(12):
        pair = dirs.paired_attributes(attribute, seed)
        base = identikit.sample_attributes(seed)
        if pair is None:  # only grey hair skips faces: bald, already grey, or bearded
            assert attribute == "grey_hair"
            assert base["hair_style"] == "bald" or base["beard"] != "none" or dirs._is_grey(base["hair_color"])
            continue
        used += 1
        without, with_ = pair
        changed = {k for k in base if without[k] != with_[k] or without[k] != base[k] or with_[k] != base[k]}
        assert changed <= _PAIR_KEYS[attribute], changed
        if attribute == "beard":
            assert (without["beard"], with_["beard"]) == ("none", "full")
        elif attribute == "glasses":
            assert (without["glasses"], with_["glasses"]) == ("none", "round")
        elif attribute == "smile":
            assert without["mouth_curve"] < 0.15 < 0.5 < with_["mouth_curve"]
        else:
            assert not dirs._is_grey(without["hair_color"]) and dirs._is_grey(with_["hair_color"])
    assert used >= 4


def test_paired_images_are_labelled_right_by_the_classifier():
    """An independent check of the pairs: the shipped classifier sees the attribute on the 'with' side only."""
    from stylegan_fast import attribute_classifier as ac
    from stylegan_fast.train.identikit import to_tensor

    model = ac.load_default()
    for attribute in dirs.PAIRED_ATTRIBUTES:
        without, with_, seeds = dirs.paired_images(attribute, 6, first_seed=100)
        assert without.shape == with_.shape == (6, 64, 64, 3) and len(set(seeds)) == 6
        p0 = ac.predict(model, to_tensor(without))[attribute].mean()
        p1 = ac.predict(model, to_tensor(with_))[attribute].mean()
        assert float(p1 - p0) > 0.5, (attribute, float(p0), float(p1))


def test_project_w_batch_brings_each_target_closer(g2_16):
    G = g2_16
    torch.manual_seed(0)
    w_true = G.mapping(torch.randn(3, G.z_dim), None)[:, 0]
    with torch.no_grad():
        targets = G.synthesis(w_true[:, None].expand(-1, G.num_ws, -1), noise_mode="const")
    from stylegan_fast.projection import offline_distance

    w = dirs.project_w_batch(G, targets, steps=40)
    assert w.shape == (3, G.w_dim)

    def distance(latents):
        with torch.no_grad():
            return offline_distance(G.synthesis(latents[:, None].expand(-1, G.num_ws, -1), noise_mode="const"),
                                    targets)

    assert bool((distance(w) < 0.5 * distance(G.mapping.w_avg[None].expand(3, -1))).all())
    with pytest.raises(ValueError, match=r"targets must be \[N, 3, 16, 16\]"):
        dirs.project_w_batch(G, targets[:, :, :8], steps=1)


def test_paired_direction_recovers_a_planted_difference(g2_16, monkeypatch):
    """Pairs rendered by G itself from w and w + 3u (u: G's strongest SeFa direction, which changes the image
    most): the direction found must point along u (with 20 steps on a random tiny G it finds part of it; the
    sign and the pairing are what matter here: a random direction has |cos| ~ 1/sqrt(w_dim))."""
    G = g2_16
    gen = torch.Generator().manual_seed(1)
    u = dirs.sefa_directions(G, 1).vectors[0]
    w0 = G.mapping(torch.randn(6, G.z_dim, generator=gen), None)[:, 0]

    def planted(attribute, pairs, first_seed=0, size=64):
        from stylegan_fast.images import to_uint8

        with torch.no_grad():
            imgs = [to_uint8(G.synthesis(w[:, None].expand(-1, G.num_ws, -1), noise_mode="const")).numpy()
                    for w in (w0[:pairs], w0[:pairs] + 3 * u)]
        return imgs[0], imgs[1], list(range(pairs))

    monkeypatch.setattr(dirs, "paired_images", planted)
    found = dirs.paired_direction(G, "smile", pairs=6, steps=20, batch_size=12)
    assert float(found.direction @ u) > max(0.25, 1.5 / math.sqrt(G.w_dim))
    assert 0.3 < found.length < 3.0 and 0.3 < found.consistency <= 1.0
    assert found.seeds == list(range(6))
    with pytest.raises(ValueError, match="unknown attribute 'hat'"):
        dirs.paired_attributes("hat", 0)


def test_cli_boundary_paired(tmp_path, tiny_network):
    path, G = tiny_network
    r = run("boundary", "--network", path, "--attribute", "glasses", "--method", "paired", "--pairs", "2",
            "--steps", "3", "--score-strength", "2", "--out", tmp_path / "g.npz")
    assert r.exit_code == 0, r.output
    d = dirs.load_directions(tmp_path / "g.npz", G.w_dim)
    assert d.names == ["glasses"] and d.scores.shape == (1,) and bool(torch.isfinite(d.scores).all())
    assert "paired direction -> " in r.output and "strength 2" in r.output
    r = run("boundary", "--labels", tmp_path / "x.npz", "--method", "paired", "--out", tmp_path / "b.npy")
    assert r.exit_code == 2 and "--method paired draws its own labelled faces" in r.output
