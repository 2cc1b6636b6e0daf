"""Layer groups, layer selections, style mixing and its figures (grid, family strip)."""
import numpy as np
import pytest
import torch

import stylegan_fast as sf


def _ws_pair(G, n=2):
    """Two ws batches in which every row of every sample differs."""
    ws_a = torch.randn(n, G.num_ws, G.w_dim)
    ws_b = torch.randn(n, G.num_ws, G.w_dim)
    assert (ws_a - ws_b).abs().amin(dim=2).min() > 0
    return ws_a, ws_b


def _check_mixed(out, ws_a, ws_b, rows):
    assert out.shape == ws_a.shape
    for i in range(ws_a.shape[1]):
        src = ws_b if i in rows else ws_a
        assert torch.equal(out[:, i], src[:, i].expand_as(out[:, i])), f"row {i}"


@pytest.mark.parametrize("arch_, expected", [
    ("stylegan1", {"coarse": list(range(0, 4)), "medium": list(range(4, 8)), "fine": list(range(8, 18))}),
    ("stylegan2", {"coarse": [0, 1, 2], "medium": list(range(3, 7)), "fine": list(range(7, 18))}),
])
def test_layer_groups_1024(arch_, expected):
    cfg = sf.GeneratorConfig(arch=arch_, resolution=1024)
    assert cfg.num_ws == 18
    assert sf.layer_groups(cfg) == expected


@pytest.mark.parametrize("res", [8, 16, 32, 64, 256, 1024])
def test_layer_groups_partition_ws(arch, res):
    cfg = sf.GeneratorConfig(arch=arch, resolution=res, channel_base=res)
    groups = sf.layer_groups(cfg)
    assert set(groups) == {"coarse", "medium", "fine"}
    flat = groups["coarse"] + groups["medium"] + groups["fine"]
    assert flat == list(range(cfg.num_ws))  # disjoint, complete, and in coarse-to-fine order
    # each group holds the rows of its resolutions
    for name, (lo, hi) in {"coarse": (4, 8), "medium": (16, 32), "fine": (64, 1024)}.items():
        assert all(lo <= cfg.ws_resolution(i) <= hi for i in groups[name])


def test_layer_groups_small_resolutions():
    g = sf.layer_groups(sf.GeneratorConfig(arch="stylegan2", resolution=8, channel_base=8))
    assert g == {"coarse": [0, 1, 2, 3], "medium": [], "fine": []}
    g = sf.layer_groups(sf.GeneratorConfig(arch="stylegan1", resolution=16, channel_base=16))
    assert g == {"coarse": [0, 1, 2, 3], "medium": [4, 5], "fine": []}


def test_generator_layer_groups_and_style_layers(g16):
    G = g16
    assert G.layer_groups == sf.layer_groups(G.config)
    assert G.style_layers("coarse") == G.layer_groups["coarse"]
    assert G.style_layers("0-2,5") == [0, 1, 2, 5]
    assert G.style_layers([4, 1]) == [1, 4]
    assert G.style_layers(3) == [3]


@pytest.fixture
def g64(make_generator, arch):
    return make_generator(arch, 64, channel_base=256, channel_max=8)  # all three groups non-empty


@pytest.mark.parametrize("spec", ["coarse", "medium", "fine", "coarse,fine"])
def test_mix_groups(g64, spec):
    G = g64
    ws_a, ws_b = _ws_pair(G)
    rows = set()
    for name in spec.split(","):
        rows.update(G.layer_groups[name])
    assert rows
    out = sf.mix(ws_a, ws_b, spec, generator=G)
    _check_mixed(out, ws_a, ws_b, rows)
    # inputs untouched
    assert not torch.equal(out, ws_a)


@pytest.mark.parametrize("spec, rows", [("0-3", {0, 1, 2, 3}), ("1", {1}), ("0-1,4", {0, 1, 4}),
                                        ([5, 0], {0, 5}), ((2,), {2}), (3, {3}), ("2-2", {2}),
                                        ("0-5", set(range(6)))])
def test_mix_ranges_and_lists(make_generator, spec, rows):
    G = make_generator("stylegan2", 16)  # num_ws 6
    ws_a, ws_b = _ws_pair(G)
    a0, b0 = ws_a.clone(), ws_b.clone()
    out = sf.mix(ws_a, ws_b, spec)  # indices need no generator
    _check_mixed(out, ws_a, ws_b, rows)
    assert torch.equal(ws_a, a0) and torch.equal(ws_b, b0)
    assert torch.equal(sf.mix(ws_a, ws_b, spec, generator=G), out)


