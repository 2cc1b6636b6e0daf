"""``stylegan-fast project``: find the latent of a photo (the StyleGAN2 projector), saved as projected_w .npz."""
from __future__ import annotations

import sys

import click

from ..projection import LOSSES, SPACES
from ..video import VIDEO_SUFFIXES
from .common import (CLASS_OPTION, DEVICE_OPTION, NETWORK_OPTION, WHICH_OPTION, check_writable, class_labels, fail,
                     load_network, pick_device, with_options, writing)

PROJECTION_OPTIONS = [
    click.option("--steps", type=click.IntRange(min=1), default=1000, show_default=True,
                 help="Optimisation steps (the paper's projector uses 1000)."),
    click.option("--space", type=click.Choice(SPACES), default="w", show_default=True,
                 help="w: one w for every layer (NVlabs' projector); w+: one w per layer (closer fits, less "
                      "editable)."),
    click.option("--vgg16", metavar="FILE|URL", default=None,
                 help="torchvision VGG16 weights (.safetensors, or a plain state dict .pt/.pth; never TorchScript "
                      "or pickled code) for the perceptual loss [default: $STYLEGAN_FAST_VGG16; without either, "
                      "the offline pixel + Laplacian pyramid loss]."),
    click.option("--loss", type=click.Choice(LOSSES), default="auto", show_default=True,
                 help="auto: perceptual when VGG16 weights are given, else offline."),
    click.option("--seed", "proj_seed", type=click.IntRange(min=0), default=0, show_default=True,
                 help="Seed of the projection's randomness (the w samples of the mean w, the noise added to w)."),
    click.option("--optimize-noise/--fixed-noise", default=True, show_default=True,
                 help="Also optimise the per-pixel noise maps (regularised, as in the StyleGAN2 paper). The "
                      "saved w is rendered later with the stored maps either way."),
]


def project_photo(G, photo, dev, *, steps, space, vgg16, loss, proj_seed, optimize_noise, c=None,
                  keep_history=False, what="--target"):
    """Load and project one photo with a progress bar; errors end the command with a message."""
    from tqdm import tqdm

    from ..projection import LOSS_DESCRIPTIONS, load_target, perceptual_weights, project

    try:
        target = load_target(photo, G.img_resolution)
    except FileNotFoundError:
        fail(f"{what} {photo} does not exist")
    except (OSError, ValueError) as e:
        fail(f"{what}: {e}")
    try:
        vgg = perceptual_weights(loss, vgg16, device=dev)
    except (OSError, ValueError) as e:
        fail(f"--vgg16: {e}")
    click.echo(f"note: projection loss: {LOSS_DESCRIPTIONS['pixel+laplacian' if vgg is None else 'perceptual']}",
               err=True)
    with tqdm(total=steps, desc=f"projecting {click.format_filename(photo, shorten=True)}"[:40], unit="step",
              file=sys.stderr) as bar:
        def progress(step, total, value):
            bar.update(1)
            bar.set_postfix(loss=f"{value:.4f}", refresh=False)

        try:
            return project(G, target, steps=steps, space=space, seed=proj_seed, progress=progress, device=dev,
                           loss="offline" if vgg is None else "perceptual", vgg16=vgg, c=c,
                           optimize_noise=optimize_noise, keep_history=keep_history, quiet=True)
        except (ValueError, FloatingPointError) as e:
            fail(f"{what} {photo}: {e}")


@click.command(epilog="""\b
Examples:
  stylegan-fast project --target face.png --out latent.npz
  stylegan-fast project --target face.jpg --steps 1000 --space w+ --out latent.npz --save-image proj.png
  stylegan-fast project --target face.png --vgg16 vgg16.safetensors --video steps.mp4 --out latent.npz
  stylegan-fast render --projected-w latent.npz --outdir out
""")
@NETWORK_OPTION
@WHICH_OPTION
@click.option("--target", required=True, type=click.Path(dir_okay=False),
              help="The photo (any size and mode: centre-cropped and resized to the model's resolution).")
