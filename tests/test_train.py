"""The demo trainer: a few real iterations, snapshots, resume; the quality metrics' formulas."""
import json

import numpy as np
import torch

import stylegan_fast as sf
from stylegan_fast.train import quality
from stylegan_fast.train.discriminator import Discriminator, minibatch_stddev
from stylegan_fast.train.trainer import TrainOptions, train


def test_train_writes_snapshots_and_resumes(tmp_path):
    opts = TrainOptions(out=str(tmp_path / "run"), iterations=3, batch=4, dataset_size=8, sample_every=2,
                        snapshot_every=2, r1_interval=2)
    path = train(opts)
    G = sf.Generator.load(path)
    assert G.img_resolution == 64 and G.source_format == "stylegan_fast"
    assert (tmp_path / "run" / "fakes000002.png").is_file() and (tmp_path / "run" / "fakes000003.png").is_file()
    state = torch.load(tmp_path / "run" / "state.pt", weights_only=True)
    assert state["iteration"] == 3
    assert not torch.equal(G.mapping.w_avg, torch.zeros_like(G.mapping.w_avg))  # w_avg is tracked
    before = {k: v.clone() for k, v in state["G"].items()}
    train(TrainOptions(**{**opts.__dict__, "iterations": 5}))
    state = torch.load(tmp_path / "run" / "state.pt", weights_only=True)
    assert state["iteration"] == 5  # resumed from 3, not restarted
    assert any(not torch.equal(before[k], state["G"][k]) for k in before)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert log and all(np.isfinite(r["loss_D"]) and np.isfinite(r["loss_G"]) for r in log)


def test_discriminator_shapes_and_gradients():
    torch.manual_seed(0)
    D = Discriminator(resolution=16, channel_base=64, channel_max=8)
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    logits = D(x)
    assert logits.shape == (4,)
    (g,) = torch.autograd.grad(logits.sum(), x)
    assert g.abs().sum() > 0


def test_minibatch_stddev_matches_formula():
    x = torch.randn(8, 3, 2, 2, dtype=torch.float64)
    y = minibatch_stddev(x, group_size=4)
    assert y.shape == (8, 4, 2, 2)
    groups = x.reshape(4, 2, 3, 2, 2)  # sample i belongs to group i % 2
    for j in range(2):
        std = groups[:, j].std(dim=0, unbiased=False)  # over the 4 members, per feature
        expected = (std.square() + 1e-8).sqrt().mean()
        for member in range(4):
            assert torch.allclose(y[member * 2 + j, 3], expected.expand(2, 2))


def test_frechet_distance_matches_gaussian_formula():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, size=(20000, 2))
    b = rng.normal(0, 1, size=(20000, 2)) * np.array([2.0, 1.0]) + np.array([3.0, 0.0])
    # N(0, I) vs N((3, 0), diag(4, 1)): 9 + (1 + 4 - 2*2) + (1 + 1 - 2*1) = 10
    assert abs(quality.frechet_distance(a, b) - 10.0) < 0.3
    assert quality.frechet_distance(a, a) < 1e-6


def test_colour_tv_bounds():
    black = np.zeros((2, 4, 4, 3), np.uint8)
    white = np.full((2, 4, 4, 3), 255, np.uint8)
    assert quality.colour_tv(black, white) == 1.0 and quality.colour_tv(black, black) == 0.0
