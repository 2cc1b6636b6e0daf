"""The shipped demo model: it is the default, it renders faces like the dataset's, and its layers mean
what StyleGAN's layer groups promise (coarse: shape and pose; fine: colour)."""
import pytest

import stylegan_fast as sf
from stylegan_fast.models import DEMO_MODEL_FILE
from stylegan_fast.train import quality


@pytest.fixture(scope="module")
def demo():
    return sf.default_model()


def test_default_model_is_the_shipped_demo_model(demo):
    assert DEMO_MODEL_FILE.is_file() and DEMO_MODEL_FILE.stat().st_size < 8 * 2 ** 20
    assert demo.source_format == "stylegan_fast" and demo.img_resolution == 64 and demo.arch == "stylegan2"


def test_demo_model_faces_are_closer_to_the_dataset_than_random_init(demo):
    # Fréchet distance on 8x8 thumbnails and colour-histogram distance, 500 images each.
    report = quality.quality_report({"demo": demo, "random": sf.random_model()}, n=400)
    floor, trained, untrained = report["real (held-out)"], report["demo"], report["random"]
    # Measured with n=2000: Fréchet 0.95 (trained) vs 23.9 (random init), floor 0.04; colour TV 0.31 vs 0.87.
    assert trained["frechet_distance_8x8"] < 0.1 * untrained["frechet_distance_8x8"], report
    assert trained["colour_tv"] < 0.4 * untrained["colour_tv"], report
    assert floor["frechet_distance_8x8"] < trained["frechet_distance_8x8"], report  # the metric can tell


@pytest.fixture(scope="module")
def effects(demo):
    # Per layer group, the share of a whole-face swap's change in outline (where the edges are) and in
    # palette (colour histogram) that swapping just that group causes; 64 face pairs.
    return quality.layer_group_effects(demo, n=64)


def test_style_mixing_coarse_layers_carry_the_outline(effects):
    coarse, fine = effects["coarse"], effects["fine"]
    # Measured: coarse outline 0.65 vs palette 0.15 of a whole-face swap; a fine swap's palette 0.60.
    assert coarse["outline"] > 2 * coarse["palette"], effects
    assert fine["palette"] > 2 * coarse["palette"], effects  # colours follow the fine styles, not the coarse


def test_style_mixing_fine_layers_change_palette_far_more_than_outline(effects):
    fine = effects["fine"]
    # Measured: 0.60 vs 0.27 (2.3x); 2.0x on 256 other pairs. The dataset's own pure colour swap scores 2.7x
    # (quality.dataset_swap_effects), the most a perfectly split generator could.
    assert fine["palette"] > 2 * fine["outline"], effects
