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


def test_train_without_noise_holds_noise_strengths_at_zero(tmp_path):
    opts = TrainOptions(out=str(tmp_path / "run"), iterations=2, batch=2, dataset_size=4, sample_every=2,
                        snapshot_every=2, r1_interval=2)
    train(opts)
    strengths = {k: v for k, v in sf.Generator.load(tmp_path / "run" / "network-latest.safetensors").state_dict()
                 .items() if k.endswith("noise_strength")}
    assert strengths and any(v.any() for v in strengths.values())  # trained away from their initial 0
    from stylegan_fast.train.__main__ import main

    main(["--out", opts.out, "--iterations", "4", "--batch", "2", "--dataset-size", "4", "--r1-interval", "2",
          "--no-noise"])  # resumed: zeroed, then held
    state = torch.load(tmp_path / "run" / "state.pt", weights_only=True)
    for model in ("G", "G_ema"):
        assert all(not state[model][k].any() for k in strengths), model


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

def test_attribute_targets_are_the_drawn_attributes():
    from stylegan_fast.train import attributes, identikit

    seeds = range(200)
    bald = next(s for s in seeds if identikit.sample_attributes(s)["hair_style"] == "bald")
    for seed in (0, bald):
        a = identikit.sample_attributes(seed)
        colours, weights, shape = attributes.targets(seed)
        assert colours.shape == weights.shape == (attributes.NUM_COLOURS,) and shape.shape == (attributes.NUM_SHAPES,)
        assert np.allclose(colours[6:9], np.array(a["bg_color"]) / 255)  # skin, hair, then the background
        hair_weight = weights[3:6]
        assert (hair_weight == 0).all() if seed == bald else (hair_weight == 1).all()
        k = len(attributes.SHAPES)
        lo, hi = identikit.RANGES["face_width"]
        assert shape[0] == pytest.approx((a["face_width"] - lo) / (hi - lo))
        assert (shape[:k] >= 0).all() and (shape[:k] <= 1).all()
        n_len = len(identikit.HAIR_LENGTHS)
        assert shape[k:k + n_len].sum() == 1 and shape[k + n_len:].sum() == 1  # one-hot length and style
        assert shape[k + n_len + identikit.HAIR_STYLES.index(a["hair_style"])] == 1


def test_attribute_net_learns_colours_better_than_the_mean(tmp_path):
    from stylegan_fast.train import attributes, identikit

    n, holdout = 500, 100
    pool = torch.from_numpy(np.ascontiguousarray(identikit.faces_uint8(range(n), 64).transpose(0, 3, 1, 2)))
    report = attributes.train(pool, tmp_path / "a.pt", steps=120, batch=32, width=16, holdout=holdout)
    colours, weights = zip(*[attributes.targets(s)[:2] for s in range(n)])
    colours, weights = np.stack(colours), np.stack(weights)
    mean = (colours[:-holdout] * weights[:-holdout]).sum(0) / weights[:-holdout].sum(0)
    baseline = (weights[-holdout:] * np.abs(colours[-holdout:] - mean)).sum() / weights[-holdout:].sum()
    # Measured: 0.085 vs 0.229 (150 steps on 600 faces).
    assert report["colour_mae"] < 0.6 * baseline, (report, baseline)


def _tiny_attribute_net(tmp_path):
    from stylegan_fast.train import attributes, identikit

    pool = torch.from_numpy(np.ascontiguousarray(identikit.faces_uint8(range(12), 64).transpose(0, 3, 1, 2)))
    path = tmp_path / "attributes.pt"
    report = attributes.train(pool, path, steps=3, batch=4, width=8, holdout=4)
    assert np.isfinite(report["colour_mae"]) and np.isfinite(report["shape_mae"])
    return path


def test_lowpass_attribute_net_ignores_pixel_scale_patterns(tmp_path):
    from stylegan_fast.train import attributes, identikit

    pool = torch.from_numpy(np.ascontiguousarray(identikit.faces_uint8(range(8), 64).transpose(0, 3, 1, 2)))
    attributes.train(pool, tmp_path / "a.pt", steps=2, batch=4, width=8, holdout=4, lowpass=2)
    net = attributes.load(tmp_path / "a.pt")
    assert net.lowpass == 2  # kept in the file
    img = pool[:2].float() / 127.5 - 1
    checker = 0.3 * (torch.arange(64)[:, None] + torch.arange(64)[None, :]).remainder(2).mul(2).sub(1).float()
    with torch.no_grad():
        (c0, s0), (c1, s1) = net(img), net(img + checker)  # the 2x2 blocks' means are unchanged
        (c2, _) = net(img + checker.roll(1, 0).abs())  # a pattern with a mean of its own is seen
    torch.testing.assert_close(c1, c0, atol=1e-5, rtol=0)
    torch.testing.assert_close(s1, s0, atol=1e-5, rtol=0)
    assert (c2 - c0).abs().max() > 1e-3