def test_mix_broadcasts_single_ws_b(g64):
    G = g64
    ws_a = torch.randn(3, G.num_ws, G.w_dim)
    ws_b = torch.randn(1, G.num_ws, G.w_dim)
    out = sf.mix(ws_a, ws_b, "fine", generator=G)
    _check_mixed(out, ws_a, ws_b, set(G.layer_groups["fine"]))


def test_mix_errors(g16):
    G = g16
    ws_a, ws_b = _ws_pair(G)
    with pytest.raises(ValueError, match="cannot parse layer selection 'ultra'"):
        sf.mix(ws_a, ws_b, "ultra", generator=G)
    with pytest.raises(ValueError, match=r"layer indices \[6, 7\] out of range.*num_ws=6"):
        sf.mix(ws_a, ws_b, "4-7", generator=G)
    with pytest.raises(ValueError, match="out of range"):
        sf.mix(ws_a, ws_b, [-1])
    with pytest.raises(ValueError, match="out of range"):
        sf.mix(ws_a, ws_b, 6)
    with pytest.raises(ValueError, match="'coarse' depends on the architecture.*generator=G"):
        sf.mix(ws_a, ws_b, "coarse")
    with pytest.raises(ValueError, match="'3-1' is empty"):
        sf.mix(ws_a, ws_b, "3-1")
    with pytest.raises(ValueError, match="empty layer selection"):
        sf.mix(ws_a, ws_b, " , ")
    with pytest.raises(ValueError, match="cannot parse"):
        sf.mix(ws_a, ws_b, "-1")
    with pytest.raises(ValueError, match="ws_a and ws_b must both be"):
        sf.mix(ws_a, ws_b[:, :-1], "0")
    with pytest.raises(ValueError, match="ws_a and ws_b must both be"):
        sf.mix(ws_a[0], ws_b[0], "0")


def test_mixed_synthesis_changes_only_when_rows_differ(g64):
    G = g64
    z = torch.randn(2, G.z_dim)
    ws_a = G.mapping(z[:1])
    ws_b = G.mapping(z[1:])
    img_a = G.synthesis(ws_a)
    # ws_c agrees with ws_a on the fine rows and with ws_b elsewhere: mixing its fine rows into
    # ws_a changes no ws row, so the image must be bit-identical.
    fine = G.layer_groups["fine"]
    ws_c = sf.mix(ws_b, ws_a, fine)
    same = sf.mix(ws_a, ws_c, fine)
    assert torch.equal(same, ws_a)
    assert torch.equal(G.synthesis(same), img_a)
    # every single row influences the image once it differs
    for i in range(G.num_ws):
        mixed = sf.mix(ws_a, ws_b, [i])
        assert (G.synthesis(mixed) - img_a).abs().max() > 1e-4, f"ws row {i} has no effect"
    for group in ("coarse", "medium", "fine"):
        mixed = sf.mix(ws_a, ws_b, group, generator=G)
        assert (G.synthesis(mixed) - img_a).abs().max() > 1e-4, group


def test_parse_layers_direct():
    groups = {"coarse": [0, 1], "medium": [2], "fine": [3]}
    assert sf.parse_layers("fine,0", 4, groups) == [0, 3]
    assert sf.parse_layers("0-1,1-2", 4) == [0, 1, 2]  # duplicates merged, sorted
    with pytest.raises(ValueError, match="out of range"):
        sf.parse_layers([4], 4)


def _render(G, ws, noise_mode="const"):
    """ws [N, num_ws, w_dim] rendered as one batch -> uint8 [N, H, W, C]."""
    return sf.to_uint8(G.synthesis(ws, noise_mode=noise_mode)).numpy()


def _alone(G, ws, noise_mode="const"):
    """Each ws [N, num_ws, w_dim] rendered in a batch of its own -> uint8 [N, H, W, C]."""
    return np.stack([_render(G, w[None], noise_mode)[0] for w in ws])


