"""Whole generators on backend "cpu" (the C++ kernels): equal to the reference, the same image for
any thread count, chosen by "auto" on the CPU, and loaded checkpoints through it.

Every op's kernels are checked against an independent derivation in tests/test_ops_*.py and
tests/test_winograd.py; here the generator composes them. The reference is itself checked against
float64 derivations and the original code (tests/test_generator.py, tests/test_load_*.py). The
tolerance is the Winograd row of tests/tolerances.py, relative to the images' scale.
"""
import pytest
import torch

import stylegan_fast as sf
from stylegan_fast.ops import cpu_support
from tests.checkpoint_fixtures import rosinality as ros_fx
from tests.conftest import build
from tests.tolerances import WINOGRAD_FP32, assert_close

pytestmark = pytest.mark.skipif(not cpu_support.kernels_built(), reason="stylegan_fast._C has no CPU kernels")


def _render(G, backend, z, **kw):
    G.backend = backend
    with torch.inference_mode():
        img = G(z, **kw)
    ran = dict(G.last_dispatch)
    G.backend = "auto"
    return img, ran


def _scale(img):
    return max(1.0, float(img.abs().max()))


@pytest.mark.parametrize("arch,resolution", [("stylegan2", 32), ("stylegan1", 32), ("stylegan1", 128)])
@pytest.mark.parametrize("noise_mode", ["const", "random", "none"])
def test_generator_on_cpu_matches_reference(arch, resolution, noise_mode):
    G = build(arch, resolution, seed=3, channel_max=24 if resolution < 128 else 8)
    z = torch.randn(3, G.z_dim, generator=torch.Generator().manual_seed(4))
    kw = dict(truncation_psi=0.7, noise_mode=noise_mode, noise_seeds=[5, 6, 7])
    ref, ran_ref = _render(G, "reference", z, **kw)
    got, ran = _render(G, "cpu", z, **kw)
    assert set(ran_ref.values()) == {"reference"}
    assert set(ran.values()) == {"cpu"}, ran
    conv = "styled_conv2d" if arch == "stylegan2" else "stylegan1_conv2d"
    assert conv in ran and (noise_mode != "random" or "noise_stream" in ran)
    assert ref.abs().max() > 0.1
    assert_close(got, ref, dtype=torch.float32, scale=WINOGRAD_FP32["scale"] * _scale(ref), msg=f"{arch} {noise_mode}")


@pytest.mark.parametrize("arch", ["stylegan2", "stylegan1"])
def test_same_image_for_one_and_two_threads(arch):
    G = build(arch, 32, seed=8, channel_max=24)
    z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(9))
    before = torch.get_num_threads()
    try:
        images = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            images.append(_render(G, "cpu", z, noise_mode="random", noise_seeds=[1, 2])[0])
    finally:
        torch.set_num_threads(before)
    assert torch.equal(images[0], images[1])


@pytest.mark.parametrize("arch", ["stylegan2", "stylegan1"])
def test_auto_picks_cpu_for_float32(arch):
    G = build(arch, 16)
    _, ran = _render(G, "auto", torch.randn(1, G.z_dim))
    assert set(ran.values()) == {"cpu"}, ran
    assert sf.backends.resolve_backend("auto", "cpu") == "cpu"


def test_demo_model_on_cpu_within_one_uint8_level():
    G = sf.default_model()
    z = sf.z_from_seeds(list(range(8)), G.z_dim)
    ref, _ = _render(G, "reference", z, truncation_psi=0.7)
    got, ran = _render(G, "cpu", z, truncation_psi=0.7)
    assert set(ran.values()) == {"cpu"}
    levels = (sf.to_uint8(got).int() - sf.to_uint8(ref).int()).abs()
    assert levels.max() <= 1


def test_loaded_rosinality_checkpoint_on_cpu(tmp_path):
    ckpt = ros_fx.write(tmp_path / "ros32.pt", size=32, style_dim=32, n_mlp=2, seed=3)
    z = torch.randn(2, 32, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    want = ros_fx.reference_forward(ckpt["g_ema"], ckpt["latent_avg"], z, 0.8, None)  # rosinality's own forward
    G = sf.Generator.load(tmp_path / "ros32.pt")
    got, ran = _render(G, "cpu", z.float(), truncation_psi=0.8, noise_mode="const")
    assert set(ran.values()) == {"cpu"}
    assert_close(got, want, dtype=torch.float32, scale=WINOGRAD_FP32["scale"] * _scale(want))
