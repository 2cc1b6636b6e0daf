"""The attribute classifier for the built-in model's faces: shipped weights, held-out accuracy, API, training."""
import os

import numpy as np
import pytest
import torch

from stylegan_fast import attribute_classifier as ac
from stylegan_fast.models import DEMO_MODEL_FILE
from stylegan_fast.train import attribute_classifier as tac
from stylegan_fast.train import identikit as ik

# Faces from seeds that neither the classifier's training (1,000,000 ..), its reported held-out set
# (2,000,000 ..) nor the demo model (0 .. 19,999) used.
TEST_SEED0 = 3_000_000
N_TEST = 300


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    return ac.load_default()


@pytest.fixture(scope="module")
def test_set():
    x, y, attrs = tac.dataset(TEST_SEED0, N_TEST, "test faces")
    return x.float() / 127.5 - 1, y, attrs


def _scores(probs, y):
    out = {}
    for i, name in enumerate(ac.ATTRIBUTES):
        pred = probs[name] >= 0.5
        truth = y[:, i] > 0.5
        acc = float((pred == truth).float().mean())
        tpr = float((pred & truth).sum() / truth.sum())
        tnr = float((~pred & ~truth).sum() / (~truth).sum())
        out[name] = (acc, (tpr + tnr) / 2)
    return out


def test_shipped_weights_load_small_and_frozen(model):
    assert ac.DEFAULT_FILE.is_file()
    assert ac.DEFAULT_FILE.stat().st_size < 500_000
    assert isinstance(model, torch.nn.Module) and not model.training
    assert model.attributes == ac.ATTRIBUTES == ("beard", "glasses", "smile", "grey_hair")
    assert all(not p.requires_grad and p.dtype == torch.float32 for p in model.parameters())
    meta = ac.read_metadata(ac.DEFAULT_FILE)
    assert meta["config"]["attributes"] == list(ac.ATTRIBUTES)
    assert set(meta["report"]["heldout"]) == set(ac.ATTRIBUTES)


def test_label_rates_match_the_identikit_draws():
    # Independent of labels(): the rates follow from sample_attributes' probabilities
    # (beard 0.15 + 0.2, glasses 0.18 + 0.17, smile 0.5, grey hair (5 + 3) / 96 of the hair weights
    # times 0.9 not bald).
    y = np.stack([tac.labels(ik.sample_attributes(s)) for s in range(5_000_000, 5_004_000)])
    expected = [0.35, 0.35, 0.5, 8 / 96 * 0.9]
    for rate, e in zip(y.mean(0), expected):
        assert abs(rate - e) < 4 * np.sqrt(e * (1 - e) / len(y)) + 1e-3
    bald_grey = ik.sample_attributes(0)
    bald_grey.update(hair_style="bald", hair_color=(150, 150, 150))
    assert not tac.is_grey_hair(bald_grey)
    bald_grey["hair_style"] = "flat"
    assert tac.is_grey_hair(bald_grey)
    bald_grey["hair_color"] = (150, 150, 120)   # a yellowish grey is not a palette grey
    assert not tac.is_grey_hair(bald_grey)


def test_heldout_accuracy(model, test_set):
    x, y, _ = test_set
    scores = _scores(ac.predict(model, x), y)
    # Measured on these 300 faces with the shipped weights: accuracy 0.99 / 0.983 / 0.99 / 1.0 and balanced
    # accuracy 0.988 / 0.981 / 0.991 / 1.0 (beard / glasses / smile / grey hair); the thresholds leave a margin.
    for name, (acc, bal) in scores.items():
        assert acc >= 0.95, (name, acc)
        assert bal >= 0.93, (name, bal)