@pytest.mark.parametrize("noise_mode", ["const", "none"])
def test_style_mixing_grid_layout(g16, noise_mode):
    G = g16
    rows, cols = G.mapping(torch.randn(2, G.z_dim)), G.mapping(torch.randn(3, G.z_dim))
    grid = sf.style_mixing_grid(G, rows, cols, "0-2", noise_mode)
    assert grid.dtype == np.uint8 and grid.shape == (3 * 16, 4 * 16, 3)  # header row + 2, corner + 3 columns
    tile = lambda r, c: grid[r * 16:(r + 1) * 16, c * 16:(c + 1) * 16]  # noqa: E731
    assert not tile(0, 0).any()  # blank corner
    # Bit for bit against the same batches (the column faces, the row faces, each column's mixes):
    # a face rendered in another batch size may differ by float rounding (see the 1x1 test below).
    for j, face in enumerate(_render(G, cols, noise_mode)):  # header row: the column faces
        np.testing.assert_array_equal(tile(0, j + 1), face)
    for i, face in enumerate(_render(G, rows, noise_mode)):  # first column: the row faces
        np.testing.assert_array_equal(tile(i + 1, 0), face)
    for j in range(3):  # cell (i, j): row face i with layers 0-2 of column face j
        for i, mixed in enumerate(_render(G, sf.mix(rows, cols[j:j + 1], [0, 1, 2]), noise_mode)):
            np.testing.assert_array_equal(tile(i + 1, j + 1), mixed)
    assert not np.array_equal(tile(1, 1), tile(1, 0)) and not np.array_equal(tile(1, 1), tile(0, 1))


def test_style_mixing_grid_one_by_one_is_the_faces_rendered_alone(g16):
    G = g16
    row, col = G.mapping(torch.randn(1, G.z_dim)), G.mapping(torch.randn(1, G.z_dim))
    grid = sf.style_mixing_grid(G, row, col, "coarse")
    expected = _alone(G, torch.cat([col, row, sf.mix(row, col, G.layer_groups["coarse"])]))
    np.testing.assert_array_equal(grid[:16, 16:], expected[0])  # header: the column face
    np.testing.assert_array_equal(grid[16:, :16], expected[1])  # first column: the row face
    np.testing.assert_array_equal(grid[16:, 16:], expected[2])
    assert not grid[:16, :16].any()


def test_style_mixing_grid_groups_and_errors(g64):
    G = g64
    rows, cols = G.mapping(torch.randn(1, G.z_dim)), G.mapping(torch.randn(1, G.z_dim))
    grid = sf.style_mixing_grid(G, rows, cols, "fine")
    expected = _alone(G, sf.mix(rows, cols, G.layer_groups["fine"]))[0]
    np.testing.assert_array_equal(grid[64:, 64:], expected)
    with pytest.raises(ValueError, match="cannot parse layer selection 'nose'"):
        sf.style_mixing_grid(G, rows, cols, "nose")
    with pytest.raises(ValueError, match=rf"col_ws must be \[N, {G.num_ws}, {G.w_dim}\]"):
        sf.style_mixing_grid(G, rows, cols[0], "fine")
    with pytest.raises(ValueError, match="row_ws must be"):
        sf.style_mixing_grid(G, rows[:0], cols, "fine")


def test_family_strip_tiles_are_the_separate_images(g16):
    G = g16
    ws_a, ws_b = G.mapping(torch.randn(2, G.z_dim)).split(1)
    strip, kid = sf.family_strip(G, ws_a, ws_b, "0-2")
    assert strip.dtype == np.uint8 and strip.shape == (16, 4 * 16, 3)
    assert torch.equal(kid, sf.mix(ws_b, ws_a, [0, 1, 2]))  # A's layers 0-2, B's others
    four = torch.cat([ws_a, kid, sf.mix(ws_a, ws_b, [0, 1, 2]), ws_b])
    expected = _render(G, four)  # the strip renders the four faces as one batch
    for i, want in enumerate(expected):  # parent A | child | reverse child | parent B
        np.testing.assert_array_equal(strip[:, i * 16:(i + 1) * 16], want)
    # each one rendered alone differs at most by float rounding (batch size changes summation order)
    assert np.abs(_alone(G, four).astype(int) - expected).max() <= 1
    assert not np.array_equal(expected[1], expected[0]) and not np.array_equal(expected[1], expected[3])
    # ws of one face without the batch axis work too, and the child's ws come back in that shape
    strip_2d, kid_2d = sf.family_strip(G, ws_a[0], ws_b[0], [0, 1, 2])
    assert kid_2d.shape == (G.num_ws, G.w_dim) and torch.equal(kid_2d, kid[0])
    np.testing.assert_array_equal(strip_2d, strip)


def test_family_strip_errors(g16):
    G = g16
    ws = G.mapping(torch.randn(2, G.z_dim))
    with pytest.raises(ValueError, match="ws_a must be one face's ws"):
        sf.family_strip(G, ws, ws[:1], "0")
    with pytest.raises(ValueError, match="ws_b must be"):
        sf.family_strip(G, ws[:1], ws[:1, :, :-1], "0")
    with pytest.raises(ValueError, match="out of range"):
        sf.family_strip(G, ws[:1], ws[1:], "0-99")