@with_options(PROJECTION_OPTIONS)
@CLASS_OPTION
@click.option("--out", type=click.Path(dir_okay=False), default="out/projected_w.npz", show_default=True,
              help="The projected ws: .npz with key 'w' [1, num_ws, w_dim] (NVlabs' projected_w.npz).")
@click.option("--save-image", type=click.Path(dir_okay=False), default=None,
              help="Also write target | projection side by side as PNG.")
@click.option("--video", type=click.Path(dir_okay=False), default=None,
              help="Also write the optimisation as a video (.mp4 or .gif): target | projection at every step.")
@click.option("--fps", type=click.FloatRange(min=1), default=30, show_default=True, help="--video frame rate.")
@DEVICE_OPTION
def project(network, which, target, steps, space, vgg16, loss, proj_seed, optimize_noise, class_idx, out, save_image,
            video, fps, device):
    """Project a photo into the generator's latent space (the StyleGAN2 paper's projector).

    Starts at the mean w and optimises w (or w+) with Adam, with the paper's learning-rate ramps and
    decaying noise on w; the per-pixel noise maps are optimised too, held to unit variance and
    regularised against carrying the image. Loss: perceptual (VGG16 features, LPIPS-style, without
    LPIPS' learned weights) when --vgg16 or $STYLEGAN_FAST_VGG16 gives weights, else pixel +
    Laplacian pyramid (works offline). The progress bar shows the loss; the end line the PSNR of
    the saved w's rendering against the target.
    """
    import torch

    from ..images import save_image as write_png
    from ..images import to_uint8
    from ..latents import save_ws
    from ..projection import psnr, render_ws, side_by_side
    from ..video import upscale, video_writer

    if not out.lower().endswith(".npz"):
        raise click.BadParameter(f"{out!r}: the projection is written as .npz (key 'w')", param_hint="--out")
    if video and not video.lower().endswith(VIDEO_SUFFIXES):
        raise click.BadParameter(f"{video!r}: use a file name ending in {' or '.join(VIDEO_SUFFIXES)}",
                                 param_hint="--video")
    check_writable(out, "--out")
    if save_image:
        check_writable(save_image, "--save-image")
    if video:
        check_writable(video, "--video")
    dev = pick_device(device)
    G = load_network(network, dev, which=which)
    c = class_labels(G, class_idx, dev)
    result = project_photo(G, target, dev, steps=steps, space=space, vgg16=vgg16, loss=loss, proj_seed=proj_seed,
                           optimize_noise=optimize_noise, c=c, keep_history=bool(video))
    with writing(out, "--out"):
        save_ws(out, result.ws)
    image = render_ws(G, result.ws)
    if save_image:
        with writing(save_image, "--save-image"):
            write_png(side_by_side(result.target, image), save_image)
    if video:
        from tqdm import tqdm

        res = G.img_resolution
        scale = max(1, 256 // res)
        frames = result.history
        with writing(video, "--video"), video_writer(video, fps, (2 * res * scale, res * scale)) as append, \
                torch.no_grad(), tqdm(total=len(frames), unit="frame", desc="video", file=sys.stderr) as bar:
            for start in range(0, len(frames), 16):
                batch = to_uint8(G.synthesis(frames[start:start + 16].to(dev), noise_mode="const")).cpu().numpy()
                for frame in batch:
                    append(upscale(side_by_side(result.target, frame), scale))
                bar.update(len(batch))
    extras = "".join(f", {what} -> {path}" for what, path in (("target | projection", save_image),
                                                             ("video", video)) if path)
    click.echo(f"projected {target} into {space.upper()} in {steps} steps with the {result.loss_name} loss "
               f"({result.losses[0]:.4f} -> {result.losses[-1]:.4f}); PSNR of the saved w's rendering "
               f"{psnr(image, result.target):.2f} dB -> {out}{extras}")
