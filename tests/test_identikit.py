"""The procedural identikit faces: deterministic, well-formed, varied and centred."""
import numpy as np
import pytest
import torch

from stylegan_fast.train import identikit as ik

CATEGORICAL = {
    "hair_length": ik.HAIR_LENGTHS, "hair_style": ik.HAIR_STYLES, "nose_shape": ik.NOSE_SHAPES,
    "expression": ik.EXPRESSIONS, "beard": ik.BEARDS, "glasses": ik.GLASSES, "skin_kind": ik.SKIN_KINDS,
    "hair_part": (-1, 1), "mouth_open": (False, True),
}


@pytest.fixture(scope="module")
def many():
    return [ik.sample_attributes(s) for s in range(500)]


def test_attributes_have_every_key_and_are_deterministic():
    a = ik.sample_attributes(7)
    assert tuple(a) == ik.ATTRIBUTES
    assert a == ik.sample_attributes(7)
    assert a != ik.sample_attributes(8)


def test_same_seed_same_bytes_different_seeds_differ():
    x = ik.face(3)
    assert x.shape == (64, 64, 3) and x.dtype == np.uint8
    assert x.tobytes() == ik.face(3).tobytes()
    assert x.tobytes() == ik.render_face(ik.sample_attributes(3)).tobytes()
    imgs = ik.faces_uint8(range(8))
    flat = [im.tobytes() for im in imgs]
    assert len(set(flat)) == 8
    # Different faces differ a lot, not in a handful of pixels.
    assert np.abs(imgs[0].astype(int) - imgs[1].astype(int)).mean() > 10


def test_faces_tensor_shape_dtype_range():
    t = ik.faces([0, 1, 2], size=32)
    assert isinstance(t, torch.Tensor)
    assert t.shape == (3, 3, 32, 32) and t.dtype == torch.float32
    assert t.min() >= -1.0 and t.max() <= 1.0
    u = ik.faces_uint8([0, 1, 2], size=32)
    assert u.shape == (3, 32, 32, 3) and u.dtype == np.uint8
    torch.testing.assert_close(t, torch.from_numpy(u).permute(0, 3, 1, 2).float() / 127.5 - 1.0)
    assert t.std() > 0.2  # not a flat image


def test_categorical_attributes_cover_every_value(many):
    for key, values in CATEGORICAL.items():
        seen = {a[key] for a in many}
        assert seen == set(values), (key, seen)
    for key in ("skin_color", "hair_color", "eye_color", "bg_color", "shirt_color", "glasses_color"):
        assert len({a[key] for a in many}) > 20, key
    assert all(a["beard_color"] == a["hair_color"] for a in many)


def test_continuous_attributes_span_their_ranges(many):
    for key, (lo, hi) in ik.RANGES.items():
        v = np.array([a[key] for a in many])
        assert v.min() >= lo and v.max() <= hi, key
        assert v.min() < lo + 0.1 * (hi - lo) and v.max() > hi - 0.1 * (hi - lo), key
    by_expr = {e: [a["mouth_curve"] for a in many if a["expression"] == e] for e in ik.EXPRESSIONS}
    assert min(by_expr["smile"]) > max(by_expr["neutral"]) > max(by_expr["frown"])


def test_face_region_is_centred():
    size = 64
    for seed in range(12):
        attrs = ik.sample_attributes(seed)
        img = ik.render_face(attrs, size).astype(int)
        bg = ik._background(attrs, size).astype(int)
        mask = np.abs(img - bg).sum(axis=2) > 30
        assert 0.2 < mask.mean() < 0.8, seed
        ys, xs = np.nonzero(mask)
        assert 0.35 * size < xs.mean() < 0.65 * size, seed
        assert 0.35 * size < ys.mean() < 0.75 * size, seed
        # Corners at the top stay background: the face does not fill the frame.
        assert not mask[:4, :4].any() and not mask[:4, -4:].any(), seed


def test_other_sizes():
    for size in (16, 32, 128):
        x = ik.face(5, size)
        assert x.shape == (size, size, 3) and x.dtype == np.uint8


def test_cli_writes_grid(tmp_path):
    out = tmp_path / "grid.png"
    ik.main(["--out", str(out), "--n", "4", "--size", "16"])
    from PIL import Image
    assert Image.open(out).size == (32, 32)
