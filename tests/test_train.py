"""The demo trainer: a few real iterations, snapshots, resume; the quality metrics' formulas."""
import json

import numpy as np
import pytest
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


# --- layer-role regularization (train/layer_roles.py) and the layer-group measurement (quality.py) ---

def _flat(colours, size=8):
    """[N, 3, size, size] image whose pixels take the given [-1, 1] colours in equal vertical stripes."""
    img = torch.zeros(1, 3, size, size)
    for i, c in enumerate(colours):
        img[0, :, :, i * size // len(colours):(i + 1) * size // len(colours)] = torch.tensor(c)[:, None, None]
    return img


def test_palette_is_presence_not_area():
    from stylegan_fast.train.layer_roles import BINS, palette

    red, blue = (1.0, -1.0, -1.0), (-1.0, -1.0, 1.0)
    p = palette(_flat([red]))
    red_bin = (BINS - 1) * BINS * BINS  # r in the top bin, g and b in the bottom one
    assert p.shape == (1, BINS ** 3) and p[0].argmax() == red_bin and p[0, red_bin] > 0.99
    assert p[0].sort().values[-2] < 1e-6  # nothing else present
    # A colour covering 1/8 of the picture is nearly as present as one covering 7/8 ...
    small = palette(_flat([red] + [blue] * 7))[0]
    assert small[red_bin] > 0.85 and small[red_bin] < small[BINS - 1]
    # ... and a colour that is absent is absent.
    assert palette(_flat([blue]))[0, red_bin] < 1e-6


def test_forward_difference_edges():
    from stylegan_fast.train.layer_roles import edges

    img = _flat([(-1.0, -1.0, -1.0), (1.0, 1.0, 1.0)])  # black | white, vertical seam between columns 3 and 4
    e = edges(img)[0, 0]
    assert e.shape == (7, 7)
    assert torch.allclose(e[:, 3], torch.full((7,), 2.0), atol=1e-3) and e[:, [0, 1, 2, 4, 5, 6]].max() < 1e-3


def test_layer_role_loss_is_zero_when_styles_do_nothing_and_has_gradients():
    from stylegan_fast.train.layer_roles import layer_role_loss

    torch.manual_seed(0)
    G = sf.Generator.from_config(arch="stylegan2", resolution=16, z_dim=8, w_dim=8, channel_base=64,
                                 channel_max=8, backend="reference")
    z1, z2 = torch.randn(2, 3, 8)
    loss = layer_role_loss(G, z1, z2)
    assert loss > 0
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in G.synthesis.parameters())
    with torch.no_grad():  # the same face for both z: every swap is a no-op
        assert layer_role_loss(G, z1, z1).item() < 1e-6


def test_train_with_layer_reg_logs_it(tmp_path):
    opts = TrainOptions(out=str(tmp_path / "run"), iterations=2, batch=4, dataset_size=8, sample_every=2,
                        snapshot_every=2, layer_reg=1.0, layer_reg_interval=1, layer_reg_batch=2)
    train(opts)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert log[0]["layer"] > 0 and np.isfinite(log[0]["layer"])


def test_layer_group_effects_measure_what_they_say():
    class Painter(torch.nn.Module):
        """A stand-in generator: ws row 0 sets a square's size (outline), row 9 its colour (palette)."""
        config = sf.GeneratorConfig(arch="stylegan2", resolution=64, z_dim=4, w_dim=4)
        z_dim, num_ws, device = 4, 10, torch.device("cpu")

        def mapping(self, z):
            return z.float()[:, None, :].expand(-1, self.num_ws, -1).clone()

        def synthesis(self, ws, noise_mode="const"):
            img = torch.full((ws.shape[0], 3, 8, 8), -1.0)
            for i, w in enumerate(ws):
                half = 2 + int(1.99 * torch.sigmoid(w[0, 0]))
                colour = 0.5 + 0.5 * torch.tanh(3 * w[9, 1:4])  # always well clear of the black background
                img[i, :, 4 - half:4 + half, 4 - half:4 + half] = colour[:, None, None]
            return img

    G = Painter()
    groups = sf.layer_groups(G.config)  # 64 px StyleGAN2: coarse = ws 0-2, medium 3-6, fine 7-9
    assert 0 in groups["coarse"] and 9 in groups["fine"]
    r = quality.layer_group_effects(G, n=32)
    assert r["coarse"]["outline"] > 0.5 and r["coarse"]["palette"] < 0.5 * r["coarse"]["outline"]
    assert r["fine"]["palette"] > 0.5 and r["fine"]["outline"] < 0.1  # rounding can flip ties at the quantile
    assert r["medium"]["outline"] == 0 and r["medium"]["palette"] == 0
    assert r["all"]["outline"] > 0 and r["all"]["palette"] > 0


def test_train_other_resolution_and_refuse_mismatched_resume(tmp_path):
    opts = TrainOptions(out=str(tmp_path / "run"), iterations=1, batch=2, dataset_size=4, resolution=32,
                        channel_base=256, channel_max=16)
    G = sf.Generator.load(train(opts))
    assert G.img_resolution == 32 and G.config.channels(32) == 8
    with pytest.raises(ValueError, match="--resolution"):
        train(TrainOptions(**{**opts.__dict__, "iterations": 2, "resolution": 64}))


def test_edge_mask_finds_outlines_whatever_their_colours():
    img = torch.full((1, 3, 16, 16), -1.0)
    img[0, :, 4:12, 4:12] = torch.tensor([0.8, -0.2, 0.1])[:, None, None]  # a square on black
    mask = quality.edge_mask(img)
    assert mask[0, 5:11, 3:5].all() and not mask[0, 7:9, 7:9].any() and not mask[0, :2, :2].any()
    recoloured = img.clone()
    recoloured[0, :, 4:12, 4:12] = torch.tensor([-0.6, 0.9, -0.3])[:, None, None]  # same square, other colour
    assert quality.jaccard_distance(quality.edge_mask(recoloured), mask).item() == 0
    moved = img.roll(3, dims=3)
    d = quality.jaccard_distance(quality.edge_mask(moved), mask).item()
    assert 0.5 < d <= 1