def test_robust_to_blur_noise_and_other_sizes(model, test_set):
    # The generator's faces are softer than the identikit's: blurred, noisy faces and faces given at
    # another resolution are still labelled well.
    x, y, _ = test_set
    soft = tac._gaussian_blur(x, 0.8) + 0.03 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    for name, (acc, _) in _scores(ac.predict(model, soft), y).items():   # measured: 0.983 or more
        assert acc >= 0.93, (name, acc)
    big = torch.nn.functional.interpolate(x[:100], scale_factor=2, mode="bilinear", align_corners=False)
    for name, (acc, _) in _scores(ac.predict(model, big), y[:100]).items():   # measured: 0.98 or more
        assert acc >= 0.93, (name, acc)


def test_batch_equals_one_by_one(model, test_set):
    x = test_set[0][:6]
    batch = ac.predict(model, x)
    for i in range(len(x)):
        one = ac.predict(model, x[i:i + 1])
        for name in ac.ATTRIBUTES:
            assert one[name].shape == (1,)
            torch.testing.assert_close(one[name][0], batch[name][i], atol=1e-5, rtol=0)
    assert all(batch[name].shape == (6,) and batch[name].dtype == torch.float32 for name in ac.ATTRIBUTES)
    assert all(((batch[name] >= 0) & (batch[name] <= 1)).all() for name in ac.ATTRIBUTES)
    empty = ac.predict(model, x[:0])
    assert all(empty[name].shape == (0,) for name in ac.ATTRIBUTES)


@pytest.mark.parametrize("bad, message", [
    (torch.zeros(3, 64, 64), "4 dimensions"),
    (torch.zeros(2, 1, 64, 64), "3 colour channels"),
    (torch.zeros(2, 64, 64, 3), "3 colour channels"),
    (torch.zeros(2, 3, 64, 32), "square"),
    (torch.zeros(2, 3, 4, 4), "at least 8x8"),
    (torch.zeros(2, 3, 64, 64, dtype=torch.uint8), "floating point"),
    (np.zeros((2, 3, 64, 64), np.float32), "torch.Tensor"),
])
def test_bad_input_is_a_clear_error(model, bad, message):
    with pytest.raises(ValueError, match=message):
        ac.predict(model, bad)


def test_load_rejects_other_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ac.load(tmp_path / "missing.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file at all")
    with pytest.raises(ValueError, match="not a readable safetensors"):
        ac.load(junk)
    with pytest.raises(ValueError, match="not an attribute classifier"):
        ac.load(DEMO_MODEL_FILE)


def test_tiny_training_run_writes_a_loadable_file(tmp_path, capsys):
    out = tmp_path / "sub" / "tiny.safetensors"
    tac.main(["--out", str(out), "--steps", "3", "--seed", "5", "--train-size", "24", "--holdout-size", "12",
              "--batch", "8", "--width", "8"])
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and all(name in printed for name in ac.ATTRIBUTES)
    assert [p.name for p in out.parent.iterdir()] == ["tiny.safetensors"]   # no temporary file left
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask   # the usual permissions, not save_file's 0600
    m = ac.load(out)
    assert m.width == 8 and m.attributes == ac.ATTRIBUTES
    meta = ac.read_metadata(out)
    assert meta["report"]["steps"] == 3 and meta["report"]["seed"] == 5
    probs = ac.predict(m, ik.faces([1, 2], size=48))
    assert all(p.shape == (2,) and torch.isfinite(p).all() for p in probs.values())
    # Same seed, same weights: the command is reproducible.
    again = tmp_path / "again.safetensors"
    tac.train(again, steps=3, seed=5, train_size=24, holdout_size=12, batch=8, width=8, progress=False)
    m2 = ac.load(again)
    for (k, a), (_, b) in zip(m.state_dict().items(), m2.state_dict().items()):
        assert torch.equal(a, b), k


def test_training_command_rejects_bad_arguments(tmp_path, capsys):
    with pytest.raises(SystemExit):
        tac.main(["--out", str(tmp_path / "x.safetensors"), "--steps", "0"])
    assert "--steps must be at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tac.main(["--out", str(tmp_path), "--steps", "1"])
    assert "is a folder" in capsys.readouterr().err