def test_match_loss_matches_cross_entropy_by_hand():
    import math

    from stylegan_fast.train.layer_roles import match_loss

    torch.manual_seed(0)
    pred, target = torch.rand(4, 3, dtype=torch.float64), torch.rand(4, 3, dtype=torch.float64)
    tau = 0.1
    expected = 0.0
    for i in range(4):
        scores = [-sum(abs(pred[i, k] - target[j, k]) for k in range(3)) / 3 / tau for j in range(4)]
        expected += -(scores[i] - math.log(sum(math.exp(x) for x in scores))) / 4
    assert match_loss(pred, target, tau).item() == pytest.approx(float(expected), rel=1e-9)
    distinct = torch.eye(4, dtype=torch.float64)
    assert match_loss(distinct, distinct, 0.01) < 1e-6  # each face recognised
    same = torch.zeros(4, 3, dtype=torch.float64)
    assert match_loss(same, same).item() == pytest.approx(math.log(4))  # all alike: no better than chance


def test_layer_role_loss_rewards_swaps_that_do_what_they_should_and_has_gradients(tmp_path):
    from stylegan_fast.train import attributes
    from stylegan_fast.train.layer_roles import layer_role_loss

    net = attributes.load(_tiny_attribute_net(tmp_path))
    assert not any(p.requires_grad for p in net.parameters()) and not net.training
    torch.manual_seed(0)
    G = sf.Generator.from_config(arch="stylegan2", resolution=16, z_dim=8, w_dim=8, channel_base=64,
                                 channel_max=8, backend="reference")
    z1, z2 = torch.randn(2, 3, 8)
    loss = layer_role_loss(G, net, z1, z2)
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in G.synthesis.parameters())
    with torch.no_grad():  # the same faces for both z: every swap keeps every face, the best case
        assert layer_role_loss(G, net, z1, z1) < loss
        # The shape term enters linearly with its weight: loss(w) = colour terms + w * shape term.
        losses = []
        for w in (0.0, 1.0, 3.0):
            torch.manual_seed(1)  # the same noise images for each
            losses.append(layer_role_loss(G, net, z1, z2, shape_weight=w).double())
        l0, l1, l3 = losses
        exact = []
        for w in (0.0, 1.0, 2.0):  # the exact-match terms: positive, and linear in their weight too
            torch.manual_seed(1)
            exact.append(layer_role_loss(G, net, z1, z2, exact_weight=w).double())
    assert l1 > l0 and (l3 - l0).item() == pytest.approx(3 * (l1 - l0).item(), rel=1e-4)
    assert exact[0].item() == pytest.approx(l1.item(), rel=1e-6)
    assert exact[1] > exact[0] and (exact[2] - exact[0]).item() == pytest.approx(2 * (exact[1] - exact[0]).item(),
                                                                                 rel=1e-4)


def test_train_with_attribute_net_logs_layer_reg(tmp_path):
    opts = TrainOptions(out=str(tmp_path / "run"), iterations=2, batch=4, dataset_size=8, sample_every=2,
                        snapshot_every=2, layer_reg=1.0, layer_reg_interval=1, layer_reg_batch=2,
                        attribute_net=str(_tiny_attribute_net(tmp_path)))
    train(opts)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert log[0]["layer"] > 0 and np.isfinite(log[0]["layer"])


def test_layer_reg_without_attribute_net_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(ValueError, match="--layer-reg needs --attribute-net"):
        train(TrainOptions(out=str(tmp_path / "run"), iterations=1, layer_reg=1.0))
    assert not (tmp_path / "run").exists()
    from stylegan_fast.train.__main__ import main

    with pytest.raises(SystemExit) as exit_info:  # the command line says it as a usage error, no traceback
        main(["--out", str(tmp_path / "run"), "--layer-reg", "1"])
    assert exit_info.value.code == 2 and "--attribute-net" in capsys.readouterr().err


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


def test_dataset_colour_swaps_measure_as_palette_and_shape_swaps_as_outline():
    # The layer-effect measure on the dataset itself, where colour and shape attributes are known and
    # independent: what a generator with perfectly separated layers would score. Measured with n=64:
    # colours outline 0.37, palette 1.00 (2.7x); shape outline 0.98, palette 0.17.
    r = quality.dataset_swap_effects(n=32)
    assert r["colours"]["palette"] > 2 * r["colours"]["outline"], r
    assert r["shape"]["outline"] > 3 * r["shape"]["palette"], r


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
