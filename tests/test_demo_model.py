"""The shipped demo model: it is the default, it renders faces like the dataset's, and its layers mean
what StyleGAN's layer groups promise (coarse: shape and pose; fine: colour)."""
import pytest
import torch
import torch.nn.functional as F

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
    # Measured with n=2000: Fréchet 0.73 (trained) vs 23.9 (random init), floor 0.04; colour TV 0.18 vs 0.87.
    assert trained["frechet_distance_8x8"] < 0.1 * untrained["frechet_distance_8x8"], report
    assert trained["colour_tv"] < 0.4 * untrained["colour_tv"], report
    assert floor["frechet_distance_8x8"] < trained["frechet_distance_8x8"], report  # the metric can tell


def _edges(img):  # [N, 3, H, W] in [-1, 1] -> Sobel gradient magnitude of the grey image
    grey = img.mean(dim=1, keepdim=True)
    kx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]])[None, None]
    gx, gy = F.conv2d(grey, kx, padding=1), F.conv2d(grey, kx.transpose(2, 3), padding=1)
    return (gx.square() + gy.square()).sqrt()


def _changes(a, b):
    """(outline change: mean |edges(a) - edges(b)|, colour change: mean |chroma(a) - chroma(b)|) per sample,
    where chroma is the pixel's colour with its brightness (the mean over R, G, B) removed."""
    shape = (_edges(a) - _edges(b)).abs().mean(dim=[1, 2, 3])
    chroma = lambda x: x - x.mean(dim=1, keepdim=True)  # noqa: E731
    colour = (chroma(a) - chroma(b)).abs().mean(dim=[1, 2, 3])
    return shape, colour


def test_style_mixing_coarse_changes_shape_fine_changes_colour(demo):
    with torch.no_grad():
        ws_a = demo.mapping(sf.z_from_seeds(range(0, 64), demo.z_dim))
        ws_b = demo.mapping(sf.z_from_seeds(range(100, 164), demo.z_dim))
        img_a = demo.synthesis(ws_a)
        coarse = demo.synthesis(sf.mix(ws_a, ws_b, "coarse", generator=demo))
        fine = demo.synthesis(sf.mix(ws_a, ws_b, "fine", generator=demo))
    shape_c, colour_c = (v.mean().item() for v in _changes(coarse, img_a))
    shape_f, colour_f = (v.mean().item() for v in _changes(fine, img_a))
    figures = f"coarse swap: shape {shape_c:.4f} colour {colour_c:.4f}; fine swap: shape {shape_f:.4f} colour {colour_f:.4f}"
    # Coarse layers move outlines far more than fine ones do (measured: about 3.8x) ...
    assert shape_c > 2.5 * shape_f, figures
    # ... and a fine swap is more about colour, relative to the outline change it causes, than a coarse
    # swap (measured: about 1.5x). Most colour sits in the medium layers of this 64 px model.
    assert colour_f / shape_f > 1.2 * (colour_c / shape_c), figures
